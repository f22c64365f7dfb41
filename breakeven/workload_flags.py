"""Flags `estimate`, `optimize` and `curve` share: the workload, vLLM's settings, the exemptions and every cost
assumption, in --help's groups. A flag that sets a field of a cost model (the workload, the deployment, the
exemptions, the overheads) is made from that field by `add_field_flags`: its name, help, type and refusal words;
the latency targets are the milliseconds fields a stack file states too (cost.workload.WorkloadFieldsMs)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from cost import pydantic_errors
from cost.catalog.strictload import MAX_MAGNITUDE
from cost.deployment import DeploymentFields, ExemptionsFields
from cost.economics_model import OverheadsValue
from cost.errors import InputError
from cost.pricing.nodes import RatesFields
from cost.pydantic_errors import FromText
from cost.workload import WorkloadArgs, WorkloadFieldsMs

if TYPE_CHECKING:
    from cost.decide.optimize import Constraints


def _flags(model: type[BaseModel]) -> dict[str, str]:
    return {name: pydantic_errors.flag(model, name) for name in model.model_fields}


# cost field -> the flag that sets it, so errors name what the user typed: the models' flags, and the search's own.
FLAG = {**_flags(WorkloadArgs), **_flags(WorkloadFieldsMs), **_flags(DeploymentFields), **_flags(ExemptionsFields),
        **_flags(OverheadsValue), **_flags(RatesFields), "profile": "--profile", "top": "--top", "price_book": "--price-book"}
# The fields each group of flags sets, in --help's order (the flag, type, help and refusal come from the field).
WORKLOAD_FIELDS = ("input_share", "avg_input_tokens", "avg_output_tokens", "utilization", "ttft_target_ms",
                   "tpot_target_ms", "prefix_cache_hit_rate")
SERVER_FIELDS = ("max_num_seqs", "gpu_memory_utilization")   # vLLM's settings: a deployment's, and every candidate's
OVERHEAD_FIELDS = ("mlops_fte", "usd_per_fte_month", "ops_tax_share", "monitoring_usd_per_month", "storage_gib_per_node",
                   "storage_usd_per_gib_month")
# What a profile fills (cost/data/profiles.yaml keys are these fields' flags without the dashes).
PROFILE_FIELDS = ("avg_input_tokens", "avg_output_tokens", "tpot_target_ms", "ttft_target_ms", "max_num_seqs", "pricing",
                  "batch")


def number(kind: type, flag: str, allowed: str | None = None) -> Callable[[str], Any]:
    """An argparse type for a finite int or float flag: `nan`, `inf`, `1e400` and magnitudes beyond
    strictload.MAX_MAGNITUDE (1e18, so that nothing overflows later) are refused here, in the words `allowed`
    (by default: what any such number allows)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
            words = allowed or f"a {'whole' if kind is int else 'finite'} number of magnitude at most {MAX_MAGNITUDE:g}"
            raise argparse.ArgumentTypeError(f"{flag}: got {text!r}; allowed: {words}")
        return value
    return parse


def field_type(model: type[BaseModel], name: str) -> Callable[[str], Any]:
    """An argparse type for one field of `model`: the text read as a number where the field holds one (unless it
    parses text itself, `FromText`: 750M), then validated by the field alone (its bounds and validators), so a bad
    value is refused before anything runs, naming the flag, the value and the field's words."""
    f = model.model_fields[name]
    bare, meta = pydantic_errors.unwrap(f.annotation)
    opt = pydantic_errors.flag(model, name)
    read: Any = str
    if bare in (int, float, Any) and not any(isinstance(m, FromText) for m in meta + list(f.metadata)):
        read = number(int if bare is int else float, opt, pydantic_errors.allowed(f.annotation, list(f.metadata)))

    def parse(text: str) -> Any:
        try:
            return pydantic_errors.check_field(model, name, read(text))
        except InputError as e:
            raise argparse.ArgumentTypeError(str(InputError(opt, e.value, e.allowed, e.detail))) from None
    return parse


