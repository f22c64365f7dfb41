"""Advice on a decided estimate: what to change where the verdict rules self-hosting out as configured.

`cost.estimate.estimate` decides: the figures and the verdict, with the reason a blocker rules self-hosting
out (an undersized deployment, a latency target missed at any concurrency). It never prices another
configuration. This module advises, pricing others with `estimate` and `cost.decide.optimize`: the bill of
the deployment sized to carry the volume, the cheapest catalog configuration that meets the missed target,
and what the policy pack (policies/rules.py) suggests to pass a policy: the cheapest configuration at the same
context, precision, capacity type and failover, and its bill against the limit the stack failed.
Every entry point that shows a verdict's reasons shows the advised estimate: the `estimate` command
(`breakeven.cli`), a stack's fleet (`cost.pricing.fleet.price_fleet`: the program, the offline preview and
the policy pack) and `observe` (`measure.observe.economics`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cost.decide import optimize
from cost.decide.optimize import Configuration, Constraints, gpu_monthly_usd
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import Estimate, estimate
from cost.pricing.tco import Overheads
from cost.units import format_usd
from cost.workload import Workload


def advise(e: Estimate) -> Estimate:
    """The estimate with its blocker's reason (the verdict's first) completed by the fix; unchanged when
    nothing rules self-hosting out."""
    if e.verdict.choice == "undersized":
        fix = undersized_fix(e)
    elif e.verdict.choice == "target-unmet":
        fix = target_fix(e)
    else:
        return e
    return replace(e, verdict=e.verdict.with_fix(fix))


def undersized_fix(e: Estimate) -> str:
    """What the replicas that carry the volume cost (priced as the estimate was), and the flag that sets them."""
    need = e.replicas_needed
    usd = estimate(replace(e.deployment, replicas=need), e.workload, **e.pricing).monthly_usd
    return f", about {format_usd(usd)}/month. Fix: --replicas {need}, or leave --replicas out to size automatically"


def target_fix(e: Estimate) -> str:
    """The cheapest catalog configuration (same capacity type and failover) that meets the latency targets."""
    d, p = e.deployment, e.pricing
    found = optimize.optimize(d.model, e.workload, optimize.Constraints(pricings=(d.pricing,), redundancy=d.redundancy),
                              book=p["book"], overheads=p["overheads"], factors=p["factors"], exemptions=d.exemptions,
                              top=1, providers=p["providers"], rates=p["rates"])
    if found:
        c = found[0]
        return f". Fix: {c.describe()} meets it for {format_usd(c.monthly_usd)}/month, or relax the target"
    return ". No catalog configuration meets it: relax the target"


# -------------------------------------------------------------------------------------------------
# What to change to pass a policy (the policy pack words the messages; policies/rules.py)
# -------------------------------------------------------------------------------------------------

def cheapest_alternative(d: Deployment, w: Workload, book=None, context_tokens: int | None = None,
                         overheads: Overheads = Overheads()) -> Configuration | None:
    """The cheapest catalog configuration for a deployment's workload at its context, precision, capacity type
    and failover (the policy pack's "cheaper configuration"); None when none fits and serves it."""
    c = Constraints(precisions=(d.precision,), pricings=(d.pricing,), redundancy=d.redundancy,
                    max_model_len=context_tokens or d.max_model_len, gpu_memory_utilization=d.gpu_memory_utilization,
                    max_num_seqs=d.max_num_seqs)
    found = optimize.optimize(d.model, w, c, book=book, overheads=overheads, exemptions=d.exemptions, top=1)
    return found[0] if found else None


@dataclass(frozen=True)
class ApiAlternative:
    """The cheapest configuration suggested to a self-hosted model that costs more than the API (self-hosting-beats-api)."""

    configuration: Configuration
    monthly_usd: float | None    # its bill with the stack's overheads and this model's share; None: it cannot be priced so
    beats: bool                  # that bill is within the limit the model failed
    same: bool                   # it is the configuration already running (instance, GPUs per replica, replicas, spares)


def beat_api(d: Deployment, w: Workload, limit_usd: float, *, book=None, overheads: Overheads = Overheads(),
             stack_share: float = 1.0, context_tokens: int | None = None) -> ApiAlternative | None:
    """For a model whose monthly bill exceeds `limit_usd` (the API's, with any premium allowed): the cheapest catalog
    configuration, priced with the same stack overheads and share, and whether it passes; None when none fits."""
    alt = cheapest_alternative(d, w, book, context_tokens)
    if alt is None:
        return None
    try:
        usd: float | None = estimate(alt.deployment, w, book=book, overheads=overheads, stack_share=stack_share).monthly_usd
    except InputError:
        usd = None
    a = alt.deployment
    same = (a.instance_type, a.gpus_per_replica, a.replicas, a.redundancy) == \
        (d.instance_type, d.gpus_per_replica, d.replicas, d.redundancy)
    return ApiAlternative(alt, usd, usd is not None and usd <= limit_usd, same)


def smaller_configuration(d: Deployment, w: Workload, book=None, context_tokens: int | None = None) -> Configuration | None:
    """For a model that uses too little of its capacity (utilization-floor) and cannot shed replicas: the cheapest
    configuration when its GPU hours cost less than the configured ones (by more than half a cent), else None."""
    alt = cheapest_alternative(d, w, book, context_tokens)
    if alt is not None and alt.gpu_monthly_usd < gpu_monthly_usd(d, book) - 0.005:
        return alt
    return None


def right_sized(d: Deployment, w: Workload, chosen_usd: float, margin: float, book=None,
                context_tokens: int | None = None, overheads: Overheads = Overheads()) -> Configuration | None:
    """For GPUs costing `chosen_usd`/month (right-sized-gpus): the cheapest configuration when the chosen GPUs cost
    more than `margin` (a fraction) above its GPU hours, else None."""
    alt = cheapest_alternative(d, w, book, context_tokens, overheads)
    if alt is None or chosen_usd <= alt.gpu_monthly_usd * (1 + margin):
        return None
    return alt
