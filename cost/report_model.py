"""The report model: the JSON documents of an estimate, a stack (a fleet) and a breakeven curve, built from their figures.

The domain objects (`cost.estimate.Estimate`, `cost.pricing.fleet.Fleet`, `cost.decide.verdict.Verdict`, the curve) hold
figures and properties; the keys a user's script reads, their rounding and the sentences beside the figures
(the price's basis, the capacity range's and the sensitivity band's notes, the curve's headline) are written here,
once. The verdict's reasons are written by the verdict from its facts (`cost.decide.verdict.Facts`). Every `--format
json` report (estimate, fleet, preview, optimize, curve, calibration, calibrate, observe, gpucheck) is printed through
`report_json`, which stamps `version` first; the table and markdown renderers are in `cost.report`.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from cost import catalog
from cost.decide.verdict import Verdict
from cost.estimate import Estimate
from cost.physics.calibration import ErrorBand
from cost.physics.capacity_range import FAVOURS_SELF_HOSTING, CapacityRange, capacity_range
from cost.pricing import api_prices
from cost.pricing.fleet import Fleet
from cost.pricing.gpu_clouds import Elsewhere
from cost.units import format_tokens, format_usd, round_finite
from cost.workload import milliseconds

if TYPE_CHECKING:   # the curve, the sensitivity band and the search are imported where their documents are built
    from cost.catalog.profiles import Profile  # (the program never does)
    from cost.decide.curve import Curve
    from cost.decide.optimize import BreakevenVolume, Configuration
    from cost.decide.sensitivity import Sensitivity
    from cost.workload import Workload

DEPLOYS_AWS_ONLY = "The Pulumi program deploys AWS only: other clouds are priced for comparison, not deployed."
# The API tiers by the name a sentence gives them.
TIER_NAMES = {"equivalent": "equivalent-model", "quality": "quality-tier", "custom-model": "fine-tuned-hosting"}

REPORT_VERSION = 1
"""The schema version of every JSON report: its first key, `version`. It goes up only when a key is removed or
renamed, or a value changes meaning or unit; a key added keeps it. A script that reads a report checks `version`
first."""

# A capacity given, not modelled, has no error band: the capacity range's keys, null.
NO_RANGE_KEYS = {"output_tok_s_range": None, "capacity_tokens_per_month_range": None, "capacity_error_band": None}
NO_BREAKEVEN_KEYS = {"tokens_per_month_range": None}
NO_VERDICT_KEYS = {"holds_across_capacity_range": None, "flip_tokens_per_month": None, "flip_capacity_end": None,
                   "at_capacity_range_ends": None, "capacity_range_note": "capacity given, not modelled: no error band"}


def verdict_document(v: Verdict) -> dict:
    """The verdict: its choice, its reasons (written from its facts) and the cheapest comparable alternative."""
    return {"choice": v.choice, "reasons": list(v.reasons), "cheapest_api": v.cheapest_api,
            "cheapest_api_monthly_usd": None if v.cheapest_api_monthly_usd is None else round(v.cheapest_api_monthly_usd, 2),
            "compared_with": v.compared_with}


def error_band_note(band: ErrorBand) -> str:
    """One line: the capacity error band and what it is read from."""
    if band.basis == "widest":
        where = f"widest band: outside the checked range, the worst error of all {band.rows} published vLLM runs"
    else:
        where = (f"held-out error of the {band.rows} published vLLM run(s) most like it"
                 f" ({', '.join(band.regimes) or 'no shared regime'})"
                 + (f", and the fit error of the {band.fit_rows} fit run(s) as alike" if band.fit_rows else ""))
    return f"measured capacity {band.low:.2f}x-{band.high:.2f}x the model's figure ({where})"


def _band_basis(band: ErrorBand) -> str:
    if band.basis == "widest":
        return "widest band: outside the checked range"
    return "held-out and fit error" if band.fit_rows else "held-out error"


def capacity_range_note(r: CapacityRange) -> str:
    """One line: the capacity range, and whether the verdict holds across it (and where it flips)."""
    lo, hi = r.output_tok_s()
    choice = r.nominal.verdict.choice
    text = (f"Capacity range {lo:,.0f}-{hi:,.0f} output tok/s ({r.band.low:.2f}x-{r.band.high:.2f}x, "
            f"{_band_basis(r.band)}): ")
    if r.holds:
        text += f"the {choice} verdict holds across it"
    else:
        text += (f"the verdict does NOT hold across it (low end: {r.low.verdict.choice}, "
                 f"high end: {r.high.verdict.choice})")
    if r.flip_tokens_per_month is not None:
        side = "below" if choice in FAVOURS_SELF_HOSTING else "above"
        text += f"; at the {r.flip_end} end it flips {side} {format_tokens(r.flip_tokens_per_month)} tokens/month"
    elif choice == "api" and r.nominal.verdict.cheapest_api is not None:
        text += "; even at the high end no volume makes self-hosting this deployment cheaper"
    return text


def sensitivity_note(s: Sensitivity) -> str:
    """One line: each end's monthly cost and verdict, and whether the verdict flips inside the band."""
    text = ", ".join(f"{b.name} {format_usd(b.estimate.monthly_usd)}/month -> {b.estimate.verdict.choice}" for b in s.bands)
    if s.flips:
        return f"the verdict flips inside the band ({text}): the assumptions decide it, so measure them"
    return f"the verdict holds across the band ({text})"


