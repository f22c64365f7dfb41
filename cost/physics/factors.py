"""The capacity model's efficiency factors as a value: loaded from data, passed explicitly.

`published()` is the fit recorded in `cost/data/factors.yaml`; `load(path)` reads a factors file of
the same shape (what `breakeven calibrate` writes from a live endpoint). Nothing mutates a factor
set: fitting returns a new value (`Factors.replace`), so one process can hold several.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from cost.catalog import strictload
from cost.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data"

# Allowed range per factor: (low, high). Fractions stay in (0, 1]; times are seconds.
RANGES: dict[str, tuple[float, float]] = {
    "hbm_efficiency": (0.05, 1.0),
    "kv_read_efficiency": (0.05, 1.0),
    "gemm_mfu": (0.02, 1.0),
    "prefill_mfu": (0.02, 1.0),
    "fp8_gemm_efficiency": (0.05, 1.0),
    "weight_only_quant_gemm_efficiency": (0.05, 1.0),
    "int4_gemm_efficiency": (0.05, 1.0),
    "step_overhead_s": (0.0, 0.1),
    "layer_overhead_s": (0.0, 0.001),
    "moe_layer_overhead_s": (0.0, 0.001),
    "per_seq_overhead_s": (0.0, 0.01),
    "async_per_seq_overlap": (0.0, 1.0),
    "tp_efficiency_per_doubling": (0.1, 1.0),
    "allreduce_latency_nvlink_s": (0.0, 0.01),
    "allreduce_latency_pcie_s": (0.0, 0.01),
    "real_traffic_length_cv": (0.0, 5.0),
    "kv_admission_fill": (0.1, 1.0),
    "serving_efficiency": (0.05, 5.0),   # wide enough for a capacity error band's end (cost.physics.capacity_range)
}


@dataclass(frozen=True)
class Factors:
    """Efficiency factors of the capacity model (`cost.physics.capacity`); see factors.yaml for each one's meaning.

    source: where the values come from. scope: for a live calibration, what it was measured on
    (model, gpu, tp, precision, date); empty for the published fit.
    """

    hbm_efficiency: float
    kv_read_efficiency: float
    gemm_mfu: float
    prefill_mfu: float
    fp8_gemm_efficiency: float
    weight_only_quant_gemm_efficiency: float
    int4_gemm_efficiency: float
    step_overhead_s: float
    layer_overhead_s: float
    moe_layer_overhead_s: float
    per_seq_overhead_s: float
    async_per_seq_overlap: float
    tp_efficiency_per_doubling: float
    allreduce_latency_nvlink_s: float
    allreduce_latency_pcie_s: float
    real_traffic_length_cv: float
    kv_admission_fill: float
    serving_efficiency: float
    source: str = field(default="", compare=False)
    scope: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def values(self) -> dict[str, float]:
        """The factor values by name."""
        return {name: getattr(self, name) for name in RANGES}

    def replace(self, **changes: Any) -> Factors:
        """A new factor set with some values changed (validated like a file)."""
        return _checked(replace(self, **changes), "factors")

    def save(self, path: str | Path, kinds: dict[str, str] | None = None) -> None:
        """Write a factors file `load` reads back."""
        doc = {"source": self.source, "scope": dict(self.scope),
               "factors": {n: {"value": v, "kind": (kinds or {}).get(n, "measured")} for n, v in self.values().items()}}
        Path(path).write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


def _checked(f: Factors, where: str) -> Factors:
    for name, (low, high) in RANGES.items():
        v = getattr(f, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not low <= v <= high:
            raise InputError(f"{where}.{name}", v, f"a finite number from {low:g} to {high:g}")
    return f


def from_dict(doc: Any, where: str) -> Factors:
    """A factor set from a parsed factors document: {source, scope, factors: {name: {value} | number}}."""
    if not isinstance(doc, dict) or not isinstance(doc.get("factors"), dict):
        raise InputError(where, type(doc).__name__, "a mapping with a `factors:` mapping of name -> {value: number}")
    raw = doc["factors"]
    unknown = sorted(set(raw) - set(RANGES))
    if unknown:
        raise InputError(f"{where}.factors.{unknown[0]}", raw[unknown[0]], "one of " + ", ".join(RANGES))
    missing = [n for n in RANGES if n not in raw]
    if missing:
        raise InputError(f"{where}.factors.{missing[0]}", None, "a value for every factor: " + ", ".join(RANGES))
    values: dict[str, Any] = {n: (v.get("value") if isinstance(v, dict) else v) for n, v in raw.items()}  # _checked checks each
    scope = doc.get("scope") or {}
    if not isinstance(scope, dict):
        raise InputError(f"{where}.scope", scope, "a mapping (model, gpu, tp, precision, date) or {}")
    return _checked(Factors(**values, source=str(doc.get("source", "")), scope=scope), f"{where}.factors")


def load(path: str | Path) -> Factors:
    """Read a factors file; a missing, unreadable or invalid one is an InputError naming the key."""
    return from_dict(strictload.load_yaml(path, "factors", "factors YAML file"), "factors")


@cache
def published() -> Factors:
    """The published fit (cost/data/factors.yaml)."""
    return load(DATA / "factors.yaml")

