"""Breakeven curves: the cheapest self-hosted configuration at every volume against each API.

Self-hosting at volume V costs S(V), the full monthly cost of the cheapest configuration that
serves V at the planned utilization (`cost.decide.optimize.optimize`): a non-decreasing step function.
The steps are exact, not sampled: the configuration that is cheapest at V stays cheapest, at the
same cost, up to the volume it can carry (every other configuration only gets dearer as volume
grows), so one search per step walks the whole range. Each API costs a fixed price per token, a
line through the origin; its breakeven volumes are found by bisection on S(V) - API(V) inside the
step where it changes sign.

Pure data: no plotting here (breakeven/chart.py draws it), no report (`cost.report_model.curve_document` writes
its JSON document) and nothing from Pulumi.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from cost import catalog
from cost.decide.optimize import Constraints, optimize
from cost.deployment import Exemptions
from cost.errors import InputError
from cost.estimate import Estimate
from cost.pricing import api_prices, gpu_clouds
from cost.pricing.api_prices import ApiOffer, PriceBook
from cost.workload import Workload

BISECT_REL_TOL = 1e-9      # relative width at which a bisection on volume stops
DEFAULT_POINTS = 48        # sampled volumes between --from and --to (log-spaced), for the data table
MAX_STEPS = 5000           # a guard: the walk stops with an error rather than run away

# volume (tokens/month) -> the cheapest configuration's estimate at that volume
Cheapest = Callable[[float], Estimate]


def cheapest_search(model: str, workload: Workload, constraints: Constraints = Constraints(), **search) -> Cheapest:
    """Volume -> the estimate of the cheapest configuration at that volume (issue 9's optimizer, top 1).

    search: optimize()'s keyword arguments (book, overheads, factors, exemptions, providers, rates).
    InputError (key "constraints") when no configuration fits the model and meets the targets.
    """
    def cheapest(tokens_per_month: float) -> Estimate:
        found = optimize(model, replace(workload, tokens_per_month=float(tokens_per_month)), constraints, top=1, **search)
        if not found:
            raise InputError("constraints", constraints_dict(constraints), "constraints that leave at least one catalog configuration "
                             "which fits the model and meets the latency targets")
        return found[0].estimate

    return cheapest


def constraints_dict(c: Constraints) -> dict:
    return {"precisions": c.precisions, "pricings": c.pricings, "gpus": c.gpus, "instance_types": c.instance_types,
            "redundancy": c.redundancy, "zones": c.zones, "production": c.production,
            "gpu_memory_utilization": c.gpu_memory_utilization, "clouds": c.clouds}


# ---------------------------------------------------------------------------------------------
# The curve


@dataclass(frozen=True)
class Step:
    """A volume range [start, end) over which the cheapest configuration and its cost stay the same.

    end is what the configuration carries at the planned utilization (or the end of the range)."""

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
    estimate: Estimate    # the cheapest configuration at that volume, priced at it
    api_monthly_usd: float


@dataclass(frozen=True)
class Curve:
    model: str
    workload: Workload                  # the request shape; tokens_per_month is the planned volume (0: none)
    constraints: Constraints
    start: float
    end: float
    volumes: tuple[float, ...]          # the sampled volumes of points[]
    steps: tuple[Step, ...]
    apis: tuple[ApiOffer, ...]
    usd_per_mtok: dict[str, float]      # API id -> blended price at this request shape
    crossings: tuple[Crossing, ...]
    planned: Estimate | None

    def api_monthly_usd(self, api_id: str, tokens_per_month: float) -> float:
        return self.usd_per_mtok[api_id] * tokens_per_month / 1e6

    def step_at(self, tokens_per_month: float) -> Step:
        """The step a volume falls in."""
        return next((s for s in self.steps if s.start <= tokens_per_month < s.end), self.steps[-1])

    def without_breakeven(self) -> list[tuple[ApiOffer, str]]:
        """APIs the self-hosted curve never meets in the range, and which is cheaper there:
        "api" or "self-host" throughout, or "mixed" (only the jumps of added hardware cross the line)."""
        crossed = {c.api.id for c in self.crossings}
        out = []
        for a in self.apis:
            if a.id in crossed:
                continue
            below = [s.monthly_usd < self.api_monthly_usd(a.id, s.start) for s in self.steps]
            out.append((a, "self-host" if all(below) else "api" if not any(below) else "mixed"))
        return out

    @property
    def comparable_tier(self) -> str:
        """The tier of the APIs that can stand in for this deployment: hosting of fine-tuned weights when
        drawn (the fine-tuned exemption), else the APIs serving the same model, else the quality tier."""
        tiers = {a.tier for a in self.apis}
        return next((t for t in ("custom-model", "equivalent") if t in tiers), "quality")


def configuration(e: Estimate) -> dict:
    """What to pass to `breakeven estimate` to price this configuration again."""
    d = e.deployment
    rented = gpu_clouds.offer_priced(e.plan.unit_source)
    return {"cloud": gpu_clouds.AWS if rented is None else rented.cloud,
            "product": None if rented is None else rented.product, "source": e.plan.unit_source,
            "instance_type": e.plan.instance_type, "gpu": d.gpu, "gpus_per_replica": d.gpus_per_replica,
            "precision": d.precision, "pricing": d.pricing, "replicas": d.replicas, "redundancy": d.redundancy,
            "nodes": e.plan.nodes}


def bisect(lo: float, hi: float, above: Callable[[float], bool]) -> float:
    """The volume in (lo, hi] where `above` turns false (true at lo, false at hi), to BISECT_REL_TOL."""
    while hi / lo > 1 + BISECT_REL_TOL:
        mid = math.sqrt(lo * hi)
        if above(mid):
            lo = mid
        else:
            hi = mid
    return hi


def log_volumes(start: float, end: float, n: int) -> list[float]:
    """n volumes from start to end, evenly spaced on a log scale."""
    ratio = (end / start) ** (1 / (n - 1))
    return [start * ratio ** i for i in range(n - 1)] + [end]


def walk(cheapest: Cheapest, start: float, end: float,
         progress: Callable[[Iterable[int]], Iterable[int]] = lambda xs: xs) -> list[Step]:
    """The exact step curve from start to end: one search per step (see the module docstring)."""
    steps: list[Step] = []
    v = start
    for _ in progress(range(MAX_STEPS)):
        e = cheapest(v)
        carries = e.capacity_tokens_per_month
        if carries < v * (1 - 1e-9):
            raise ValueError(f"the search returned a configuration that carries {carries:g} < {v:g} tokens/month")
        stop = min(carries, end)
        steps.append(Step(v, stop, e))
        if stop >= end:
            return steps
        v = carries * (1 + BISECT_REL_TOL)
    raise InputError("--to", end, f"a range the self-hosted curve crosses in at most {MAX_STEPS} steps")


def curve(model: str, workload: Workload, cheapest: Cheapest, *, start: float, end: float, points: int = DEFAULT_POINTS,
          constraints: Constraints = Constraints(), book: PriceBook | None = None, exemptions: Exemptions = Exemptions(),
          providers: tuple[str, ...] | None = None,
          progress: Callable[[Iterable[int]], Iterable[int]] = lambda xs: xs) -> Curve:
    """The self-hosted step curve from `start` to `end` tokens/month against every current API for the model.

    workload: the request shape and targets (tokens_per_month, if not 0, is the planned volume).
    cheapest: volume -> the cheapest configuration's estimate (`cheapest_search(...)`).
    providers: API providers to draw (None: all); retired offers are left out.
    progress: wraps the walk over steps (a progress bar for people).
    """
    if not 0 < start < end:
        raise InputError("start", start, f"a positive volume below the end of the range ({end:g})")
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise InputError("points", points, "a whole number, at least 2")
    steps = walk(cheapest, start, end, progress)

    shape = replace(workload, tokens_per_month=1e6)
    quotes = [q for q in api_prices.quotes_for(model, shape, book, include_custom_hosting=exemptions.fine_tuned)
              if not api_prices.retired(q.offer.id) and (providers is None or q.offer.provider in providers)]
    rate = {q.offer.id: q.usd_per_mtok for q in quotes}
    crossings: list[Crossing] = []
    for q in quotes:
        def api(v: float, r: float = rate[q.offer.id]) -> float:
            return r * v / 1e6

        for s in steps:
            # S is flat on a step and the API line rises: at most one sign change, from above to below
            if s.monthly_usd > api(s.start) and s.monthly_usd <= api(s.end):
                usd = s.monthly_usd
                v = bisect(s.start, s.end, lambda x: usd > api(x))
                e = cheapest(v)
                crossings.append(Crossing(q.offer, v, e, api(v)))
    crossings.sort(key=lambda c: (c.tokens_per_month, c.api.id))
    planned = cheapest(workload.tokens_per_month) if workload.tokens_per_month else None
    return Curve(catalog.model(model).id, workload, constraints, start, end, tuple(log_volumes(start, end, points)),
                 tuple(steps), tuple(q.offer for q in quotes), rate, tuple(crossings), planned)
