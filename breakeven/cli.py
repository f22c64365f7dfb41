"""The `breakeven` command line: every command (HELP); estimate, calibration, seeds, bench and preview are defined
here, the others in a module of their own (MODULES), imported only when that command runs or shows its --help."""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from breakeven.workload_flags import (
    FLAG,
    SERVER_FIELDS,
    add_assumption_flags,
    add_exemption_flags,
    add_field_flags,
    add_workload_flags,
    apply_profile,
    exemptions_from,
    number,
    overheads_from,
    providers_from,
    rates_from,
    workload_from,
)
from cost.deployment import DeploymentFields
from cost.errors import InputError
from cost.report import FORMATS


class OneLineParser(argparse.ArgumentParser):
    """argparse without the usage dump: an argument error is one line naming the flag, the value and what is
    allowed (subcommand parsers are made of the same class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"breakeven: error: {one_line(message)}\n")

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        """An empty value is never taken as zero, "no filter" or the default: it is refused, naming the flag
        (argparse passes a string default through here too: a flag whose default is empty keeps it)."""
        if action.option_strings and not arg_string.strip() and arg_string != action.default:
            flag = action.option_strings[-1]
            raise argparse.ArgumentError(action, f"{flag}: got {arg_string!r}; allowed: a non-empty value (see --help)")
        return super()._get_value(action, arg_string)


def one_line(message: str) -> str:
    """argparse's error message in the kit's words: `--flag: got 'value'; allowed: ...`."""
    required = re.fullmatch(r"the following arguments are required: (.+)", message)
    if required:
        return f"{required.group(1)}: got nothing; allowed: a value (required; see --help)"
    unknown = re.fullmatch(r"unrecognized arguments: (.+)", message)
    if unknown:
        return f"arguments: got {unknown.group(1)!r}; allowed: the flags `--help` lists"
    arg = re.fullmatch(r"argument ([^:]+): (.+)", message, re.S)
    if not arg:
        return message
    flag, rest = arg.group(1).split("/")[-1], arg.group(2)
    if rest.startswith(flag + ":"):            # our own types name the flag already
        return rest
    choice = re.fullmatch(r"invalid choice: (.+) \(choose from (.+)\)", rest)
    if choice:
        return f"{flag}: got {choice.group(1)}; allowed: {choice.group(2).replace(chr(39), '')}"
    if rest.startswith("expected"):            # expected one argument
        return f"{flag}: got nothing; allowed: {rest.removeprefix('expected ')}"
    return f"{flag}: {rest}"


# The deployment's fields `estimate` takes as flags (cost.deployment.DeploymentFields: flag, type, help); vLLM's
# --max-num-seqs and --gpu-memory-utilization (SERVER_FIELDS) follow them, as in the searches.
DEPLOYMENT_FLAGS = ("model", "gpu", "instance_type", "gpus_per_replica", "replicas", "redundancy", "precision",
                    "kv_cache_dtype", "expert_parallel", "api_servers", "pricing", "hourly_usd_per_gpu", "concurrency",
                    "capacity_tokens_per_month", "max_model_len")


def _estimate_arguments(p: argparse.ArgumentParser) -> None:
    add_workload_flags(p)
    deployment = p.add_argument_group("deployment")
    add_field_flags(deployment, DeploymentFields, (*DEPLOYMENT_FLAGS, *SERVER_FIELDS), required=("model",))
    add_exemption_flags(p)
    assumptions = add_assumption_flags(p)
    assumptions.add_argument("--clouds", help="the other GPU clouds to set the AWS GPU hours against: a comma-separated "
                             "list of lambda, runpod, nebius, vast, gcp, or all (default); the Pulumi program deploys AWS only")
    assumptions.add_argument("--factors", help="a factors file (breakeven calibrate): capacity with it beside the "
                             "published fit")
    output = p.add_argument_group("output")
    output.add_argument("--format", default="table", choices=FORMATS, help="the report's format (default table)")
    output.add_argument("--weights-source", choices=("huggingface", "s3"),
                        help="show the weights path as the program builds it (models[].weights.source): where each node "
                             "keeps the weights and what a replaced node's path costs (s3: the stack's S3 copy; "
                             "huggingface: the Hub through NAT)")


def _weights_path(args: argparse.Namespace, result):
    """The deployment's weights path for --weights-source (cost/physics/weights_path.py), or None without the flag."""
    from cost.catalog import checkpoints
    from cost.physics import weights_path

    if args.weights_source is None:
        return None
    d, plan = result.deployment, result.plan
    if plan.instance_type is None:
        raise InputError("--weights-source", args.weights_source, "a deployment on whole AWS instances (--instance, or a "
                         "--gpu sold on AWS without --hourly-usd): the weights path is the program's, on EKS nodes")
    found = checkpoints.known(d.model, d.precision)
    if found is None:
        raise InputError("--weights-source", args.weights_source,
                         f"a model and precision with a checkpoint in cost/data/checkpoints.yaml ({d.model}: "
                         f"{', '.join(checkpoints.precisions(d.model)) or 'none'})", "its size prices the copy and the window")
    return weights_path.plan(d.name or d.model.replace(".", "-"), found.bytes, plan.instance_type,
                             plan.replicas_per_instance, plan.nodes, args.weights_source)


