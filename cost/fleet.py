"""Price a whole stack: several self-hosted models and, for hybrid routing, API tiers, as one blend."""

from __future__ import annotations

from dataclasses import dataclass

from cost import api_prices
from cost.api_prices import ApiQuote, PriceBook
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import Estimate, estimate
from cost.factors import Factors
from cost.nodes import plan_nodes
from cost.tco import Overheads
from cost.workload import Workload


@dataclass(frozen=True)
class Tier:
    """A share of the routed traffic, sent to a self-hosted deployment (by name) or to an API (by id)."""

    name: str
    share: float
    deployment: str | None = None
    api: str | None = None


@dataclass(frozen=True)
class TierCost:
    tier: Tier
    tokens_per_month: float
    monthly_usd: float
    quote: ApiQuote | None  # for API tiers


@dataclass(frozen=True)
class Fleet:
    estimates: tuple[Estimate, ...]
    tiers: tuple[TierCost, ...]
    routed_workload: Workload | None
    all_api: tuple[ApiQuote, ...]  # the whole routed workload on each API tier, for comparison
    budget_usd_per_month: float | None

    @property
    def self_hosted_monthly_usd(self) -> float:
        return sum(e.monthly_usd for e in self.estimates)

    @property
    def api_monthly_usd(self) -> float:
        return sum(t.monthly_usd for t in self.tiers if t.quote is not None)

    @property
    def monthly_usd(self) -> float:
        return self.self_hosted_monthly_usd + self.api_monthly_usd

    def to_dict(self) -> dict:
        return {
            "monthly_usd": round(self.monthly_usd, 2),
            "self_hosted_monthly_usd": round(self.self_hosted_monthly_usd, 2),
            "api_tiers_monthly_usd": round(self.api_monthly_usd, 2),
            "budget_usd_per_month": self.budget_usd_per_month,
            "within_budget": None if self.budget_usd_per_month is None else self.monthly_usd <= self.budget_usd_per_month,
            "models": [e.to_dict() for e in self.estimates],
            "routing": None if self.routed_workload is None else {
                "tokens_per_month": self.routed_workload.tokens_per_month,
                "tiers": [
                    {"name": t.tier.name, "share": t.tier.share, "target": t.tier.deployment or t.tier.api,
                     "kind": "self-hosted" if t.tier.deployment else "api",
                     "tokens_per_month": round(t.tokens_per_month), "monthly_usd": round(t.monthly_usd, 2)}
                    for t in self.tiers
                ],
                "blend_monthly_usd": round(self.monthly_usd, 2),
                "all_on_one_api": [{"api": q.offer.id, "monthly_usd": round(q.monthly_usd, 2)} for q in self.all_api],
            },
        }


def check_tiers(tiers: list[Tier], names: set[str], key: str = "routing.tiers") -> None:
    """Tier shares must sum to 1 and each tier must name exactly one known target."""
    total = sum(t.share for t in tiers)
    if tiers and abs(total - 1) > 1e-6:
        raise InputError(key, [t.share for t in tiers], "shares that sum to 1", f"they sum to {total:g}")
    for i, t in enumerate(tiers):
        if not 0 < t.share <= 1:
            raise InputError(f"{key}[{i}].share", t.share, "a fraction in (0, 1]")
        if (t.deployment is None) == (t.api is None):
            raise InputError(f"{key}[{i}]", t.name, "exactly one of `model` (a self-hosted model's name) or `api` (an API id)")
        if t.deployment is not None and t.deployment not in names:
            raise InputError(f"{key}[{i}].model", t.deployment, ", ".join(sorted(names)) or "a name from models")


def price_fleet(
    deployments: list[tuple[Deployment, Workload]],
    *,
    tiers: list[Tier] | tuple[Tier, ...] = (),
    routed_workload: Workload | None = None,
    book: PriceBook | None = None,
    overheads: Overheads = Overheads(),
    budget_usd_per_month: float | None = None,
    factors: Factors | None = None,
) -> Fleet:
    """Price every deployment (splitting the per-stack overheads by GPU spend) and every API tier."""
    check_tiers(list(tiers), {d.name for d, _ in deployments})
    spend = [plan_nodes(d, book).unit_usd_hr * plan_nodes(d, book).units for d, _ in deployments]
    total = sum(spend) or 1.0
    estimates = tuple(
        estimate(d, w, book=book, overheads=overheads, stack_share=s / total, factors=factors) for (d, w), s in zip(deployments, spend)
    )
    costs: list[TierCost] = []
    all_api: list[ApiQuote] = []
    if routed_workload is not None:
        by_name = {e.deployment.name: e for e in estimates}
        for t in tiers:
            tokens = routed_workload.tokens_per_month * t.share
            if t.deployment:
                costs.append(TierCost(t, tokens, by_name[t.deployment].monthly_usd, None))
            else:
                offer = api_prices.offer(t.api, book)
                part = Workload(tokens, routed_workload.avg_input_tokens, routed_workload.avg_output_tokens, routed_workload.utilization)
                q = api_prices.quote(offer, part)
                costs.append(TierCost(t, tokens, q.monthly_usd, q))
                all_api.append(api_prices.quote(offer, routed_workload))
    return Fleet(estimates, tuple(costs), routed_workload, tuple(all_api), budget_usd_per_month)
