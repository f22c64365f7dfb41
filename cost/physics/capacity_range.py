"""The capacity error band carried through an estimate: both ends re-priced, and where the verdict would flip.

An estimate's capacity is the model's figure; published vLLM runs the model was not fitted on put the
measured figure between `band.low` and `band.high` times it (`cost.physics.calibration.error_band`: the held-out runs
most like the configuration, or the widest band outside the checked range). Each end is the same estimate
(the same deployment spec: replicas given stay given, "auto" is sized again) with the capacity model's
`serving_efficiency` multiplied by the end's factor, so every figure at an end comes from `estimate` itself.

The verdict holds across the range when both ends reach the same choice. The flip volume is the declared
volume at which the verdict changes at the end least favourable to it (the low end for a self-host or hybrid
verdict, the high end for an API verdict): the volume where self-hosting, priced by `estimate` at that volume
and that end, costs what the cheapest comparable API costs. Found by fixed-point iteration on
volume = self-hosted monthly cost / API price per token: the self-hosted cost is a non-decreasing step function
of volume (replicas added as it grows), so the iteration moves one way and stops when the replicas stop changing.

It calls `estimate`, so it sits above `cost.estimate` (the "decide" layer of tests/test_layers.py, apart from its
folder): an Estimate never computes its own range. `capacity_range(e)` is what the reports (`cost.report`, the
estimate's JSON document in `cost.report_model`) and the policy pack call; its sentence is
`cost.report_model.capacity_range_note`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cost.physics.calibration import ErrorBand
from cost.physics.factors import Factors, published
from cost.physics.sizing import replica_tokens_per_month

if TYPE_CHECKING:
    from cost.estimate import Estimate

FAVOURS_SELF_HOSTING = ("self-host", "hybrid")
FLIP_ITERATIONS = 60        # the fixed-point iteration stops here (the API is cheaper at every volume)
FLIP_REL_TOL = 1e-9


@dataclass(frozen=True)
class CapacityRange:
    """An estimate at the two ends of its capacity error band."""

    band: ErrorBand
    nominal: Estimate
    low: Estimate
    high: Estimate
    flip_tokens_per_month: float | None   # None: no volume flips it (or nothing to compare with)
    flip_end: str | None                  # "low" | "high": the end the flip volume is priced at

    @property
    def holds(self) -> bool:
        """The verdict is the same at both ends of the band."""
        return self.low.verdict.choice == self.nominal.verdict.choice == self.high.verdict.choice

    def factors(self, end: str) -> Factors:
        """The capacity factors that price one end ("low" | "high")."""
        return end_factors(self.nominal, self.band.low if end == "low" else self.band.high)

    def output_tok_s(self) -> tuple[float, float]:
        """Output tok/s of the nominal replicas at each end."""
        n = self.nominal.deployment.serving_replicas
        return (_per_replica(self.low) * n, _per_replica(self.high) * n)

    def capacity_tokens_per_month(self) -> tuple[float, float]:
        """Tokens/month of the nominal replicas at the planned utilization, at each end."""
        e = self.nominal
        per = [replica_tokens_per_month(end.throughput, e.workload) for end in (self.low, self.high) if end.throughput]
        scale = e.deployment.serving_replicas * e.workload.utilization
        return (per[0] * scale, per[1] * scale)

    def breakeven_tokens_per_month(self, api: str) -> tuple[float, float]:
        """One API's breakeven volume at the dear and the cheap end (the nominal figure inside)."""
        vols = [b.tokens_per_month for e in (self.low, self.nominal, self.high) for b in e.breakeven if b.api == api]
        return (min(vols), max(vols))

    @property
    def pessimistic_monthly_usd(self) -> float:
        """What carrying the declared volume costs at the low end: the low end's bill, or, where its replicas
        no longer carry the volume, the bill of as many replicas as do (never below the nominal bill)."""
        from cost.estimate import estimate

        low = self.low
        usd = low.monthly_usd
        if low.replicas_needed is not None and low.replicas_needed > low.deployment.serving_replicas:
            usd = estimate(replace(low.deployment, replicas=low.replicas_needed), low.workload,
                           **_kwargs(self.nominal, self.factors("low"))).monthly_usd
        return max(usd, self.nominal.monthly_usd)


def _per_replica(e: Estimate) -> float:
    return e.throughput.output_tok_s if e.throughput else 0.0


def end_factors(e: Estimate, multiplier: float) -> Factors:
    """The estimate's capacity factors with sustained throughput multiplied by `multiplier`."""
    base = e.pricing.get("factors") or published()
    return base.replace(serving_efficiency=base.serving_efficiency * multiplier)


def _kwargs(e: Estimate, factors: Factors) -> dict:
    return {**e.pricing, "factors": factors}


def spec(e: Estimate):
    """The deployment as the user gave it: replicas "auto" again where the estimate sized them."""
    return replace(e.deployment, replicas=None) if e.replicas_auto else e.deployment


def capacity_range(e: Estimate) -> CapacityRange | None:
    """The estimate at both ends of its error band (None when its capacity was given, not modelled)."""
    from cost.estimate import estimate

    if e.band is None:
        return None
    d = spec(e)
    low_f, high_f = end_factors(e, e.band.low), end_factors(e, e.band.high)
    low = estimate(d, e.workload, **_kwargs(e, low_f))
    high = estimate(d, e.workload, **_kwargs(e, high_f))
    choice = e.verdict.choice
    flip, end = None, None
    if e.verdict.cheapest_api is not None and choice in FAVOURS_SELF_HOSTING + ("api",):
        end = "low" if choice in FAVOURS_SELF_HOSTING else "high"
        flip = flip_volume(d, low if end == "low" else high, e.verdict.cheapest_api, low_f if end == "low" else high_f)
        end = end if flip is not None else None
    return CapacityRange(e.band, e, low, high, flip, end)


def flip_volume(d, at: Estimate, api: str, factors: Factors) -> float | None:
    """The volume at which self-hosting `d` (priced by `estimate` with `factors`) costs what `api` costs,
    from the estimate `at`; None when the iteration finds none (the API is cheaper at every volume, or the
    deployment as given cannot carry the volume where they would meet)."""
    from cost.estimate import estimate

    quote = next((q for q in at.apis if q.offer.id == api), None)
    if quote is None or quote.usd_per_mtok <= 0:
        return None
    volume, e = at.workload.tokens_per_month, at
    for _ in range(FLIP_ITERATIONS):
        nxt = e.monthly_usd / quote.usd_per_mtok * 1e6
        if abs(nxt - volume) <= FLIP_REL_TOL * max(nxt, volume) and e.workload.tokens_per_month == volume:
            return volume if e.verdict.choice not in ("undersized", "target-unmet") else None
        volume = nxt
        e = estimate(d, replace(at.workload, tokens_per_month=volume), **_kwargs(at, factors))
    return None