def curve_headline(c: Curve) -> str:
    """One sentence on the comparable APIs only: where self-hosting breaks even with them, or that it never does
    in the range (a quality-tier breakeven is no breakeven with the APIs serving the same model)."""
    tier = c.comparable_tier
    name = TIER_NAMES.get(tier, tier)
    comparable = [a for a in c.apis if a.tier == tier]
    crossed = [x for x in c.crossings if x.api.tier == tier]
    span = f"{format_tokens(c.start)}-{format_tokens(c.end)} tokens/month"
    if not comparable:
        return f"no API to compare with in {span}"
    if not crossed:
        sides = {side for a, side in c.without_breakeven() if a.tier == tier}
        if sides == {"api"}:
            return f"the {name} APIs stay cheaper than self-hosting at every volume from {span}: no breakeven"
        if sides == {"self-host"}:
            return f"self-hosting costs less than every {name} API at every volume from {span}"
        return f"self-hosting and the {name} APIs trade places only at hardware steps in {span}: no clean breakeven"
    ids = {x.api.id for x in crossed}
    last = max(x.tokens_per_month for x in crossed)
    if len(ids) == len(comparable):
        return f"self-hosting breaks even with every {name} API by {format_tokens(last)} tokens/month"
    never = min((a for a in comparable if a.id not in ids), key=lambda a: c.usd_per_mtok[a.id])
    return (f"self-hosting breaks even with {len(ids)} of {len(comparable)} {name} APIs (by {format_tokens(last)} "
            f"tokens/month); {never.label} stays cheaper throughout {span}")


def elsewhere_document(x: Elsewhere) -> dict:
    """The same GPUs rented on the cheapest other cloud, and that the program deploys AWS only."""
    return x.to_dict() | {"note": DEPLOYS_AWS_ONLY}


def _range_keys(r: CapacityRange | None) -> dict:
    """The keys self_hosted gains: the figures at both ends of the capacity error band."""
    if r is None:
        return NO_RANGE_KEYS
    return {"output_tok_s_range": [round(x, 1) for x in r.output_tok_s()],
            "capacity_tokens_per_month_range": [round(x) for x in r.capacity_tokens_per_month()],
            "capacity_error_band": r.band.to_dict() | {"note": error_band_note(r.band)}}


def _breakeven_range_keys(r: CapacityRange | None, api: str) -> dict:
    """The key one breakeven gains: its volume at the dear and the cheap end."""
    if r is None:
        return NO_BREAKEVEN_KEYS
    return {"tokens_per_month_range": [round(x) if math.isfinite(x) else None for x in r.breakeven_tokens_per_month(api)]}


def _verdict_range_keys(r: CapacityRange | None) -> dict:
    """The keys the verdict gains: whether it holds across the capacity range, and where it flips."""
    if r is None:
        return NO_VERDICT_KEYS
    return {"holds_across_capacity_range": r.holds,
            "flip_tokens_per_month": None if r.flip_tokens_per_month is None else round(r.flip_tokens_per_month),
            "flip_capacity_end": r.flip_end,
            "at_capacity_range_ends": {"low": r.low.verdict.choice, "high": r.high.verdict.choice},
            "capacity_range_note": capacity_range_note(r)}


