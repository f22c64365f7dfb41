"""Dedicated deployments and custom-model hosting of YOUR weights, priced for the same workload.

The offers are reviewed, dated data (`cost/data/hosting.yaml`): per-GPU-hour dedicated deployments at
inference providers (tier "dedicated") and per-model-copy hosting of imported weights (tier
"custom-model", e.g. Bedrock Custom Model Import). Each is priced with the capacity model the
self-hosted side uses: on the offer's GPU, every tensor-parallel size (one node, up to 8 GPUs) that fits
the model and meets the latency targets (a model copy: the GPUs its Custom Model Units stand for), as
many replicas as carry the declared volume at the planned utilization plus the deployment's failover
replicas (per-GPU offers only: the provider scales copies itself), 730 hours a month at the offer's
rate, never below its minimum; the cheapest size wins.
The result is an `ApiQuote`, so the comparison, breakeven and reports treat it like any API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache, lru_cache

from cost import catalog
from cost.deployment import Deployment, tensor_parallel_ok
from cost.errors import InputError
from cost.physics import capacity
from cost.physics.factors import Factors
from cost.physics.sizing import replicas_needed, serving_point, target_misses
from cost.pricing.api_prices import EXEMPTION_NEEDS, HOSTING_TIERS, ApiOffer, ApiQuote
from cost.units import format_usd
from cost.workload import Workload

__all__ = ["HostingOffer", "offers", "quotes_for", "wanted", "MAX_GPUS_PER_REPLICA"]

MAX_GPUS_PER_REPLICA = 8     # one node: what the providers' deployments offer without a sales contract
UNITS = ("gpu", "copy")
_FILE = "hosting.yaml"


@dataclass(frozen=True)
class HostingOffer:
    """One dedicated or custom-model offer (see cost/data/hosting.yaml for the fields)."""

    offer: ApiOffer
    gpu: str
    precision: str
    unit: str                                   # "gpu": billed per GPU-hour; "copy": per model copy-hour
    usd_per_gpu_hour: float | None
    usd_per_cmu_minute: float | None
    cmu_per_copy: tuple[tuple[float, int], ...]   # (up to params_b, CMUs per copy)
    gpus_per_cmu: float | None                  # (unit copy) the GPUs one CMU is assumed to stand for
    min_units: int
    billing: str
    models: tuple[str, ...] | None              # None: any catalog model that fits
    assumed: str

    def cmus(self, model: catalog.Model) -> int | None:
        """(unit copy) Custom Model Units per copy of this model, None when the offer gives none for its size."""
        return next((n for limit, n in self.cmu_per_copy if model.params_b <= limit), None)

    def unit_usd_hour(self, model: catalog.Model) -> float | None:
        """USD per billed unit-hour for this model (None: the offer does not price a model this size)."""
        if self.unit == "gpu":
            return self.usd_per_gpu_hour
        cmus = self.cmus(model)
        return None if cmus is None or self.usd_per_cmu_minute is None else cmus * self.usd_per_cmu_minute * 60

    def sizes(self, model: catalog.Model) -> list[int]:
        """Tensor-parallel sizes to try: any that fits one node (per-GPU offers), or the GPUs a copy's CMUs stand for."""
        if self.unit == "copy":
            cmus = self.cmus(model)
            return [] if cmus is None or not self.gpus_per_cmu else [max(1, round(cmus * self.gpus_per_cmu))]
        return [tp for tp in capacity.TP_SIZES if tp <= MAX_GPUS_PER_REPLICA]

    def unit_text(self, model: catalog.Model) -> str:
        if self.unit == "gpu":
            return f"{format_usd(self.usd_per_gpu_hour or 0)}/GPU-hour"
        return f"{self.cmus(model)} CMU x ${self.usd_per_cmu_minute:g}/CMU-minute x 60 = {format_usd(self.unit_usd_hour(model) or 0)}/copy-hour"


def _number(entry: dict, key: str, where: str, positive: bool = True) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        raise InputError(f"{where}.{key}", value, "a positive number" if positive else "a non-negative number")
    return float(value)


def _text(entry: dict, key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}.{key}", value, "a non-empty string")
    return " ".join(value.split())


