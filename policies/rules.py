"""breakeven's CrossGuard policies: uneconomic, unfit and fragile stacks fail at preview time.

Every policy has a description, a config schema with defaults, and an enforcement level that a
policy config file (`pulumi preview --policy-pack-config`) can override. Stack policies price the
resources they are shown with `policies.pricing` (which uses `cost`), so their figures are the
offline preview's. `PACK` holds what `policies/__main__.py` builds the pack from.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from cost import catalog
from cost.decide import advice, optimize
from cost.decide.verdict import breakeven as pricing_breakeven
from cost.errors import InputError
from cost.physics import capacity
from cost.physics.capacity_range import capacity_range
from cost.report_model import capacity_range_note, error_band_note
from cost.units import format_tokens, format_usd
from cost.workload import milliseconds
from policies import pricing, resources, trust
from policies.pricing import Model, PricedModel, Stack, is_priced
from policies.secrets import CREDENTIAL_VALUE, SECRET_NAME, secret_findings

PACK_NAME = "breakeven"
ADVISORY, MANDATORY = EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY
EXEMPTION_TEXT = "fine-tuned weights, private data, custom inference, or a TTFT target under 50 ms"

# -------------------------------------------------------------------------------------------------
# Config: schema properties with defaults, and the defaults applied again in code so that a pack
# run without any Configure call behaves the same.
# -------------------------------------------------------------------------------------------------

PRODUCTION = {"type": "array", "items": {"type": "string"}, "default": pricing.NON_PRODUCTION_STACKS,
              "description": "Regular expressions (full match) of stack names that are NOT production. Every other stack "
                             "is, and so is a stack whose economics opt in; a stack cannot opt out from its own config."}


def _schema(**props: dict) -> PolicyConfigSchema:
    """A stack policy's schema: its own properties plus `trust` (what the organisation grants, policies/trust.py),
    which every policy that prices the stack reads from its own config, as the CLI configures each policy."""
    return PolicyConfigSchema(properties={**props, "trust": trust.TRUST_SCHEMA})


def config(args: Any, schema: PolicyConfigSchema | None) -> dict:
    """The policy's config: schema defaults, overridden by what the engine configured."""
    out = {k: v.get("default") for k, v in (schema.properties if schema else {}).items() if "default" in v}
    out.update({k: v for k, v in (args.get_config() or {}).items() if v is not None})
    return out


def _stack(args: StackValidationArgs, cfg: Mapping) -> Stack:
    return pricing.stack_for(args.resources, non_production=cfg.get("nonProductionStacks", pricing.NON_PRODUCTION_STACKS),
                             trust=trust.load(cfg.get("trust")))


def _who(m: Model) -> str:
    d = m.deployment
    if d is None:
        return m.name
    return (f"{m.name} ({d.model} {d.precision} on {d.replicas}+{d.redundancy} replica(s) x {d.gpus_per_replica}x {d.gpu}"
            f"{' on ' + d.instance_type if d.instance_type else ''}, {d.pricing})")


def _unpriced(m: Model, stack: Stack) -> str:
    reasons = [p.message for p in m.problems] or [p.message for p in stack.problems] or ["it could not be priced"]
    return "; ".join(reasons)


def _fail_closed(m: Model, stack: Stack, report: ReportViolation, what: str) -> None:
    report(f"{m.name}: cannot {what}: {_unpriced(m, stack)}. Failing closed.", m.urn)


def _share(stack: Stack, m: Model) -> float:
    """The model's share of the per-stack overheads, as price_fleet splits them (by GPU spend)."""
    spend = {x.name: x.estimate.plan.unit_usd_hr * x.estimate.plan.units for x in stack.models if x.estimate}
    total = sum(spend.values()) or 1.0
    return spend.get(m.name, 0.0) / total


# -------------------------------------------------------------------------------------------------
# 1. Self-hosting must beat the cheapest equivalent API (mandatory)
# -------------------------------------------------------------------------------------------------

ECONOMICS_SCHEMA = _schema(
    scope={"type": "string", "enum": ["production", "all"], "default": "production",
           "description": "Which stacks must beat the API: production stacks only (a dev stack exists to test the "
                          "deployment, not to save money; utilization-floor still flags it), or all."},
    nonProductionStacks=PRODUCTION,
    maxPremiumPct={"type": "number", "minimum": 0, "default": 0,
                   "description": "How much more than the cheapest equivalent API a self-hosted model may cost per month, "
                                  "in percent of the API's monthly cost (0: it must cost no more)."},
)


