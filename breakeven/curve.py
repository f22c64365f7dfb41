"""`breakeven curve`: the cheapest self-hosted configuration at every volume against each API,
with the breakeven volumes, as a table, markdown, JSON, CSV and a PNG/SVG chart."""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from pathlib import Path

from cost.errors import InputError

FORMATS = ("table", "markdown", "json", "csv")
SIZE = re.compile(r"^([0-9]{2,5})x([0-9]{2,5})$")
MIN_SIZE = (480, 320)


def add_parser(sub) -> None:
    """Register `breakeven curve`."""
    from breakeven.cli import _number

    p = sub.add_parser("curve", help="self-hosted cost at every volume against each API; breakeven volumes; a chart")
    p.add_argument("--model", required=True, help="llama-3.1-8b, llama-3.1-70b, ... or a Hugging Face name")
    p.add_argument("--from", dest="start", default="10M", help="lowest volume, tokens/month (default 10M)")
    p.add_argument("--to", dest="end", default="100B", help="highest volume, tokens/month (default 100B)")
    p.add_argument("--points", type=_number(int, "--points"), default=48, help="sampled volumes, log-spaced (default 48)")
    p.add_argument("--tokens-per-month", help="the planned volume, marked on the chart")
    p.add_argument("--input-share", type=_number(float, "--input-share"), help="share of tokens that are input (0..1)")
    p.add_argument("--avg-input-tokens", type=_number(int, "--avg-input-tokens"))
    p.add_argument("--avg-output-tokens", type=_number(int, "--avg-output-tokens"))
    p.add_argument("--utilization", type=_number(float, "--utilization"), default=0.8, help="planned share of capacity used")
    p.add_argument("--ttft-target-ms", type=_number(float, "--ttft-target-ms"))
    p.add_argument("--tpot-target-ms", type=_number(float, "--tpot-target-ms"))
    p.add_argument("--precision", help="precisions to search, comma-separated (default: all)")
    p.add_argument("--pricing", help="on-demand, spot, reserved-1y, reserved-3y; comma-separated (default: all)")
    p.add_argument("--gpu", help="GPUs to search, comma-separated (default: all)")
    p.add_argument("--instance", help="instance types to search, comma-separated (default: all)")
    p.add_argument("--redundancy", type=_number(int, "--redundancy"), default=0, help="extra failover replicas (N+1 = 1)")
    p.add_argument("--price-book", help="a shipped price book (seed-2025) or a YAML file")
    p.add_argument("--overheads", default="default", choices=["default", "none"])
    p.add_argument("--format", default="table", choices=FORMATS)
    p.add_argument("--output", help="also draw the chart: FILE.png or FILE.svg")
    p.add_argument("--size", default="1200x760", help="chart size in pixels, WIDTHxHEIGHT (default 1200x760)")


def _list(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(x.strip() for x in text.split(",") if x.strip())


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
    from breakeven.cli import FLAG
    from cost import catalog
    from cost.api_prices import load_price_book
    from cost.curve import Constraints, curve, local_search
    from cost.estimate import Overheads
    from cost.units import parse_tokens
    from cost.workload import Workload

    try:
        start = parse_tokens(args.start, "--from")
        end = parse_tokens(args.end, "--to")
        if start <= 0:
            raise InputError("--from", args.start, "a positive volume (the axis is logarithmic)")
        if end <= start:
            raise InputError("--to", args.end, f"a volume above --from ({args.start})")
        planned = 0.0 if args.tokens_per_month is None else parse_tokens(args.tokens_per_month, "--tokens-per-month")
        workload = Workload.build(
            planned, input_share=args.input_share, avg_input_tokens=args.avg_input_tokens,
            avg_output_tokens=args.avg_output_tokens, utilization=args.utilization,
            ttft_target_s=None if args.ttft_target_ms is None else args.ttft_target_ms / 1000,
            tpot_target_s=None if args.tpot_target_ms is None else args.tpot_target_ms / 1000)
        constraints = Constraints(
            precisions=None if args.precision is None else tuple(catalog.precision(p, "--precision") for p in _list(args.precision)),
            pricings=None if args.pricing is None else tuple(catalog.pricing(p, "--pricing") for p in _list(args.pricing)),
            gpus=None if args.gpu is None else tuple(catalog.gpu(g, "--gpu").id for g in _list(args.gpu)),
            instance_types=None if args.instance is None else tuple(catalog.instance(i, "--instance").type for i in _list(args.instance)),
            redundancy=args.redundancy)
        if args.redundancy < 0:
            raise InputError("--redundancy", args.redundancy, "a whole number, at least 0")
        if args.points < 2 or args.points > 2000:
            raise InputError("--points", args.points, "a whole number from 2 to 2000")
        size = _size(args.size)
        output = _output(args.output)
        book = load_price_book(args.price_book)
        overheads = Overheads.none() if args.overheads == "none" else Overheads()
        model = catalog.model(args.model, "--model").id
        cheapest = local_search(model, workload, constraints, book=book, overheads=overheads)
    except InputError as err:
        raise InputError(FLAG.get(err.key, err.key), err.value, err.allowed, err.detail) from None
    result = curve(model, workload, cheapest, start=start, end=end, points=args.points, constraints=constraints, book=book,
                   search="local search over the catalog (stand-in for issue 9's optimizer)",
                   progress=lambda xs, n: term.progress(xs, n, "pricing volumes"))
    return result, output, size


def _config_text(c: dict) -> str:
    return (f"{c['replicas']}+{c['redundancy']} x {c['gpus_per_replica']}x {c['gpu']} on {c['instance_type']}, "
            f"{c['precision']}, {c['pricing']}")


def render(result, fmt: str) -> str:
    """The curve's data as table, markdown, strict JSON or CSV."""
    from cost.report import grid
    from cost.units import format_tokens, format_usd

    data = result.to_dict()
    if fmt == "json":
        return json.dumps(data, indent=2, allow_nan=False)
    if fmt == "csv":
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        cols = ("instance_type", "gpu", "gpus_per_replica", "precision", "pricing", "replicas", "redundancy")
        out.writerow(("kind", "tokens_per_month", "api", "api_monthly_usd", "self_hosted_monthly_usd") + cols)
        for p in data["points"]:
            for api, usd in p["apis"].items():
                out.writerow(("point", p["tokens_per_month"], api, usd, p["self_hosted_monthly_usd"])
                             + tuple(p["configuration"][c] for c in cols))
        for b in data["breakeven"]:
            out.writerow(("breakeven", b["tokens_per_month"], b["api"], b["api_monthly_usd"], b["self_hosted_monthly_usd"])
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
    out = [f"## {title}" if md else f"{title}\n{'=' * len(title)}", "",
           "Breakeven volumes (self-hosted cost = API cost; found by bisection):", "",
           grid(["API", "Tier", "Breakeven tokens/mo", "Self-hosted/mo", "API/mo", "Cheapest configuration there"], breakeven, md)
           if breakeven else "none in this range"]
    if never:
        out += ["", "No breakeven in the range:", "", grid(["API", "Tier", "Cheaper throughout"], never, md)]
    out += ["", f"Self-hosted cost steps ({len(steps)}; {data['search']}):", "",
            grid(["Tokens/month", "Monthly", "Cheapest configuration"], steps, md)]
    if data["planned"]:
        p = data["planned"]
        out += ["", f"Planned {format_tokens(p['tokens_per_month'])} tokens/month: {format_usd(p['self_hosted_monthly_usd'])}/month "
                f"on {_config_text(p['configuration'])}"]
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
