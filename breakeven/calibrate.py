"""`breakeven calibrate`: load an OpenAI-compatible endpoint, measure, and fit a factors file."""

from __future__ import annotations

import argparse
import os

from breakeven.workload_flags import add_field_flags, named_flags, number
from cost.deployment import DeploymentFields
from cost.report import FORMATS, grid
from cost.report_model import report_json

SERVER = ("gpus_per_replica", "precision", "max_num_seqs")   # the measured server: --gpus, --precision, --max-num-seqs


def _concurrencies(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--concurrency: got {text!r}; allowed: positive whole numbers such as 1,2,4,8")
    return values


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `breakeven calibrate`: the endpoint, the server measured, the sweep and the factors file written."""
    p.add_argument("--endpoint", required=True, help="base URL of an OpenAI-compatible server (vLLM)")
    p.add_argument("--model", required=True, help="catalog model, or a Hugging Face config.json (or its folder)")
    p.add_argument("--served-model-name", help="the model name the server answers to (default: --model)")
    p.add_argument("--gpu", required=True, help="catalog GPU, or a device YAML file (id, memory_gib, hbm_gb_s, bf16_tflops)")
    # the server's settings are a deployment's (cost.deployment.DeploymentFields), its defaults the model's
    add_field_flags(p, DeploymentFields, SERVER)
    p.set_defaults(**{name: DeploymentFields.model_fields[name].default for name in SERVER})
    p.add_argument("--concurrency", type=_concurrencies, default=[1, 2, 4, 8, 16], help="levels, e.g. 1,2,4,8,16")
    p.add_argument("--requests-per-worker", type=number(int, "--requests-per-worker"), default=3)
    p.add_argument("--prompt-tokens", type=number(int, "--prompt-tokens"), default=128)
    p.add_argument("--max-tokens", type=number(int, "--max-tokens"), default=64)
    p.add_argument("--api-key-env", default="VLLM_API_KEY", help="environment variable holding the API key (never a flag)")
    p.add_argument("--out", help="write the fitted factors file here")
    p.add_argument("--tolerance", type=number(float, "--tolerance"), default=None,
                   help="largest miss of the fit on its own measurements, as a fraction (default 0.25): beyond it, or with "
                        "a factor at the end of its range, no factors file is written and the exit code is 1")
    p.add_argument("--format", default="table", choices=FORMATS)


FLAGS = ("endpoint", "model", "gpu", "gpus", "precision", "max-num-seqs", "concurrency", "requests-per-worker", "prompt-tokens",
         "max-tokens", "tolerance")


def _run(args: argparse.Namespace) -> int:
    """Sweep, fit, print the levels (measured vs predicted) and write the factors file."""
    from cost.catalog import precision
    from cost.errors import InputError
    from cost.physics import capacity
    from measure import fit, loadgen

    for key, v in (("requests-per-worker", args.requests_per_worker), ("prompt-tokens", args.prompt_tokens),
                   ("max-tokens", args.max_tokens)):
        if v < 1:
            raise InputError(key, v, "a whole number, at least 1")
    if args.max_tokens < 2:
        raise InputError("max-tokens", args.max_tokens, "at least 2 (TPOT needs two tokens)")
    tolerance = fit.FIT_TOLERANCE if args.tolerance is None else args.tolerance
    if not 0 < tolerance <= 10:
        raise InputError("tolerance", tolerance, "a fraction above 0 (0.25 = 25 %), at most 10")
    target = fit.Target(fit.model_from(args.model), fit.device_from(args.gpu), args.gpus_per_replica,
                        precision(args.precision, "precision"), max_num_seqs=args.max_num_seqs)
    capacity.require_fit(target.model, target.gpu, target.tp, target.precision, args.prompt_tokens + args.max_tokens)
    sweep = loadgen.sweep(args.endpoint, args.served_model_name or args.model, args.concurrency,
                          prompt_tokens=args.prompt_tokens, max_tokens=args.max_tokens,
                          requests_per_worker=args.requests_per_worker, api_key=os.environ.get(args.api_key_env),
                          show_progress=args.format == "table")
    fitted = fit.fit(sweep, target)
    levels = fit.compare(sweep, target, fitted)
    unusable = fit.problems(fitted, levels, tolerance)
    written = args.out if args.out and not unusable else None
    if written:
        fitted.save(written, fit.kinds())
    code = 1 if unusable else 0
    doc = {"sweep": sweep.to_dict(), "levels": levels, "factors": fitted.values(), "scope": fitted.scope,
           "source": fitted.source, "usable": not unusable, "problems": unusable, "tolerance": tolerance,
           "factors_file": written}
    if args.format == "json":
        print(report_json(doc))
        return code
    ms = lambda v: "-" if v is None else f"{v * 1e3:.1f}"
    print(grid(["Concurrency", "Measured tok/s", "Published fit", "Fitted", "Error", "TTFT p50 ms", "TTFT p99 ms",
                "TPOT p50 ms", "TPOT p99 ms"],
               [[str(x["concurrency"]), f"{x['measured_tok_s']:,.1f}", f"{x['published_tok_s']:,.1f}",
                 f"{x['fitted_tok_s']:,.1f}", f"{x['fitted_error']:.0%}", ms(x["ttft_p50_s"]), ms(x["ttft_p99_s"]),
                 ms(x["tpot_p50_s"]), ms(x["tpot_p99_s"])] for x in levels], args.format == "markdown"))
    print("fitted: " + ", ".join(f"{n}={fitted.values()[n]:.4g}" for n in fit.LIVE_FITTED))
    if unusable:
        print("UNUSABLE fit: " + "; ".join(unusable) + (f"; no factors file written ({args.out})" if args.out else ""))
    elif written:
        print(f"factors file written: {written} (use: breakeven estimate --factors {written} ...)")
    return code


def factors_used(factors, path: str) -> dict:
    """Which factors an estimate used: the file, where its values come from, and each value that differs
    from the published fit (with the published value beside it)."""
    from cost.physics.factors import published

    pub = published().values()
    return {"file": path, "source": factors.source, "scope": dict(factors.scope),
            "differ_from_published": {n: {"value": v, "published": pub[n]} for n, v in factors.values().items()
                                      if v != pub[n]}}


def side_by_side(measured, published, factors, fmt: str, path: str = "") -> str:
    """An estimate priced with measured factors, with the published fit's capacity beside it and the factors named."""
    from cost.report import render
    from cost.report_model import estimate_document
    from cost.units import format_tokens

    used = factors_used(factors, path)

    def cap(e) -> dict:
        t = e.throughput
        return {"output_tok_s_per_replica": None if t is None else round(t.output_tok_s, 1),
                "capacity_tokens_per_month": round(e.capacity_tokens_per_month), "usd_per_mtok": round(e.usd_per_mtok, 4),
                "verdict": e.verdict.choice}

    both = {"published": cap(published) | {"source": "published fit (cost/data/factors.yaml)"},
            "measured": cap(measured) | {"source": factors.source, "scope": factors.scope}}
    if fmt == "json":
        return report_json(estimate_document(measured) | {"capacity_comparison": both, "factors_used": used})
    rows = [[name, "-" if c["output_tok_s_per_replica"] is None else f"{c['output_tok_s_per_replica']:,.1f}",
             format_tokens(c["capacity_tokens_per_month"]), f"${c['usd_per_mtok']:,.4f}", c["verdict"]]
            for name, c in (("published fit", both["published"]), ("measured factors", both["measured"]))]
    scope = ", ".join(f"{k}={v}" for k, v in factors.scope.items() if k in ("model", "gpu", "tp", "precision", "date"))
    differ = ", ".join(f"{n}={x['value']:.4g} (published {x['published']:.4g})" for n, x in used["differ_from_published"].items())
    return (f"Factors used: {path or 'given'} ({factors.source or 'no source recorded'}): "
            + (differ or "the same values as the published fit") + "\n\n"
            + render(measured, fmt) + "\n\nCapacity: published fit vs measured factors (" + (scope or factors.source) + ")\n"
            + grid(["Factors", "Output tok/s per replica", "Capacity/month", "$/1M", "Verdict"], rows, fmt == "markdown"))


run = named_flags(_run, FLAGS)
