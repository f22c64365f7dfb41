"""Breakeven volumes and the self-host / API / hybrid verdict, after the source articles' rules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

from cost.units import format_tokens, format_usd

UTILIZATION_FLOOR = 0.60  # the seeds: "self-hosting only saves money ... at 60%+ utilization"


@dataclass   # not frozen (see Facts): an estimate's JSON makes one per API
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
class Undersized:
    """A blocker: the serving replicas carry only part of the declared volume."""

    replicas: int
    full_capacity_tokens: float
    tokens_per_month: float
    utilization: float
    needed: int                  # replicas that carry it at the planned utilization
    choice: ClassVar[str] = "undersized"

    def reason(self) -> str:
        return (f"{self.replicas} serving replica(s) carry only {self.full_capacity_tokens / self.tokens_per_month:.0%} of "
                f"the declared {format_tokens(self.tokens_per_month)} tokens/month (full capacity "
                f"{format_tokens(self.full_capacity_tokens)}); carrying it at the planned {self.utilization:.0%} utilization "
                f"needs {self.needed} replicas")


@dataclass(frozen=True)
class TargetUnmet:
    """A blocker: latency targets the hardware cannot meet at any concurrency, and the best it achieves (one request
    in flight); `cost.decide.advice` adds the fix."""

    misses: tuple[str, ...]
    gpus_per_replica: int
    gpu: str
    precision: str
    tpot_s: float
    ttft_s: float
    choice: ClassVar[str] = "target-unmet"

    def reason(self) -> str:
        return (f"{'; '.join(self.misses)}: {self.gpus_per_replica}x {self.gpu} at {self.precision} cannot meet it at any "
                f"concurrency (best achievable: TPOT {self.tpot_s * 1000:.1f} ms, TTFT {self.ttft_s * 1000:.0f} ms with one "
                "request in flight)")


Blocker = Undersized | TargetUnmet


@dataclass(frozen=True)
class HostingScope:
    """What the cheapest alternative, hosting of your weights, runs for you, and the self-hosted lines that work costs."""

    api: str
    includes: str
    minimum: str
    basis: str
    removed: tuple[str, ...]     # the self-hosted line items it makes unnecessary
    removed_usd: float

    def reason(self) -> str:
        return (f"{self.api} includes {self.includes}; the self-hosted figure carries {format_usd(self.removed_usd)}/month of "
                f"that work ({', '.join(self.removed) or 'none'}); minimum: {self.minimum}; sized as {self.basis}")


# Not frozen, like Verdict and Estimate: every estimate makes one, and a frozen __init__ costs several times a plain one.
@dataclass
class Facts:
    """What a verdict was decided from, and which rule decided it: its reasons are written from these when
    first asked for (reports, the JSON), not by every estimate an optimizer or the bench prices."""

    self_monthly_usd: float
    capacity_tokens: float
    full_capacity_tokens: float
    tokens_per_month: float
    cheapest: tuple[str, float, float] | None   # (api id, monthly USD, USD per 1M tokens) of the alternatives
    exemptions: tuple[str, ...]
    compared_with: str
    blockers: tuple[Blocker, ...]   # what rules self-hosting out as configured, in order
    rule: str                   # blocked | regardless | exempt-saves | exempt-api | no-api | hybrid | cheaper | api
    fix: str = ""               # appended to the first reason (the blocker's): `cost.decide.advice`
    scope: HostingScope | None = None   # after the rule's reasons: what a hosting alternative runs for you

    def reasons(self) -> tuple[str, ...]:
        """The sentences `decide`'s rule gives, the fix and the added reasons included."""
        out = self._rule_reasons()
        if self.fix:
            out[0] += self.fix
        return tuple(out) + (() if self.scope is None else (self.scope.reason(),))

    def _rule_reasons(self) -> list[str]:
        own, capacity, full, declared = (self.self_monthly_usd, self.capacity_tokens, self.full_capacity_tokens,
                                         self.tokens_per_month)
        if self.cheapest is None:
            compare = f"self-hosting costs {format_usd(own)}/month; none of the {self.compared_with} is listed for this model"
            if self.rule == "blocked":
                return [*(b.reason() for b in self.blockers), compare]
            if self.rule == "regardless":
                return [regardless(list(self.exemptions), self.compared_with), compare]
            return [compare]   # no-api
        api_id, api_monthly, api_per_mtok = self.cheapest
        compare = (f"self-hosting costs {format_usd(own)}/month against {format_usd(api_monthly)}/month "
                   f"on {api_id} (the cheapest of the {self.compared_with}) for {format_tokens(declared)} tokens/month")
        claimed = ", ".join(self.exemptions)
        if self.rule == "blocked":
            return [*(b.reason() for b in self.blockers), compare]
        if self.rule == "exempt-saves":
            return [compare, f"exemption claimed ({claimed}): compared with {api_id}, which can serve it, self-hosting "
                             f"saves {format_usd(api_monthly - own)}/month"]
        if self.rule == "exempt-api":
            return [compare, f"exemption claimed ({claimed}), but {api_id} serves it for {format_usd(own - api_monthly)}"
                             "/month less than self-hosting: use it, unless a requirement it cannot meet rules it out"]
        self_per_mtok = own / capacity * 1e6 if capacity else float("inf")
        if self.rule == "hybrid":
            return [compare, f"the workload exceeds the planned capacity of {format_tokens(capacity)} tokens/month; "
                             f"self-host the base load at {format_usd(self_per_mtok)}/1M tokens (at the planned utilization) and "
                             f"send the {format_tokens(declared - capacity)} overflow to {api_id} at {format_usd(api_per_mtok)}/1M, "
                             "or add replicas"]
        be = breakeven(own, full, api_id, api_per_mtok)
        if self.rule == "cheaper":
            used = declared / full if full else float("inf")
            out = [compare, f"the workload uses {used:.0%} of full capacity; breakeven is {format_tokens(be.tokens_per_month)} "
                            "tokens/month"]
            if used < UTILIZATION_FLOOR:
                out.append(f"utilization below the {UTILIZATION_FLOOR:.0%} the articles call the floor: idle GPUs burn money")
            return out
        if be.reachable:
            return [compare, f"breakeven with {api_id} is {format_tokens(be.tokens_per_month)} tokens/month "
                             f"({be.tokens_per_month / max(declared, 1):.1f}x the declared volume), "
                             f"{be.utilization_needed:.0%} utilization of this deployment"]
        return [compare, f"even at 100% utilization this deployment costs {format_usd(own / full * 1e6)}"
                         f"/1M tokens (at its full capacity of {format_tokens(full)} tokens/month) against "
                         f"{format_usd(api_per_mtok)}/1M on {api_id}: it never breaks even "
                         f"(breakeven {format_tokens(be.tokens_per_month)} tokens/month needs {be.utilization_needed:.0%} "
                         "of its capacity)"]