def _economics(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, ECONOMICS_SCHEMA)
    stack = _stack(args, cfg)
    if cfg["scope"] == "production" and not stack.production:
        return
    premium = float(cfg.get("maxPremiumPct", 0)) / 100
    for m in stack.models:
        if not is_priced(m):
            _fail_closed(m, stack, report, "compare self-hosting with the APIs")
            continue
        v = m.estimate.verdict
        if v.cheapest_api is None or v.cheapest_api_monthly_usd is None:
            continue  # nothing can stand in (no API serves it, or its exemption rules every alternative out)
        self_usd, api_usd = m.monthly_usd, v.cheapest_api_monthly_usd
        if self_usd > api_usd * (1 + premium):
            report(economics_message(stack, m, premium), m.urn)
            continue
        # Production stacks are judged at the pessimistic end of the capacity's error band (cost.physics.capacity_range):
        # what carrying the declared volume costs if the replicas serve only its low end.
        r = capacity_range(m.estimate) if stack.production else None
        extra = 0.0 if r is None else r.pessimistic_monthly_usd - m.estimate.monthly_usd
        if self_usd + extra > api_usd * (1 + premium):
            assert r is not None   # without a range extra is 0, and that case was reported above
            report(f"{_who(m)}: production stacks are judged at the pessimistic end of the capacity range "
                   f"({error_band_note(r.band)}). There, carrying the declared {format_tokens(m.workload.tokens_per_month)} "
                   f"tokens/month costs {format_usd(self_usd + extra)}/month ({format_usd(extra)} more than at the modelled "
                   f"capacity) against {format_usd(api_usd)}/month on {v.cheapest_api}. {capacity_range_note(r)}. Fix: measure the "
                   "capacity (breakeven observe / calibrate) or choose a cheaper configuration.", m.urn)


def economics_message(stack: Stack, m: PricedModel, premium: float = 0.0) -> str:
    e, v, w = m.estimate, m.estimate.verdict, m.workload
    self_usd, api_usd = m.monthly_usd, v.cheapest_api_monthly_usd
    assert v.cheapest_api is not None and api_usd is not None   # called only where an API can stand in
    quote = next(q for q in e.apis if q.offer.id == v.cheapest_api)
    # Breakeven on what the stack pays (the estimate plus any idle node-group nodes): a fixed monthly cost
    # against a per-token price.
    be = pricing_breakeven(self_usd, e.full_capacity_tokens_per_month, v.cheapest_api, quote.usd_per_mtok)
    allowed = f" (more than the {premium:.0%} premium allowed)" if premium else ""
    which = (f"the cheapest of the {v.compared_with}" if quote.offer.tier != "quality"
             else "no API serves this model; the cheapest API of the quality class it is compared with")
    if m.exemptions:
        which += f" (what can serve it despite its {', '.join(m.exemptions)} exemption)"
    lines = [
        f"{_who(m)}: self-hosting costs {format_usd(self_usd)}/month; {which}, {v.cheapest_api}, "
        f"costs {format_usd(api_usd)}/month for the declared {format_tokens(w.tokens_per_month)} tokens/month: "
        f"{format_usd(self_usd - api_usd)}/month more{allowed}."
        + (f" ({format_usd(m.idle_usd)}/month of it is {m.idle_nodes} node(s) its node groups may run beyond what the "
           f"replicas use: {m.idle_where}.)" if m.idle_usd else "")
    ]
    if m.usage is not None:
        lines.append(usage_line(m))
    full = e.full_capacity_tokens_per_month
    if be.reachable:
        lines.append(f"Breakeven with {v.cheapest_api} at {format_usd(quote.usd_per_mtok)}/1M tokens: "
                     f"{format_tokens(be.tokens_per_month)} tokens/month ({be.tokens_per_month / max(w.tokens_per_month, 1):.1f}x "
                     f"the declared volume, {be.utilization_needed:.0%} of this deployment's full capacity of "
                     f"{format_tokens(full)}).")
    else:
        lines.append(f"Breakeven with {v.cheapest_api} would be {format_tokens(be.tokens_per_month)} tokens/month, "
                     f"{be.utilization_needed:.0%} of this deployment's full capacity of {format_tokens(full)}: "
                     f"at 100% utilization it costs {format_usd(self_usd / full * 1e6)}/1M tokens against "
                     f"{format_usd(quote.usd_per_mtok)}/1M, so it never breaks even as configured.")
    fixes, notes = [], []
    if be.reachable:
        fixes.append(f"declare (and serve) at least {format_tokens(be.tokens_per_month / (1 + premium))} tokens/month")
    alt = advice.beat_api(m.deployment, w, api_usd * (1 + premium), book=stack.book, overheads=stack.overheads,
                          stack_share=_share(stack, m), context_tokens=m.context_tokens)
    if alt is not None:
        latency = ", meets its latency targets" if (w.ttft_target_s or w.tpot_target_s) else ""
        if alt.beats and alt.monthly_usd is not None:   # beats only when priced
            fixes.append(f"serve it on {alt.configuration.describe()}, about {format_usd(alt.monthly_usd)}/month with the "
                         "same overheads")
        elif alt.same:
            notes.append(f"It already runs the cheapest catalog configuration that fits{latency} and serves the volume: "
                         "no hardware change beats the API.")
        elif alt.monthly_usd is not None:
            notes.append(f"No catalog configuration beats the API at this volume: the cheapest that fits{latency} and "
                         f"serves it, {alt.configuration.describe()}, costs about {format_usd(alt.monthly_usd)}/month "
                         "with the same overheads.")
    fixes.append(f"send this model's traffic to {v.cheapest_api} ({format_usd(api_usd)}/month)")
    if not m.exemptions:
        fixes.append(f"declare an exemption if one truly applies ({EXEMPTION_TEXT})")
    lines += notes
    lines.append("To pass: " + "; or ".join(fixes) + ".")
    return "\n".join(lines)


