"""Advice on a decided estimate: what to change where the verdict rules self-hosting out as configured.

`cost.estimate.estimate` decides: the figures and the verdict, with the reason a blocker rules self-hosting
out (an undersized deployment, a latency target missed at any concurrency). It never prices another
configuration. This module advises, pricing others with `estimate` and `cost.decide.optimize`: the bill of
the deployment sized to carry the volume, the cheapest catalog configuration that meets the missed target.
Every entry point that shows a verdict's reasons shows the advised estimate: the `estimate` command
(`breakeven.cli`), a stack's fleet (`cost.pricing.fleet.price_fleet`: the program, the offline preview and
the policy pack) and `observe` (`measure.observe.economics`).
"""

from __future__ import annotations

from dataclasses import replace

from cost.decide import optimize
from cost.estimate import Estimate, estimate
from cost.units import format_usd


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