def _usd_per_mtok_basis(e: Estimate) -> dict:
    """What each price per 1M tokens divides by, in words."""
    w = e.workload
    served = min(w.tokens_per_month, e.full_capacity_tokens_per_month)
    return {"usd_per_mtok": f"capacity at the planned {w.utilization:.0%} utilization: "
                            f"{format_tokens(e.capacity_tokens_per_month)} tokens/month",
            "usd_per_mtok_at_workload": f"the declared volume it serves: {format_tokens(served)} of "
                                        f"{format_tokens(w.tokens_per_month)} tokens/month"}


def estimate_document(e: Estimate) -> dict:
    """An estimate's report: the deployment, the workload, the self-hosted bill and capacity (with the capacity
    range, which re-estimates at the error band's ends), every API compared, each breakeven and the verdict."""
    d, w, t, fit = e.deployment, e.workload, e.throughput, e.fit
    r = capacity_range(e)
    return {
        "deployment": {
            "name": d.name, "model": d.model, "gpu": d.gpu, "gpus_per_replica": d.gpus_per_replica,
            "replicas": d.replicas, "redundancy": d.redundancy, "precision": d.precision, "pricing": d.pricing,
            "instance_type": e.plan.instance_type, "billing": e.plan.billing, "nodes": e.plan.nodes,
            "gpus": e.plan.gpus, "kv_cache_dtype": d.kv_cache_dtype, "expert_parallel": d.expert_parallel,
            "api_servers": d.api_servers, "gpu_memory_utilization": d.gpu_memory_utilization,
            "commitment": None if d.commitment is None else d.commitment.to_dict(),
        },
        "workload": {
            "tokens_per_month": w.tokens_per_month, "input_share": round(w.input_share, 4),
            "avg_input_tokens": w.avg_input_tokens, "avg_output_tokens": w.avg_output_tokens,
            "utilization": w.utilization, "requests_per_month": round(w.requests_per_month, 1),
            "prefix_cache_hit_rate": w.prefix_cache_hit_rate,
        },
        "self_hosted": {
            "monthly_usd": round(e.monthly_usd, 2),
            "replicas": d.replicas,
            "replicas_sized": e.replicas_auto,
            "replicas_needed": e.replicas_needed,
            "carries_share": round(e.carries_share, 4),
            "zone_loss_capacity_share": round(e.zone_loss_capacity_share, 4),
            "target_misses": list(e.misses),
            "line_items": [i.to_dict() for i in e.line_items],
            "capacity_tokens_per_month": round(e.capacity_tokens_per_month),
            "capacity_source": "model" if t else "given (capacity_tokens_per_month)",
            "usd_per_mtok": round(e.usd_per_mtok, 4),
            "usd_per_mtok_at_workload": round_finite(e.usd_per_mtok_at_workload, 4),
            "usd_per_mtok_basis": _usd_per_mtok_basis(e),
            "output_tok_s": None if t is None else round(t.output_tok_s * d.serving_replicas, 1),
            "output_tok_s_per_replica": None if t is None else round(t.output_tok_s, 1),
            "max_concurrency": round(fit.max_concurrency, 2),
            "sustained_concurrency": e.fit_concurrency,
            "concurrency": None if t is None else t.concurrency,
            "ttft_s": None if t is None else round(t.ttft_s, 4),
            "tpot_s": None if t is None else round(t.tpot_s, 4),
            "limited_by": None if t is None else t.limited_by,
            "memory": {
                "weights_gb": round(fit.weights_gb, 2), "usable_gb": round(fit.usable_gb, 2),
                "kv_bytes_per_token": fit.kv_bytes_per_token, "kv_capacity_tokens": fit.kv_capacity_tokens,
                "kv_cache_dtype": fit.kv_cache_dtype, "nodes_per_replica": fit.nodes,
            },
            "validity_warnings": list(e.warnings),
            "notes": list(e.notes),
        } | _range_keys(r),
        "apis": [
            {"id": q.offer.id, "label": q.offer.label, "tier": q.offer.tier, "retired": api_prices.retired(q.offer.id),
             "batch_price": q.batch_price, "serves": list(q.offer.serves), "includes": q.offer.includes or None,
             "minimum": q.offer.minimum or None, "basis": q.basis or None,
             "monthly_usd": round(q.monthly_usd, 2),
             "usd_per_mtok": round_finite(q.usd_per_mtok, 4), "request_usd": round(q.request_usd, 8),
             "source": q.offer.source + (f"; {q.batch_source}" if q.batch_price else "")}
            for q in e.apis
        ],
        "breakeven": [b.to_dict() | _breakeven_range_keys(r, b.api) for b in e.breakeven],
        "verdict": verdict_document(e.verdict) | _verdict_range_keys(r),
        "successors": [s.to_dict() for s in e.successors],
        "elsewhere": None if e.elsewhere is None else elsewhere_document(e.elsewhere),
    }