def add_field_flags(p: argparse.ArgumentParser | argparse._ArgumentGroup, model: type[BaseModel], names: tuple[str, ...],
                    required: tuple[str, ...] = (), helps: dict[str, str] | None = None,
                    defaults: object = None) -> None:
    """One flag per named field of `model`: its flag (`pydantic_errors.flag`), its help (the field's description, or
    `helps[name]`; with `defaults`, an object holding the default of fields whose model leaves them unset, the
    default appended), a switch for true/false, else a value `field_type` reads and validates. Unset flags stay
    None (a switch too), so the model's defaults apply; dest is the field's name."""
    for name in names:
        f = model.model_fields[name]
        bare, _ = pydantic_errors.unwrap(f.annotation)
        opt = pydantic_errors.flag(model, name)
        text = (helps or {}).get(name) or f.description
        if defaults is not None:
            text = f"{text} (default {getattr(defaults, name):g})"
        if bare is bool:
            p.add_argument(opt, dest=name, action="store_true", default=None, help=text)
        else:
            p.add_argument(opt, dest=name, metavar=opt[2:].upper().replace("-", "_"), type=field_type(model, name),
                           required=name in required, help=text)


def add_workload_flags(p: argparse.ArgumentParser, volume_help: str | None = None) -> None:
    """The workload group: --profile, the volume (or --usage), the request shape, latency targets (ms), the prefix
    cache, batch rates (cost.workload's fields).

    volume_help: makes --tokens-per-month optional with this help text (e.g. `curve`'s planned volume)."""
    from cost.catalog.profiles import profiles

    g = p.add_argument_group("workload", "--profile fills what you leave out (cost/data/profiles.yaml)")
    g.add_argument("--profile", help="workload defaults you can override: " + ", ".join(
        f"{name} ({prof.description})" for name, prof in profiles().items()))
    add_field_flags(g, WorkloadArgs, ("tokens_per_month",), helps={"tokens_per_month": volume_help or ""})
    g.add_argument("--usage", metavar="FILE",
                   help="a usage file (breakeven observe --write-usage): the measured volume and request size instead "
                        "(refused when measured on another model)")
    p.set_defaults(volume_required=volume_help is None)
    add_field_flags(g, WorkloadFieldsMs, WORKLOAD_FIELDS)
    add_field_flags(g, WorkloadArgs, ("batch",))


def add_exemption_flags(p: argparse.ArgumentParser) -> None:
    """The exemptions group (cost.deployment.ExemptionsFields): a deployment's, or every candidate's in a search."""
    g = p.add_argument_group("exemptions", "the seeds' reasons to self-host, each narrowing what is compared: "
                             "fine-tuned, offers serving custom weights; private data, APIs inside your account; custom "
                             "inference, nothing")
    add_field_flags(g, ExemptionsFields, tuple(ExemptionsFields.model_fields))


def add_constraint_flags(p: argparse.ArgumentParser) -> None:
    """The deployment group of the searches (optimize, curve): the model, what the search may choose from, vLLM's
    settings every candidate uses, the exemptions."""
    g = p.add_argument_group("deployment", "what the search may choose from, and vLLM's settings every candidate uses")
    add_field_flags(g, DeploymentFields, ("model",), required=("model",))
    g.add_argument("--precision", help="comma-separated precisions to allow (default: bf16, fp8, int4-awq)")
    g.add_argument("--pricing", help="comma-separated capacity types to allow: on-demand (default, as estimate), spot "
                                     "(never with --production), reserved-1y, reserved-3y")
    g.add_argument("--gpu", help="comma-separated GPUs to allow (default: every catalog GPU)")
    g.add_argument("--instance", help="comma-separated instance types to allow (default: the whole catalog)")
    g.add_argument("--clouds", help="where to price GPUs: aws (default), a comma-separated list of aws, lambda, runpod, "
                                    "nebius, vast, gcp, or all (cost/data/gpu-clouds.yaml; the Pulumi program deploys AWS only)")
    add_field_flags(g, DeploymentFields, ("redundancy", "zones"))
    g.add_argument("--production", action="store_true", help="production: failover in another zone (--zones 2 or more)")
    add_field_flags(g, DeploymentFields, ("max_model_len", *SERVER_FIELDS))
    add_exemption_flags(p)