def usage_line(m: Model) -> str:
    """Declared vs measured, for a model judged on the usage file the policy config names."""
    u, declared = m.usage, m.declared_workload
    assert u is not None and declared is not None   # set together (pricing._measured)
    api = m.declared_estimate.verdict.cheapest_api_monthly_usd if m.declared_estimate else None
    on_declared = ""
    if api is not None:
        on_declared = (f"; on the declared volume the cheapest alternative would cost {format_usd(api)}/month and "
                       + ("self-hosting would pass" if m.monthly_usd <= api else "self-hosting would not pay either"))
    return (f"Judged on measured usage: {format_tokens(u.tokens_per_month)} tokens/month measured at {u.measured_at} "
            f"over {u.window_s / 3600:g} h (usage file {m.usage_file}), against the declared "
            f"{format_tokens(declared.tokens_per_month)} tokens/month{on_declared}.")


# -------------------------------------------------------------------------------------------------
# 2. Planned utilization at or above a floor (advisory)
# -------------------------------------------------------------------------------------------------

UTILIZATION_SCHEMA = _schema(
    minUtilization={"type": "number", "minimum": 0, "maximum": 1, "default": 0.6,
                    "description": "The least share of a model's full serving capacity (tokens/month at 100%, serving "
                                   "replicas only) that its declared volume must use. The seeds: self-hosting only saves "
                                   "money at 60%+ utilization."},
    maxUtilization={"type": "number", "exclusiveMinimum": 0, "default": 1.0,
                    "description": "The most: a declared volume above the full capacity of the serving replicas cannot be "
                                   "served (1.0 = 100%)."},
)


def _utilization(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, UTILIZATION_SCHEMA)
    floor, ceiling = float(cfg["minUtilization"]), float(cfg["maxUtilization"])
    stack = _stack(args, cfg)
    for m in stack.models:
        if not is_priced(m):
            continue  # economics-readable says why
        if m.idle_usd:
            report(f"{m.name}: its node groups may run {m.idle_nodes} node(s) more than its replicas need ({m.idle_where}), "
                   f"{format_usd(m.idle_usd)}/month of GPUs at their maximum sizes.", m.urn)
        e, w = m.estimate, m.workload
        full = e.full_capacity_tokens_per_month
        used = w.tokens_per_month / full if full else math.inf
        per_replica = full / m.deployment.serving_replicas
        if used > ceiling:   # as many as the report's "needed" line, and enough to pass the ceiling
            need = max(e.replicas_needed or 0, math.ceil(w.tokens_per_month / (per_replica * ceiling)))
            report(f"{_who(m)}: the declared {format_tokens(w.tokens_per_month)} tokens/month need {used:.0%} of its full "
                   f"capacity of {format_tokens(full)} tokens/month; at most {ceiling:.0%} can be served. To pass: serve it "
                   f"with {need} replica(s), or send the overflow to an API (a hybrid routing tier).", m.urn)
            continue
        if used >= floor:
            continue
        # Fewer replicas only down to those needed at the planned utilization (the report's "needed" line):
        # advice never runs a replica above it, let alone above 100 %.
        need = e.replicas_needed or max(1, math.ceil(w.tokens_per_month / (per_replica * w.utilization)))
        fit_replicas = min(math.floor(w.tokens_per_month / (per_replica * floor)) if per_replica else 0,
                           m.deployment.serving_replicas - 1)
        fixes = []
        if fit_replicas >= need:
            fixes.append(f"serve it with {fit_replicas} replica(s) ({w.tokens_per_month / (per_replica * fit_replicas):.0%}, "
                         f"within the planned {w.utilization:.0%})")
        else:
            alt = advice.smaller_configuration(m.deployment, w, stack.book, m.context_tokens)
            if alt is not None:
                fixes.append(f"use a smaller configuration, e.g. {alt.describe()} (see right-sized-gpus)")
            elif fit_replicas < 1:
                fixes.append("no smaller catalog configuration exists: even one replica of the cheapest is more than the "
                             "volume needs, so at this volume an API is the economical choice")
            else:
                fixes.append(f"fewer replicas would run above the planned {w.utilization:.0%} utilization ({need} needed), "
                             "and no smaller catalog configuration exists: keep the replicas or send the volume to an API")
        fixes.append(f"declare at least {format_tokens(floor * full)} tokens/month")
        report(f"{_who(m)}: the declared {format_tokens(w.tokens_per_month)} tokens/month use {used:.1%} of its full capacity "
               f"of {format_tokens(full)} tokens/month ({m.deployment.serving_replicas} serving replica(s)); the floor is {floor:.0%}. "
               f"Idle GPUs burn money. To pass: " + "; or ".join(fixes) + ".", m.urn)


