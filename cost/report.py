"""Reports for people: the table and markdown renderers of an estimate, a fleet, the sensitivity band and the
weights path, and `grid`, the one table every report draws. The JSON documents are `cost.report_model`'s."""

from __future__ import annotations

import io
import math
import re

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from cost.estimate import Estimate
from cost.physics.capacity_range import capacity_range
from cost.pricing import api_prices
from cost.pricing.fleet import Fleet
from cost.pricing.gpu_clouds import Elsewhere
from cost.report_model import (
    DEPLOYS_AWS_ONLY,
    capacity_range_note,
    estimate_document,
    fleet_document,
    report_json,
    sensitivity_note,
)
from cost.units import format_tokens, format_usd

FORMATS = ("table", "json", "markdown")
PLAIN_WIDTH = 400  # columns; tables take only the width they need
_NUMERIC = re.compile(r"^$|^-$|^[-+]?\$?[0-9]|^never|^\[[0-9]+\]$|^\*\*\$")  # a figure, a footnote, or blank


def grid(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    """A table: GitHub markdown, or aligned plain text drawn by rich. Columns of figures align right."""
    right = [i > 0 and all(_NUMERIC.match(str(r[i])) for r in rows) for i in range(len(headers))]
    if markdown:
        cell = lambda c: str(c).replace("|", "\\|")
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
        return "\n".join(lines)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for i, h in enumerate(headers):
        table.add_column(h, justify="right" if right[i] else "left", no_wrap=True)
    for r in rows:
        table.add_row(*(Text(str(c)) for c in r))
    return plain(table)


def plain(renderable: object) -> str:
    """Render a rich object to plain text (no colour codes), wide enough that nothing wraps."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=PLAIN_WIDTH, color_system=None, force_terminal=False, highlight=False)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def _heading(text: str, markdown: bool, level: int = 2) -> str:
    return f"{'#' * level} {text}" if markdown else f"{text}\n{'=' * len(text)}"


def _unit_price(item) -> str:
    if item.unit.startswith("USD"):
        return f"{item.unit_usd:.0%}"
    return format_usd(item.unit_usd) if item.unit_usd >= 0.01 else f"${item.unit_usd:g}"


def _item_rows(items, sources: list[str], tag: str = "") -> list[list[str]]:
    """Table rows of line items (name, quantity, unit price, monthly, source note); each new source is appended to
    `sources` and cited as [<tag><its number>]."""
    rows = []
    for i in items:
        if i.source not in sources:
            sources.append(i.source)
        rows.append([i.name, f"{i.quantity:,.2f} {i.unit}", _unit_price(i), format_usd(i.monthly_usd),
                     f"[{tag}{sources.index(i.source) + 1}]"])
    return rows


def api_server_hint(api_servers: int) -> str:
    """The one line an estimate capped by vLLM's API-server processes prints: the cap and the key that raises it."""
    from cost.physics.capacity import API_SERVER_TOKENS_S

    return (f"  The {api_servers} API-server process(es) cap the replica at {api_servers * API_SERVER_TOKENS_S:,.0f} output "
            "tok/s: raise apiServerCount (stack key; breakeven estimate --api-servers), vLLM's --api-server-count")


def estimate_text(e: Estimate, markdown: bool = False) -> str:
    """One deployment: line items, capacity, API comparison, breakeven and verdict."""
    d, w, t, p = e.deployment, e.workload, e.throughput, e.plan
    hw = f"{p.nodes} x {p.instance_type}" if p.instance_type else f"{p.gpus} x {d.gpu} (per GPU-hour)"
    title = f"{d.name or d.model}: {d.model} {d.precision} on {d.replicas}+{d.redundancy} replica(s) x {d.gpus_per_replica} {d.gpu} ({hw}, {d.pricing})"
    out = [_heading(title, markdown)]
    out.append(f"Workload: {format_tokens(w.tokens_per_month)} tokens/month, {w.avg_input_tokens} in / {w.avg_output_tokens} out per request "
               f"({w.input_share:.0%} input), planned utilization {w.utilization:.0%}")
    sources: list[str] = []
    rows = _item_rows(e.line_items, sources)
    rows.append(["Total self-hosted", "", "", format_usd(e.monthly_usd), ""])
    out += ["", grid(["Line item", "Quantity", "Unit price", "Monthly", "Source"], rows, markdown)]
    out += [""] + [f"[{n}] {src}" for n, src in enumerate(sources, 1)]
    if t is not None:
        cap = (f"Capacity (model): {t.output_tok_s:,.0f} output tok/s per replica at {t.concurrency} concurrent requests "
               f"(sustains {t.max_concurrency} for this traffic, limited by {t.limited_by}; vLLM's logged maximum for "
               f"{e.fit.context_tokens:,}-token requests {e.fit.max_concurrency:,.2f}x); TTFT {t.ttft_s * 1000:,.0f} ms, TPOT {t.tpot_s * 1000:,.1f} ms")
        if t.limited_by == "api-server":
            cap += "\n" + api_server_hint(d.api_servers)
    else:
        cap = "Capacity: given (capacity_tokens_per_month), not modelled"
    out += ["", cap,
            f"Memory: weights {e.fit.weights_gb:,.1f} GB + runtime {e.fit.runtime_overhead_gb:,.1f} GB (CUDA context, vLLM's profiled "
            f"activation peak) of {e.fit.usable_gb:,.1f} GB usable"
            + (f" across {e.fit.nodes} nodes of {e.fit.gpus_per_node} GPUs (multi-node replica)" if e.fit.nodes > 1 else "")
            + f"; KV {e.fit.kv_bytes_per_token:,} B/token" + (" (fp8 KV cache)" if e.fit.kv_cache_dtype == "fp8" else "")
            + f", {e.fit.kv_capacity_tokens:,} tokens of KV cache",
            f"Tokens/month at {w.utilization:.0%} utilization: {format_tokens(e.capacity_tokens_per_month)} -> "
            f"{format_usd(e.usd_per_mtok)} per 1M tokens at that capacity ("
            + (f"{format_usd(e.usd_per_mtok_at_workload)} per 1M at the "
               f"{format_tokens(min(w.tokens_per_month, e.full_capacity_tokens_per_month))} tokens/month of the declared "
               "volume it serves)" if math.isfinite(e.usd_per_mtok_at_workload)
               else "no tokens declared, so no price per token served)"),
            f"Replicas: {d.replicas} serving" + (" (sized to carry the volume)" if e.replicas_auto else "")
            + (f"; {e.replicas_needed} needed at the planned utilization" if e.replicas_needed is not None else "")
            + f"; carries {e.carries_share:.0%} of the declared volume"
            + (f"; {e.zone_loss_capacity_share:.0%} of it after losing the fullest of {d.zones} zones"
               if d.zones > 1 else "")]
    if t is not None:
        from cost.physics.calibration import validity
        v = validity()
        out.append(f"Capacity model checked on {v['rows']} published vLLM runs: {', '.join(v['gpus'])}; "
                   f"{', '.join(v['precisions'])}; TP {', '.join(map(str, v['tp']))}; concurrency {v['concurrency'][0]}-"
                   f"{v['concurrency'][1]}; prompts {v['prompt_tokens'][0]:,.0f}-{v['prompt_tokens'][1]:,.0f} tokens")
        out += [f"  WARNING outside that range: {msg}" for msg in e.warnings]
    out += [f"NOTE: {msg}" for msg in e.notes]
    be = {b.api: b for b in e.breakeven}
    rows = []
    for q in e.apis:
        b = be[q.offer.id]
        tier = q.offer.tier + (" (retired)" if api_prices.retired(q.offer.id) else "") + (" batch rate" if q.batch_price else "")
        if q.basis:   # sized per GPU-hour or per copy for this volume: no per-token price to break even against
            rows.append([q.offer.label or q.offer.id, tier, format_usd(q.usd_per_mtok), format_usd(q.monthly_usd), "-", "-"])
            continue
        rows.append([q.offer.label or q.offer.id, tier, format_usd(q.usd_per_mtok), format_usd(q.monthly_usd),
                     format_tokens(b.tokens_per_month), f"{b.utilization_needed:.0%}" if b.reachable else f"never ({b.utilization_needed:.0%})"])
    out += ["", grid(["API", "Tier", "$/1M (blended)", "Monthly", "Breakeven tokens/mo", "Utilization needed"], rows, markdown)]
    out += ["", f"Verdict: {e.verdict.choice.upper()}"] + [f"  - {r}" for r in e.verdict.reasons]
    r = capacity_range(e)
    if r is not None:
        out.append(f"  - {capacity_range_note(r)}")
    out += [f"Successor: {s.model} serves the same use for {format_usd(s.monthly_usd)}/month on {s.cheapest_api} "
            + (f"(against {format_usd(s.instead_of_usd)}/month for {d.model})" if s.instead_of_usd is not None
               else f"(no API is listed for {d.model})") + f"; source: {s.source}" for s in e.successors]
    if e.elsewhere is not None:
        out.append(elsewhere_line(e.elsewhere))
    return "\n".join(out)


def elsewhere_line(x: Elsewhere) -> str:
    """The one line an AWS estimate prints about the same GPUs rented on the cheapest other cloud."""
    o = x.offer
    verb = "costs" if x.extra_usd_per_month >= 0 else "saves"
    return (f"Elsewhere: the same {x.gpus} {o.gpu} GPU(s) rent for ${o.usd_per_gpu_hour:g}/GPU-h on {o.cloud} "
            f"({o.product}; {o.source}, read {o.checked}) against ${x.aws_usd_per_gpu_hour:.2f}/GPU-h on AWS: AWS "
            f"{verb} {format_usd(abs(x.extra_usd_per_month))}/month in GPU hours. {DEPLOYS_AWS_ONLY}")


def fleet_text(f: Fleet, markdown: bool = False) -> str:
    """A stack: each model's estimate, the routing blend and the totals."""
    parts = [estimate_text(e, markdown) for e in f.estimates]
    if f.routed_workload is not None:
        rows = [[t.tier.name, f"{t.tier.share:.0%}", t.tier.target, format_tokens(t.tokens_per_month),
                 format_usd(t.monthly_usd)] for t in f.tiers]
        text = [_heading("Routing blend", markdown), grid(["Tier", "Share", "Target", "Tokens/mo", "Monthly"], rows, markdown),
                f"Blend: {format_usd(f.monthly_usd)}/month for {format_tokens(f.routed_workload.tokens_per_month)} tokens"]
        text += [f"  All traffic on {q.offer.id}: {format_usd(q.monthly_usd)}/month" for q in f.all_api]
        if f.routing is not None:
            r = f.routing
            text.append(f"Cheapest assignment (targets serving the same model; retired APIs excluded): "
                        f"{format_usd(r.monthly_usd)}/month against {format_usd(r.declared_monthly_usd)}/month declared, "
                        f"saves {format_usd(r.saves_usd)}/month")
            text += [f"  {name} -> {target} ({kind})" for name, target, kind in r.assignment]
        parts.append("\n".join(text))
    total = [_heading("Stack total", markdown),
             f"Self-hosted {format_usd(f.self_hosted_monthly_usd)} + API tiers {format_usd(f.api_monthly_usd)} = {format_usd(f.monthly_usd)}/month"]
    if f.budget_usd_per_month is not None:
        ok = "within" if f.monthly_usd <= f.budget_usd_per_month else "OVER"
        total.append(f"Budget {format_usd(f.budget_usd_per_month)}/month: {ok}")
    parts.append("\n".join(total))
    return "\n\n".join(parts)


def render(obj: Estimate | Fleet, fmt: str) -> str:
    """Render an estimate or a fleet as table, markdown or JSON."""
    if fmt == "json":
        return report_json(estimate_document(obj) if isinstance(obj, Estimate) else fleet_document(obj))
    if isinstance(obj, Estimate):
        return estimate_text(obj, markdown=(fmt == "markdown"))
    return fleet_text(obj, markdown=(fmt == "markdown"))


def sensitivity_text(s, markdown: bool = False) -> str:
    """The low / base / high band: monthly cost and verdict at each end of the assumptions."""
    rows = []
    for b in s.bands:
        a, e = b.assumptions, b.estimate
        rows.append([b.name, f"{a['mlops_fte']:g}", format_usd(a["monitoring_usd_per_month"]), f"{a['utilization']:.0%}",
                     f"{a['spot_position']:.0%}", f"{a['reserved_discount']['reserved-1y']:.0%}/{a['reserved_discount']['reserved-3y']:.0%}",
                     str(e.deployment.replicas), format_usd(e.monthly_usd), e.verdict.choice])
    table = grid(["Band", "MLOps FTE", "Monitoring", "Utilization", "Spot point", "Reserved 1y/3y", "Replicas", "Monthly",
                  "Verdict"], rows, markdown)
    return "\n".join([_heading("Sensitivity", markdown), table, "", sensitivity_note(s)])


def weights_text(path, markdown: bool = False) -> str:
    """A deployment's weights path (cost/physics/weights_path.py): where each node keeps the weights, what a replaced
    node's path costs each month (not in the total above: a platform cost) and once, and its startup window."""
    c = path.cache
    where = {"instance-store": f"NVMe instance store at {c.path} ({c.capacity_gib:,.0f} GiB, no charge beyond the instance)",
             "ebs": f"the node's gp3 volume at {c.path} (priced above as Model storage)",
             "emptyDir": "an emptyDir: every new pod downloads them again"}[c.medium]
    via = ("streams them from the stack's S3 copy through the S3 gateway endpoint (no NAT)" if path.source == "s3"
           else "downloads them again from the Hugging Face Hub through NAT")
    out = [_heading(f"Weights path (--weights-source {path.source})", markdown, 3 if markdown else 2),
           f"Cache: {c.needed_gib:,} GiB per node in {where}"
           + ("; a restarted pod on the same node reuses it" if c.persistent else "") + f". Source: {c.source}.",
           f"A replaced node {via}: {path.weights_gib:,} GiB at {path.seconds_per_gib} s/GiB, startup "
           f"window {path.startup_window_s / 60:,.0f} min (planning figures, cost/data/weights-source.yaml)."]
    sources: list[str] = []
    rows = _item_rows(path.line_items, sources, "w")
    rows.append(["Weights path, monthly (platform: not in the total above)", "", "", format_usd(path.monthly_usd), ""])
    if path.source == "s3":
        rows.append(["Seeding the S3 copy, once", "", "", format_usd(path.seed_usd), f"[w{len(sources) + 1}]"])
        sources.append(path.seed_source)
    out += ["", grid(["Line item", "Quantity", "Unit price", "Monthly", "Source"], rows, markdown)]
    out += [""] + [f"[w{n}] {src}" for n, src in enumerate(sources, 1)]
    return "\n".join(out)