def fleet_document(f: Fleet) -> dict:
    """A stack's report (what the program exports as `cost`): the totals, the budget, each model's estimate
    document and the routing blend."""
    return {
        "monthly_usd": round(f.monthly_usd, 2),
        "self_hosted_monthly_usd": round(f.self_hosted_monthly_usd, 2),
        "api_tiers_monthly_usd": round(f.api_monthly_usd, 2),
        "budget_usd_per_month": f.budget_usd_per_month,
        "within_budget": None if f.budget_usd_per_month is None else f.monthly_usd <= f.budget_usd_per_month,
        "models": [estimate_document(e) for e in f.estimates],
        "routing": None if f.routed_workload is None else {
            "tokens_per_month": f.routed_workload.tokens_per_month,
            "tiers": [
                {"name": t.tier.name, "share": t.tier.share, "target": t.tier.deployment or t.tier.api,
                 "kind": "self-hosted" if t.tier.deployment else "api",
                 "tokens_per_month": round(t.tokens_per_month), "monthly_usd": round(t.monthly_usd, 2)}
                for t in f.tiers
            ],
            "blend_monthly_usd": round(f.monthly_usd, 2),
            "all_on_one_api": [{"api": q.offer.id, "monthly_usd": round(q.monthly_usd, 2)} for q in f.all_api],
            "cheapest_assignment": None if f.routing is None else f.routing.to_dict(),
        },
    }


def sensitivity_document(s: Sensitivity) -> dict:
    """The low / base / high band: each end's monthly cost, verdict, replicas and assumptions; whether the verdict
    flips inside it, in a sentence, and where the ends come from."""
    out: dict[str, object] = {b.name: {"monthly_usd": round(b.estimate.monthly_usd, 2), "verdict": b.estimate.verdict.choice,
                                       "replicas": b.estimate.deployment.replicas, "assumptions": b.assumptions}
                              for b in s.bands}
    return out | {"flips": s.flips, "note": sensitivity_note(s), "source": catalog.assumptions()["sensitivity"]}


def _planned_point(c: Curve) -> dict | None:
    """The curve's planned volume: its configuration and cost, the cheapest comparable API there, and the label the
    chart draws from them."""
    from cost.decide.curve import configuration

    e = c.planned
    if e is None:
        return None
    v, conf = e.verdict, configuration(e)
    label = [f"planned {format_tokens(e.workload.tokens_per_month)}/month: {format_usd(e.monthly_usd)}/month self-hosted",
             f"{conf['replicas']}+{conf['redundancy']} x {conf['instance_type']} TP{conf['gpus_per_replica']} "
             f"{conf['precision']} {conf['pricing']}"]
    api = None
    if v.cheapest_api is not None:
        name = next((q.offer.label for q in e.apis if q.offer.id == v.cheapest_api), v.cheapest_api)
        usd = round(v.cheapest_api_monthly_usd or 0.0, 2)
        api = {"id": v.cheapest_api, "label": name, "monthly_usd": usd, "compared_with": v.compared_with}
        label.append(f"cheapest comparable API: {name} {format_usd(usd)}/month")
    if e.notes:   # fine-tuned weights, quantized: a checkpoint only the team can make
        label.append(f"the team must quantize its own {conf['precision']} checkpoint")
    return {"tokens_per_month": round(e.workload.tokens_per_month), "self_hosted_monthly_usd": round(e.monthly_usd, 2),
            "configuration": conf, "cheapest_api": api, "notes": list(e.notes), "label": "\n".join(label)}