# -------------------------------------------------------------------------------------------------
# 3. The model fits its GPUs with room for KV cache at the declared context (mandatory)
# -------------------------------------------------------------------------------------------------

FIT_SCHEMA = _schema(
    minSequencesAtContext={"type": "integer", "minimum": 1, "default": 1,
                           "description": "Full-context sequences the KV cache must hold at once, after the weights and "
                                          "runtime overhead (vLLM refuses to start below 1)."},
)


def _fit(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, FIT_SCHEMA)
    stack = _stack(args, cfg)
    need = int(cfg["minSequencesAtContext"])
    for m in stack.models:
        d, ctx = m.deployment, m.context_tokens
        if d is None or ctx is None:
            _fail_closed(m, stack, report, "check that the model fits its GPUs")
            continue
        model, gpu = catalog.model(d.model), catalog.gpu(d.gpu)
        try:
            fit = capacity.memory_fit(model, gpu, d.gpus_per_replica, d.precision, ctx, d.gpu_memory_utilization,
                                      max_num_seqs=d.max_num_seqs)
        except InputError as err:
            report(f"{m.name}: {err}", m.urn)
            continue
        if fit.fits and fit.max_sequences_at_context >= need:
            continue
        if not fit.fits:
            try:
                capacity.require_fit(model, gpu, d.gpus_per_replica, d.precision, ctx, d.gpu_memory_utilization,
                                     max_num_seqs=d.max_num_seqs)
                detail = ""
            except InputError as err:
                detail = f"{err.detail}. Smallest fitting configurations — {err.allowed.split('— ', 1)[-1]}"
            report(f"{_who(m)} does not fit at its declared {ctx:,}-token context: {detail}.", m.urn)
        else:
            report(f"{_who(m)}: after {fit.weights_gb:.1f} GB of weights and {fit.runtime_overhead_gb:.1f} GB of runtime, the "
                   f"KV cache ({fit.kv_budget_gb:.1f} GB, {fit.kv_capacity_tokens:,} tokens) holds "
                   f"{fit.max_sequences_at_context} sequence(s) of the declared {ctx:,}-token context; at least {need} "
                   f"required. Use more or larger GPUs, a lower precision, or a shorter --max-model-len.", m.urn)


# -------------------------------------------------------------------------------------------------
# 4. Production: two replicas across two zones, a PodDisruptionBudget, load served one replica down
# -------------------------------------------------------------------------------------------------

HA_SCHEMA = _schema(
    minReplicas={"type": "integer", "minimum": 1, "default": 2,
                 "description": "Replicas (vLLM servers, counting spares) each production model runs."},
    minZones={"type": "integer", "minimum": 1, "default": 2,
              "description": "Availability zones a production model's GPU nodes span, with its pods spread over them "
                             "(a topology spread constraint on topology.kubernetes.io/zone)."},
    requirePodDisruptionBudget={"type": "boolean", "default": True,
                                "description": "A PodDisruptionBudget must select each production model's pods and keep "
                                               "at least one available."},
    failureUnit={"type": "string", "enum": ["replica", "node"], "default": "replica",
                 "description": "What goes down in the capacity check: one replica, or one node with every replica it "
                                "carries (stricter when replicas pack several per instance)."},
    maxUtilizationOneReplicaDown={"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 1.0,
                                  "description": "With one replica down, the declared volume may use at most this share "
                                                 "of the remaining replicas' full capacity."},
    nonProductionStacks=PRODUCTION,
)


