"""`breakeven observe`: measured token volumes from a running vLLM, and the economics redone with them."""

from __future__ import annotations

import argparse
import json
import sys

from breakeven.workload_flags import named_flags, number
from cost.report import FORMATS, grid


def add_parser(sub) -> None:
    p = sub.add_parser("observe", help="measure a running vLLM's tokens over a window and redo the economics")
    src = p.add_argument_group("where the metrics come from (one of)")
    src.add_argument("--endpoint", action="append", default=[], help="vLLM base URL (repeatable); scrapes URL/metrics")
    src.add_argument("--namespace", help="Kubernetes namespace of the deployment's pods (with --selector)")
    src.add_argument("--selector", help="label selector of the pods, e.g. app.kubernetes.io/instance=llama")
    src.add_argument("--port", type=number(int, "--port"), help="pod port serving /metrics (default: the container port named http, else 8000)")
    src.add_argument("--prometheus", help="Prometheus server URL; asks PromQL increase() over the window")
    src.add_argument("--match", default="", help='PromQL label matchers with --prometheus, e.g. namespace="llm"')
    p.add_argument("--window", default="60s", help="how long to watch (6s, 5m, 1h)")
    p.add_argument("--samples", type=number(int, "--samples"), default=2, help="scrapes across the window (resets between them are detected)")
    dep = p.add_argument_group("the deployment, to price what was measured (as in estimate)")
    dep.add_argument("--model", help="catalog model id or Hugging Face name")
    dep.add_argument("--gpu")
    dep.add_argument("--instance")
    dep.add_argument("--gpus", type=number(int, "--gpus"), default=1, help="GPUs per replica")
    dep.add_argument("--replicas", type=number(int, "--replicas"), default=1)
    dep.add_argument("--precision", default="bf16")
    dep.add_argument("--pricing", default="on-demand")
    dep.add_argument("--tokens-per-month", help="the declared volume, to say whether the verdict changes")
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
    """(Deployment, declared Workload or None, price book) from flags or a stack; (None, None, None) without a model."""
    from cost.api_prices import load_price_book
    from cost.deployment import Deployment
    from cost.errors import InputError
    from cost.units import parse_tokens
    from cost.workload import Workload

    if args.stack:
        from infra import spec as spec_mod
        from infra import stackconfig

        cfg = stackconfig.load(args.stack)
        spec = spec_mod.load({k: ("[secret]" if k in cfg.secret_keys else v) for k, v in cfg.values.items()},
                             project=cfg.project, stack=args.stack)
        names = [m.name for m in spec.models]
        if args.model_name not in names:
            raise InputError("model-name", args.model_name, ", ".join(names))
        ms = spec.model(args.model_name)
        book = load_price_book(spec.pricing.price_book)
        return ms.deployment, ms.workload, book
    if not args.model:
        return None, None, None
    d = Deployment.build(model=args.model, gpu=args.gpu, instance_type=args.instance, gpus_per_replica=args.gpus,
                         replicas=args.replicas, precision=args.precision, pricing=args.pricing)
    declared = Workload.build(parse_tokens(args.tokens_per_month, "tokens-per-month")) if args.tokens_per_month else None
    return d, declared, None


FLAGS = ("endpoint", "namespace", "selector", "prometheus", "window", "samples", "model-name", "tokens-per-month", "model", "gpu", "instance", "gpus", "replicas", "precision", "pricing", "factors")


def _run(args: argparse.Namespace) -> int:
    """Watch the source over the window, print the observation and (with a deployment) its economics."""
    from cost import factors as factors_mod
    from measure import observe

    window = observe.parse_duration(args.window)
    source = _source(args)
    deployment, declared, book = _deployment(args)          # bad deployment flags fail before the window is spent
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
    if args.write_usage:
        obs.usage(deployment.model if deployment else None, declared).save(args.write_usage)
        doc["usage_file"] = args.write_usage
    if args.format == "json":
        print(json.dumps(doc, indent=2, allow_nan=False))
        return 0
    print(_table(doc, args.format == "markdown"))
    return 0


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
                         + (" — CHANGES with the measured workload" if e["verdict_changes"] else " — unchanged")])
    if md:
        out = grid(["Observed", doc["source"]], rows, md)
    else:
        width = max(len(r[0]) for r in rows)
        out = "\n".join([f"Observed: {doc['source']}"] + [f"  {k.ljust(width)}  {v}" for k, v in rows])
    if e:
        out += "\n" + "\n".join(f"  - {r}" for r in e["verdict"]["reasons"])
    if doc.get("usage_file"):
        out += f"\nusage file written: {doc['usage_file']}"
    return out


run = named_flags(_run, FLAGS)
