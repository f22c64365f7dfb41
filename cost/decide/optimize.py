"""Search the catalog for the cheapest configuration that serves a workload, by full monthly cost.

Every AWS instance x tensor-parallel size x precision x capacity type is one cell. A cell's replica
operating point (`cost.physics.sizing.serving_point`) depends on the GPU, the size and the precision only,
so it is computed once per (GPU, size, precision); the replicas a cell needs follow in closed form
(`cost.physics.sizing.replicas_needed`), and replicas pack onto whole instances as `cost.pricing.nodes.plan_nodes`
packs them (as many per instance as fit: fewer per instance only adds instances, so packing fully is
the cheapest choice and the only one searched). Each cell's monthly bill is then the same line items
the reports sum (`cost.pricing.tco`), which bounds the search: cells are fully estimated with
`cost.estimate.estimate`, cheapest bound first, until the next bound cannot enter the top N.

Failover: `redundancy` failover replicas each survive the loss of a node: with several replicas per
instance, each failover is a whole instance of spare replicas (so no replica and its failover share a
node). Production (`zones` >= 2): at least one node per zone, and as many spares as the fullest zone holds
replicas, so losing any one zone leaves the replicas that carry the volume; a configuration whose
zone_loss_capacity_share is under 1 is never returned for production.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace

from cost import catalog
from cost.catalog.instance_hardware import hardware
from cost.decide.verdict import regardless
from cost.deployment import Deployment, Exemptions, check_gpu_memory_utilization
from cost.errors import InputError
from cost.estimate import Estimate, estimate
from cost.physics import capacity
from cost.physics.factors import Factors
from cost.physics.sizing import replicas_needed, serving_point, target_misses
from cost.pricing import gpu_clouds
from cost.pricing.api_prices import PriceBook
from cost.pricing.nodes import Rates, plan_nodes, zone_spread
from cost.pricing.tco import Overheads, deployment_items, stack_items
from cost.units import round_finite
from cost.workload import Workload

SEARCH_PRECISIONS = ("bf16", "fp8", "int4-awq")   # fp16 costs and serves as bf16: searched only when asked
SEARCH_PRICINGS = ("on-demand", "spot", "reserved-1y", "reserved-3y")   # what `pricings` may name
DEFAULT_PRICINGS = ("on-demand",)   # unless asked: the capacity `estimate` and the stacks price by default
# Spot capacity can be reclaimed with a two-minute interruption notice (AWS EC2 User Guide, "Spot Instance
# interruption notices"): never chosen for a production deployment.
PRODUCTION_PRICINGS = tuple(p for p in SEARCH_PRICINGS if p != "spot")
MAX_RENTED_GPUS = 8   # GPUs in one rented machine on another cloud (one replica per machine)


@dataclass(frozen=True)
class Constraints:
    """What the search may choose; every field optional (None = search all; pricings None = on-demand only,
    the capacity `estimate` prices by default, so both commands give the same cost for the same configuration).

    redundancy: failover replicas, each on a different node (and zone when production).
    zones: availability zones the nodes must span (production needs 2 or more).
    max_model_len / gpu_memory_utilization / max_num_seqs: the vLLM server settings every candidate uses.
    """

    precisions: tuple[str, ...] | None = None
    pricings: tuple[str, ...] | None = None
    gpus: tuple[str, ...] | None = None
    instance_types: tuple[str, ...] | None = None
    redundancy: int = 0
    zones: int = 1
    production: bool = False
    max_model_len: int | None = None
    gpu_memory_utilization: float = capacity.DEFAULT_GPU_MEMORY_UTILIZATION
    max_num_seqs: int = capacity.DEFAULT_MAX_NUM_SEQS
    clouds: tuple[str, ...] | None = None     # None: AWS only; else ids from cost/data/gpu-clouds.yaml (and "aws")

    def check(self) -> Constraints:
        """Validate and normalise (canonical ids); InputError naming the constraint otherwise."""
        norm: dict[str, object] = {}
        if self.precisions is not None:
            norm["precisions"] = tuple(catalog.precision(p, "precision") for p in self.precisions)
        if self.pricings is not None:
            norm["pricings"] = tuple(catalog.pricing(p, "pricing") for p in self.pricings)
        if self.gpus is not None:
            norm["gpus"] = tuple(catalog.gpu(g, "gpu").id for g in self.gpus)
        if self.instance_types is not None:
            norm["instance_types"] = tuple(catalog.instance(i, "instance_type").type for i in self.instance_types)
        if self.clouds is not None:
            norm["clouds"] = gpu_clouds.parse_clouds(self.clouds, "clouds")
        for key, low in (("redundancy", 0), ("zones", 1), ("max_num_seqs", 1)):
            val = getattr(self, key)
            if isinstance(val, bool) or not isinstance(val, int) or val < low:
                raise InputError(key, val, f"a whole number, at least {low}")
        norm["gpu_memory_utilization"] = check_gpu_memory_utilization(self.gpu_memory_utilization)
        if self.production and self.zones < 2:
            raise InputError("zones", self.zones, "2 or more for a production deployment")
        if self.production and self.pricings is not None and "spot" in (catalog.pricing(p) for p in self.pricings):
            raise InputError("pricing", ",".join(self.pricings or ()), ", ".join(PRODUCTION_PRICINGS) + " for a production "
                             "deployment (spot capacity can be reclaimed at two minutes' notice)")
        return replace(self, **norm)  # type: ignore[arg-type]  # each key normalised to its field's type


@dataclass(frozen=True)
class Configuration:
    """One searched configuration, with the full estimate at the workload's volume."""

    deployment: Deployment
    estimate: Estimate
    replicas_per_instance: int
    cloud: str = gpu_clouds.AWS
    offer: gpu_clouds.CloudOffer | None = None    # the rental priced, on a cloud other than AWS

    @property
    def monthly_usd(self) -> float:
        return self.estimate.monthly_usd

    @property
    def usd_per_mtok(self) -> float:
        """USD per 1M tokens of the declared volume (the deployment carries all of it)."""
        return self.estimate.usd_per_mtok_at_workload

    @property
    def gpu_monthly_usd(self) -> float:
        """GPU hours only (serving and failover instances): the part of the bill the hardware decides."""
        return sum(i.monthly_usd for i in self.estimate.line_items if i.name in ("GPU compute", "Failover capacity"))

    @property
    def throughput(self) -> capacity.Throughput:
        """The modelled operating point: optimize never gives a capacity, so every estimate it makes has one."""
        assert self.estimate.throughput is not None
        return self.estimate.throughput

    @property
    def ttft_ms(self) -> float:
        return self.throughput.ttft_s * 1000

    @property
    def tpot_ms(self) -> float:
        return self.throughput.tpot_s * 1000

    @property
    def ttft_s(self) -> float:
        return self.throughput.ttft_s

    @property
    def tpot_s(self) -> float:
        return self.throughput.tpot_s

    @property
    def utilization(self) -> float:
        """The declared volume's share of the serving replicas' full capacity."""
        return self.estimate.workload.tokens_per_month / self.estimate.full_capacity_tokens_per_month

    @property
    def headroom(self) -> float:
        """How much more volume the serving replicas could carry at 100 %: 1 / utilization - 1."""
        return 1 / self.utilization - 1 if self.utilization > 0 else math.inf

    @property
    def where(self) -> str:
        """The AWS instance type, or the other cloud's product."""
        return self.deployment.instance_type or (f"{self.cloud} {self.offer.product}" if self.offer else self.cloud)

    def describe(self) -> str:
        d = self.deployment
        return (f"{d.replicas}+{d.redundancy} replica(s) x {d.gpus_per_replica}x {d.gpu} on {self.where} "
                f"({d.pricing}, {d.precision})")

    def to_dict(self) -> dict:
        d = self.deployment
        o = self.offer
        return {"cloud": self.cloud, "product": None if o is None else o.product,
                "source": self.estimate.plan.unit_source, "checked": None if o is None else o.checked,
                "instance_type": d.instance_type, "gpu": d.gpu, "gpus_per_replica": d.gpus_per_replica,
                "precision": d.precision, "pricing": d.pricing, "replicas": d.replicas, "redundancy": d.redundancy,
                "replicas_per_instance": self.replicas_per_instance, "nodes": self.estimate.plan.nodes,
                "monthly_usd": round(self.monthly_usd, 2), "usd_per_mtok": round_finite(self.usd_per_mtok, 4),
                "ttft_ms": round(self.ttft_ms, 1), "tpot_ms": round(self.tpot_ms, 2),
                "utilization": round(self.utilization, 4), "headroom": round_finite(self.headroom, 4),
                "notes": list(self.estimate.notes),
                "zones": d.zones, "zone_loss_capacity_share": round(self.estimate.zone_loss_capacity_share, 4)}


