"""What the organisation trusts a stack to declare about itself: the `trust` property of the policy config.

A stack's economics may claim things that make it look cheaper or exempt it from the API comparison:
an exemption (fine-tuned weights, private data, custom inference, a TTFT target under 50 ms), a reserved
capacity type (a commitment), its own GPU hourly price, its own capacity (`capacity_tokens_per_month`),
a price book, overheads below the catalog's defaults, or a non-production scope. None of these is believed
because the stack says so: each counts only where the policy config grants it, per stack and per model.
Whatever a stack claims beyond its grants is a violation naming the grant it lacks, and the pack prices
the stack without the claim.

    "trust": {
      "grants": {
        "<stack>": {
          "exemptions": ["fine-tuned", "private-data", "custom-inference", "low-ttft"],
          "commitments": ["reserved-1y", "reserved-3y"],
          "priceBook": "<bundled name, or a file the policy config names>",
          "hourlyUsdPerGpu": 2.10,                  # the lowest GPU hourly price the stack may declare
          "capacityTokensPerMonth": 5e9,            # the most capacity the stack may declare
          "overheads": {"mlops_fte": 0.1},          # the lowest value of each overhead it may declare
          "production": false,                      # the organisation's word: this stack is not production
          "models": {"<model>": { ...exemptions, commitments, hourlyUsdPerGpu, capacityTokensPerMonth, usage,
                                  workload: {tokensPerMonth, avgInputTokens, avgOutputTokens}... }}
        }
      },
      "allowedWorkloads": ["<resource name or URN the pack may not look into>"],
      "maxUsageAgeDays": 30                          # older usage files are reported as stale
    }

A model's `usage` grant names a usage file (`breakeven observe --write-usage`): the pack then judges the
measured volume instead of the declared one. A model's `workload` is what the organisation declares for a
GPU workload breakeven did not write (no economics annotation): the pack prices it from its resources.

`trust` is an object, or the name of a JSON file holding one (relative to the policy pack directory, or
absolute): the policy config names it, never the resources. `load` is the one place it is parsed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cost.catalog import strictload
from cost.errors import InputError
from cost.units import parse_tokens

PACK_DIR = Path(__file__).resolve().parent
EXEMPTIONS = ("fine-tuned", "private-data", "custom-inference", "low-ttft")
COMMITMENTS = ("reserved-1y", "reserved-3y")
GRANT_KEYS = ("exemptions", "commitments", "priceBook", "hourlyUsdPerGpu", "capacityTokensPerMonth", "overheads",
              "production", "models")
MODEL_KEYS = ("exemptions", "commitments", "hourlyUsdPerGpu", "capacityTokensPerMonth", "usage", "workload")  # the rest: per stack
WORKLOAD_KEYS = ("tokensPerMonth", "avgInputTokens", "avgOutputTokens")
TRUST_KEYS = ("grants", "allowedWorkloads", "maxUsageAgeDays")
MAX_USAGE_AGE_DAYS = 30.0


@dataclass(frozen=True)
class Grant:
    """What one stack (or one model of it) may declare."""

    exemptions: frozenset[str] = frozenset()
    commitments: frozenset[str] = frozenset()
    price_book: str | None = None
    hourly_usd_per_gpu: float | None = None
    capacity_tokens_per_month: float | None = None
    overheads: tuple[tuple[str, float], ...] = ()
    production: bool | None = None
    usage: str | None = None          # a usage file (breakeven observe --write-usage) measured for this model
    workload: tuple[float, int, int] | None = None   # tokens/month, avg input, avg output: for a workload without economics

    def merged(self, other: Grant) -> Grant:
        """This stack-level grant with a model-level one added (the model's values win where it sets them)."""
        return Grant(self.exemptions | other.exemptions, self.commitments | other.commitments,
                     other.price_book or self.price_book,
                     other.hourly_usd_per_gpu if other.hourly_usd_per_gpu is not None else self.hourly_usd_per_gpu,
                     other.capacity_tokens_per_month if other.capacity_tokens_per_month is not None
                     else self.capacity_tokens_per_month,
                     tuple({**dict(self.overheads), **dict(other.overheads)}.items()),
                     self.production if other.production is None else other.production, other.usage or self.usage,
                     other.workload or self.workload)


@dataclass(frozen=True)
class Trust:
    """The organisation's grants, keyed by stack name (with per-model grants), and the workloads it allows the
    pack not to look into."""

    stacks: tuple[tuple[str, Grant, tuple[tuple[str, Grant], ...]], ...] = ()
    allowed_workloads: tuple[str, ...] = ()
    source: str = "the policy config's trust"
    max_usage_age_days: float = MAX_USAGE_AGE_DAYS

    def grant(self, stack: str, model: str | None = None) -> Grant:
        for name, grant, models in self.stacks:
            if name == stack:
                own = dict(models).get(model or "")
                return grant.merged(own) if own is not None else grant
        return Grant()

    def where(self, stack: str, model: str | None, key: str) -> str:
        """Where a grant would go, for a message: trust.grants.<stack>[.models.<model>].<key>."""
        return f"trust.grants.{stack or '<stack>'}" + (f".models.{model}" if model else "") + f".{key}"

    def allows(self, name: str, urn: str) -> bool:
        return name in self.allowed_workloads or urn in self.allowed_workloads

    def key(self) -> str:
        """What identifies this trust for the pack's cache: its values and the usage files' modification times."""
        files = sorted({g.usage for _, sg, models in self.stacks for g in (sg, *(mg for _, mg in models)) if g.usage})
        stamps = [(f, Path(f).stat().st_mtime_ns if Path(f).is_file() else None) for f in files]
        return json.dumps([self.stacks, self.allowed_workloads, self.max_usage_age_days, stamps], default=str, sort_keys=True)


def _names(value: Any, key: str, allowed: tuple[str, ...]) -> frozenset[str]:
    if not isinstance(value, list) or any(v not in allowed for v in value):
        raise InputError(key, value, "a list of " + ", ".join(allowed))
    return frozenset(value)


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InputError(key, value, "a non-negative number")
    return float(value)


def resolve(name: str) -> Path:
    """A file the policy config names: absolute, or relative to the policy pack directory (where the CLI runs it)."""
    return Path(name) if Path(name).is_absolute() else PACK_DIR / name


def _file(value: Any, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InputError(key, value, "a file name (absolute, or relative to the policy pack directory)")
    return str(resolve(value))


def _workload(value: Any, key: str) -> tuple[float, int, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != set(WORKLOAD_KEYS):
        raise InputError(key, value, "an object with " + ", ".join(WORKLOAD_KEYS))
    sizes = []
    for k in WORKLOAD_KEYS[1:]:
        v = value[k]   # numbers arrive as floats through the analyzer's protobuf Struct
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v != int(v) or v < 1:
            raise InputError(f"{key}.{k}", v, "a whole number of tokens, at least 1")
        sizes.append(int(v))
    return parse_tokens(value["tokensPerMonth"], f"{key}.tokensPerMonth"), sizes[0], sizes[1]


def _grant(doc: Any, key: str, nested: bool) -> tuple[Grant, tuple[tuple[str, Grant], ...]]:
    if not isinstance(doc, Mapping):
        raise InputError(key, doc, "an object of grants: " + ", ".join(GRANT_KEYS))
    keys = GRANT_KEYS if nested else MODEL_KEYS
    unknown = [k for k in doc if k not in keys]
    if unknown:
        raise InputError(f"{key}.{unknown[0]}", doc[unknown[0]], ", ".join(keys))
    overheads = doc.get("overheads") or {}
    if not isinstance(overheads, Mapping):
        raise InputError(f"{key}.overheads", overheads, "an object: overhead name -> the lowest value granted")
    production = doc.get("production")
    if production is not None and not isinstance(production, bool):
        raise InputError(f"{key}.production", production, "true or false")
    book = doc.get("priceBook")
    if book is not None and (not isinstance(book, str) or not book):
        raise InputError(f"{key}.priceBook", book, "a bundled price book name or a file")
    g = Grant(
        exemptions=_names(doc.get("exemptions", []), f"{key}.exemptions", EXEMPTIONS),
        commitments=_names(doc.get("commitments", []), f"{key}.commitments", COMMITMENTS),
        price_book=book,
        hourly_usd_per_gpu=None if doc.get("hourlyUsdPerGpu") is None else _number(doc["hourlyUsdPerGpu"], f"{key}.hourlyUsdPerGpu"),
        capacity_tokens_per_month=None if doc.get("capacityTokensPerMonth") is None
        else _number(doc["capacityTokensPerMonth"], f"{key}.capacityTokensPerMonth"),
        overheads=tuple(sorted((str(k), _number(v, f"{key}.overheads.{k}")) for k, v in overheads.items())),
        production=production,
        usage=_file(doc.get("usage"), f"{key}.usage"),
        workload=_workload(doc.get("workload"), f"{key}.workload"),
    )
    models = doc.get("models") or {}
    if not isinstance(models, Mapping):
        raise InputError(f"{key}.models", models, "an object: model name -> grants")
    return g, tuple(sorted((str(m), _grant(v, f"{key}.models.{m}", False)[0]) for m, v in models.items()))


def load(value: Any, key: str = "trust") -> Trust:
    """The policy config's `trust` (an object, or the name of a JSON file holding one) -> `Trust`.

    The one function that parses it; InputError names the key, the value and what is allowed."""
    if value in (None, {}, ""):
        return Trust()
    source = "the policy config's trust"
    if isinstance(value, str):
        path = resolve(value)
        value = strictload.load_json(path, key, "JSON file of grants")
        source = f"the trust file {path.name}"
    if not isinstance(value, Mapping):
        raise InputError(key, value, "an object with " + ", ".join(TRUST_KEYS) + ", or a JSON file holding one")
    unknown = [k for k in value if k not in TRUST_KEYS]
    if unknown:
        raise InputError(f"{key}.{unknown[0]}", value[unknown[0]], ", ".join(TRUST_KEYS))
    grants = value.get("grants") or {}
    if not isinstance(grants, Mapping):
        raise InputError(f"{key}.grants", grants, "an object: stack name -> grants")
    allowed = value.get("allowedWorkloads") or []
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise InputError(f"{key}.allowedWorkloads", allowed, "a list of resource names or URNs")
    stacks = tuple(sorted((str(s), *_grant(g, f"{key}.grants.{s}", True)) for s, g in grants.items()))
    age = value.get("maxUsageAgeDays", MAX_USAGE_AGE_DAYS)
    return Trust(stacks, tuple(allowed), source, _number(age, f"{key}.maxUsageAgeDays"))


TRUST_SCHEMA = {"type": ["object", "string"], "default": {},
                "description": "What the organisation trusts stacks to declare (exemptions, commitments, price books, price "
                               "and capacity overrides, overheads, production scope, per stack and model) and the "
                               "workloads the pack may not look into; an object, or a JSON file holding one. See "
                               "policies/README.md."}
