"""Flags `estimate` and `optimize` share: the workload, its profile, the exemptions and every cost assumption."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from cost import pydantic_errors
from cost.catalog.strictload import MAX_MAGNITUDE
from cost.deployment import DeploymentFields
from cost.errors import InputError
from cost.workload import WorkloadArgs, WorkloadFields


def _flags(model: type[BaseModel]) -> dict[str, str]:
    return {name: pydantic_errors.flag(model, name) for name in model.model_fields}


# cost field -> the flag that sets it, so errors name what the user typed: the models' flags, and the search's own.
FLAG = {**_flags(WorkloadArgs), **_flags(DeploymentFields), "profile": "--profile", "top": "--top",
        "price_book": "--price-book"}


def number(kind: type, flag: str, allowed: str | None = None):
    """An argparse type for a finite int or float flag: `nan`, `inf`, `1e400` and magnitudes beyond
    strictload.MAX_MAGNITUDE (1e18, so that nothing overflows later) are refused here, in the words `allowed`
    (by default: what any such number allows)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
            words = allowed or f"a {'whole' if kind is int else 'finite'} number of magnitude at most {MAX_MAGNITUDE:g}"
            raise argparse.ArgumentTypeError(f"{flag}: got {text!r}; allowed: {words}")
        return value
    return parse


def add_field_flags(p: argparse.ArgumentParser, model: type[BaseModel], names: tuple[str, ...],
                    required: tuple[str, ...] = (), as_text: tuple[str, ...] = ()) -> None:
    """One flag per named field of `model`: its flag, its help (the field's description), a type from its annotation
    (a switch for true/false, a number refused in the field's words, else text; `as_text` fields take text the model
    parses, such as 750M). Unset flags stay None, so the model's defaults apply."""
    for name in names:
        f = model.model_fields[name]
        bare, _ = pydantic_errors.unwrap(f.annotation)
        opt = pydantic_errors.flag(model, name)
        metavar = opt[2:].upper().replace("-", "_")
        if bare is bool:
            p.add_argument(opt, dest=name, action="store_true", help=f.description)
        elif bare in (int, float, Any) and name not in as_text:
            words = pydantic_errors.allowed(f.annotation, list(f.metadata))
            p.add_argument(opt, dest=name, metavar=metavar, type=number(int if bare is int else float, opt, words),
                           help=f.description)
        else:
            p.add_argument(opt, dest=name, metavar=metavar, required=name in required, help=f.description)


def gpu_memory_utilization(text: str) -> float:
    """--gpu-memory-utilization: a fraction in the range Deployment.build accepts, refused here with that range."""
    from cost.deployment import GPU_MEMORY_UTILIZATION_RANGE, check_gpu_memory_utilization

    try:
        return check_gpu_memory_utilization(number(float, "--gpu-memory-utilization")(text), "--gpu-memory-utilization")
    except (argparse.ArgumentTypeError, InputError):
        low, high = GPU_MEMORY_UTILIZATION_RANGE
        raise argparse.ArgumentTypeError(f"--gpu-memory-utilization: got {text!r}; allowed: a fraction from {low:g} to "
                                         f"{high:g} (vLLM --gpu-memory-utilization; default 0.9)") from None


def add_workload_flags(p: argparse.ArgumentParser, volume_help: str | None = None) -> None:
    """--profile, the volume and request shape, latency targets, vLLM's max_num_seqs, exemptions, price book.

    volume_help: makes --tokens-per-month optional with this help text (e.g. `curve`'s planned volume)."""
    from cost.catalog.profiles import profiles

    p.add_argument("--profile", help="workload defaults you can override: " + ", ".join(
        f"{name} ({prof.description})" for name, prof in profiles().items()))
    p.add_argument("--tokens-per-month", help=volume_help or "input + output tokens per month: 100M, 3.2B, 750000000")
    p.add_argument("--usage", metavar="FILE",
                   help="a usage file (breakeven observe --write-usage): the measured volume and request size instead "
                        "(refused when measured on another model)")
    p.set_defaults(volume_required=volume_help is None)
    add_field_flags(p, WorkloadFields, ("input_share", "avg_input_tokens", "avg_output_tokens", "utilization"))
    p.add_argument("--ttft-target-ms", type=number(float, "--ttft-target-ms"), help="time-to-first-token target (ms)")
    p.add_argument("--tpot-target-ms", type=number(float, "--tpot-target-ms"), help="time-per-output-token target (ms)")
    add_field_flags(p, WorkloadFields, ("prefix_cache_hit_rate",))
    add_field_flags(p, DeploymentFields, ("max_num_seqs",))
    p.add_argument("--gpu-memory-utilization", type=gpu_memory_utilization,
                   help="vLLM --gpu-memory-utilization: the share of each GPU's memory for weights, runtime and KV cache "
                        "(0.1 to 0.99; default 0.9)")
    p.add_argument("--batch-api-prices", action="store_true", default=None,
                   help="compare with the providers' batch API rates where they publish them")
    p.add_argument("--fine-tuned", action="store_true", help="exemption: custom weights (compared with offers serving them)")
    p.add_argument("--private-data", action="store_true",
                   help="exemption: data stays in your account (compared with in-account APIs such as Bedrock)")
    p.add_argument("--custom-inference", action="store_true", help="exemption: a modified inference pipeline")
    p.add_argument("--providers", help="comma-separated API providers you may use (e.g. aws,together); default: all")
    p.add_argument("--price-book", help="a shipped price book (seed-2025) or a YAML file")