def named_flags(run, flags: tuple[str, ...]):
    """`run`, with an InputError about one of `flags` re-keyed to the flag the user typed: a cost field's flag
    (FLAG: gpus_per_replica is --gpus), else the key in --kebab-case."""
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except InputError as e:
            key = FLAG.get(e.key, "--" + e.key.replace("_", "-"))
            if key[2:] in flags:
                raise InputError(key, e.value, e.allowed, e.detail) from None
            raise
    return wrapped


def add_assumption_flags(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The assumptions group: what is compared (price book, providers) and every cost assumption (defaults:
    cost/data/assumptions.yaml; the overheads are the economics value's fields). Returns the group for a command's own."""
    from cost.pricing.tco import Overheads

    g = p.add_argument_group("assumptions", "what is compared, and the cost assumptions (defaults: "
                                            "cost/data/assumptions.yaml)")
    g.add_argument("--price-book", help="a shipped price book (seed-2025) or a YAML file")
    g.add_argument("--providers", help="comma-separated API providers you may use (e.g. aws,together); default: all")
    g.add_argument("--overheads", default="default", choices=["default", "none"],
                   help="none: GPU hours only (no storage, ops tax, staff or monitoring), before the flags below")
    add_field_flags(g, OverheadsValue, OVERHEAD_FIELDS, defaults=Overheads())
    add_field_flags(g, RatesFields, tuple(RatesFields.model_fields))
    return g


def apply_profile(args: argparse.Namespace) -> dict:
    """Fill what the user left out from --profile; returns what the profile set (flag without dashes -> value)."""
    from cost.catalog.profiles import apply

    fields = {FLAG[name][2:]: name for name in PROFILE_FIELDS if hasattr(args, name)}   # profile key -> dest
    values, filled = apply(args.profile, {key: getattr(args, name) for key, name in fields.items()})
    for key, name in fields.items():
        setattr(args, name, values[key])
    return {k: v for k, v in filled.items() if k in fields}


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
    from cost.workload import Workload, seconds

    if args.tokens_per_month is None and args.usage is None and getattr(args, "volume_required", True):
        raise InputError("--tokens-per-month", None, "a monthly volume such as 100M or 3.2B, or --usage FILE")
    shape = {name: getattr(args, name) for name in WORKLOAD_FIELDS if not name.endswith("_target_ms")}
    return usage.apply(Workload.build(
        args.tokens_per_month or 0, **shape, ttft_target_s=seconds(args.ttft_target_ms),
        tpot_target_s=seconds(args.tpot_target_ms), batch=bool(args.batch),
    ), args.usage, getattr(args, "model", None))


def exemptions_from(args: argparse.Namespace):
    from cost.deployment import Exemptions

    return Exemptions(**{name: bool(getattr(args, name)) for name in ExemptionsFields.model_fields})


def constraints_from(args: argparse.Namespace, pricings: tuple[str, ...] | None) -> Constraints:
    """The searches' constraints (optimize, curve): the comma-separated lists, and the fields given (unset: the
    Constraints' defaults)."""
    from cost.decide.optimize import Constraints
    from cost.pricing.gpu_clouds import parse_clouds

    def listed(text: str | None) -> tuple[str, ...] | None:
        return None if not text else tuple(x.strip() for x in text.split(",") if x.strip())

    given = {name: getattr(args, name) for name in ("redundancy", "max_model_len", *SERVER_FIELDS)
             if getattr(args, name) is not None}
    return Constraints(clouds=None if args.clouds is None else parse_clouds(args.clouds), precisions=listed(args.precision),
                       pricings=pricings, gpus=listed(args.gpu), instance_types=listed(args.instance),
                       zones=zones_from(args), production=args.production, **given)


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
    """The overheads: the defaults (or none with --overheads none), each flag given in place of its default."""
    from cost.pricing.tco import Overheads

    o = Overheads.none() if args.overheads == "none" else Overheads()
    return replace(o, **{name: getattr(args, name) for name in OVERHEAD_FIELDS if getattr(args, name) is not None})


def rates_from(args: argparse.Namespace):
    """The rates: --reserved-discount and --spot-price (cost.pricing.nodes.RatesFields) over the defaults."""
    # each flag was validated by its field while parsing: constructed as it holds them
    return RatesFields.model_construct(reserved_discount=args.reserved_discount, spot_price=args.spot_price).rates()