def curve_document(c: Curve) -> dict:
    """A breakeven curve's report (`breakeven curve --format json`, and every label of its chart): the sampled points,
    the exact cost steps, each API's breakeven volume or which side stays cheaper, the headline and the planned point."""
    from cost.decide.curve import configuration, constraints_dict

    w = c.workload
    point = lambda v: {"tokens_per_month": round(v), "self_hosted_monthly_usd": round(c.step_at(v).monthly_usd, 2),
                       "configuration": configuration(c.step_at(v).estimate),
                       "apis": {a.id: round(c.api_monthly_usd(a.id, v), 2) for a in c.apis}}
    return {
        "model": c.model,
        "workload": {"avg_input_tokens": w.avg_input_tokens, "avg_output_tokens": w.avg_output_tokens,
                     "utilization": w.utilization, "ttft_target_s": w.ttft_target_s, "tpot_target_s": w.tpot_target_s,
                     "planned_tokens_per_month": w.tokens_per_month or None},
        "constraints": constraints_dict(c.constraints),
        "range": {"from": c.start, "to": c.end},
        "apis": [{"id": a.id, "label": a.label, "tier": a.tier, "usd_per_mtok": round(c.usd_per_mtok[a.id], 6)}
                 for a in c.apis],
        "points": [point(v) for v in c.volumes],
        "steps": [{"from": round(s.start), "to": round(s.end), "monthly_usd": round(s.monthly_usd, 2),
                   "configuration": configuration(s.estimate)} for s in c.steps],
        "breakeven": [{"api": x.api.id, "tier": x.api.tier, "tokens_per_month": round(x.tokens_per_month),
                       "self_hosted_monthly_usd": round(x.estimate.monthly_usd, 2),
                       "api_monthly_usd": round(x.api_monthly_usd, 2), "configuration": configuration(x.estimate)}
                      for x in c.crossings],
        "no_breakeven": [{"api": a.id, "tier": a.tier, "cheaper_throughout": side} for a, side in c.without_breakeven()],
        "comparable_tier": c.comparable_tier,
        "headline": curve_headline(c),
        "planned": _planned_point(c),
    }


def cheapest_api_document(found: list[Configuration]) -> dict | None:
    """The cheapest comparable API beside the cheapest configuration found (None: nothing found, or no API stands in)."""
    v = found[0].estimate.verdict if found else None
    if v is None or v.cheapest_api is None:
        return None
    q = next(q for q in found[0].estimate.apis if q.offer.id == v.cheapest_api)
    return {"id": q.offer.id, "label": q.offer.label, "monthly_usd": round(q.monthly_usd, 2),
            "usd_per_mtok": round_finite(q.usd_per_mtok, 4), "batch_price": q.batch_price,
            "compared_with": v.compared_with, "source": q.offer.source}


def optimize_document(model: str, w: Workload, found: list[Configuration], *, profile: Profile | None = None,
                      profile_set: dict | None = None, other_clouds: bool = False,
                      volume: BreakevenVolume | None = None) -> dict:
    """`breakeven optimize --format json`: the workload searched, the profile that set flags, the configurations
    found (cheapest first), the cheapest comparable API beside the first, what the program deploys, and the
    breakeven volume when searched for."""
    from cost.decide.optimize import no_alternative

    return {"model": found[0].deployment.model if found else model,
            "workload": {"tokens_per_month": w.tokens_per_month, "avg_input_tokens": w.avg_input_tokens,
                         "avg_output_tokens": w.avg_output_tokens, "utilization": w.utilization,
                         "ttft_target_ms": milliseconds(w.ttft_target_s),
                         "tpot_target_ms": milliseconds(w.tpot_target_s)},
            "profile": None if profile is None else {"name": profile.name, "set": profile_set, "source": profile.source},
            "usd_per_mtok_at": "the declared volume",
            "configurations": [x.to_dict() for x in found], "cheapest_api": cheapest_api_document(found),
            "no_alternative": no_alternative(found[0]) if found else None,
            "deploys": DEPLOYS_AWS_ONLY if other_clouds else "aws",
            "breakeven": None if volume is None else volume.to_dict()}


def finite(doc: object) -> object:
    """The document with every non-finite float (a breakeven that never comes, a price per token of
    nothing served) as None, so that it serialises as strict JSON."""
    if isinstance(doc, float):
        return doc if math.isfinite(doc) else None
    if isinstance(doc, dict):
        return {k: finite(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [finite(v) for v in doc]
    return doc


def report_json(doc: dict) -> str:
    """A JSON report: `version` (REPORT_VERSION) first, then the document, as strict JSON (RFC 8259: no NaN, no
    Infinity; a non-finite figure is null)."""
    return json.dumps(finite({"version": REPORT_VERSION} | doc), indent=2, allow_nan=False, default=str)