@dataclass   # not frozen (see Facts); never mutated: with_fix and with_scope return new verdicts
class Verdict:
    choice: str  # "self-host" | "api" | "hybrid" | "undersized" | "target-unmet"
    cheapest_api: str | None
    cheapest_api_monthly_usd: float | None
    facts: Facts   # what it was decided from; the reasons are written from them
    compared_with: str = "equivalent APIs"   # the class of alternatives the cheapest API was taken from

    @cached_property
    def reasons(self) -> tuple[str, ...]:
        """Why, in sentences: written when first asked for."""
        return self.facts.reasons()

    def with_fix(self, fix: str) -> Verdict:
        """The verdict with its first reason (the blocker's) completed by the fix."""
        return replace(self, facts=replace(self.facts, fix=self.facts.fix + fix))

    def with_scope(self, scope: HostingScope) -> Verdict:
        """The verdict saying, after the rule's reasons, what the hosting alternative it names runs for you."""
        return replace(self, facts=replace(self.facts, scope=scope))


def decide(
    *,
    self_monthly_usd: float,
    capacity_tokens: float,
    full_capacity_tokens: float,
    tokens_per_month: float,
    equivalent: Sequence[tuple[str, float, float]],
    exemptions: list[str],
    compared_with: str = "equivalent APIs",
    blockers: Sequence[Blocker] = (),
) -> Verdict:
    """Apply the rules.

    equivalent: (api id, monthly USD for the workload, blended USD per 1M tokens) for the alternatives
    that can serve this deployment (`compared_with` names them): the APIs serving the same model (or
    the quality tier when none does), or, under an exemption, the offers that can serve it (custom
    weights hosting, in-account APIs). An exemption with no such alternative means self-host
    regardless; one whose alternative is cheaper gets the API verdict, naming it.
    blockers: what rules self-hosting out as configured (a deployment that cannot carry the volume, a latency
    target it cannot meet); the first sets the choice.
    """
    cheapest = min(equivalent, key=lambda e: e[1]) if equivalent else None

    def verdict(choice: str, rule: str) -> Verdict:
        facts = Facts(self_monthly_usd, capacity_tokens, full_capacity_tokens, tokens_per_month, cheapest,
                      tuple(exemptions), compared_with, tuple(blockers), rule)
        return Verdict(choice, None if cheapest is None else cheapest[0], None if cheapest is None else cheapest[1],
                       facts, compared_with)

    if blockers:
        return verdict(blockers[0].choice, "blocked")
    if exemptions:
        if cheapest is None:
            return verdict("self-host", "regardless")
        return verdict("self-host", "exempt-saves") if self_monthly_usd <= cheapest[1] else verdict("api", "exempt-api")
    if cheapest is None:
        return verdict("self-host", "no-api")
    self_per_mtok = self_monthly_usd / capacity_tokens * 1e6 if capacity_tokens else float("inf")
    if tokens_per_month > capacity_tokens and self_per_mtok < cheapest[2]:
        return verdict("hybrid", "hybrid")
    if self_monthly_usd <= cheapest[1]:
        return verdict("self-host", "cheaper")
    return verdict("api", "api")