def _estimate(args: argparse.Namespace) -> int:
    from cost.catalog.profiles import profile
    from cost.decide.advice import advise
    from cost.decide.sensitivity import sensitivity
    from cost.deployment import Deployment
    from cost.estimate import estimate
    from cost.physics import factors
    from cost.pricing.api_prices import load_price_book
    from cost.report import estimate_text, sensitivity_text, weights_text
    from cost.report_model import estimate_document, report_json, sensitivity_document

    set_by_profile = apply_profile(args)
    workload = workload_from(args)
    fields = {name: getattr(args, name) for name in (*DEPLOYMENT_FLAGS, *SERVER_FIELDS)}
    given = {k: v for k, v in fields.items() if v is not None or k == "replicas"}   # no --replicas: sized
    deployment = Deployment.build(**given, exemptions=exemptions_from(args))
    kwargs = dict(book=load_price_book(args.price_book), overheads=overheads_from(args), rates=rates_from(args),
                  providers=providers_from(args))
    if args.factors and args.weights_source:
        raise InputError("--weights-source", args.weights_source, "leave it out with --factors (the weights path is "
                         "shown beside the plain estimate)")
    if args.factors:   # a live calibration: priced with it, the published fit's capacity beside it
        from breakeven import calibrate

        measured = factors.load(args.factors)
        print(calibrate.side_by_side(estimate(deployment, workload, factors=measured, **kwargs),
                                     estimate(deployment, workload, **kwargs), measured, args.format, args.factors))
        return 0
    from cost.pricing.gpu_clouds import parse_clouds
    result = advise(estimate(deployment, workload, clouds=None if args.clouds in (None, "all") else parse_clouds(args.clouds),
                             **kwargs))
    band = sensitivity(deployment, workload, **kwargs)
    weights = _weights_path(args, result)   # before any output: a bad --weights-source prints nothing else
    prof: dict[str, Any] | None = None if args.profile is None else {"name": profile(args.profile).name, "set": set_by_profile,
                                                                     "source": profile(args.profile).source}
    if args.format == "json":
        out = estimate_document(result)
        out["profile"] = prof
        out["sensitivity"] = sensitivity_document(band)
        if weights is not None:
            out["weights"] = weights.to_dict()
        print(report_json(out))
        return 0
    md = args.format == "markdown"
    if prof:
        print(f"Profile {prof['name']} set: " + (", ".join(f"--{k} {v}" for k, v in prof["set"].items()) or "nothing (all given)")
              + f" [{prof['source']}]\n")
    _print_report(estimate_text(result, md) + "\n\n" + sensitivity_text(band, md)
                  + ("" if weights is None else "\n\n" + weights_text(weights, md)), args.format)
    return 0


def _calibration(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from cost.physics import calibration
    from cost.report import grid
    from cost.report_model import report_json

    rows, summary, regimes = calibration.calibration_rows(), calibration.summary(), calibration.regimes()
    fit_regimes = calibration.regimes(kinds=("fit",))
    if args.format == "json":
        print(report_json({"rows": [asdict(r) for r in rows], "summary": summary, "regimes": regimes,
                       "regimes_fit": fit_regimes, "validity": calibration.validity(),
                       "held_out_median_error": calibration.held_out_median_error()}))
        return 0
    md = args.format == "markdown"
    table = [[r.kind, r.engine, r.model, r.gpu_x_tp, r.precision, r.in_out, r.concurrency, f"{r.measured:,.0f}",
              f"{r.predicted:,.0f}", f"{r.ratio:.2f}", f"{r.error:.0%}"] for r in rows]
    _print_report(grid(["Kind", "Engine", "Model", "GPUs", "Precision", "In/Out", "Concurrency", "Measured tok/s",
                "Predicted", "Pred/meas", "Error"], table, md), args.format)
    print()
    for kind in ("fit", "validation"):
        s = summary[kind]
        print(f"{kind}: {s['rows']} vLLM rows, median error {s['median_error']:.1%}, max error {s['max_error']:.1%}")
    ub = summary["upper-bound"]
    print(f"upper-bound (TensorRT-LLM / MLPerf): {ub['rows']} rows, max predicted/measured {ub['max_ratio']:.2f} "
          f"({'vLLM prediction at or below every one' if ub['all_at_or_below'] else 'ABOVE an optimised engine somewhere'})")
    print()
    for kind, groups in (("validation", regimes), ("fit", fit_regimes)):
        print(f"{kind} rows by regime:")
        print(grid(["Dimension", "Regime", "Rows", "Median error", "Max error", "Median pred/meas"],
                   [[g["dimension"], g["regime"], str(g["rows"]), f"{g['median_error']:.1%}", f"{g['max_error']:.1%}",
                     f"{g['median_ratio']:.2f}"] for g in groups], md))
        print()
    print(f"Every estimate's capacity range comes from the held-out runs most like it (at least "
          f"{calibration.MIN_BAND_ROWS} of them; widened to the misses of the fit runs most like it; at least the held-out median error, "
          f"{calibration.held_out_median_error():.1%}, each side; the widest band outside the checked range; "
          f"V0 single-step engine runs excluded): cost/physics/calibration.py error_band")
    print("errors are max(pred/meas, meas/pred) - 1; factors: "
          + ", ".join(f"{k}={v:g}" for k, v in summary["factors"].items()))
    return 0


def _print_report(text: str, fmt: str) -> None:
    """Tables go through the terminal (colour where supported); markdown and JSON print verbatim."""
    if fmt == "table":
        from breakeven import term

        term.show(text)
    else:
        print(text)


def _seeds(args: argparse.Namespace) -> int:
    from cost.seeds import report

    print(report(), end="")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from cost import bench

    print(bench.run_optimize(args.seconds) if args.optimize else bench.run(args.seconds))
    return 0


def _preview(args: argparse.Namespace) -> int:
    from breakeven import term
    from infra.offline import preview

    usage_files = dict(u.split("=", 1) if "=" in u else ("", u) for u in args.usage)
    return preview.main(args.stack, args.format, args.compare_to, args.fail_on_increase, usage_files=usage_files,
                        show=term.show)


def _calibration_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="table", choices=FORMATS)


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=number(float, "--seconds"), default=2.0)
    p.add_argument("--optimize", action="store_true", help="time `breakeven optimize` over the full catalog instead")