def _offer(entry: object, where: str) -> HostingOffer:
    if not isinstance(entry, dict):
        raise InputError(where, entry, "a mapping with id, label, provider, tier, gpu, unit, a price and a source")
    tier = _text(entry, "tier", where)
    if tier not in HOSTING_TIERS:
        raise InputError(f"{where}.tier", tier, " or ".join(HOSTING_TIERS))
    unit = _text(entry, "unit", where)
    if unit not in UNITS:
        raise InputError(f"{where}.unit", unit, " or ".join(UNITS))
    serves = entry.get("serves")
    if not isinstance(serves, list) or not serves or any(s not in EXEMPTION_NEEDS for s in serves):
        raise InputError(f"{where}.serves", serves, "a list of exemptions from " + ", ".join(EXEMPTION_NEEDS))
    gpu_price = _number(entry, "usd_per_gpu_hour", where) if unit == "gpu" else None
    cmu_price: float | None = None
    gpus_per_cmu: float | None = None
    cmus: tuple[tuple[float, int], ...] = ()
    if unit == "copy":
        cmu_price = _number(entry, "usd_per_cmu_minute", where)
        gpus_per_cmu = _number(entry, "gpus_per_cmu", where)
        raw = entry.get("cmu_per_copy")
        if not isinstance(raw, list) or not raw or any(not isinstance(r, list) or len(r) != 2 for r in raw):
            raise InputError(f"{where}.cmu_per_copy", raw, "a list of [up to params_b, CMUs per copy] pairs")
        cmus = tuple((float(limit), int(n)) for limit, n in raw)
    min_units = entry.get("min_units", 0)
    if isinstance(min_units, bool) or not isinstance(min_units, int) or min_units < 0:
        raise InputError(f"{where}.min_units", min_units, "a whole number, at least 0")
    models = entry.get("models")
    if models is not None:
        if not isinstance(models, list) or not models:
            raise InputError(f"{where}.models", models, "a non-empty list of catalog model ids (or leave it out: any model)")
        models = tuple(catalog.model(m, f"{where}.models[{i}]").id for i, m in enumerate(models))
    source = _text(entry, "source", where) + (f" (assumed: {' '.join(entry['assumed'].split())})" if entry.get("assumed") else "")
    offer = ApiOffer(_text(entry, "id", where), _text(entry, "label", where), _text(entry, "provider", where),
                     catalog.gpu(_text(entry, "gpu", where), f"{where}.gpu").id, tier, source,
                     serves=tuple(serves), includes=_text(entry, "includes", where), minimum=_text(entry, "minimum", where))
    return HostingOffer(offer, offer.model_ref, catalog.precision(_text(entry, "precision", where), f"{where}.precision"),
                        unit, gpu_price, cmu_price, cmus, gpus_per_cmu, min_units, _text(entry, "billing", where), models,
                        " ".join(str(entry.get("assumed") or "").split()))


@cache
def offers() -> tuple[HostingOffer, ...]:
    """The reviewed offers in cost/data/hosting.yaml (loaded and checked once)."""
    with open(catalog.DATA / _FILE, encoding="utf-8") as fh:
        doc = catalog.load_yaml(fh)
    found = tuple(_offer(e, f"{_FILE}: offers[{i}]") for i, e in enumerate(doc.get("offers") or []))
    ids = [o.offer.id for o in found]
    for i, offer_id in enumerate(ids):
        if offer_id in ids[:i]:
            raise InputError(f"{_FILE}: offers[{i}].id", offer_id, "an id not already used in this file")
    return found


def wanted(exemptions: list[str]) -> bool:
    """Whether an exemption is claimed that hosting of your own weights or code may serve."""
    return any(e in EXEMPTION_NEEDS for e in exemptions)


def quotes_for(model_id: str, workload: Workload, factors: Factors | None = None, spares: int = 0) -> list[ApiQuote]:
    """Every hosting offer that can run the model, priced for the workload (cheapest sizing per offer).

    spares: the failover replicas the self-hosted deployment declares; a per-GPU dedicated deployment is
    priced with as many (you set its replica floor), a per-copy offer is not (the provider scales copies)."""
    model = catalog.model(model_id)
    return [q for q in (_quote(o, model.id, workload, factors, spares) for o in offers()) if q is not None]


@lru_cache(maxsize=4096)
def _quote(h: HostingOffer, model_id: str, w: Workload, factors: Factors | None, spares: int = 0) -> ApiQuote | None:
    """One offer priced for the workload, or None when it cannot serve the model (not listed, no fit,
    latency targets missed on every size)."""
    model, gpu = catalog.model(model_id), catalog.gpu(h.gpu)
    unit_usd = h.unit_usd_hour(model)
    if (h.models is not None and model.id not in h.models) or unit_usd is None or not model.serves(h.precision):
        return None
    hours = catalog.assumptions()["hours_per_month"]
    best: tuple[float, int, int, int] | None = None     # (monthly USD, units, replicas, TP)
    for tp in h.sizes(model):
        if not tensor_parallel_ok(model, tp):
            continue
        if not capacity.memory_fit(model, gpu, tp, h.precision, w.tokens_per_request,
                                   capacity.DEFAULT_GPU_MEMORY_UTILIZATION).fits:
            continue
        d = Deployment(model=model.id, gpu=gpu.id, gpus_per_replica=tp, precision=h.precision)
        t = serving_point(model, gpu, d, w, factors)
        if target_misses(t, w):
            continue
        replicas = replicas_needed(t, w) if w.tokens_per_month > 0 else 0
        units = max(h.min_units, (replicas + spares) * tp if h.unit == "gpu" else replicas)
        monthly = units * unit_usd * hours
        if best is None or monthly < best[0]:
            best = (monthly, units, replicas, tp)
    if best is None:
        return None
    monthly, units, replicas, tp = best
    requests = w.requests_per_month
    per_mtok = monthly / w.tokens_per_month * 1e6 if w.tokens_per_month > 0 else math.inf
    failover = spares if h.unit == "gpu" else 0
    sizing = (f"{replicas}+{failover} replica(s) x {tp} {gpu.id}" if h.unit == "gpu"
              else f"{replicas} model cop{'y' if replicas == 1 else 'ies'} (each assumed {tp} {gpu.id})")
    basis = (f"{sizing} at {h.precision} carry {w.tokens_per_month:,.0f} tokens/month at the planned "
             f"{w.utilization:.0%} utilization: {units} unit(s) x {hours} h x {h.unit_text(model)}"
             + (f" (minimum {h.min_units})" if units == h.min_units and h.min_units > replicas else "")
             + f"; billing: {h.billing}")
    return ApiQuote(h.offer, monthly / requests if requests else 0.0, requests, monthly, per_mtok, False, basis)