def add_constraint_flags(p: argparse.ArgumentParser) -> None:
    """What the configuration search may choose from (optimize, curve)."""
    p.add_argument("--precision", help="comma-separated precisions to allow (default: bf16, fp8, int4-awq)")
    p.add_argument("--pricing", help="comma-separated capacity types to allow: on-demand (default, as estimate), spot (never with "
                        "--production), reserved-1y, reserved-3y")
    p.add_argument("--gpu", help="comma-separated GPUs to allow (default: every catalog GPU)")
    p.add_argument("--instance", help="comma-separated instance types to allow (default: the whole catalog)")
    p.add_argument("--redundancy", type=number(int, "--redundancy"), default=0,
                   help="failover replicas, each on a node of its own (N+1 = 1)")
    p.add_argument("--zones", type=number(int, "--zones"),
                   help="availability zones the nodes span (default: 2 with --production, else 1)")
    p.add_argument("--production", action="store_true", help="production: failover in another zone (--zones 2 or more)")
    p.add_argument("--max-model-len", type=number(int, "--max-model-len"))
    p.add_argument("--clouds", help="where to price GPUs: aws (default), a comma-separated list of aws, lambda, runpod, "
                                    "nebius, vast, gcp, or all (cost/data/gpu-clouds.yaml; the Pulumi program deploys AWS only)")


def named_flags(run, flags: tuple[str, ...]):
    """`run`, with an InputError about one of `flags` re-keyed to the flag the user typed (--kebab-case)."""
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except InputError as e:
            key = e.key.replace("_", "-")
            if key in flags:
                raise InputError("--" + key, e.value, e.allowed, e.detail) from None
            raise
    return wrapped


def add_assumption_flags(p: argparse.ArgumentParser) -> None:
    """Every cost assumption as a flag (defaults: cost/data/assumptions.yaml)."""
    p.add_argument("--overheads", default="default", choices=["default", "none"])
    p.add_argument("--fte", type=number(float, "--fte"), help="MLOps staff in FTE (default 0.25)")
    p.add_argument("--usd-per-fte-month", type=number(float, "--usd-per-fte-month"), help="default 12000")
    p.add_argument("--ops-tax", type=number(float, "--ops-tax"), help="share of infrastructure added as ops tax (default 0.15)")
    p.add_argument("--monitoring-usd", type=number(float, "--monitoring-usd"), help="monitoring USD/month (default 200)")
    p.add_argument("--reserved-discount", help="discount off on-demand for reserved capacity: 0.35 (both terms) or 1y=0.3,3y=0.5")
    p.add_argument("--spot-price", help="where in the zones' spot range spot is priced: low, mid (default), high or 0..1")


def apply_profile(args: argparse.Namespace) -> dict:
    """Fill what the user left out from --profile; returns what the profile set (flag -> value)."""
    from cost.catalog.profiles import apply

    keys = ("avg-input-tokens", "avg-output-tokens", "tpot-target-ms", "ttft-target-ms", "max-num-seqs", "pricing",
            "batch-api-prices")
    given = {k: getattr(args, k.replace("-", "_"), None) for k in keys}
    values, filled = apply(args.profile, given)
    for k in keys:
        if hasattr(args, k.replace("-", "_")):
            setattr(args, k.replace("-", "_"), values[k])
    return {k: v for k, v in filled.items() if hasattr(args, k.replace("-", "_"))}