def _preview_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", required=True, help="a stack in stacks/ (dev, prod, hybrid, ...)")
    p.add_argument("--format", default="table", choices=FORMATS)
    p.add_argument("--compare-to", help="a previous `preview --format json` output: show what changes against it")
    p.add_argument("--fail-on-increase", type=number(float, "--fail-on-increase"), metavar="PCT",
                   help="with --compare-to: exit 1 when the monthly total rises by more than PCT percent")
    p.add_argument("--usage", action="append", default=[], metavar="MODEL=FILE",
                   help="price a model on a measured usage file (breakeven observe --write-usage); repeatable")


def _no_arguments(p: argparse.ArgumentParser) -> None:
    """`seeds` takes none."""


# Every command, in the order `breakeven --help` lists them: its line there, and where its flags and its run are.
HELP = {
    "estimate": "price one self-hosted deployment against API spend",
    "calibration": "capacity model vs published vLLM measurements",
    "seeds": "what the source articles' figures imply physically (markdown)",
    "bench": "estimates per second, in-process, one core",
    "preview": "offline preview of a stack: resources, cost report, policies",
    "curve": "self-hosted cost at every volume against each API; breakeven volumes; a chart",
    "optimize": "search instance x TP x precision x capacity type for the cheapest configurations",
    "gpucheck": "capacity-model physics vs microbenchmarks measured on a GPU (scripts/gpu_probe.py)",
    "observe": "measure a running vLLM's tokens over a window and redo the economics",
    "calibrate": "sweep an endpoint's concurrency, measure tok/s, TTFT, TPOT; write a factors file",
    "up": "deploy a stack with `pulumi up` and the policy pack, after an offline check",
}
Arguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
# The commands defined here: (add its flags, run it).
LOCAL: dict[str, tuple[Arguments, Run]] = {
    "estimate": (_estimate_arguments, _estimate), "calibration": (_calibration_arguments, _calibration),
    "seeds": (_no_arguments, _seeds), "bench": (_bench_arguments, _bench), "preview": (_preview_arguments, _preview),
}
# The commands in a module of their own (its `add_arguments` and `run`), imported only when that command is run or its
# --help shown: `breakeven preview` imports none of them.
MODULES = {name: f"breakeven.{name}" for name in ("curve", "optimize", "gpucheck", "observe", "calibrate", "up")}


def command(name: str) -> tuple[Arguments, Run]:
    """A command's (add its flags, run it), importing its module if it has one."""
    if name in LOCAL:
        return LOCAL[name]
    module = importlib.import_module(MODULES[name])
    return module.add_arguments, module.run


def build_parser(flags_of: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; only those in `flags_of` (None: all) get their flags, so that a run imports
    only its own command's module. `breakeven --help` lists every command either way."""
    parser = OneLineParser(prog="breakeven", description="Self-host or API? Price it before you apply it.")
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = set(HELP if flags_of is None else flags_of)
    for name, line in HELP.items():
        p = sub.add_parser(name, help=line)
        if name in wanted:
            command(name)[0](p)
    return parser


def command_in(argv: list[str]) -> str | None:
    """The command a command line runs: its first word that is not an option (the top level takes only -h)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Entry point: the exit status. Bad input is 2 with a one-line message naming the key, the value and what is
    allowed, whether a flag's own type refuses it (argparse exits) or the command does."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser([name for name in (command_in(argv),) if name in HELP]).parse_args(argv)
    except SystemExit as done:   # --help, or a flag refused while parsing (the message is printed)
        return int(done.code or 0)
    try:
        return command(args.command)[1](args)
    except InputError as err:
        key = FLAG.get(err.key, err.key) if args.command in ("estimate", "optimize") else err.key
        err = InputError(key, err.value, err.allowed, err.detail)
        print(f"breakeven: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
