"""`breakeven optimize`: the cheapest configurations for a workload, by the reports' full monthly cost."""

from __future__ import annotations

import argparse

from breakeven.workload_flags import (
    add_assumption_flags,
    add_constraint_flags,
    add_workload_flags,
    apply_search_profile,
    constraints_from,
    exemptions_from,
    number,
    overheads_from,
    providers_from,
    rates_from,
    workload_from,
)
from cost.report import FORMATS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `breakeven optimize`: the workload, what the search may choose from, the assumptions, the output."""
    add_workload_flags(p)
    add_constraint_flags(p)
    add_assumption_flags(p)
    output = p.add_argument_group("output")
    output.add_argument("--top", type=number(int, "--top"), default=10, help="configurations to print (default 10)")
    output.add_argument("--breakeven", action="store_true",
                        help="also find the least volume at which the cheapest configuration beats the cheapest "
                             "comparable API")
    output.add_argument("--format", default="table", choices=FORMATS, help="the report's format (default table)")


def run(args: argparse.Namespace) -> int:
    """Search, then print the top N with the cheapest comparable API beside them."""
    from cost.catalog.profiles import profile
    from cost.decide.optimize import breakeven_volume, no_alternative, optimize
    from cost.pricing.api_prices import load_price_book
    from cost.report import grid
    from cost.report_model import DEPLOYS_AWS_ONLY, cheapest_api_document, optimize_document, report_json
    from cost.units import format_tokens, format_usd
    from cost.workload import milliseconds

    pricings, set_by_profile = apply_search_profile(args)
    w = workload_from(args)
    c = constraints_from(args, pricings)
    kwargs = dict(book=load_price_book(args.price_book), overheads=overheads_from(args), exemptions=exemptions_from(args),
                  providers=providers_from(args), rates=rates_from(args))
    found = optimize(args.model, w, c, top=args.top, **kwargs)
    volume = breakeven_volume(args.model, w, c, **kwargs) if args.breakeven else None
    prof = None if args.profile is None else profile(args.profile)
    if args.format == "json":
        print(report_json(optimize_document(args.model, w, found, profile=prof, profile_set=set_by_profile,
                                            other_clouds=args.clouds is not None, volume=volume)))
        return 0
    cheapest = cheapest_api_document(found)
    md = args.format == "markdown"
    head = (f"Cheapest configurations for {format_tokens(w.tokens_per_month)} tokens/month of {args.model} "
            f"({w.avg_input_tokens} in / {w.avg_output_tokens} out, planned utilization {w.utilization:.0%}"
            + (f", TTFT <= {milliseconds(w.ttft_target_s):g} ms" if w.ttft_target_s else "")
            + (f", TPOT <= {milliseconds(w.tpot_target_s):g} ms" if w.tpot_target_s else "") + ")")
    lines = [head]
    if prof:
        lines.append(f"Profile {prof.name} set: " + ", ".join(f"--{k} {v}" for k, v in set_by_profile.items()))
    if not found:
        lines.append("No catalog configuration fits the model, meets the targets and carries the volume.")
    else:
        clouds = args.clouds is not None
        rows = [[str(i)] + ([x.cloud] if clouds else []) + [x.deployment.instance_type or (x.offer.product if x.offer else ""),
                 f"{x.deployment.gpus_per_replica}", x.deployment.precision,
                 x.deployment.pricing, f"{x.deployment.replicas}+{x.deployment.redundancy}", format_usd(x.monthly_usd),
                 format_usd(x.usd_per_mtok), f"{x.utilization:.0%}", f"{x.ttft_ms:,.0f}", f"{x.tpot_ms:.1f}",
                 f"{x.headroom:.0%}"] for i, x in enumerate(found, 1)]
        columns = ["#"] + (["Cloud"] if clouds else []) + ["Instance", "TP", "Precision", "Pricing", "Replicas", "Monthly",
                                                       "$/1M at volume", "Utilization", "TTFT ms", "TPOT ms", "Headroom"]
        if (c.zones or 1) > 1:   # the share of the volume left after losing the fullest zone
            columns.append("After zone loss")
            rows = [r + [f"{x.estimate.zone_loss_capacity_share:.0%}"] for r, x in zip(rows, found, strict=True)]
        lines.append(grid(columns, rows, md))
        if clouds:
            cited = dict.fromkeys(x.offer.cited for x in found if x.offer is not None)
            lines += [f"Price elsewhere: {c}" for c in cited] + [DEPLOYS_AWS_ONLY]
        notes: dict[str, list[str]] = {}   # note -> the ranks it applies to
        for i, x in enumerate(found, 1):
            for note in x.estimate.notes:
                notes.setdefault(note, []).append(f"#{i}")
        lines += [f"NOTE ({', '.join(ranks)}): {note}" for note, ranks in notes.items()]
    if cheapest:
        lines.append(f"Cheapest comparable API ({cheapest['compared_with']}): {cheapest['label']} "
                     f"{format_usd(cheapest['monthly_usd'])}/month ("
                     + ("no tokens declared" if cheapest["usd_per_mtok"] is None else f"{format_usd(cheapest['usd_per_mtok'])}/1M")
                     + (", batch rate" if cheapest["batch_price"] else "") + ")")
    nothing = no_alternative(found[0]) if found else None
    if nothing is not None:
        lines.append(f"Cheapest comparable alternative: none. {nothing[0].upper()}{nothing[1:]}.")
    if volume is not None and volume.no_alternative is None:
        if volume.tokens_per_month is None:
            lines.append(f"Breakeven: no volume from {format_tokens(volume.searched[0])} to {format_tokens(volume.searched[1])} "
                         "tokens/month makes the cheapest configuration beat the cheapest comparable API.")
        else:
            b = volume.configuration
            # a volume was found: the cheapest configuration and the cheapest comparable API were priced there
            assert b is not None and b.estimate.verdict.cheapest_api_monthly_usd is not None
            lines.append(f"Breakeven: from {format_tokens(volume.tokens_per_month)} tokens/month (same request shape and "
                         f"targets), {b.describe()} at {format_usd(b.monthly_usd)}/month costs no more than "
                         f"{b.estimate.verdict.cheapest_api} ({format_usd(b.estimate.verdict.cheapest_api_monthly_usd)}/month).")
    print(("\n\n" if md else "\n").join(lines))
    return 0