@dataclass(frozen=True)
class _Cell:
    deployment: Deployment
    bound_usd: float      # the line items estimate() sums, from the node plan alone
    offer: gpu_clouds.CloudOffer | None = None   # a rental on another cloud (priced through its own book)
    book: PriceBook | None = None   # the rental's own price book (its per-GPU price), None: the search's book


def _spares(replicas: int, per_instance: int, c: Constraints) -> int:
    """Failover replicas: each of `redundancy` survives a node loss; production spans `zones` nodes and
    holds at least as many spares as the fullest zone holds replicas, so losing any one zone leaves the
    replicas that carry the volume (zone_loss_capacity_share >= 1)."""
    if c.redundancy == 0 and not c.production:
        return 0
    spares = c.redundancy * per_instance
    while True:
        units = math.ceil((replicas + spares) / per_instance)
        lost = min(replicas + spares, max(zone_spread(units, c.zones)) * per_instance)
        if units >= c.zones and (not c.production or spares >= lost):
            return spares
        spares += per_instance


def _cells(model_id: str, w: Workload, c: Constraints, exemptions: Exemptions, book, overheads: Overheads,
           factors: Factors | None, rates: Rates | None) -> list[_Cell]:
    model = catalog.model(model_id)
    ctx = max(c.max_model_len or 0, w.tokens_per_request)
    precisions = c.precisions or SEARCH_PRECISIONS
    pricings = c.pricings or DEFAULT_PRICINGS
    points: dict[tuple[str, int, str], int | None] = {}   # (gpu, tp, precision) -> replicas needed; None: infeasible
    stack = sum(i.monthly_usd for i in stack_items(overheads))
    cells = []

    def replicas_for(gpu: catalog.Gpu, tp: int, precision: str) -> int | None:
        key = (gpu.id, tp, precision)
        if key not in points:
            points[key] = None
            if capacity.memory_fit(model, gpu, tp, precision, ctx, c.gpu_memory_utilization,
                                   max_num_seqs=c.max_num_seqs).fits:
                probe = Deployment(model=model.id, gpu=gpu.id, gpus_per_replica=tp, precision=precision,
                                   gpu_memory_utilization=c.gpu_memory_utilization, max_num_seqs=c.max_num_seqs)
                t = serving_point(model, gpu, probe, w, factors)
                if not target_misses(t, w):
                    points[key] = replicas_needed(t, w)
        return points[key]

    for offer in _other_cloud_offers(c):
        gpu = catalog.gpu(offer.gpu)
        cloud_book = gpu_clouds.book_for(offer, book)
        for tp in capacity.TP_SIZES:
            if tp > MAX_RENTED_GPUS or model.attention_heads % tp:
                continue
            for precision in precisions:
                replicas = replicas_for(gpu, tp, precision)
                if replicas is None:
                    continue
                d = Deployment(model=model.id, gpu=gpu.id, gpus_per_replica=tp, replicas=replicas,
                               redundancy=_spares(replicas, 1, c), precision=precision, pricing=offer.pricing,
                               gpu_memory_utilization=c.gpu_memory_utilization, max_num_seqs=c.max_num_seqs,
                               max_model_len=c.max_model_len, exemptions=exemptions)
                plan = plan_nodes(d, cloud_book, rates)
                bound = sum(i.monthly_usd for i in deployment_items(plan, overheads)) + stack
                cells.append(_Cell(d, bound, offer, cloud_book))
    for inst in catalog.instances().values():
        if c.clouds is not None and gpu_clouds.AWS not in c.clouds:
            break
        if (c.gpus and inst.gpu not in c.gpus) or (c.instance_types and inst.type not in c.instance_types):
            continue
        gpu = catalog.gpu(inst.gpu)
        for tp in capacity.TP_SIZES:
            # Beyond one instance: a multi-node group of whole instances, as estimate and the program serve it,
            # searched only where the instances have EFA (cost/data/instance-hardware.yaml): over plain TCP the
            # per-step hand-off between nodes is outside what the capacity model was checked on.
            if tp > inst.gpus and (tp % inst.gpus or not hardware(inst.type).efa_interfaces):
                continue
            if model.attention_heads % tp:
                continue
            for precision in precisions:
                replicas = replicas_for(gpu, tp, precision)
                if replicas is None:
                    continue
                per_instance = max(1, inst.gpus // tp)   # a multi-node group: one replica per group of nodes
                spares = _spares(replicas, per_instance, c)
                for pricing in pricings:
                    d = Deployment(model=model.id, gpu=gpu.id, gpus_per_replica=tp, replicas=replicas, redundancy=spares,
                                   precision=precision, pricing=pricing, instance_type=inst.type,
                                   gpu_memory_utilization=c.gpu_memory_utilization, max_num_seqs=c.max_num_seqs,
                                   max_model_len=c.max_model_len, exemptions=exemptions, zones=c.zones)
                    try:
                        plan = plan_nodes(d, book, rates)
                    except InputError:
                        continue   # no price for this capacity type on this instance
                    bound = sum(i.monthly_usd for i in deployment_items(plan, overheads)) + stack
                    cells.append(_Cell(d, bound))
    return cells


def _other_cloud_offers(c: Constraints) -> list[gpu_clouds.CloudOffer]:
    """The rentals on other clouds the search may use: the clouds, GPUs and capacity types asked for
    (offers sold only as multi-GPU nodes are not searched: a rental bills the replicas' GPUs exactly)."""
    if not c.clouds:
        return []
    pricings = c.pricings or SEARCH_PRICINGS
    return [o for o in gpu_clouds.offers() if o.cloud in c.clouds and o.min_gpus == 1 and o.pricing in pricings
            and (not c.gpus or o.gpu in c.gpus) and not c.instance_types]


def optimize(model: str, workload: Workload, constraints: Constraints = Constraints(), *,
             book=None, overheads: Overheads = Overheads(), factors: Factors | None = None, exemptions: Exemptions = Exemptions(),
             top: int | None = 10, providers: tuple[str, ...] | None = None,
             rates: Rates | None = None) -> list[Configuration]:
    """Every feasible configuration sorted by full monthly cost (cheapest first), the first `top` of them.

    Feasible: the model fits at the workload's context, the latency targets are met and the serving
    replicas carry the declared volume at the planned utilization. Costs are `cost.estimate.estimate`'s.
    providers: API allow-list for the comparison; rates: reserved discounts and spot price point.
    """
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise InputError("top", top, "a whole number, at least 1, or None for every configuration")
    c = constraints.check()
    model_id = catalog.model(model).id
    cells = _cells(model_id, workload, c, exemptions, book, overheads, factors, rates)
    heap = [(cell.bound_usd, i) for i, cell in enumerate(cells)]
    heapq.heapify(heap)
    found: list[Configuration] = []
    while heap:
        bound, i = heapq.heappop(heap)
        if top is not None and len(found) >= top and bound > found[top - 1].monthly_usd + 1e-9:
            break   # no remaining cell can enter the top N: its bill is at least its bound
        cell = cells[i]
        d = cell.deployment
        e = estimate(d, workload, book=cell.book or book, overheads=overheads, factors=factors, providers=providers,
                     rates=rates)
        if c.production and e.zone_loss_capacity_share < 1:
            continue   # production survives a zone: never returned otherwise
        found.append(Configuration(d, e, e.plan.replicas_per_instance,
                                   cell.offer.cloud if cell.offer else gpu_clouds.AWS, cell.offer))
        found.sort(key=_rank)
    return found if top is None else found[:top]


def _rank(cfg: Configuration) -> tuple:
    d = cfg.deployment
    return (round(cfg.monthly_usd, 6), round(cfg.utilization, 6), cfg.where, d.gpus_per_replica, d.precision, d.pricing)


def gpu_monthly_usd(d: Deployment, book=None) -> float:
    """GPU hours only (serving + failover units) of a deployment as configured."""
    p = plan_nodes(d, book)
    return p.units * p.unit_usd_hr * catalog.assumptions()["hours_per_month"]



@dataclass(frozen=True)
class BreakevenVolume:
    """The least monthly volume at which the cheapest configuration costs no more than the cheapest comparable API."""

    tokens_per_month: float | None          # None: not within the searched range (or nothing to compare with)
    configuration: Configuration | None     # the cheapest configuration at that volume
    searched: tuple[float, float]
    no_alternative: str | None = None       # why there is no breakeven at all: nothing can serve the deployment

    def to_dict(self) -> dict:
        c = self.configuration
        api_usd = None if c is None else c.estimate.verdict.cheapest_api_monthly_usd
        return {"tokens_per_month": None if self.tokens_per_month is None else round(self.tokens_per_month),
                "configuration": None if c is None else c.to_dict(),
                "api": None if c is None else c.estimate.verdict.cheapest_api,
                "api_monthly_usd": None if api_usd is None else round(api_usd, 2),
                "searched_tokens_per_month": list(self.searched), "no_alternative": self.no_alternative}


def no_alternative(c: Configuration) -> str | None:
    """The verdict's own sentence when nothing can stand in for a configuration (no comparable API or
    hosting offer), else None: then no volume "beats" anything, and reports say so the same way."""
    v, w = c.estimate.verdict, c.estimate.workload
    if v.cheapest_api is not None:
        return None
    claimed = c.deployment.exemptions.claimed(w.ttft_target_s)
    return regardless(claimed, v.compared_with) if claimed else f"none of the {v.compared_with} is listed for this model"


def breakeven_volume(model: str, workload: Workload, constraints: Constraints = Constraints(), *,
                     low: float = 1e6, high: float = 1e13, rel_tol: float = 0.01, **kwargs) -> BreakevenVolume:
    """Bisect (on a log scale, to `rel_tol`) for the least volume at which self-hosting, optimized at each volume,
    costs no more than the cheapest API it is compared with; the workload's shape and targets are kept.
    kwargs go to `optimize` (book, overheads, factors, exemptions, providers, rates)."""
    def best(volume: float) -> Configuration | None:
        found = optimize(model, replace(workload, tokens_per_month=volume), constraints, top=1, **kwargs)
        return found[0] if found else None

    def wins(c: Configuration | None) -> bool:
        v = c.estimate.verdict if c else None
        return (v is not None and c is not None and v.cheapest_api_monthly_usd is not None
                and c.monthly_usd <= v.cheapest_api_monthly_usd)

    at_low, at_high = best(low), best(high)
    nothing = next((no_alternative(c) for c in (at_low, at_high) if c is not None), None)
    if nothing is not None:
        return BreakevenVolume(None, None, (low, high), nothing)
    if wins(at_low):
        return BreakevenVolume(low, at_low, (low, high))
    if not wins(at_high):
        return BreakevenVolume(None, None, (low, high))
    lo, hi, hi_cfg = low, high, at_high
    while hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        cfg = best(mid)
        if wins(cfg):
            hi, hi_cfg = mid, cfg
        else:
            lo = mid
    return BreakevenVolume(hi, hi_cfg, (low, high))
