"""`breakeven curve`: the cheapest self-hosted configuration at every volume against each API,
with the breakeven volumes, as a table, markdown, JSON, CSV and a PNG/SVG chart."""

from __future__ import annotations

import argparse
import csv
import io
import re
from pathlib import Path

from cost.errors import InputError

FORMATS = ("table", "markdown", "json", "csv")
SIZE = re.compile(r"^([0-9]{2,5})x([0-9]{2,5})$")
MIN_SIZE = (480, 320)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `breakeven curve`: estimate's workload and assumption flags, optimize's constraints, the range."""
    from breakeven.workload_flags import add_assumption_flags, add_constraint_flags, add_workload_flags, number

    add_workload_flags(p, volume_help="the planned volume, marked on the chart (optional): 100M, 3.2B")
    add_constraint_flags(p)
    add_assumption_flags(p)
    output = p.add_argument_group("range and output")
    output.add_argument("--from", dest="start", default="10M", help="lowest volume, tokens/month (default 10M)")
    output.add_argument("--to", dest="end", default="100B", help="highest volume, tokens/month (default 100B)")
    output.add_argument("--points", type=number(int, "--points"), default=48, help="sampled volumes in points[] (default 48)")
    output.add_argument("--format", default="table", choices=FORMATS, help="the report's format (default table)")
    output.add_argument("--output", help="also draw the chart: FILE.png or FILE.svg")
    output.add_argument("--size", default="1200x760", help="chart size in pixels, WIDTHxHEIGHT (default 1200x760)")


def _size(text: str) -> tuple[int, int]:
    m = SIZE.match(text or "")
    if not m or int(m.group(1)) < MIN_SIZE[0] or int(m.group(2)) < MIN_SIZE[1]:
        raise InputError("--size", text, f"WIDTHxHEIGHT in pixels, at least {MIN_SIZE[0]}x{MIN_SIZE[1]} (e.g. 1200x760)")
    return int(m.group(1)), int(m.group(2))


def _output(text: str | None) -> Path | None:
    from breakeven.chart import SUFFIXES

    if text is None:
        return None
    path = Path(text)
    if path.suffix.lower() not in SUFFIXES:
        raise InputError("--output", text, "a file name ending in " + " or ".join(SUFFIXES))
    if not path.parent.is_dir():
        raise InputError("--output", text, "a file in an existing directory")
    return path


def build(args: argparse.Namespace):
    """Validate every flag (InputError naming the flag), then compute the curve."""
    from breakeven import term
    from breakeven.workload_flags import (
        FLAG,
        apply_search_profile,
        constraints_from,
        exemptions_from,
        overheads_from,
        providers_from,
        rates_from,
        workload_from,
    )
    from cost import catalog
    from cost.decide.curve import cheapest_search, curve
    from cost.pricing.api_prices import load_price_book
    from cost.units import parse_tokens

    try:
        start = parse_tokens(args.start, "--from")
        end = parse_tokens(args.end, "--to")
        if start <= 0:
            raise InputError("--from", args.start, "a positive volume (the axis is logarithmic)")
        if end <= start:
            raise InputError("--to", args.end, f"a volume above --from ({args.start})")
        if not 2 <= args.points <= 2000:
            raise InputError("--points", args.points, "a whole number from 2 to 2000")
        size = _size(args.size)
        output = _output(args.output)
        pricings, _ = apply_search_profile(args)
        args.tokens_per_month = args.tokens_per_month or "0"
        workload = workload_from(args)
        constraints = constraints_from(args, pricings).check()
        model = catalog.model(args.model, "--model").id
        book, providers, exemptions = load_price_book(args.price_book), providers_from(args), exemptions_from(args)
        cheapest = cheapest_search(model, workload, constraints, book=book, overheads=overheads_from(args),
                                   exemptions=exemptions, providers=providers, rates=rates_from(args))
        cheapest(start)   # fails here, before anything is drawn, when the constraints leave nothing
    except InputError as err:
        raise InputError(FLAG.get(err.key, err.key), err.value, err.allowed, err.detail) from None
    result = curve(model, workload, cheapest, start=start, end=end, points=args.points, constraints=constraints, book=book,
                   exemptions=exemptions, providers=providers,
                   progress=lambda steps: term.progress(steps, None, "walking the cost steps"))
    return result, output, size


def _config_text(c: dict) -> str:
    where = c["instance_type"] or f"{c['cloud']} {c['product']}"
    return (f"{c['replicas']}+{c['redundancy']} x {c['gpus_per_replica']}x {c['gpu']} on {where}, "
            f"{c['precision']}, {c['pricing']}")


def render(result, fmt: str) -> str:
    """The curve's data as table, markdown, strict JSON or CSV."""
    from cost.report import grid
    from cost.report_model import curve_document, report_json
    from cost.units import format_tokens, format_usd

    data = curve_document(result)
    if fmt == "json":
        return report_json(data)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        cols = ("instance_type", "gpu", "gpus_per_replica", "precision", "pricing", "replicas", "redundancy", "cloud")
        writer.writerow(("kind", "tokens_per_month", "api", "api_monthly_usd", "self_hosted_monthly_usd") + cols)
        for p in data["points"]:
            for api, usd in p["apis"].items():
                writer.writerow(("point", p["tokens_per_month"], api, usd, p["self_hosted_monthly_usd"])
                                + tuple(p["configuration"][c] for c in cols))
        for b in data["breakeven"]:
            writer.writerow(("breakeven", b["tokens_per_month"], b["api"], b["api_monthly_usd"], b["self_hosted_monthly_usd"])
                            + tuple(b["configuration"][c] for c in cols))
        return buf.getvalue().rstrip("\n")
    md = fmt == "markdown"
    w = data["workload"]
    title = (f"{data['model']}: self-hosted vs API, {w['avg_input_tokens']} in / {w['avg_output_tokens']} out per request, "
             f"{w['utilization']:.0%} utilization, {format_tokens(data['range']['from'])}-{format_tokens(data['range']['to'])} tokens/month")
    labels = {a["id"]: a["label"] for a in data["apis"]}
    breakeven = [[labels[b["api"]], b["tier"], format_tokens(b["tokens_per_month"]), format_usd(b["self_hosted_monthly_usd"]),
                  format_usd(b["api_monthly_usd"]), _config_text(b["configuration"])] for b in data["breakeven"]]
    never = [[labels[n["api"]], n["tier"], {"api": "API", "self-host": "self-hosting", "mixed": "each in turn"}[n["cheaper_throughout"]]]
             for n in data["no_breakeven"]]
    steps = [[f"{format_tokens(s['from'])}-{format_tokens(s['to'])}", format_usd(s["monthly_usd"]), _config_text(s["configuration"])]
             for s in data["steps"]]
    out = [f"## {title}" if md else f"{title}\n{'=' * len(title)}", "", data["headline"][0].upper() + data["headline"][1:] + ".", "",
           "Breakeven volumes (self-hosted cost = API cost; found by bisection):", "",
           grid(["API", "Tier", "Breakeven tokens/mo", "Self-hosted/mo", "API/mo", "Cheapest configuration there"], breakeven, md)
           if breakeven else "none in this range"]
    if never:
        out += ["", "No breakeven in the range:", "", grid(["API", "Tier", "Cheaper throughout"], never, md)]
    out += ["", f"Self-hosted cost steps ({len(steps)}; the cheapest configuration from `breakeven optimize` at each volume):", "",
            grid(["Tokens/month", "Monthly", "Cheapest configuration"], steps, md)]
    if data["planned"]:
        p = data["planned"]
        out += ["", f"Planned {format_tokens(p['tokens_per_month'])} tokens/month: {format_usd(p['self_hosted_monthly_usd'])}/month "
                f"on {_config_text(p['configuration'])}"
                + ("" if p["cheapest_api"] is None else f"; cheapest comparable API there: {p['cheapest_api']['label']} "
                   f"{format_usd(p['cheapest_api']['monthly_usd'])}/month")]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    """`breakeven curve`: 0 when shown (and drawn); 2 for a bad flag, before anything is computed or written."""
    from breakeven import term

    result, output, size = build(args)
    text = render(result, args.format)
    if output is not None:
        from breakeven.chart import draw

        draw(result, output, *size)
    if args.format == "table":
        term.show(text)
    else:
        print(text)
    if output is not None and args.format in ("table", "markdown"):
        print(f"\nwrote {output}")
    return 0