def _pdb_for(stack: Stack, m: Model) -> tuple[resources.Res | None, str]:
    """A PodDisruptionBudget selecting the model's pods, and why a found one does not protect them."""
    why = ""
    for r in stack.resources:
        if not r.type.startswith("kubernetes:") or r.kind != "PodDisruptionBudget":
            continue
        meta, spec = r.props.get("metadata") or {}, r.props.get("spec") or {}
        if str(meta.get("namespace") or "default") != m.namespace:
            continue
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        if not sel or any(str(m.pod_labels.get(k)) != str(v) for k, v in sel.items()):
            continue
        total = m.total_replicas or 1
        min_av, max_un = spec.get("minAvailable"), spec.get("maxUnavailable")
        if resources.is_unknown(min_av) or resources.is_unknown(max_un):
            return r, ""
        def count(v):
            if isinstance(v, str) and v.endswith("%"):
                return math.ceil(float(v[:-1]) / 100 * total)
            return int(float(v))
        if min_av is not None and count(min_av) < 1:
            why = f"PodDisruptionBudget {meta.get('name', r.name)} allows every pod to be evicted (minAvailable {min_av})"
            continue
        if max_un is not None and count(max_un) >= total:
            why = f"PodDisruptionBudget {meta.get('name', r.name)} allows every pod to be evicted (maxUnavailable {max_un})"
            continue
        return r, ""
    return None, why


