"""The economics of a deployment as one versioned value, with one codec per surface.

`Economics` is what breakeven prices: the self-hosted deployment (model, GPUs, precision, pricing,
replicas, exemptions), the workload it is declared to serve, and the stack-level inputs (production,
price book, overheads, budget, routing). Every surface reads and writes it through this module:

* reports and JSON: `to_dict` / `from_dict` (snake_case field names, the dataclasses' own);
* the workload annotation `breakeven.dev/economics`: `to_json` / `from_json` (the same dict, versioned);
* AWS tags on the GPU node groups: `to_tags` / `from_tags` (the same dict flattened, since tag values
  allow no JSON; routing is left out, it does not fit a tag and does not change a model's own volume);
* stack config and CLI flags build `Deployment` / `Workload` through their validated `build` methods.

Decoding checks the shape against one pydantic model (`cost/economics_model.py`: known keys, types, ranges,
finite numbers), then the catalogs (`Deployment.resolve`) and the request size (`Workload.complete`), and raises `InputError` naming the
key under the surface's prefix, e.g. `breakeven.dev/economics.workload.utilization`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cost import economics_model
from cost.catalog import strictload
from cost.deployment import Deployment, Exemptions
from cost.errors import InputError
from cost.pricing import api_prices
from cost.pricing.fleet import Fleet, Tier, price_fleet
from cost.pricing.tco import Overheads
from cost.workload import Workload

VERSION = economics_model.VERSION
ANNOTATION = "breakeven.dev/economics"
TAG_PREFIX = "breakeven.dev/economics/"


@dataclass(frozen=True)
class Routing:
    """Hybrid routing: the routed workload and where each share of it goes (a model name or an API id)."""

    workload: Workload
    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class StackEconomics:
    """Inputs priced once per stack. `production` can only opt a stack in: the policy gate decides scope."""

    stack: str = ""
    production: bool = False
    price_book: str | None = None
    overheads: Overheads = field(default_factory=Overheads)
    budget_usd_per_month: float | None = None
    routing: Routing | None = None


@dataclass(frozen=True)
class Economics:
    """One model deployment's economics: what is deployed, what it serves, and the stack it belongs to."""

    deployment: Deployment
    workload: Workload
    stack: StackEconomics = field(default_factory=StackEconomics)
    version: int = VERSION

    # --- reports and JSON -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The wire dict, written by the model that reads it (`cost/economics_model.py`)."""
        value = economics_model.EconomicsValue.model_validate(
            {"version": self.version, "deployment": self.deployment, "workload": self.workload, "stack": self.stack},
            from_attributes=True, by_alias=False, by_name=True)
        return value.model_dump(exclude=economics_model.NOT_WRITTEN)

    @classmethod
    def from_dict(cls, doc: Any, key: str = ANNOTATION) -> Economics:
        """Validate and build from the dict `to_dict` writes; errors name `key.<path>`."""
        return _decode(economics_model.validate(doc, key), key)

    # --- the workload annotation ---------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: Any, key: str = ANNOTATION) -> Economics:
        if not isinstance(text, str) or not text.strip():
            raise InputError(key, text, "a JSON object written by breakeven (the economics of the workload)")
        return cls.from_dict(strictload.json_text(text, key, sep="."), key)

    # --- AWS tags ------------------------------------------------------------------------------
    def to_tags(self) -> dict[str, str]:
        """Flattened `to_dict` without routing: {breakeven.dev/economics/<path>: value}, values tag-safe."""
        doc = self.to_dict()
        doc["stack"].pop("routing", None)
        out: dict[str, str] = {}
        _flatten(doc, "", out)
        return {TAG_PREFIX + k: v for k, v in out.items()}

    @classmethod
    def from_tags(cls, tags: Mapping[str, Any], key: str = "tags") -> Economics:
        doc: dict[str, Any] = {}
        for k, v in tags.items():
            if not k.startswith(TAG_PREFIX):
                continue
            path = k[len(TAG_PREFIX):].split(".")
            node = doc
            for part in path[:-1]:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise InputError(f"{key}.{k}", v, "a tag breakeven wrote (its path clashes with another tag)")
            node[path[-1]] = _tag_value(v)
        if not doc:
            raise InputError(f"{key}.{TAG_PREFIX}*", None, "the economics tags breakeven puts on its GPU node groups")
        return cls.from_dict(doc, f"{key}.{TAG_PREFIX.rstrip('/')}")


# --- encoding helpers ------------------------------------------------------------------------

def _flatten(value: Any, path: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else k, out)
    elif value is not None:
        out[path] = json.dumps(value) if isinstance(value, bool) else str(value)


def _tag_value(v: Any) -> Any:
    """Tags come back as strings: numbers and booleans are parsed back; everything else stays text."""
    if not isinstance(v, str):
        return v
    if v in ("true", "false"):
        return v == "true"
    try:
        n = float(v)
    except ValueError:
        return v
    return int(n) if n.is_integer() and "." not in v and "e" not in v.lower() else n


# --- decoding -------------------------------------------------------------------------------------

def _rekeyed(key: str, fn, **kwargs) -> Any:
    try:
        return fn(**kwargs)
    except InputError as e:
        raise InputError(f"{key}.{e.key}", e.value, e.allowed, e.detail) from None


def _decode(v: economics_model.EconomicsValue, key: str) -> Economics:
    """The dataclasses from a shape-checked value; the catalog checks (`Deployment.build`) name `key.<path>`."""
    d = v.deployment
    commitment = None if d.commitment is None else d.commitment.model_dump()
    deployment = _rekeyed(f"{key}.deployment", Deployment.resolve, v=d, exemptions=Exemptions(**d.exemptions.model_dump()),
                          commitment=commitment)
    workload = _rekeyed(f"{key}.workload", Workload.complete, v=v.workload)
    s = v.stack or economics_model.StackValue()
    routing = None
    if s.routing is not None:
        tiers = tuple(Tier(**t.model_dump(exclude_unset=True)) for t in s.routing.tiers)
        routing = Routing(_rekeyed(f"{key}.stack.routing.workload", Workload.complete, v=s.routing.workload), tiers)
    overheads = Overheads(**({} if s.overheads is None else s.overheads.model_dump(exclude_none=True)))
    budget = None if s.budget_usd_per_month is None else float(s.budget_usd_per_month)
    return Economics(deployment, workload, StackEconomics(s.stack or "", s.production, s.price_book, overheads, budget,
                                                          routing))


# --- pricing a stack -----------------------------------------------------------------------------

def stack_of(values: list[Economics], key: str = ANNOTATION) -> StackEconomics:
    """The one stack-level value a stack's models share; models that disagree are an InputError."""
    if not values:
        raise InputError(key, [], "one or more models' economics")
    first = values[0].stack
    for e in values[1:]:
        if e.stack != first:
            raise InputError(f"{key}.stack", e.deployment.name,
                             f"the same stack-level economics on every model (as on {values[0].deployment.name})")
    return first


def price(values: list[Economics], book=None, factors=None) -> Fleet:
    """Price a stack's models as one fleet (the per-stack overheads split by GPU spend) with its routing tiers.

    book: a loaded price book (None loads the one the economics name, if any).
    """
    s = stack_of(values)
    if book is None and s.price_book:
        book = api_prices.load_price_book(s.price_book)
    return price_fleet([(e.deployment, e.workload) for e in values],
                       tiers=() if s.routing is None else s.routing.tiers,
                       routed_workload=None if s.routing is None else s.routing.workload,
                       book=book, overheads=s.overheads, budget_usd_per_month=s.budget_usd_per_month, factors=factors)
