"""`breakeven observe`: measured token volumes from a running vLLM, and the economics redone with them."""

from __future__ import annotations

import argparse
import sys

from breakeven.workload_flags import add_field_flags, named_flags, number
from cost.deployment import DeploymentFields
from cost.report import FORMATS, grid
from cost.report_model import report_json
from cost.workload import WorkloadArgs

MIN_WINDOW = "15m"     # shorter than this, a month extrapolated from the window gets a warning
VOLUME_GAP = 2.0       # measured/declared volume beyond this factor (either way) gets a warning
TO_PRICE = "--model with --gpu or --instance (as in estimate), or --stack with --model-name"
# The deployment's fields observe takes as flags (cost.deployment.DeploymentFields; unset: the model's defaults).
OBSERVED = ("model", "gpu", "instance_type", "gpus_per_replica", "replicas", "precision", "pricing")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `breakeven observe`: where the running vLLM is (endpoint, pods or Prometheus), the window, the
    deployment it is (flags or a stack's model), the usage file and the format."""
    src = p.add_argument_group("where the metrics come from (one of)")
    src.add_argument("--endpoint", action="append", default=[], help="vLLM base URL (repeatable); scrapes URL/metrics")
    src.add_argument("--namespace", help="Kubernetes namespace of the deployment's pods (with --selector)")
    src.add_argument("--selector", help="label selector of the pods, e.g. app.kubernetes.io/instance=llama")
    src.add_argument("--port", type=number(int, "--port"), help="pod port serving /metrics (default: the container port named http, else 8000)")
    src.add_argument("--prometheus", help="Prometheus server URL; asks PromQL increase() over the window")
    src.add_argument("--match", default="", help='PromQL label matchers with --prometheus, e.g. namespace="llm"')
    p.add_argument("--window", default="60s", help="how long to watch (6s, 5m, 1h)")
    p.add_argument("--min-window", default=MIN_WINDOW,
                   help=f"a shorter window is reported with a warning: too short to extrapolate to a month (default {MIN_WINDOW})")
    p.add_argument("--samples", type=number(int, "--samples"), default=2, help="scrapes across the window (resets between them are detected)")
    dep = p.add_argument_group("the deployment, to price what was measured (as in estimate)")
    add_field_flags(dep, DeploymentFields, OBSERVED,
                    helps={"replicas": "serving replicas running (default 1: one is measured unless you say more)"})
    add_field_flags(dep, WorkloadArgs, ("tokens_per_month",),
                    helps={"tokens_per_month": "the declared volume, to say whether the verdict changes: 100M, 3.2B"})
    dep.add_argument("--stack", help="a stack in stacks/: its model's deployment and declared workload")
    dep.add_argument("--model-name", help="the stack's model (breakeven:models[].name) with --stack")
    p.add_argument("--factors", help="a factors file (breakeven calibrate) instead of the published fit")
    p.add_argument("--write-usage", metavar="FILE", help="write the measured workload as a usage file")
    p.add_argument("--format", default="table", choices=FORMATS)


def _source(args: argparse.Namespace):
    from cost.errors import InputError
    from measure import sources

    given = [bool(args.endpoint), bool(args.selector or args.namespace), bool(args.prometheus)]
    if sum(given) != 1:
        raise InputError("endpoint", args.endpoint or None,
                         "exactly one source: --endpoint URL (repeatable), --namespace with --selector, or --prometheus URL")
    if args.endpoint:
        return sources.EndpointSource(args.endpoint)
    if args.prometheus:
        return sources.PrometheusSource(args.prometheus, args.match)
    if not args.namespace:
        raise InputError("namespace", None, "the namespace of the pods --selector picks")
    return sources.KubeSource(args.namespace, args.selector or "", port=args.port)


def _deployment(args: argparse.Namespace):
    """(Deployment or None, declared Workload or None, price book, model id or None) from flags or a stack.
    Without a deployment (no --model, or no --gpu/--instance) the measurements are reported unpriced."""
    from cost import catalog
    from cost.deployment import Deployment
    from cost.errors import InputError
    from cost.pricing.api_prices import load_price_book
    from cost.workload import Workload

    if args.stack:
        from infra.config import spec as spec_mod
        from infra.config import stackconfig

        cfg = stackconfig.load(args.stack)
        spec = spec_mod.load({k: ("[secret]" if k in cfg.secret_keys else v) for k, v in cfg.values.items()},
                             project=cfg.project, stack=args.stack)
        names = [m.name for m in spec.models]
        if args.model_name not in names:
            raise InputError("model-name", args.model_name, ", ".join(names))
        from infra.placement import place

        book = load_price_book(spec.pricing.price_book)
        placed = place(spec, book).model(args.model_name)   # the deployment as the program places it (replicas sized)
        return placed.deployment, placed.model.workload, book, placed.deployment.model
    declared = Workload.build(args.tokens_per_month) if args.tokens_per_month is not None else None
    model = catalog.model(args.model, "model").id if args.model else None
    if model is None or not (args.gpu or args.instance_type):
        return None, declared, None, model
    given = {name: getattr(args, name) for name in OBSERVED[1:] if getattr(args, name) is not None}
    return Deployment.build(model=model, **given), declared, None, model


FLAGS = ("endpoint", "namespace", "selector", "prometheus", "window", "min-window", "samples", "model-name", "tokens-per-month", "model", "gpu", "instance", "gpus", "replicas", "precision", "pricing", "factors")


def _run(args: argparse.Namespace) -> int:
    """Watch the source over the window, print the observation and (with a deployment) its economics."""
    from cost.physics import factors as factors_mod
    from measure import observe

    window = observe.parse_duration(args.window)
    min_window = observe.parse_duration(args.min_window, "min-window")
    source = _source(args)
    deployment, declared, book, model = _deployment(args)   # bad deployment flags fail before the window is spent
    factors = factors_mod.load(args.factors) if args.factors else None
    if args.prometheus:
        obs = observe.from_prometheus(source, window)
    else:
        progress = (lambda s: print(f"observe: {s}", file=sys.stderr)) if args.format == "table" else None
        obs = observe.watch(source, window, args.samples, progress=progress)
    doc = obs.to_dict()
    econ = observe.economics(obs, deployment, declared, book=book, factors=factors) if deployment else None
    doc["utilization"] = econ["utilization"] if econ else None
    doc["verdict"] = econ["verdict"] if econ else None
    doc["economics"] = econ
    doc["priced"] = econ is not None
    doc["to_price"] = None if econ else f"measurements only: give {TO_PRICE} to price them"
    doc["min_window_s"] = min_window
    doc["declared"] = _declared(obs, declared)
    doc["warnings"] = _warnings(obs, min_window, doc["declared"])
    model = _measured_model(model, obs.served_models)
    if args.write_usage:
        obs.usage(model, declared).save(args.write_usage)
        doc["usage_file"] = args.write_usage
    if args.format == "json":
        print(report_json(doc))
        return 0
    print(_table(doc, args.format == "markdown"))
    return 0


def _times(factor: float) -> str:
    """A ratio as people read it: 62x, 3.5x, 0.25x."""
    return f"{factor:,.0f}x" if factor >= 10 else f"{factor:.2g}x"


def _declared(obs, declared) -> dict | None:
    """The declared volume beside the measured one, and the factor between them (None: nothing declared)."""
    if declared is None or declared.tokens_per_month <= 0:
        return None
    return {"tokens_per_month": declared.tokens_per_month, "measured_tokens_per_month": obs.tokens_per_month,
            "measured_to_declared": obs.tokens_per_month / declared.tokens_per_month}


def _measured_model(model: str | None, served: tuple[str, ...]) -> str | None:
    """The model the measurements are of (what a usage file records, so that it is refused for another model): the
    given one, checked against the model the endpoint serves (vLLM's model_name label) where that name is in the
    catalog; without one, the endpoint's when it serves exactly one."""
    from cost import catalog
    from cost.errors import InputError

    known = {}
    for name in served:
        try:
            known[name] = catalog.model(name).id
        except InputError:
            pass   # a --served-model-name alias the catalog does not know says nothing either way
    if model is not None and known and model not in known.values():
        raise InputError("model", model, f"the model the endpoint serves ({', '.join(served)})",
                         "the measurements are of another model than the one priced")
    if model is None and len(served) == 1:
        return known.get(served[0], served[0])
    return model


def _warnings(obs, min_window: float, declared: dict | None) -> list[str]:
    """What makes the extrapolated month unsafe to act on: a short window, a volume far from the declared one,
    no finished request."""
    from cost.units import format_tokens
    from measure.observe import seconds_per_month

    out = []
    if obs.window_s < min_window:
        out.append(f"the window of {obs.window_s:,.1f} s is shorter than the {min_window:,.0f} s (--min-window) a month can be "
                   f"extrapolated from: {format_tokens(obs.tokens_per_month)} tokens/month is the window's rate times "
                   f"{seconds_per_month() / obs.window_s:,.0f}; watch longer (--window) before acting on it")
    if declared is not None:
        factor = declared["measured_to_declared"]
        if factor > VOLUME_GAP or factor < 1 / VOLUME_GAP:
            out.append(f"the measured volume is {_times(factor)} the declared {format_tokens(declared['tokens_per_month'])} "
                       f"tokens/month: the deployment was sized and priced for the declared one; re-price it on the measured "
                       "workload (--write-usage FILE, then estimate --usage FILE)")
    if obs.requests < 1:
        out.append("no request finished in the window: the request size is the declared one, not a measurement")
    return out


def _resets(resets: list[dict]) -> str:
    """How many counter resets, and in which metrics (the JSON lists each series and when)."""
    if not resets:
        return "none"
    by: dict[str, int] = {}
    for r in resets:
        by[r["metric"]] = by.get(r["metric"], 0) + r.get("count", 1)
    return f"{sum(by.values())}: " + ", ".join(f"{m} x{n}" for m, n in by.items()) + " (handled like increase())"


def _table(doc: dict, md: bool) -> str:
    from cost.units import format_tokens, format_usd

    rows = [["window", f"{doc['window_s']:.1f} s ({doc['samples']} samples)" if doc["samples"] else f"{doc['window_s']:.0f} s"],
            ["input tokens", f"{doc['input_tokens']:,.0f} ({doc['input_tokens_per_s']:,.2f}/s)"],
            ["output tokens", f"{doc['output_tokens']:,.0f} ({doc['output_tokens_per_s']:,.2f}/s)"],
            ["requests finished", f"{doc['requests']:,.0f}"],
            ["tokens/month (extrapolated)", format_tokens(doc["tokens_per_month"])],
            *([["declared vs measured", f"{format_tokens(doc['declared']['tokens_per_month'])} declared, "
                f"{format_tokens(doc['tokens_per_month'])} measured ({_times(doc['declared']['measured_to_declared'])})"]]
              if doc["declared"] else []),
            ["running requests (mean / max)", f"{doc['running']['mean']:.1f} / {doc['running']['max']:.0f}"],
            ["waiting requests (mean / max)", f"{doc['waiting']['mean']:.1f} / {doc['waiting']['max']:.0f}"],
            ["KV cache usage (mean / max)", f"{doc['kv_cache_usage']['mean']:.1%} / {doc['kv_cache_usage']['max']:.1%}"],
            ["counter resets", _resets(doc["resets"])]]
    e = doc["economics"]
    if e:
        d = e["deployment"]
        rows += [["deployment", f"{d['replicas']} x {d['gpus_per_replica']} {d['gpu']} {d['model']} {d['precision']} ({d['pricing']})"],
                 ["modelled capacity", f"{e['modelled_capacity_tokens_per_s']:,.0f} tokens/s"],
                 ["measured utilization", f"{e['utilization']:.1%}"],
                 ["self-hosted cost", f"{format_usd(e['monthly_usd'])}/month"],
                 ["measured $/1M tokens", "-" if e["measured_usd_per_mtok"] is None else format_usd(e["measured_usd_per_mtok"])]]
        rows += [[f"  API {a['id']}", f"{format_usd(a['usd_per_mtok'])}/1M, {format_usd(a['monthly_usd'])}/month"] for a in e["apis"]]
        rows.append(["verdict (measured)", e["verdict"]["choice"]])
        if e["declared_verdict"]:
            rows.append(["verdict (declared)", e["declared_verdict"]["choice"]
                         + (" — CHANGES with the measured workload" if e["verdict_changes"] else " — unchanged")
                         + (f" at {_times(doc['declared']['measured_to_declared'])} the declared volume" if doc["declared"] else "")])
    if md:
        out = grid(["Observed", doc["source"]], rows, md)
    else:
        width = max(len(r[0]) for r in rows)
        out = "\n".join([f"Observed: {doc['source']}"] + [f"  {k.ljust(width)}  {v}" for k, v in rows])
    if e:
        out += "\n" + "\n".join(f"  - {r}" for r in e["verdict"]["reasons"])
    else:
        out += f"\nnot priced: {doc['to_price']}"
    out += "".join(f"\nWARNING: {w}" for w in doc["warnings"])
    if doc.get("usage_file"):
        out += f"\nusage file written: {doc['usage_file']}"
    return out


run = named_flags(_run, FLAGS)
