"""Low / base / high: the same estimate with every uncertain assumption at its cheap and dear end.

The band's ends come from assumptions.yaml (`sensitivity`, each with its source): MLOps staff,
monitoring, planned utilization, where in the zones' spot range spot is priced, and the reserved
discounts. The base is what the user asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cost import catalog
from cost.estimate import Estimate, estimate
from cost.pricing.nodes import Rates
from cost.pricing.tco import Overheads

BANDS = ("low", "base", "high")


@dataclass(frozen=True)
class Band:
    name: str
    estimate: Estimate
    assumptions: dict


@dataclass(frozen=True)
class Sensitivity:
    bands: tuple[Band, Band, Band]

    @property
    def flips(self) -> bool:
        return len({b.estimate.verdict.choice for b in self.bands}) > 1


def sensitivity(deployment, workload, *, book=None, overheads: Overheads = Overheads(), rates: Rates | None = None,
                factors=None, providers: tuple[str, ...] | None = None) -> Sensitivity:
    """Estimate at the base assumptions and at both ends of the band."""
    rates = rates or Rates()
    band = catalog.assumptions()["sensitivity"]
    reserved = band["reserved_discount"]
    out = []
    for name in BANDS:
        if name == "base":
            o, w, r = overheads, workload, rates
        else:
            o = replace(overheads, mlops_fte=band["mlops_fte"][name], monitoring_usd_per_month=band["monitoring_usd_month"][name])
            w = replace(workload, utilization=band["utilization"][name])
            r = Rates(reserved["reserved-1y"][name], reserved["reserved-3y"][name], band["spot_position"][name])
        e = estimate(deployment, w, book=book, overheads=o, rates=r, factors=factors, providers=providers)
        out.append(Band(name, e, {"mlops_fte": o.mlops_fte, "monitoring_usd_per_month": o.monitoring_usd_per_month,
                                  "utilization": w.utilization, "spot_position": r.spot_position,
                                  "reserved_discount": r.reserved_discount}))
    low, base, high = out
    return Sensitivity((low, base, high))
