"""Reports for people (table, markdown) and machines (JSON) from an Estimate or a Fleet."""

from __future__ import annotations

import json
import math

from cost.estimate import Estimate
from cost.fleet import Fleet
from cost.units import format_tokens, format_usd

FORMATS = ("table", "json", "markdown")


def grid(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    fmt = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _heading(text: str, markdown: bool, level: int = 2) -> str:
    return f"{'#' * level} {text}" if markdown else f"{text}\n{'=' * len(text)}"


def _unit_price(item) -> str:
    if item.unit.startswith("USD"):
        return f"{item.unit_usd:.0%}"
    return format_usd(item.unit_usd) if item.unit_usd >= 0.01 else f"${item.unit_usd:g}"


def estimate_text(e: Estimate, markdown: bool = False) -> str:
    """One deployment: line items, capacity, API comparison, breakeven and verdict."""
    d, w, t, p = e.deployment, e.workload, e.throughput, e.plan
    hw = f"{p.nodes} x {p.instance_type}" if p.instance_type else f"{p.gpus} x {d.gpu} (per GPU-hour)"
    title = f"{d.name or d.model}: {d.model} {d.precision} on {d.replicas}+{d.redundancy} replica(s) x {d.gpus_per_replica} {d.gpu} ({hw}, {d.pricing})"
    out = [_heading(title, markdown)]
    out.append(f"Workload: {format_tokens(w.tokens_per_month)} tokens/month, {w.avg_input_tokens} in / {w.avg_output_tokens} out per request "
               f"({w.input_share:.0%} input), planned utilization {w.utilization:.0%}")
    sources: list[str] = []
    rows = []
    for i in e.line_items:
        if i.source not in sources:
            sources.append(i.source)
        rows.append([i.name, f"{i.quantity:,.2f} {i.unit}", _unit_price(i), format_usd(i.monthly_usd), f"[{sources.index(i.source) + 1}]"])
    rows.append(["Total self-hosted", "", "", format_usd(e.monthly_usd), ""])
    out += ["", grid(["Line item", "Quantity", "Unit price", "Monthly", "Source"], rows, markdown)]
    out += [""] + [f"[{n}] {src}" for n, src in enumerate(sources, 1)]
    if t is not None:
        cap = (f"Capacity (model): {t.output_tok_s:,.0f} output tok/s per replica at {t.concurrency} concurrent requests "
               f"(max {t.max_concurrency}, limited by {t.limited_by}); TTFT {t.ttft_s * 1000:,.0f} ms, TPOT {t.tpot_s * 1000:,.1f} ms")
    else:
        cap = "Capacity: given (capacity_tokens_per_month), not modelled"
    out += ["", cap,
            f"Memory: weights {e.fit.weights_gb:,.1f} GB of {e.fit.usable_gb:,.1f} GB usable; KV {e.fit.kv_bytes_per_token:,} B/token, "
            f"{e.fit.kv_capacity_tokens:,} tokens of KV cache",
            f"Tokens/month at {w.utilization:.0%} utilization: {format_tokens(e.capacity_tokens_per_month)} -> "
            f"{format_usd(e.usd_per_mtok)} per 1M tokens ("
            + (f"{format_usd(e.usd_per_mtok_at_workload)} per 1M at the declared volume)"
               if math.isfinite(e.usd_per_mtok_at_workload) else "no tokens declared, so no price per token served)")]
    be = {b.api: b for b in e.breakeven}
    rows = []
    for q in e.apis:
        b = be[q.offer.id]
        rows.append([q.offer.label or q.offer.id, q.offer.tier, format_usd(q.usd_per_mtok), format_usd(q.monthly_usd),
                     format_tokens(b.tokens_per_month), f"{b.utilization_needed:.0%}" if b.reachable else f"never ({b.utilization_needed:.0%})"])
    out += ["", grid(["API", "Tier", "$/1M (blended)", "Monthly", "Breakeven tokens/mo", "Utilization needed"], rows, markdown)]
    out += ["", f"Verdict: {e.verdict.choice.upper()}"] + [f"  - {r}" for r in e.verdict.reasons]
    return "\n".join(out)


def fleet_text(f: Fleet, markdown: bool = False) -> str:
    """A stack: each model's estimate, the routing blend and the totals."""
    parts = [estimate_text(e, markdown) for e in f.estimates]
    if f.routed_workload is not None:
        rows = [[t.tier.name, f"{t.tier.share:.0%}", t.tier.deployment or t.tier.api, format_tokens(t.tokens_per_month),
                 format_usd(t.monthly_usd)] for t in f.tiers]
        text = [_heading("Routing blend", markdown), grid(["Tier", "Share", "Target", "Tokens/mo", "Monthly"], rows, markdown),
                f"Blend: {format_usd(f.monthly_usd)}/month for {format_tokens(f.routed_workload.tokens_per_month)} tokens"]
        text += [f"  All traffic on {q.offer.id}: {format_usd(q.monthly_usd)}/month" for q in f.all_api]
        parts.append("\n".join(text))
    total = [_heading("Stack total", markdown),
             f"Self-hosted {format_usd(f.self_hosted_monthly_usd)} + API tiers {format_usd(f.api_monthly_usd)} = {format_usd(f.monthly_usd)}/month"]
    if f.budget_usd_per_month is not None:
        ok = "within" if f.monthly_usd <= f.budget_usd_per_month else "OVER"
        total.append(f"Budget {format_usd(f.budget_usd_per_month)}/month: {ok}")
    parts.append("\n".join(total))
    return "\n\n".join(parts)


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


def to_json(doc: object) -> str:
    """Strict JSON (RFC 8259: no NaN, no Infinity) for every `--format json` report."""
    return json.dumps(finite(doc), indent=2, allow_nan=False, default=str)


def render(obj: Estimate | Fleet, fmt: str) -> str:
    """Render an estimate or a fleet as table, markdown or JSON."""
    if fmt == "json":
        return to_json(obj.to_dict())
    text = estimate_text if isinstance(obj, Estimate) else fleet_text
    return text(obj, markdown=(fmt == "markdown"))
