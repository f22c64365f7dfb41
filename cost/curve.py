"""Breakeven curves: the cheapest self-hosted configuration at every volume against each API.

Self-hosting at volume V costs S(V), the full monthly cost of the cheapest configuration that
serves V at the planned utilization: a non-decreasing step function (cost jumps where a replica or
a node is added, or where another configuration becomes cheapest). Each API costs a fixed price per
token, a line through the origin. The steps are located by bisection between sampled volumes, and
each breakeven volume by bisection on S(V) - API(V) inside the one step where it changes sign, so
both are exact to the tolerance, not to the sampling.

Pure data: no plotting here (breakeven/chart.py draws it) and nothing from Pulumi.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from cost import api_prices, capacity, catalog
from cost.api_prices import ApiOffer, PriceBook
from cost.deployment import Deployment, Exemptions
from cost.errors import InputError
from cost.estimate import SECONDS_PER_HOUR, Estimate, estimate
from cost.nodes import plan_nodes
from cost.tco import Overheads, deployment_items, stack_items
from cost.workload import Workload

BISECT_REL_TOL = 1e-7      # relative width at which a bisection on volume stops
DEFAULT_POINTS = 48        # sampled volumes between --from and --to (log-spaced)
SEARCH_PRICINGS = tuple(p for p in catalog.PRICINGS if p != "marketplace")  # marketplace needs a price book's GPU price

# volume (tokens/month) -> the cheapest configuration's estimate at that volume
Cheapest = Callable[[float], Estimate]


@dataclass(frozen=True)
class Constraints:
    """What the search may choose from (issue 9's optimizer takes the same; None = search all)."""

    precisions: tuple[str, ...] | None = None
    pricings: tuple[str, ...] | None = None
    gpus: tuple[str, ...] | None = None
    instance_types: tuple[str, ...] | None = None
    redundancy: int = 0

    def to_dict(self) -> dict:
        return {"precisions": self.precisions, "pricings": self.pricings, "gpus": self.gpus,
                "instance_types": self.instance_types, "redundancy": self.redundancy}


@dataclass(frozen=True)
class _Unit:
    """One replica's configuration and the tokens/month it serves at the planned utilization."""

    instance_type: str
    gpu: str
    tp: int
    precision: str
    pricing: str
    tokens_per_replica: float


def local_search(model: str, workload: Workload, constraints: Constraints = Constraints(), *,
                 book: PriceBook | None = None, overheads: Overheads = Overheads(),
                 exemptions: Exemptions = Exemptions()) -> Cheapest:
    """The cheapest configuration at any volume, by full monthly cost (the reports' line items).

    A stand-in for issue 9's `cost.optimize.optimize()` (swap it in here when it lands): every
    catalog instance x tensor-parallel size x precision x pricing allowed by the constraints that
    fits the model, meets the workload's TTFT / TPOT targets and is priced by the catalog; at volume
    V each is given the fewest replicas that serve V, and the cheapest wins (ties: fewer GPUs).
    Per-replica throughput does not depend on the volume, so it is computed once per configuration.
    """
    m = catalog.model(model, "model")
    units = _units(m, workload, constraints, book)
    if not units:
        raise InputError("constraints", constraints.to_dict(),
                         "constraints that leave at least one catalog configuration which fits the model "
                         "and meets the latency targets")
    stack_usd = sum(i.monthly_usd for i in stack_items(overheads))
    memo: dict[tuple[int, int], float] = {}

    def deployment(k: int, replicas: int) -> Deployment:
        u = units[k]
        return Deployment(model=m.id, gpu=u.gpu, gpus_per_replica=u.tp, replicas=replicas,
                          redundancy=constraints.redundancy, precision=u.precision, pricing=u.pricing,
                          instance_type=u.instance_type, exemptions=exemptions)

    def monthly(k: int, replicas: int) -> float:
        if (k, replicas) not in memo:
            items = deployment_items(plan_nodes(deployment(k, replicas), book), overheads)
            memo[k, replicas] = sum(i.monthly_usd for i in items) + stack_usd
        return memo[k, replicas]

    def cheapest(tokens_per_month: float) -> Estimate:
        best = min(range(len(units)), key=lambda k: (monthly(k, _replicas(units[k], tokens_per_month)),
                                                     units[k].tp * _replicas(units[k], tokens_per_month)))
        d = deployment(best, _replicas(units[best], tokens_per_month))
        return estimate(d, replace(workload, tokens_per_month=float(tokens_per_month)), book=book, overheads=overheads)

    return cheapest


def _replicas(u: _Unit, tokens_per_month: float) -> int:
    return max(1, math.ceil(tokens_per_month / u.tokens_per_replica * (1 - 1e-12)))


def _units(m: catalog.Model, w: Workload, c: Constraints, book: PriceBook | None) -> list[_Unit]:
    hours = catalog.assumptions()["hours_per_month"]
    precisions = c.precisions or catalog.PRECISIONS
    pricings = c.pricings or SEARCH_PRICINGS
    gpus = None if c.gpus is None else {catalog.gpu(g, "gpus").id for g in c.gpus}
    types = None if c.instance_types is None else {catalog.instance(t, "instance_types").type for t in c.instance_types}
    units = []
    for inst in catalog.instances().values():
        if (gpus is not None and inst.gpu not in gpus) or (types is not None and inst.type not in types):
            continue
        gpu = catalog.gpu(inst.gpu)
        for tp in capacity.TP_SIZES:
            if tp > inst.gpus or m.attention_heads % tp:
                continue
            for precision in precisions:
                try:
                    t = capacity.throughput(m, gpu, tp, precision, w.avg_input_tokens, w.avg_output_tokens,
                                            tpot_target_s=w.tpot_target_s)
                except InputError:
                    continue  # does not fit, or the GPU lacks the precision
                if (w.ttft_target_s is not None and t.ttft_s > w.ttft_target_s) or \
                        (w.tpot_target_s is not None and t.tpot_s > w.tpot_target_s):
                    continue
                tokens = t.output_tok_s * w.tokens_per_request / w.avg_output_tokens * SECONDS_PER_HOUR * hours * w.utilization
                for pricing in pricings:
                    try:
                        plan_nodes(Deployment(m.id, inst.gpu, tp, 1, c.redundancy, precision, pricing, inst.type), book)
                    except InputError:
                        continue  # no price for this capacity type (e.g. no spot market for the instance)
                    units.append(_Unit(inst.type, inst.gpu, tp, precision, pricing, tokens))
    return units


# ---------------------------------------------------------------------------------------------
# The curve


@dataclass(frozen=True)
class Step:
    """A volume range [start, end) over which the cheapest configuration and its cost stay the same."""

    start: float
    end: float
    estimate: Estimate  # at `start`

    @property
    def monthly_usd(self) -> float:
        return self.estimate.monthly_usd


@dataclass(frozen=True)
class Crossing:
    """A volume at which self-hosting costs the same as one API."""

    api: ApiOffer
    tokens_per_month: float
    estimate: Estimate    # the cheapest configuration at that volume
    api_monthly_usd: float


@dataclass(frozen=True)
class Curve:
    model: str
    workload: Workload                  # the request shape; tokens_per_month is the planned volume (0: none)
    constraints: Constraints
    start: float
    end: float
    points: tuple[Estimate, ...]        # the sampled volumes
    steps: tuple[Step, ...]
    apis: tuple[ApiOffer, ...]
    usd_per_mtok: dict[str, float]      # API id -> blended price at this request shape
    crossings: tuple[Crossing, ...]
    planned: Estimate | None
    search: str

    def api_monthly_usd(self, api_id: str, tokens_per_month: float) -> float:
        return self.usd_per_mtok[api_id] * tokens_per_month / 1e6

    def without_breakeven(self) -> list[tuple[ApiOffer, str]]:
        """APIs the self-hosted curve never meets in the range, and which side is cheaper there
        ("api" or "self-host" throughout, "self-host at the jumps" when only added hardware crosses it)."""
        crossed = {c.api.id for c in self.crossings}
        out = []
        for a in self.apis:
            if a.id in crossed:
                continue
            below = [s.monthly_usd < self.api_monthly_usd(a.id, s.start) for s in self.steps]
            out.append((a, "self-host" if all(below) else "api" if not any(below) else "mixed"))
        return out

    def to_dict(self) -> dict:
        w = self.workload
        return {
            "model": self.model,
            "workload": {"avg_input_tokens": w.avg_input_tokens, "avg_output_tokens": w.avg_output_tokens,
                         "utilization": w.utilization, "ttft_target_s": w.ttft_target_s, "tpot_target_s": w.tpot_target_s,
                         "planned_tokens_per_month": w.tokens_per_month or None},
            "constraints": self.constraints.to_dict(),
            "range": {"from": self.start, "to": self.end},
            "search": self.search,
            "apis": [{"id": a.id, "label": a.label, "tier": a.tier, "usd_per_mtok": round(self.usd_per_mtok[a.id], 6)}
                     for a in self.apis],
            "points": [{"tokens_per_month": round(e.workload.tokens_per_month), "self_hosted_monthly_usd": round(e.monthly_usd, 2),
                        "configuration": configuration(e),
                        "apis": {a.id: round(self.api_monthly_usd(a.id, e.workload.tokens_per_month), 2) for a in self.apis}}
                       for e in self.points],
            "steps": [{"from": round(s.start), "to": round(s.end), "monthly_usd": round(s.monthly_usd, 2),
                       "configuration": configuration(s.estimate)} for s in self.steps],
            "breakeven": [{"api": c.api.id, "tier": c.api.tier, "tokens_per_month": round(c.tokens_per_month),
                           "self_hosted_monthly_usd": round(c.estimate.monthly_usd, 2),
                           "api_monthly_usd": round(c.api_monthly_usd, 2), "configuration": configuration(c.estimate)}
                          for c in self.crossings],
            "no_breakeven": [{"api": a.id, "tier": a.tier, "cheaper_throughout": side} for a, side in self.without_breakeven()],
            "planned": None if self.planned is None else {
                "tokens_per_month": round(self.planned.workload.tokens_per_month),
                "self_hosted_monthly_usd": round(self.planned.monthly_usd, 2), "configuration": configuration(self.planned)},
        }


def configuration(e: Estimate) -> dict:
    """What to pass to `breakeven estimate` to price this configuration again."""
    d = e.deployment
    return {"instance_type": e.plan.instance_type, "gpu": d.gpu, "gpus_per_replica": d.gpus_per_replica,
            "precision": d.precision, "pricing": d.pricing, "replicas": d.replicas, "redundancy": d.redundancy,
            "nodes": e.plan.nodes}


def _key(e: Estimate) -> tuple:
    d = e.deployment
    return (d.instance_type, d.gpus_per_replica, d.precision, d.pricing, d.replicas, round(e.monthly_usd, 6))


def _bisect(lo: float, hi: float, same_as_lo: Callable[[float], bool]) -> float:
    """The volume in (lo, hi] where `same_as_lo` turns false, to BISECT_REL_TOL (geometric midpoints)."""
    while hi / lo > 1 + BISECT_REL_TOL:
        mid = math.sqrt(lo * hi)
        if same_as_lo(mid):
            lo = mid
        else:
            hi = mid
    return hi


def log_volumes(start: float, end: float, n: int) -> list[float]:
    """n volumes from start to end, evenly spaced on a log scale."""
    if n == 1:
        return [start]
    ratio = (end / start) ** (1 / (n - 1))
    return [start * ratio ** i for i in range(n - 1)] + [end]


def curve(model: str, workload: Workload, cheapest: Cheapest, *, start: float, end: float, points: int = DEFAULT_POINTS,
          constraints: Constraints = Constraints(), book: PriceBook | None = None, exemptions: Exemptions = Exemptions(),
          search: str = "",
          progress: Callable[[Iterable[float], int], Iterable[float]] = lambda xs, n: xs) -> Curve:
    """The self-hosted step curve from `start` to `end` tokens/month against every API for the model.

    workload: the request shape and targets (tokens_per_month, if not 0, is the planned volume).
    cheapest: volume -> the cheapest configuration's estimate (`local_search(...)` or the optimizer).
    progress: wraps the iteration over sampled volumes (a progress bar for people).
    """
    if not 0 < start < end:
        raise InputError("--from", start, f"a positive volume below --to ({end:g})")
    if points < 2:
        raise InputError("--points", points, "at least 2")
    vols = log_volumes(start, end, points)
    sampled = [cheapest(v) for v in progress(vols, len(vols))]

    steps: list[Step] = []
    current, step_start = sampled[0], start
    for nxt in sampled[1:]:
        lo = current.workload.tokens_per_month
        while _key(current) != _key(nxt):   # one or more jumps in (lo, next volume]
            k = _key(current)
            at = _bisect(lo, nxt.workload.tokens_per_month, lambda v: _key(cheapest(v)) == k)
            steps.append(Step(step_start, at, current))
            current = cheapest(at)
            step_start = lo = at
    steps.append(Step(step_start, end, current))
    steps = _merge(steps)

    shape = replace(workload, tokens_per_month=1e6)
    quotes = api_prices.quotes_for(model, shape, book, include_custom_hosting=exemptions.fine_tuned)
    rate = {q.offer.id: q.usd_per_mtok for q in quotes}
    crossings: list[Crossing] = []
    for q in quotes:
        api = lambda v, r=rate[q.offer.id]: r * v / 1e6
        for s in steps:
            # S(V) is flat on the step and the API line rises: one sign change at most, from above to below
            if s.monthly_usd > api(s.start) and s.monthly_usd <= api(s.end):
                v = _bisect(s.start, s.end, lambda x: cheapest(x).monthly_usd > api(x))
                crossings.append(Crossing(q.offer, v, cheapest(v), api(v)))
    crossings.sort(key=lambda c: (c.tokens_per_month, c.api.id))
    planned = cheapest(workload.tokens_per_month) if workload.tokens_per_month else None
    return Curve(catalog.model(model).id, workload, constraints, start, end, tuple(sampled), tuple(steps),
                 tuple(q.offer for q in quotes), rate, tuple(crossings), planned, search)


def _merge(steps: list[Step]) -> list[Step]:
    """Join neighbouring steps with the same configuration and cost (bisection can split one)."""
    out: list[Step] = []
    for s in steps:
        if out and _key(out[-1].estimate) == _key(s.estimate):
            out[-1] = Step(out[-1].start, s.end, out[-1].estimate)
        elif s.end > s.start:
            out.append(s)
    return out