def apply_search_profile(args: argparse.Namespace) -> tuple[tuple[str, ...] | None, dict]:
    """`apply_profile` for the searches (optimize, curve). Returns (the capacity types to search, what the profile set).

    The capacity types are --pricing as given (comma-separated), else the profile's (batch: spot), else None:
    on-demand, as `estimate` prices by default. A production search never takes spot from a profile
    (asked for with --pricing, the search refuses it)."""
    asked = args.pricing
    set_by_profile = apply_profile(args)
    if asked is None and getattr(args, "production", False) and args.pricing == "spot":
        set_by_profile.pop("pricing", None)
        args.pricing = None
    pricings = None if not args.pricing else tuple(x.strip() for x in args.pricing.split(",") if x.strip())
    return pricings or None, set_by_profile


def zones_from(args: argparse.Namespace) -> int:
    """--zones as given, else what the search needs: two for --production (failover in another zone), else one."""
    return args.zones if args.zones is not None else (2 if args.production else 1)


def workload_from(args: argparse.Namespace):
    """The declared workload, or with --usage FILE the measured one in its place (targets and plan kept)."""
    from cost import usage
    from cost.errors import InputError
    from cost.units import parse_tokens
    from cost.workload import Workload

    if args.tokens_per_month is None and args.usage is None and getattr(args, "volume_required", True):
        raise InputError("--tokens-per-month", None, "a monthly volume such as 100M or 3.2B, or --usage FILE")
    return usage.apply(Workload.build(
        parse_tokens(args.tokens_per_month or 0, "--tokens-per-month"),
        input_share=args.input_share, avg_input_tokens=args.avg_input_tokens, avg_output_tokens=args.avg_output_tokens,
        utilization=args.utilization,
        ttft_target_s=None if args.ttft_target_ms is None else args.ttft_target_ms / 1000,
        tpot_target_s=None if args.tpot_target_ms is None else args.tpot_target_ms / 1000,
        batch=bool(args.batch_api_prices), prefix_cache_hit_rate=args.prefix_cache_hit_rate,
    ), args.usage, getattr(args, "model", None))


def exemptions_from(args: argparse.Namespace):
    from cost.deployment import Exemptions

    return Exemptions(args.fine_tuned, args.private_data, args.custom_inference)


def providers_from(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The --providers allow-list; a name no API offer carries is refused (a typo would compare with nothing)."""
    from cost.pricing.api_prices import load_price_book, provider_ids

    if args.providers is None:
        return None
    names = tuple(p.strip() for p in args.providers.split(","))
    known = provider_ids(load_price_book(args.price_book))
    for name in names:
        if name not in known:
            raise InputError("--providers", name, "comma-separated provider ids: " + ", ".join(known))
    return names


def overheads_from(args: argparse.Namespace):
    from cost.pricing.tco import Overheads

    o = Overheads.none() if args.overheads == "none" else Overheads()
    for flag, field, cap in (("--fte", "mlops_fte", None), ("--usd-per-fte-month", "usd_per_fte_month", None),
                             ("--ops-tax", "ops_tax_share", 1.0), ("--monitoring-usd", "monitoring_usd_per_month", None)):
        val = getattr(args, flag[2:].replace("-", "_"))
        if val is None:
            continue
        if val < 0 or (cap is not None and val > cap):
            raise InputError(flag, val, "a fraction in [0, 1]" if cap else "a non-negative number")
        o = replace(o, **{field: val})
    return o


def rates_from(args: argparse.Namespace):
    from cost.pricing.nodes import Rates

    r = Rates()
    if args.reserved_discount:
        text = args.reserved_discount.strip()
        allowed = "a discount in [0, 0.95] such as 0.35 (both terms), or 1y=0.3,3y=0.5"
        try:
            if "=" in text:
                parts = dict(item.split("=", 1) for item in text.split(","))
                unknown = set(parts) - {"1y", "3y"}
                if unknown:
                    raise InputError("--reserved-discount", args.reserved_discount, allowed)
                r = replace(r, **{f"reserved_{k}": float(v) for k, v in parts.items()})
            else:
                r = replace(r, reserved_1y=float(text), reserved_3y=float(text))
        except (ValueError, InputError):
            raise InputError("--reserved-discount", args.reserved_discount, allowed) from None
    if args.spot_price:
        points = {"low": 0.0, "mid": 0.5, "high": 1.0}
        try:
            pos = points[args.spot_price] if args.spot_price in points else float(args.spot_price)
            r = replace(r, spot_position=pos)
        except (ValueError, InputError):
            raise InputError("--spot-price", args.spot_price, "low, mid, high or a fraction 0..1 of the zones' spot range") from None
    return r
