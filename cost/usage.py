"""A usage file: the workload measured on a running deployment, in place of the declared one.

Like Infracost's usage file, it holds quantities, not prices: monthly tokens and the average
request, with the window they were measured over, where and when. `breakeven observe
--write-usage FILE` writes it; any command that prices a workload accepts it with one line:

    workload = usage.apply(declared_workload, args.usage)

The keys use the stack-config spelling of a workload (tokensPerMonth, avgInputTokens,
avgOutputTokens), so a usage file's `workload:` block can stand in for a model's `workload:`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from cost import catalog
from cost.catalog import strictload
from cost.errors import InputError
from cost.units import parse_tokens
from cost.workload import MAX_REQUEST_TOKENS, Workload

VERSION = 1


@dataclass(frozen=True)
class Usage:
    """A measured workload: tokens/month and the average request, with its provenance."""

    tokens_per_month: float
    avg_input_tokens: int
    avg_output_tokens: int
    window_s: float
    source: str
    measured_at: str                  # ISO 8601, UTC
    model: str | None = None
    requests: float | None = None     # requests finished in the window

    def workload(self, declared: Workload | None = None) -> Workload:
        """This usage as a Workload: the measured volume and request size; everything else (utilization,
        latency targets, ...) stays as declared (a plan, not a measurement)."""
        measured = Workload.build(self.tokens_per_month, avg_input_tokens=self.avg_input_tokens,
                                  avg_output_tokens=self.avg_output_tokens)
        return replace(declared or Workload(0.0), tokens_per_month=measured.tokens_per_month,
                       avg_input_tokens=measured.avg_input_tokens, avg_output_tokens=measured.avg_output_tokens)

    def to_dict(self) -> dict:
        return {"version": VERSION, "source": self.source, "measuredAt": self.measured_at,
                "windowSeconds": self.window_s, **({"model": self.model} if self.model else {}),
                "workload": {"tokensPerMonth": self.tokens_per_month, "avgInputTokens": self.avg_input_tokens,
                             "avgOutputTokens": self.avg_output_tokens,
                             **({"requestsInWindow": self.requests} if self.requests is not None else {})}}

    def save(self, path: str | Path) -> None:
        """Write the usage file (YAML)."""
        text = ("# breakeven usage file: a measured workload (breakeven observe --write-usage).\n"
                "# estimate/preview --usage FILE price this instead of the declared workload.\n")
        Path(path).write_text(text + yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")


def _number(doc: dict, key: str, where: str, low: float) -> float:
    v = doc.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < low:
        raise InputError(f"{where}.{key}", v, f"a finite number, at least {low:g}")
    return float(v)


def from_dict(doc: Any, where: str = "usage") -> Usage:
    """A Usage from a parsed usage document; InputError naming the key on anything wrong."""
    if not isinstance(doc, dict):
        raise InputError(where, type(doc).__name__, "a mapping with version, source, measuredAt, windowSeconds, workload")
    if doc.get("version") != VERSION:
        raise InputError(f"{where}.version", doc.get("version"), str(VERSION))
    w = doc.get("workload")
    if not isinstance(w, dict):
        raise InputError(f"{where}.workload", w, "a mapping: tokensPerMonth, avgInputTokens, avgOutputTokens")
    unknown = sorted(set(w) - {"tokensPerMonth", "avgInputTokens", "avgOutputTokens", "requestsInWindow"})
    if unknown:
        raise InputError(f"{where}.workload.{unknown[0]}", w[unknown[0]], "tokensPerMonth, avgInputTokens, avgOutputTokens, requestsInWindow")
    tokens = parse_tokens(w.get("tokensPerMonth"), f"{where}.workload.tokensPerMonth")
    sizes = {}
    for key in ("avgInputTokens", "avgOutputTokens"):
        v = w.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_REQUEST_TOKENS:
            raise InputError(f"{where}.workload.{key}", v, f"a whole number of tokens, from 1 to {MAX_REQUEST_TOKENS:,}")
        sizes[key] = v
    for key in ("source", "measuredAt"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise InputError(f"{where}.{key}", doc.get(key), "a non-empty string")
    if "model" in doc and (not isinstance(doc["model"], str) or not doc["model"].strip()):
        raise InputError(f"{where}.model", doc["model"], "the measured model's id, or no `model:` key")
    requests = _number(w, "requestsInWindow", f"{where}.workload", 0) if "requestsInWindow" in w else None
    window = _number(doc, "windowSeconds", where, 0)
    if window == 0:     # no time measured: nothing to extrapolate a monthly volume from
        raise InputError(f"{where}.windowSeconds", window, "a positive number of seconds")
    return Usage(tokens, sizes["avgInputTokens"], sizes["avgOutputTokens"], window,
                 doc["source"], doc["measuredAt"], doc.get("model"), requests)


def load(path: str | Path) -> Usage:
    """Read a usage file; a missing or invalid one is an InputError naming the key."""
    return from_dict(strictload.load_yaml(path, "usage", "usage YAML file"))


def _model_id(name: str) -> str:
    """The catalog id of a model name (a Hugging Face name resolves to it); the name itself when not in the catalog."""
    try:
        return catalog.model(name).id
    except InputError:
        return str(name).lower()


def for_model(u: Usage, model: str | None, path: str | Path, key: str = "usage") -> Usage:
    """The usage, or an InputError naming `key` when it was measured on another model than the one priced:
    another model's token volume and request sizes say nothing about this one's."""
    if model is not None and u.model is not None and _model_id(u.model) != _model_id(model):
        raise InputError(key, str(path), f"a usage file measured on {model}", f"this one was measured on {u.model}")
    return u


def apply(declared: Workload | None, path: str | Path | None, model: str | None = None) -> Workload | None:
    """The declared workload, or (when a usage file is given) the measured one in its place; a file measured
    on another model than `model` is refused (see `for_model`)."""
    if path is None:
        return declared
    return for_model(load(path), model, path).workload(declared)
