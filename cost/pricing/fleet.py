"""Price a whole stack: several self-hosted models and, for hybrid routing, API tiers, as one blend."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from cost.decide.advice import advise
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import Estimate, estimate
from cost.physics.factors import Factors
from cost.physics.sizing import sized
from cost.pricing import api_prices
from cost.pricing.api_prices import ApiQuote, PriceBook
from cost.pricing.nodes import plan_nodes
from cost.pricing.tco import Overheads, stack_items
from cost.workload import Workload


@dataclass(frozen=True)
class Tier:
    """A share of the routed traffic, sent to a self-hosted deployment (by name) or to an API (by id)."""

    name: str
    share: float
    deployment: str | None = None
    api: str | None = None

    @property
    def target(self) -> str:
        """The deployment name or API id it routes to (the stack schema requires exactly one)."""
        target = self.deployment or self.api
        if target is None:
            raise InputError(f"routing.tiers.{self.name}", None, "a model (a deployment's name) or an api id")
        return target


@dataclass(frozen=True)
class TierCost:
    tier: Tier
    tokens_per_month: float
    monthly_usd: float
    quote: ApiQuote | None  # for API tiers


@dataclass(frozen=True)
class Routing:
    """The cheapest assignment of routing tiers to targets that serve the same model, against the declared one.

    Both priced alike: each self-hosted deployment that keeps a tier costs its own line items, the per-stack
    staff and monitoring are paid once if any does, and each API tier costs its share of the routed workload.
    """

    assignment: tuple[tuple[str, str, str], ...]   # (tier name, target, "self-hosted" | "api"), cheapest
    monthly_usd: float
    declared_monthly_usd: float

    @property
    def saves_usd(self) -> float:
        return self.declared_monthly_usd - self.monthly_usd

    def to_dict(self) -> dict:
        return {"tiers": [{"name": n, "target": t, "kind": k} for n, t, k in self.assignment],
                "monthly_usd": round(self.monthly_usd, 2), "declared_monthly_usd": round(self.declared_monthly_usd, 2),
                "saves_usd": round(self.saves_usd, 2)}


@dataclass(frozen=True)
class Fleet:
    """A stack priced: each model's (advised) estimate and the routing blend; its report is
    `cost.report_model.fleet_document` (JSON, the program's exported `cost`) and `cost.report.fleet_text`."""

    estimates: tuple[Estimate, ...]
    tiers: tuple[TierCost, ...]
    routed_workload: Workload | None
    all_api: tuple[ApiQuote, ...]  # the whole routed workload on each API tier, for comparison
    budget_usd_per_month: float | None
    routing: Routing | None = None

    @property
    def self_hosted_monthly_usd(self) -> float:
        return sum(e.monthly_usd for e in self.estimates)

    @property
    def api_monthly_usd(self) -> float:
        return sum(t.monthly_usd for t in self.tiers if t.quote is not None)

    @property
    def monthly_usd(self) -> float:
        return self.self_hosted_monthly_usd + self.api_monthly_usd


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
    # replicas "auto" (None): sized to carry each deployment's workload before the per-stack overheads are split
    deployments = [(sized(d, w), w) for d, w in deployments]
    spend = [plan_nodes(d, book).unit_usd_hr * plan_nodes(d, book).units for d, _ in deployments]
    total = sum(spend) or 1.0
    estimates = tuple(   # advised: the stack's reports and the pack show each blocker with its fix
        advise(estimate(d, w, book=book, overheads=overheads, stack_share=s / total, factors=factors))
        for (d, w), s in zip(deployments, spend, strict=True)
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
                offer = api_prices.offer(t.target, book)
                part = Workload(tokens, routed_workload.avg_input_tokens, routed_workload.avg_output_tokens, routed_workload.utilization)
                q = api_prices.quote(offer, part)
                costs.append(TierCost(t, tokens, q.monthly_usd, q))
                all_api.append(api_prices.quote(offer, routed_workload))
    routing = None
    if routed_workload is not None and tiers:
        routing = cheapest_routing(deployments, list(tiers), routed_workload, book=book, overheads=overheads)
    return Fleet(estimates, tuple(costs), routed_workload, tuple(all_api), budget_usd_per_month, routing)


def _options(tier: Tier, deployments: dict[str, Deployment], book: PriceBook | None) -> list[tuple[str, str]]:
    """(target, kind) that can serve a tier's traffic: its own target, live APIs serving the same open model,
    self-hosted deployments of that model; for a frontier (quality) API, the other live quality APIs."""
    if tier.deployment is not None:
        model = deployments[tier.deployment].model
        targets = [(tier.deployment, "self-hosted")]
        offers = [o for o in api_prices.offers_for(model, book) if o.tier == "equivalent"]
    else:
        declared = api_prices.offer(tier.target, book)
        targets = [(tier.target, "api")]
        if declared.tier == "quality":
            offers = api_prices.quality_offers(book)
        else:
            models = set(api_prices.models_served(declared.id, book))
            targets += [(name, "self-hosted") for name, d in deployments.items() if d.model in models]
            offers = [o for m in sorted(models) for o in api_prices.offers_for(m, book) if o.tier == "equivalent"]
    for o in offers:
        if api_prices.retired(o.id) is None and (o.id, "api") not in targets:
            targets.append((o.id, "api"))
    return targets


def cheapest_routing(deployments: list[tuple[Deployment, Workload]], tiers: list[Tier], routed: Workload, *,
                     book: PriceBook | None = None, overheads: Overheads = Overheads()) -> Routing:
    """Try every assignment of tiers to targets serving the same model; the cheapest, and the declared one's cost."""
    by_name = {d.name: d for d, _ in deployments}
    own = {d.name: estimate(d, w, book=book, overheads=overheads, stack_share=0.0).monthly_usd for d, w in deployments}
    stack = sum(i.monthly_usd for i in stack_items(overheads))
    api_cost: dict[tuple[str, float], float] = {}

    def tier_api(target: str, share: float) -> float:
        key = (target, share)
        if key not in api_cost:
            part = Workload(routed.tokens_per_month * share, routed.avg_input_tokens, routed.avg_output_tokens,
                            routed.utilization, batch=routed.batch)
            api_cost[key] = api_prices.quote(api_prices.offer(target, book), part).monthly_usd
        return api_cost[key]

    def cost(choice: tuple[tuple[str, str], ...]) -> float:
        hosted = {t for t, k in choice if k == "self-hosted"}
        apis = sum(tier_api(t, tier.share) for tier, (t, k) in zip(tiers, choice, strict=True) if k == "api")
        return apis + sum(own[n] for n in hosted) + (stack if hosted else 0.0)

    declared = tuple((t.target, "self-hosted" if t.deployment else "api") for t in tiers)
    best = min(itertools.product(*(_options(t, by_name, book) for t in tiers)), key=cost)
    return Routing(tuple((t.name, target, kind) for t, (target, kind) in zip(tiers, best, strict=True)), cost(best), cost(declared))