def _zone_spread(m: Model) -> bool:
    """A zone topology spread (or zone anti-affinity) on the replicas' pods; a LeaderWorkerSet spreads its
    groups through the leaders (the workers follow their leader's zone)."""
    for spec in m.pod_specs or [m.pod_spec]:
        if any(c.get("topologyKey") == resources.ZONE_KEY for c in spec.get("topologySpreadConstraints") or []):
            return True
        anti = resources.get(spec, "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                           default=[]) or []
        if any(t.get("topologyKey") == resources.ZONE_KEY for t in anti):
            return True
    return False


def _node_zone_count(m: Model) -> int | None:
    """Zones the model's GPU nodes are sure to occupy: each single-zone group with nodes adds its zone; a group
    spanning k zones with n nodes covers at least min(n, k) of them (EKS balances a group's nodes across its
    subnets). None when a group's zones cannot be resolved."""
    single: set[str] = set()
    spread = 0
    for g in m.node_groups:
        if not g.is_gpu or not (g.desired or 0):
            continue
        if g.zones is None:
            return None
        if len(g.zones) == 1:
            single.add(g.zones[0])
        else:
            spread = max(spread, min(g.desired, len(g.zones)))
    return max(len(single), spread)


def _production(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, HA_SCHEMA)
    stack = _stack(args, cfg)
    if not stack.production:
        return
    min_replicas, min_zones = int(cfg["minReplicas"]), int(cfg["minZones"])
    cap = float(cfg["maxUtilizationOneReplicaDown"])
    for m in stack.models:
        problems = []
        total = m.total_replicas
        if total is None:
            _fail_closed(m, stack, report, "count its replicas")
            continue
        if total < min_replicas:
            problems.append(f"it runs {total} replica(s); production needs at least {min_replicas} (add a spare: redundancy N+1)")
        if min_zones > 1:
            zones = _node_zone_count(m)
            if zones is None:
                problems.append("the zones of its GPU node groups cannot be resolved during preview (their subnets are "
                                "unknown); failing closed")
            elif zones < min_zones:
                problems.append(f"its GPU nodes span {zones} availability zone(s); production needs {min_zones}")
            if not _zone_spread(m):
                problems.append(f"its pods carry no topology spread constraint on {resources.ZONE_KEY}, so the scheduler "
                                "may put every replica in one zone")
        if cfg.get("requirePodDisruptionBudget", True):
            pdb, why = _pdb_for(stack, m)
            if pdb is None:
                problems.append(why or "no PodDisruptionBudget selects its pods: a node drain can evict every replica at once")
        if is_priced(m):
            e, w = m.estimate, m.workload
            per_replica = e.full_capacity_tokens_per_month / m.deployment.serving_replicas
            lost = e.plan.replicas_per_instance if cfg.get("failureUnit") == "node" else 1
            what = "one replica" if lost == 1 else f"one node ({lost} replicas)"
            down = max(0, total - lost) * per_replica * cap
            if w.tokens_per_month > down:
                need = math.ceil(w.tokens_per_month / (per_replica * cap)) + lost - total
                problems.append(f"with {what} of its {total} down the rest serve {format_tokens(down)} tokens/month"
                                f"{'' if cap == 1 else f' at {cap:.0%} utilization'}, less than the declared "
                                f"{format_tokens(w.tokens_per_month)} (add {need} replica(s))")
        else:
            problems.append(f"its capacity with one replica down cannot be checked: {_unpriced(m, stack)}; failing closed")
        if problems:
            report(f"{_who(m)} is not production-ready: " + "; ".join(problems) + ".", m.urn)


# -------------------------------------------------------------------------------------------------
# 5. Spot-only GPU capacity in production needs an on-demand fallback (advisory)
# -------------------------------------------------------------------------------------------------

SPOT_SCHEMA = _schema(nonProductionStacks=PRODUCTION)


def _spot(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, SPOT_SCHEMA)
    stack = _stack(args, cfg)
    if not stack.production:
        return
    for m in stack.models:
        gpu = [g for g in m.node_groups if g.is_gpu]
        if not gpu:
            continue
        fallback = [g for g in gpu if g.capacity_type != "SPOT" and (g.max_size or g.desired or 0) > 0]
        if all(g.capacity_type == "SPOT" for g in gpu) or not fallback:
            names = ", ".join(g.res.name for g in gpu)
            report(f"{m.name}: every GPU node group its pods can use ({names}) buys SPOT capacity; a spot reclaim can take "
                   "every replica at once. Add an ON_DEMAND node group with the same labels and taints (minSize 0 is "
                   "enough) so the replicas can fall back to it.", m.urn)


# -------------------------------------------------------------------------------------------------
# 6. A monthly budget cap, when configured (mandatory)
# -------------------------------------------------------------------------------------------------

BUDGET_SCHEMA = _schema(
    maxMonthlyUsd={"type": ["number", "null"], "minimum": 0, "default": None,
                   "description": "The most the stack may cost per month in USD (self-hosted models with their overheads "
                                  "plus routed API tiers). Null: the stack's own breakeven.dev/budget-usd-per-month, and no "
                                  "cap when it declares none."},
)


def _budget(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, BUDGET_SCHEMA)
    stack = _stack(args, cfg)
    cap = cfg.get("maxMonthlyUsd")
    source = "the policy config's maxMonthlyUsd"
    if cap is None:
        cap, source = stack.budget_usd_per_month, "the stack's budget (breakeven.dev/budget-usd-per-month)"
    if cap is None:
        return
    cap = float(cap)
    if stack.all_problems or not all(m.priced for m in stack.models):
        missing = [f"{m.name}: {_unpriced(m, stack)}" for m in stack.models if not is_priced(m)]
        missing += [p.message for p in stack.problems]
        report(f"the stack's monthly cost cannot be checked against {source} of {format_usd(cap)}: "
               + "; ".join(missing) + ". Failing closed.", None)  # None: the stack as a whole
        return
    total = stack.monthly_usd
    if total <= cap:
        return
    parts = sorted(((m.monthly_usd, m.name) for m in stack.models if m.priced), reverse=True)
    detail = ", ".join(f"{n} {format_usd(u)}" for u, n in parts)
    if stack.api_tiers_monthly_usd:
        detail += f", API tiers {format_usd(stack.api_tiers_monthly_usd)}"
    report(f"the stack costs {format_usd(total)}/month, {format_usd(total - cap)} over {source} of {format_usd(cap)} "
           f"({detail}).", None)


# -------------------------------------------------------------------------------------------------
# 7. Secrets only through Secret references (mandatory, per resource)
# -------------------------------------------------------------------------------------------------

SECRETS_SCHEMA = PolicyConfigSchema(properties=dict(
    secretNamePattern={"type": "string", "default": SECRET_NAME,
                       "description": "Regular expression of environment variable names and values keys (camelCase split "
                                      "into words) that hold credentials."},
    credentialValuePattern={"type": "string", "default": CREDENTIAL_VALUE,
                            "description": "Regular expression of literal values that are credentials wherever they appear "
                                           "(Hugging Face, OpenAI/Anthropic, AWS, Groq keys)."},
))


def _secrets(args: ResourceValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, SECRETS_SCHEMA)
    r = resources.normalize([{"type": args.resource_type, "name": args.name, "urn": args.urn,
                            "inputs": resources.plain(args.props)}])[0]
    for finding in secret_findings(r, cfg["secretNamePattern"], cfg["credentialValuePattern"]):
        report(f"{args.name}: {finding}.", None)  # None: the resource being validated


# -------------------------------------------------------------------------------------------------
# 8. Oversized GPUs (advisory)
# -------------------------------------------------------------------------------------------------

SIZE_SCHEMA = _schema(
    maxPremiumPct={"type": "number", "minimum": 0, "default": 25,
                   "description": "How much more a model's GPU hours may cost than the cheapest catalog configuration that "
                                  "fits it at the same context and precision, meets the same TTFT/TPOT targets and serves "
                                  "the declared volume at the planned utilization (same capacity type and spares), in %."},
)


def _right_size(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, SIZE_SCHEMA)
    stack = _stack(args, cfg)
    margin = float(cfg["maxPremiumPct"]) / 100
    for m in stack.models:
        if not is_priced(m) or m.deployment.capacity_tokens_per_month is not None:
            continue
        d, w = m.deployment, m.workload
        chosen = optimize.gpu_monthly_usd(d, stack.book) + m.idle_usd
        alt = advice.right_sized(d, w, chosen, margin, stack.book, m.context_tokens, stack.overheads)
        if alt is None:
            continue
        targets = []
        if w.ttft_target_s is not None:
            targets.append(f"TTFT {milliseconds(w.ttft_target_s):g} ms")
        if w.tpot_target_s is not None:
            targets.append(f"TPOT {milliseconds(w.tpot_target_s):g} ms")
        target = " and meets " + " and ".join(targets) if targets else ""
        report(f"{_who(m)}: its GPUs cost {format_usd(chosen)}/month; the cheapest catalog configuration that fits at the "
               f"{m.context_tokens:,}-token context{target} and serves the declared {format_tokens(w.tokens_per_month)} "
               f"tokens/month at {w.utilization:.0%} utilization is {alt.describe()} at {format_usd(alt.gpu_monthly_usd)}/month "
               f"(TTFT {alt.ttft_s * 1000:.0f} ms, TPOT {alt.tpot_s * 1000:.1f} ms): the chosen one costs "
               f"{chosen / alt.gpu_monthly_usd - 1:.0%} more, over the {margin:.0%} allowed.", m.urn)


# -------------------------------------------------------------------------------------------------
# 9. What the pack could not price (advisory)
# -------------------------------------------------------------------------------------------------

READABLE_SCHEMA = _schema(nonProductionStacks=PRODUCTION)


def _readable(args: StackValidationArgs, report: ReportViolation) -> None:
    stack = _stack(args, config(args, READABLE_SCHEMA))
    seen: set[str] = set()
    for p in stack.all_problems:
        if p.message not in seen:
            seen.add(p.message)
            prefix = "unknown during preview" if p.unknown else "cannot price"
            report(f"{prefix}: {p.message}. Failing closed.", p.urn or None)


# -------------------------------------------------------------------------------------------------
# 10. Measured usage: a verdict that flips, a usage file gone stale (advisory)
# -------------------------------------------------------------------------------------------------

USAGE_SCHEMA = _schema()


def _age_days(measured_at: str, now: datetime) -> float | None:
    try:
        t = datetime.fromisoformat(measured_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (now - (t if t.tzinfo else t.replace(tzinfo=UTC))).total_seconds() / 86400


def _usage(args: StackValidationArgs, report: ReportViolation) -> None:
    cfg = config(args, USAGE_SCHEMA)
    stack = _stack(args, cfg)
    max_age = trust.load(cfg.get("trust")).max_usage_age_days
    now = datetime.now(UTC)
    for m in stack.models:
        if m.usage is None:
            continue
        age = _age_days(m.usage.measured_at, now)
        if age is None:
            report(f"{m.name}: the usage file {m.usage_file} gives measuredAt {m.usage.measured_at!r}, not an ISO 8601 "
                   "time, so its age cannot be checked.", m.urn)
        elif age > max_age:
            report(f"{m.name}: the usage file {m.usage_file} was measured {age:.0f} days ago ({m.usage.measured_at}), "
                   f"older than the {max_age:g} days allowed (trust.maxUsageAgeDays): measure again with "
                   "`breakeven observe --write-usage`.", m.urn)
        if not is_priced(m) or m.declared_estimate is None:
            continue
        measured_api = m.estimate.verdict.cheapest_api_monthly_usd
        declared_api = m.declared_estimate.verdict.cheapest_api_monthly_usd
        if measured_api is None or declared_api is None:
            continue
        if m.monthly_usd > declared_api and m.monthly_usd <= measured_api:
            report(f"{_who(m)}: on the measured volume self-hosting now pays ({format_usd(m.monthly_usd)}/month against "
                   f"{format_usd(measured_api)}/month on the cheapest alternative), though on the declared volume it "
                   f"would not ({format_usd(declared_api)}/month). " + usage_line(m), m.urn)


# -------------------------------------------------------------------------------------------------
# The pack
# -------------------------------------------------------------------------------------------------

def _guarded(name: str, fn: Callable) -> Callable:
    """The policy, with any exception inside it reported as a violation (fail closed), never a crash or a pass."""
    def validate(args: Any, report: ReportViolation) -> None:
        try:
            fn(args, report)
        except Exception as e:  # noqa: BLE001 - whatever breaks, the gate must not pass
            report(f"{name}: the policy could not evaluate this stack ({type(e).__name__}: {e}). Failing closed.", None)
    return validate


def _policy(cls, name: str, description: str, fn: Callable, level: EnforcementLevel, schema: PolicyConfigSchema | None,
            remediation: str):
    return cls(name=name, description=description, validate=_guarded(name, fn), enforcement_level=level,
               config_schema=schema, remediation_steps=remediation)


POLICIES: list[Policy] = [
    _policy(StackValidationPolicy, "self-hosting-beats-api",
            "Self-hosting must cost no more than the cheapest alternative that can serve the model: the equivalent APIs, "
            "or for a declared exemption the alternatives that still can (offers that serve fine-tuned weights, APIs "
            "inside your own cloud account for private data); custom inference or a TTFT under 50 ms leave none.",
            _economics, MANDATORY, ECONOMICS_SCHEMA,
            "Raise the declared volume past breakeven, serve the model on a cheaper configuration, route it to the API, "
            "or declare an exemption that applies."),
    _policy(StackValidationPolicy, "utilization-floor",
            "Each self-hosted model's declared volume must use at least a floor share of its full serving capacity.",
            _utilization, ADVISORY, UTILIZATION_SCHEMA, "Remove replicas or use smaller GPUs until the volume fills them."),
    _policy(StackValidationPolicy, "model-fits-gpus",
            "Each model must fit its GPUs with room for KV cache at the declared context (--max-model-len).",
            _fit, MANDATORY, FIT_SCHEMA, "Use more or larger GPUs per replica, a lower precision, or a shorter context."),
    _policy(StackValidationPolicy, "production-redundancy",
            "Production models run at least two replicas across at least two zones, behind a PodDisruptionBudget, and "
            "still serve the declared load with one replica down.",
            _production, MANDATORY, HA_SCHEMA, "Set redundancy N+1 across two zones; keep the chart's PodDisruptionBudget."),
    _policy(StackValidationPolicy, "spot-needs-on-demand-fallback",
            "Production GPU capacity bought only as spot needs an on-demand node group to fall back to.",
            _spot, ADVISORY, SPOT_SCHEMA, "Add an ON_DEMAND node group with the same labels and taints (minSize 0)."),
    _policy(StackValidationPolicy, "monthly-budget",
            "The stack's monthly cost (self-hosted models with overheads plus routed API tiers) must stay within its "
            "budget cap, when one is configured.",
            _budget, MANDATORY, BUDGET_SCHEMA, "Cut replicas or GPU size, move traffic to an API, or raise the budget."),
    _policy(ResourceValidationPolicy, "secrets-via-references",
            "Credentials (Hugging Face token, API keys) reach pods only through Kubernetes Secret references, never as "
            "plain values in manifests, chart values or command lines.",
            _secrets, MANDATORY, SECRETS_SCHEMA, "Create a Kubernetes Secret and reference it with valueFrom.secretKeyRef."),
    _policy(StackValidationPolicy, "right-sized-gpus",
            "A model's GPUs may cost at most a margin more than the cheapest catalog configuration that fits it and meets "
            "the same latency targets for the same workload.",
            _right_size, ADVISORY, SIZE_SCHEMA, "Switch to the configuration the message names."),
    _policy(StackValidationPolicy, "measured-usage",
            "Where the policy config names a usage file for a model (breakeven observe --write-usage), the pack judges "
            "the measured volume; this reports a verdict the measurement turns to self-hosting's favour and a usage "
            "file older than the allowed age (a measurement that turns against self-hosting fails "
            "self-hosting-beats-api).",
            _usage, ADVISORY, USAGE_SCHEMA, "Measure again with `breakeven observe --write-usage`; declare the measured volume."),
    _policy(StackValidationPolicy, "economics-readable",
            "Every GPU workload and GPU node group carries economics the pack can read (breakeven.dev/economics), and the "
            "resources agree with them: GPU limits, replicas, instance and capacity types, engine arguments, node counts. "
            "Whatever cannot be read, is unknown during preview or disagrees fails the stack.",
            _readable, MANDATORY, READABLE_SCHEMA,
            "Deploy GPU workloads through breakeven (it writes the economics), use catalog instance types, and keep the "
            "resources and the declared economics in step."),
]

class PackArgs(TypedDict):
    """`PolicyPack`'s keyword arguments: policies/__main__.py passes them, the in-process runner (policies/runner.py)
    hands them to the SDK's servicer."""
    name: str
    policies: list[Policy]
    enforcement_level: EnforcementLevel
    description: str
    display_name: str
    provider: str
    tags: list[str]
    initial_config: NotRequired[dict[str, EnforcementLevel | dict[str, Any]]]
    readme: NotRequired[str]
    repository: NotRequired[str]


PACK = PackArgs(
    name=PACK_NAME,
    policies=POLICIES,
    enforcement_level=ADVISORY,
    description="breakeven: blocks self-hosted LLM inference stacks that are uneconomic against hosted APIs, that do not "
                "fit their GPUs, or that are fragile in production; priced with the preview's own numbers.",
    display_name="breakeven cost guardrails",
    provider="aws",
    tags=["cost", "llm", "vllm", "eks"],
)
