"""Breakeven volumes and the self-host / API / hybrid verdict, after the source articles' rules."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cost.units import format_tokens, format_usd

UTILIZATION_FLOOR = 0.60  # the seeds: "self-hosting only saves money ... at 60%+ utilization"


@dataclass(frozen=True)
class Breakeven:
    """The monthly volume at which self-hosting costs the same as one API, and the utilization it needs."""

    api: str
    api_usd_per_mtok: float
    tokens_per_month: float
    utilization_needed: float  # of the deployment's full (100 %) capacity

    @property
    def reachable(self) -> bool:
        return self.utilization_needed <= 1.0

    def to_dict(self) -> dict:
        return {"api": self.api,
                "api_usd_per_mtok": round(self.api_usd_per_mtok, 4) if math.isfinite(self.api_usd_per_mtok) else None,
                # null: no volume breaks even (the API is free, or the deployment has no capacity)
                "tokens_per_month": round(self.tokens_per_month) if math.isfinite(self.tokens_per_month) else None,
                "utilization_needed": round(self.utilization_needed, 4) if math.isfinite(self.utilization_needed) else None,
                "reachable": self.reachable}


def breakeven(self_monthly_usd: float, full_capacity_tokens: float, api: str, api_usd_per_mtok: float) -> Breakeven:
    """Self-hosting is a fixed monthly cost; an API costs per token. They meet at cost / price."""
    tokens = float("inf") if api_usd_per_mtok <= 0 else self_monthly_usd / api_usd_per_mtok * 1e6
    need = float("inf") if full_capacity_tokens <= 0 else tokens / full_capacity_tokens
    return Breakeven(api, api_usd_per_mtok, tokens, need)


def regardless(exemptions: list[str], compared_with: str) -> str:
    """The one sentence every command and the policy pack give when no alternative can serve what an
    exemption needs (and only then): self-hosting is the choice whatever it costs."""
    return (f"exemption claimed ({', '.join(exemptions)}) and no alternative can serve it ({compared_with}: none listed): "
            "self-host regardless of price")


@dataclass(frozen=True)
class Verdict:
    choice: str  # "self-host" | "api" | "hybrid" | "undersized" | "target-unmet"
    reasons: tuple[str, ...]
    cheapest_api: str | None
    cheapest_api_monthly_usd: float | None
    compared_with: str = "equivalent APIs"   # the class of alternatives the cheapest API was taken from

    def to_dict(self) -> dict:
        return {"choice": self.choice, "reasons": list(self.reasons), "cheapest_api": self.cheapest_api,
                "cheapest_api_monthly_usd": None if self.cheapest_api_monthly_usd is None else round(self.cheapest_api_monthly_usd, 2),
                "compared_with": self.compared_with}


def decide(
    *,
    self_monthly_usd: float,
    capacity_tokens: float,
    full_capacity_tokens: float,
    tokens_per_month: float,
    equivalent: list[tuple[str, float, float]],
    exemptions: list[str],
    compared_with: str = "equivalent APIs",
    blockers: list[tuple[str, str]] | tuple = (),
) -> Verdict:
    """Apply the rules.

    equivalent: (api id, monthly USD for the workload, blended USD per 1M tokens) for the alternatives
    that can serve this deployment (`compared_with` names them): the APIs serving the same model (or
    the quality tier when none does), or, under an exemption, the offers that can serve it (custom
    weights hosting, in-account APIs). An exemption with no such alternative means self-host
    regardless; one whose alternative is cheaper gets the API verdict, naming it.
    blockers: (choice, reason) for what rules self-hosting out as configured (a deployment that cannot
    carry the volume, a latency target it cannot meet); the first sets the choice.
    """
    reasons: list[str] = []
    cheapest = min(equivalent, key=lambda e: e[1]) if equivalent else None
    used = tokens_per_month / full_capacity_tokens if full_capacity_tokens else float("inf")
    self_per_mtok = self_monthly_usd / capacity_tokens * 1e6 if capacity_tokens else float("inf")
    if cheapest:
        api_id, api_monthly, api_per_mtok = cheapest
        compare = (f"self-hosting costs {format_usd(self_monthly_usd)}/month against {format_usd(api_monthly)}/month "
                   f"on {api_id} (the cheapest of the {compared_with}) for {format_tokens(tokens_per_month)} tokens/month")
    else:
        api_id, api_monthly, api_per_mtok = "", math.nan, math.nan   # never read: every use below follows a cheapest check
        compare = f"self-hosting costs {format_usd(self_monthly_usd)}/month; none of the {compared_with} is listed for this model"

    def verdict(choice: str) -> Verdict:
        return Verdict(choice, tuple(reasons), api_id if cheapest else None, api_monthly if cheapest else None, compared_with)

    if blockers:
        reasons.extend(reason for _, reason in blockers)
        reasons.append(compare)
        return verdict(blockers[0][0])
    if exemptions:
        claimed = ", ".join(exemptions)
        if cheapest is None:
            reasons.append(regardless(exemptions, compared_with))
            reasons.append(compare)
            return verdict("self-host")
        reasons.append(compare)
        if self_monthly_usd <= api_monthly:
            reasons.append(f"exemption claimed ({claimed}): compared with {api_id}, which can serve it, self-hosting "
                           f"saves {format_usd(api_monthly - self_monthly_usd)}/month")
            return verdict("self-host")
        reasons.append(f"exemption claimed ({claimed}), but {api_id} serves it for {format_usd(self_monthly_usd - api_monthly)}"
                       "/month less than self-hosting: use it, unless a requirement it cannot meet rules it out")
        return verdict("api")
    reasons.append(compare)
    if cheapest is None:
        return verdict("self-host")
    be = breakeven(self_monthly_usd, full_capacity_tokens, api_id, api_per_mtok)
    if tokens_per_month > capacity_tokens and self_per_mtok < api_per_mtok:
        overflow = tokens_per_month - capacity_tokens
        reasons.append(f"the workload exceeds the planned capacity of {format_tokens(capacity_tokens)} tokens/month; "
                       f"self-host the base load at {format_usd(self_per_mtok)}/1M tokens (at the planned utilization) and "
                       f"send the {format_tokens(overflow)} overflow to {api_id} at {format_usd(api_per_mtok)}/1M, or add replicas")
        return verdict("hybrid")
    if self_monthly_usd <= api_monthly:
        reasons.append(f"the workload uses {used:.0%} of full capacity; breakeven is {format_tokens(be.tokens_per_month)} tokens/month")
        if used < UTILIZATION_FLOOR:
            reasons.append(f"utilization below the {UTILIZATION_FLOOR:.0%} the articles call the floor: idle GPUs burn money")
        return verdict("self-host")
    if be.reachable:
        reasons.append(f"breakeven with {api_id} is {format_tokens(be.tokens_per_month)} tokens/month "
                       f"({be.tokens_per_month / max(tokens_per_month, 1):.1f}x the declared volume), "
                       f"{be.utilization_needed:.0%} utilization of this deployment")
    else:
        reasons.append(f"even at 100% utilization this deployment costs {format_usd(self_monthly_usd / full_capacity_tokens * 1e6)}"
                       f"/1M tokens (at its full capacity of {format_tokens(full_capacity_tokens)} tokens/month) against "
                       f"{format_usd(api_per_mtok)}/1M on {api_id}: it never breaks even "
                       f"(breakeven {format_tokens(be.tokens_per_month)} tokens/month needs {be.utilization_needed:.0%} of its capacity)")
    return verdict("api")
