"""Price one self-hosted deployment against the same workload on every equivalent API."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

from cost import catalog
from cost.catalog import checkpoints
from cost.decide import successors
from cost.decide.verdict import Blocker, Breakeven, HostingScope, TargetUnmet, Undersized, Verdict, breakeven, decide
from cost.deployment import Deployment
from cost.physics import calibration, capacity
from cost.physics.calibration import ErrorBand
from cost.physics.factors import Factors
from cost.physics.sizing import replica_tokens_per_month, replicas_needed, serving_point, target_misses
from cost.pricing import api_prices, gpu_clouds, hosting
from cost.pricing.api_prices import ApiQuote, PriceBook
from cost.pricing.nodes import NodePlan, Rates, plan_nodes
from cost.pricing.tco import LineItem, Overheads, deployment_items, stack_items
from cost.workload import Workload, require_within_context

__all__ = ["Estimate", "estimate"]


# Not frozen: a frozen dataclass's __init__ sets its 18 fields through object.__setattr__ (~9 us, measured; a
# quarter of an estimate's budget at 30,000/s). Nothing mutates an estimate: derive one with dataclasses.replace.
@dataclass
class Estimate:
    """A deployment priced for a workload, and the verdict: figures and properties only. Its report is written
    from them by `cost.report_model.estimate_document` (JSON) and `cost.report.estimate_text` (table, markdown)."""

    deployment: Deployment
    workload: Workload
    plan: NodePlan
    line_items: tuple[LineItem, ...]
    fit: capacity.MemoryFit
    throughput: capacity.Throughput | None  # None when the capacity was given, not modelled
    capacity_tokens_per_month: float        # at the planned utilization, serving replicas only
    apis: tuple[ApiQuote, ...]
    verdict: Verdict
    replicas_auto: bool = False             # replicas computed ("auto"), not given
    replicas_needed: int | None = None      # to carry the volume at the planned utilization (None: capacity given)
    misses: tuple[str, ...] = ()            # latency targets missed at any concurrency
    warnings: tuple[str, ...] = ()          # where the capacity model leaves what it was checked on
    notes: tuple[str, ...] = ()             # what the team must do for this configuration to be real
    successors: tuple[successors.Successor, ...] = ()   # newer models serving the same use for less (no exemption)
    elsewhere: gpu_clouds.Elsewhere | None = None       # the same GPUs rented on the cheapest other cloud (AWS plans)
    pricing: dict = field(default_factory=dict, compare=False, repr=False)   # estimate()'s keyword arguments

    @cached_property
    def band(self) -> ErrorBand | None:
        """The capacity's error band from the held-out runs (the widest outside the checked range); None when
        the capacity was given. Computed when first asked for."""
        d, t = self.deployment, self.throughput
        if t is None:
            return None
        return calibration.error_band(d.model, d.gpu, d.gpus_per_replica, d.precision, t.concurrency,
                                      self.workload.avg_input_tokens, outside=bool(self.warnings))

    @cached_property
    def breakeven(self) -> tuple[Breakeven, ...]:
        """Each API's breakeven volume with this deployment (`apis` order); made when first asked for (reports,
        the capacity range), from the bill and the full capacity every estimate computes."""
        monthly, full = self.monthly_usd, self.full_capacity_tokens_per_month
        return tuple(breakeven(monthly, full, q.offer.id, q.usd_per_mtok) for q in self.apis)

    @property
    def monthly_usd(self) -> float:
        return sum(i.monthly_usd for i in self.line_items)

    @property
    def full_capacity_tokens_per_month(self) -> float:
        return self.capacity_tokens_per_month / self.workload.utilization

    @property
    def usd_per_mtok(self) -> float:
        """Effective price of the capacity bought: monthly cost / tokens at the planned utilization."""
        return self.monthly_usd / self.capacity_tokens_per_month * 1e6

    @property
    def carries_share(self) -> float:
        """The share of the declared volume the deployment can serve (at 100 % of its capacity)."""
        if self.workload.tokens_per_month <= 0:
            return 1.0
        return min(1.0, self.full_capacity_tokens_per_month / self.workload.tokens_per_month)

    @property
    def zone_loss_capacity_share(self) -> float:
        """The share of the declared volume carried (at 100 % of the survivors' capacity, within the
        latency targets their operating point meets) after losing the zone that holds the most replicas."""
        from cost.pricing.nodes import replicas_after_zone_loss

        if self.workload.tokens_per_month <= 0:
            return 1.0
        left = replicas_after_zone_loss(self.plan, self.deployment.total_replicas, self.deployment.zones)
        per_replica = self.full_capacity_tokens_per_month / self.deployment.serving_replicas
        return min(1.0, left * per_replica / self.workload.tokens_per_month)

    @property
    def usd_per_mtok_at_workload(self) -> float:
        """Price per 1M tokens of the declared workload (the volume actually served)."""
        served = min(self.workload.tokens_per_month, self.full_capacity_tokens_per_month)
        return self.monthly_usd / served * 1e6 if served else float("inf")

    @property
    def fit_concurrency(self) -> int:
        """Requests in flight one replica sustains for this traffic (KV blocks allocated as tokens are generated,
        preempted when they run out; cost.physics.capacity.throughput), capped at max_num_seqs; given capacity: the KV cache
        over the average request."""
        if self.throughput is not None:
            return self.throughput.max_concurrency
        return self.fit.kv_capacity_tokens // max(1, self.workload.tokens_per_request)


def estimate(
    deployment: Deployment,
    workload: Workload,
    *,
    book: PriceBook | None = None,
    overheads: Overheads = Overheads(),
    stack_share: float = 1.0,
    factors: Factors | None = None,
    providers: tuple[str, ...] | None = None,
    rates: Rates | None = None,
    clouds: tuple[str, ...] | None = None,
) -> Estimate:
    """Price a deployment for a workload and decide: the figures and the verdict, nothing else priced.

    A blocker's reason (undersized, a latency target unmet) says what is wrong and what it needs; the fix
    (the sized bill, the cheapest configuration meeting the target) is `cost.decide.advice.advise`'s.
    replicas None ("auto"): as many serving replicas as carry the volume at the planned utilization
    within the latency targets. stack_share: the part of the per-stack overheads (staff, monitoring)
    this deployment carries; a fleet splits them between its models, a single estimate carries them
    whole. factors: the capacity model's efficiency factors; None = the published fit.
    providers: an allow-list of API providers to compare with (None: all). rates: reserved discounts
    and the spot price point (None: assumptions.yaml). clouds: the other GPU clouds an AWS deployment's GPU
    hours are set against (`elsewhere`; None: every cloud in cost/data/gpu-clouds.yaml).
    """
    d, w = deployment, workload
    model, gpu = catalog.model(d.model), catalog.gpu(d.gpu)
    require_within_context(w, model.id, model.context, d.max_model_len)
    context = max(d.max_model_len or 0, w.tokens_per_request)
    fit = capacity.require_fit(model, gpu, d.gpus_per_replica, d.precision, context, d.gpu_memory_utilization,
                               key="gpus_per_replica", kv_cache_dtype=d.kv_cache_dtype,
                               expert_parallel=d.expert_parallel, max_num_seqs=d.max_num_seqs)
    auto = d.replicas is None
    tput, need = None, None
    misses: tuple[str, ...] = ()
    if d.capacity_tokens_per_month is None:
        tput = serving_point(model, gpu, d, w, factors)
        need = replicas_needed(tput, w)
        misses = tuple(target_misses(tput, w))
    if auto:
        d = replace(d, replicas=need or 1)
    plan = plan_nodes(d, book, rates)
    items = deployment_items(plan, overheads)
    items += _stack_items(overheads, stack_share)
    monthly = sum(i.monthly_usd for i in items)
    if tput is None:
        cap = d.capacity_tokens_per_month
        assert cap is not None   # tput is modelled exactly when no capacity is given
    else:
        cap = replica_tokens_per_month(tput, w) * d.serving_replicas * w.utilization
    full = cap / w.utilization

    exemptions = d.exemptions.claimed(w.ttft_target_s)
    alt = _alternatives(d.model, w, book, tuple(exemptions), d.exemptions.fine_tuned,
                        None if providers is None else tuple(providers), factors, d.redundancy)
    blockers: list[Blocker] = []
    if misses:
        assert tput is not None   # misses come from the modelled operating point
        blockers.append(TargetUnmet(misses, d.gpus_per_replica, d.gpu, d.precision, tput.tpot_s, tput.ttft_s))
    elif need is not None and w.tokens_per_month > full * (1 + 1e-9):
        assert d.replicas is not None   # sized above when "auto"
        blockers.append(Undersized(d.replicas, full, w.tokens_per_month, w.utilization, need))
    verdict = decide(
        self_monthly_usd=monthly, capacity_tokens=cap, full_capacity_tokens=full, tokens_per_month=w.tokens_per_month,
        equivalent=alt.equivalent, exemptions=exemptions, compared_with=alt.compared_with, blockers=blockers,
    )
    if alt.hosting is not None:
        verdict = verdict.with_scope(_hosting_scope(alt.hosting, items))
    warnings = () if tput is None else tuple(calibration.validity_warnings(
        d.model, d.gpu, d.gpus_per_replica, d.precision, tput.concurrency, w.avg_input_tokens, d.kv_cache_dtype, fit.nodes))
    other = None if plan.billing != "instance" else gpu_clouds.elsewhere(d.gpu, plan.gpus, plan.unit_usd_hr / plan.gpus_per_instance,
                                                                            clouds)
    pricing = {"book": book, "overheads": overheads, "stack_share": stack_share, "factors": factors, "providers": providers,
               "rates": rates, "clouds": clouds}
    note = checkpoints.own_weights_note(d.model, d.precision, d.exemptions.fine_tuned)
    return Estimate(d, w, plan, tuple(items), fit, tput, cap, alt.quotes, verdict, auto, need, misses, warnings,
                    notes=() if note is None else (note,), successors=alt.successors, elsewhere=other, pricing=pricing)


@dataclass(frozen=True)
class _Alternatives:
    """What a deployment is compared with: a pure function of the model, the workload, the book, the exemptions
    claimed, the provider allow-list, the factors and the failover replicas (`_alternatives`)."""

    quotes: tuple[ApiQuote, ...]                       # every API (and hosting offer, under an exemption) priced
    equivalent: tuple[tuple[str, float, float], ...]   # the comparable ones: (id, monthly USD, USD per 1M tokens)
    compared_with: str
    hosting: ApiQuote | None                           # the cheapest comparable when it hosts your weights and says what it runs
    successors: tuple[successors.Successor, ...]


@lru_cache(maxsize=4096)
def _alternatives(model_id: str, w: Workload, book: PriceBook | None, exemptions: tuple[str, ...], fine_tuned: bool,
                  providers: tuple[str, ...] | None, factors: Factors | None, spares: int) -> _Alternatives:
    """The API side of an estimate, kept for the process: every estimate of an optimizer's search (or the bench)
    over the same model and workload prices the same alternatives."""
    quotes = api_prices.quotes_for(model_id, w, book, include_custom_hosting=fine_tuned)
    if hosting.wanted(list(exemptions)) and (book is None or book.apis_mode != "replace"):   # a replacing book is the whole list
        quotes += hosting.quotes_for(model_id, w, factors, spares)
    comparable, compared_with = api_prices.comparables(quotes, list(exemptions), providers)
    cheapest = min(comparable, key=lambda q: q.monthly_usd) if comparable else None   # the verdict's cheapest_api
    scoped = (cheapest if cheapest is not None and cheapest.offer.tier in api_prices.HOSTING_TIERS and cheapest.offer.includes
              else None)
    newer = () if exemptions else tuple(successors.cheaper_successors(model_id, w, book, providers))
    return _Alternatives(tuple(quotes), tuple((q.offer.id, q.monthly_usd, q.usd_per_mtok) for q in comparable), compared_with,
                         scoped, newer)


@lru_cache(maxsize=256)
def _stack_items(overheads: Overheads, stack_share: float) -> tuple[LineItem, ...]:
    """The per-stack lines (staff, monitoring) at this deployment's share of them."""
    return tuple(LineItem(i.name, i.quantity * stack_share, i.unit, i.unit_usd,
                          i.source if stack_share == 1 else f"{stack_share:.0%} share of the stack; {i.source}")
                 for i in stack_items(overheads))


def _hosting_scope(q: ApiQuote, items: list[LineItem]) -> HostingScope:
    """When the alternative named is hosting of your weights (`q`, the cheapest comparable): what it runs for you and
    what of the self-hosted bill that is (the MLOps lines it removes)."""
    removed = [i for i in items if i.name in ("MLOps staff", "Monitoring") or i.name.endswith("Ops tax")]
    return HostingScope(q.offer.id, str(q.offer.includes), str(q.offer.minimum), str(q.basis), tuple(i.name for i in removed),
                        sum(i.monthly_usd for i in removed))
