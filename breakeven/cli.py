"""The `breakeven` command line: estimate, calibration, bench, preview."""

from __future__ import annotations

import argparse
import math
import sys

from breakeven import calibrate, gpucheck, observe
from cost.errors import InputError
from cost.report import FORMATS

FLAG = {  # cost field -> the flag that sets it, so errors name what the user typed
    "tokens_per_month": "--tokens-per-month", "input_share": "--input-share", "avg_input_tokens": "--avg-input-tokens",
    "avg_output_tokens": "--avg-output-tokens", "utilization": "--utilization", "model": "--model", "gpu": "--gpu",
    "instance_type": "--instance", "gpus_per_replica": "--gpus", "replicas": "--replicas", "redundancy": "--redundancy",
    "precision": "--precision", "pricing": "--pricing", "hourly_usd_per_gpu": "--hourly-usd", "concurrency": "--concurrency",
    "capacity_tokens_per_month": "--capacity-tokens-per-month", "ttft_target_s": "--ttft-target-ms",
    "tpot_target_s": "--tpot-target-ms", "max_model_len": "--max-model-len", "price_book": "--price-book",
}


def _number(kind: type, flag: str):
    """An argparse type for a finite int or float flag: `nan`, `inf` and `1e400` are refused here."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value):
            raise argparse.ArgumentTypeError(
                f"{flag}: got {text!r}; allowed: a {'whole number' if kind is int else 'finite number'}")
        return value
    return parse


def _estimate_parser(sub) -> None:
    p = sub.add_parser("estimate", help="price one self-hosted deployment against API spend")
    p.add_argument("--model", required=True, help="llama-3.1-8b, llama-3.1-70b, ... or a Hugging Face name")
    p.add_argument("--gpu", help="GPU id as in the catalog (A100-80GB, H100, L4, ...; case-insensitive)")
    p.add_argument("--instance", help="AWS instance type (g6.xlarge, p5.48xlarge, ...)")
    p.add_argument("--gpus", type=_number(int, "--gpus"), default=1, help="GPUs per replica (tensor parallel size)")
    p.add_argument("--replicas", type=_number(int, "--replicas"), default=1)
    p.add_argument("--redundancy", type=_number(int, "--redundancy"), default=0, help="extra failover replicas (N+1 = 1)")
    p.add_argument("--precision", default="bf16", help="bf16, fp16, fp8, int4-awq")
    p.add_argument("--pricing", default="on-demand", help="on-demand, spot, reserved-1y, reserved-3y")
    p.add_argument("--hourly-usd", type=_number(float, "--hourly-usd"), help="price per GPU-hour, overrides the catalog")
    p.add_argument("--tokens-per-month", help="input + output tokens per month: 100M, 3.2B, 750000000")
    p.add_argument("--usage", help="a usage file (breakeven observe --write-usage): the measured workload instead")
    p.add_argument("--factors", help="a factors file (breakeven calibrate): capacity with it beside the published fit")
    p.add_argument("--input-share", type=_number(float, "--input-share"), help="share of tokens that are input (0..1)")
    p.add_argument("--avg-input-tokens", type=_number(int, "--avg-input-tokens"))
    p.add_argument("--avg-output-tokens", type=_number(int, "--avg-output-tokens"))
    p.add_argument("--utilization", type=_number(float, "--utilization"), default=0.8, help="planned share of capacity used")
    p.add_argument("--concurrency", type=_number(int, "--concurrency"), help="concurrent requests per replica")
    p.add_argument("--capacity-tokens-per-month", help="overrides the capacity model (e.g. 750M)")
    p.add_argument("--ttft-target-ms", type=_number(float, "--ttft-target-ms"))
    p.add_argument("--tpot-target-ms", type=_number(float, "--tpot-target-ms"))
    p.add_argument("--max-model-len", type=_number(int, "--max-model-len"))
    p.add_argument("--fine-tuned", action="store_true", help="exemption: custom weights no API serves")
    p.add_argument("--private-data", action="store_true", help="exemption: data must not leave your infrastructure")
    p.add_argument("--custom-inference", action="store_true", help="exemption: a modified inference pipeline")
    p.add_argument("--price-book", help="a shipped price book (seed-2025) or a YAML file")
    p.add_argument("--overheads", default="default", choices=["default", "none"])
    p.add_argument("--format", default="table", choices=FORMATS)


def _estimate(args: argparse.Namespace) -> int:
    from cost import factors, usage
    from cost.api_prices import load_price_book
    from cost.deployment import Deployment, Exemptions
    from cost.estimate import Overheads, estimate
    from cost.report import render
    from cost.units import parse_tokens
    from cost.workload import Workload

    if args.tokens_per_month is None and args.usage is None:
        raise InputError("tokens_per_month", None, "a monthly volume such as 100M or 3.2B, or --usage FILE")
    workload = Workload.build(
        parse_tokens(args.tokens_per_month or 0, "--tokens-per-month"),
        input_share=args.input_share, avg_input_tokens=args.avg_input_tokens, avg_output_tokens=args.avg_output_tokens,
        utilization=args.utilization,
        ttft_target_s=None if args.ttft_target_ms is None else args.ttft_target_ms / 1000,
        tpot_target_s=None if args.tpot_target_ms is None else args.tpot_target_ms / 1000,
    )
    deployment = Deployment.build(
        model=args.model, gpu=args.gpu, instance_type=args.instance, gpus_per_replica=args.gpus, replicas=args.replicas,
        redundancy=args.redundancy, precision=args.precision, pricing=args.pricing, hourly_usd_per_gpu=args.hourly_usd,
        concurrency=args.concurrency, max_model_len=args.max_model_len,
        capacity_tokens_per_month=None if args.capacity_tokens_per_month is None
        else parse_tokens(args.capacity_tokens_per_month, "--capacity-tokens-per-month"),
        exemptions=Exemptions(args.fine_tuned, args.private_data, args.custom_inference),
    )
    workload = usage.apply(workload, args.usage)
    measured = factors.load(args.factors) if args.factors else None
    book = load_price_book(args.price_book)
    overheads = Overheads.none() if args.overheads == "none" else Overheads()
    result = estimate(deployment, workload, book=book, overheads=overheads, factors=measured)
    if measured is None:
        print(render(result, args.format))
        return 0
    from breakeven.calibrate import side_by_side

    print(side_by_side(result, estimate(deployment, workload, book=book, overheads=overheads), measured, args.format))
    return 0


def _calibration(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from cost import calibration
    from cost.report import grid, to_json

    rows, summary = calibration.calibration_rows(), calibration.summary()
    if args.format == "json":
        print(to_json({"rows": [asdict(r) for r in rows], "summary": summary}))
        return 0
    md = args.format == "markdown"
    table = [[r.kind, r.engine, r.model, r.gpu_x_tp, r.precision, r.in_out, r.concurrency, f"{r.measured:,.0f}",
              f"{r.predicted:,.0f}", f"{r.ratio:.2f}", f"{r.error:.0%}"] for r in rows]
    print(grid(["Kind", "Engine", "Model", "GPUs", "Precision", "In/Out", "Concurrency", "Measured tok/s",
                "Predicted", "Pred/meas", "Error"], table, md))
    print()
    for kind in ("fit", "validation"):
        s = summary[kind]
        print(f"{kind}: {s['rows']} vLLM rows, median error {s['median_error']:.1%}, max error {s['max_error']:.1%}")
    ub = summary["upper-bound"]
    print(f"upper-bound (TensorRT-LLM / MLPerf): {ub['rows']} rows, max predicted/measured {ub['max_ratio']:.2f} "
          f"({'vLLM prediction at or below every one' if ub['all_at_or_below'] else 'ABOVE an optimised engine somewhere'})")
    print("errors are max(pred/meas, meas/pred) - 1; factors: "
          + ", ".join(f"{k}={v:g}" for k, v in summary["factors"].items()))
    return 0


def _seeds(args: argparse.Namespace) -> int:
    from cost.seeds import report

    print(report(), end="")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from cost import bench

    print(bench.run(args.seconds))
    return 0


def _preview(args: argparse.Namespace) -> int:
    from infra import preview

    return preview.main(args.stack, args.format, usage_files=dict(u.split("=", 1) if "=" in u else ("", u) for u in args.usage))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakeven", description="Self-host or API? Price it before you apply it.")
    sub = parser.add_subparsers(dest="command", required=True)
    _estimate_parser(sub)
    p = sub.add_parser("calibration", help="capacity model vs published vLLM measurements")
    p.add_argument("--format", default="table", choices=FORMATS)
    sub.add_parser("seeds", help="what the source articles' figures imply physically (markdown)")
    p = sub.add_parser("bench", help="estimates per second, in-process, one core")
    p.add_argument("--seconds", type=_number(float, "--seconds"), default=2.0)
    p = sub.add_parser("preview", help="offline preview of a stack: resources, cost report, policies")
    p.add_argument("--stack", required=True, help="a stack in stacks/ (dev, prod, hybrid, ...)")
    p.add_argument("--format", default="table", choices=FORMATS)
    p.add_argument("--usage", action="append", default=[], metavar="MODEL=FILE",
                   help="price a model on a measured usage file (breakeven observe --write-usage); repeatable")
    gpucheck.add_parser(sub)
    observe.add_parser(sub)
    calibrate.add_parser(sub)
    return parser


COMMANDS = {"estimate": _estimate, "calibration": _calibration, "seeds": _seeds, "bench": _bench, "preview": _preview,
            "gpucheck": gpucheck.run, "observe": observe.run,
            "calibrate": calibrate.run}


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad input exits 2 with a one-line message naming the key, the value and what is allowed."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except InputError as err:
        key = FLAG.get(err.key, err.key) if args.command == "estimate" else err.key
        err = InputError(key, err.value, err.allowed, err.detail)
        print(f"breakeven: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
