"""Resources -> priced economics: the policy pack prices what it is shown, and fails closed.

The pack never reads the stack spec. It reads the resources a preview registers:

* every Kubernetes object whose pod template requests `nvidia.com/gpu` (any kind: a Deployment, a
  LeaderWorkerSet, a ReplicaSet, a bare Pod ...) must carry its economics as the one
  `breakeven.dev/economics` annotation (`cost.economics`, the same codec the program writes with);
* every GPU node group (`aws:eks/nodeGroup:NodeGroup`) carries the same economics as tags, so a first
  deploy, whose chart cannot render during preview, is priced from the node groups alone.

What the resources are authoritative for — instance types, GPU limits, replicas, zones, capacity type,
engine arguments, scheduling — is read from them, cross-checked against the declaration and priced as
deployed. Whatever cannot be read, any disagreement, and any GPU node group no priced model uses is a
`Problem`: the pack's mandatory `economics-readable` policy reports each one. Nothing is guessed.

Input: resource dicts `{type, name, inputs | props | properties, urn?, parent?, propertyDependencies?}`
(the offline preview's `plan.resources`) or `pulumi_policy.PolicyResource`s (what the analyzer hands).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

from cost import catalog
from cost import economics as econ
from cost import usage as usage_mod
from cost.deployment import LOW_TTFT_S, Deployment, Exemptions
from cost.errors import InputError
from cost.estimate import Estimate
from cost.physics import capacity
from cost.pricing import api_prices
from cost.pricing.fleet import Fleet
from cost.pricing.nodes import instance_hourly_usd
from cost.pricing.tco import Overheads
from cost.report_model import fleet_document
from cost.usage import Usage
from cost.workload import Workload, milliseconds
from policies import capacity as cap
from policies import trust as trust_mod
from policies.resources import (
    POD_TEMPLATE_KINDS,
    Res,
    Unknown,
    arg_value,
    engine_args,
    fingerprint,
    get,
    is_unknown,
    normalize,
    opaque_workload,
    pod_templates,
    selects,
    stack_name,
    switch,
    tolerates,
    whole,
)
from policies.trust import COMMITMENTS, Trust

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"
GPU_RESOURCE = "nvidia.com/gpu"
HOURS = catalog.assumptions()["hours_per_month"]
EKS_TO_PRICING = {"SPOT": "spot", "ON_DEMAND": "on-demand"}
EKS_DEFAULT_INSTANCE_TYPES = ("t3.medium",)   # a managed node group's type without instanceTypes or a launch template
# Stack names that are not production unless their economics opt in (policy config `nonProductionStacks`):
# narrow and explicit, whole names only, so `prod-ci` or `payments-test-eu` stay production.
NON_PRODUCTION_STACKS = ["dev", "development", "test", "sandbox", "local"]


def is_production(name: str, opted_in: bool, non_production: Sequence[str] = NON_PRODUCTION_STACKS,
                  granted_non_production: bool = False) -> bool:
    """Production unless the stack's name fully matches a non-production pattern of the policy config, or the
    config's trust grants it `production: false`; a stack's own economics can opt in (`production: true`), never
    out. An unreadable name is production."""
    return opted_in or not (granted_non_production or any(re.fullmatch(p, name or "") for p in non_production))


# ---------------------------------------------------------------------------------------------
# What the pack derives
# ---------------------------------------------------------------------------------------------

@dataclass
class Problem:
    """Something the pack could not read, price or verify, and why: always a mandatory violation."""

    urn: str
    subject: str   # the model or resource it concerns
    message: str
    unknown: bool = False  # an unknown-during-preview value (vs. an unreadable or contradicting one)


@dataclass
class NodeGroup:
    res: Res
    instance_types: list[str]
    capacity_type: str | None        # SPOT | ON_DEMAND
    desired: int | None
    max_size: int | None
    labels: dict
    taints: list
    tags: dict
    zones: list[str] | None          # None: could not be resolved
    ami_type: str = ""
    problems: list[Problem] = field(default_factory=list)
    what: str = "node group"
    per_type: dict[str, int] = field(default_factory=dict)   # Karpenter: the most machines of each type its limits allow

    def describe_ceiling(self) -> str:
        """`<what> <name> may run N x type: $X/month at its ceiling` (on the group's capacity type)."""
        usd, n = self.hourly_usd(), self.ceiling
        cost = f": ${usd * n * HOURS:,.2f}/month at its ceiling" if usd is not None and n is not None else ""
        return f"{self.what} {self.res.name} may run {n} x {', '.join(self.instance_types[:1]) or 'unknown type'}{cost}"

    def ceiling_for(self, instance_type: str) -> int | None:
        """The most nodes of this type the group may run (a Karpenter pool's limits allow a count per type)."""
        return self.per_type.get(instance_type, self.ceiling) if self.per_type else self.ceiling

    @property
    def is_gpu(self) -> bool:
        """A GPU pool: a GPU instance type (judged from the catalog and the instance family, not from labels), an
        NVIDIA/GPU AMI, the GPU-present label or economics tags."""
        return (any(cap.is_gpu_type(t) for t in self.instance_types) or "NVIDIA" in self.ami_type
                or "GPU" in self.ami_type or str(self.labels.get("nvidia.com/gpu.present")) == "true"
                or any(k.startswith(econ.TAG_PREFIX) for k in self.tags))

    @property
    def ceiling(self) -> int | None:
        """The most nodes the group may run: the larger of its desired and maximum size (None: unreadable)."""
        sizes = [n for n in (self.desired, self.max_size) if n is not None]
        return max(sizes) if sizes else None

    @property
    def economics_name(self) -> str | None:
        """The model its economics tags name (None without tags)."""
        name = self.tags.get(econ.TAG_PREFIX + "deployment.name")
        return str(name) if name not in (None, "") else None

    def node_labels(self) -> dict:
        """Labels a node of the group carries: the group's own plus those EKS sets on every node."""
        out = dict(self.labels)
        if self.capacity_type:
            out["eks.amazonaws.com/capacityType"] = self.capacity_type
        if len(self.instance_types) == 1:
            out["node.kubernetes.io/instance-type"] = self.instance_types[0]
        return out

    def hourly_usd(self, book=None) -> float | None:
        """What one node costs per hour (its first catalog instance type at its capacity type)."""
        itype = next((t for t in self.instance_types if t in catalog.instances()), None)
        try:
            return None if itype is None else instance_hourly_usd(itype, EKS_TO_PRICING.get(self.capacity_type or "", "on-demand"), book)
        except InputError:
            return None


@dataclass
class Model:
    """One self-hosted model as priced: from a GPU workload, or (first deploy) from its node groups' tags."""

    name: str
    urn: str
    res: Res | None = None               # the workload; None when priced from node-group tags
    declared: econ.Economics | None = None
    pod_spec: dict = field(default_factory=dict)     # the pods the GPU nodes carry (a LeaderWorkerSet's workers)
    pod_specs: list = field(default_factory=list)    # every pod template (LeaderWorkerSet: leader and workers)
    pod_labels: dict = field(default_factory=dict)
    namespace: str = "default"
    total_replicas: int | None = None
    node_groups: list[NodeGroup] = field(default_factory=list)
    deployment: Deployment | None = None             # the declaration, with what the resources say substituted
    estimate: Estimate | None = None
    idle_nodes: int = 0
    idle_usd: float = 0.0
    idle_where: str = ""                             # the node groups and sizes the idle nodes come from
    usage: Usage | None = None                       # the measured workload the policy config names, if any
    usage_file: str = ""
    declared_workload: Workload | None = None        # the stack's own, when a usage file replaced it
    declared_estimate: Estimate | None = None        # priced on the declared workload, for the comparison
    problems: list[Problem] = field(default_factory=list)

    @property
    def workload(self) -> Workload | None:
        return None if self.declared is None else self.declared.workload

    @property
    def priced(self) -> bool:
        return self.estimate is not None

    @property
    def monthly_usd(self) -> float:
        """What the stack pays for this model: the estimate plus node-group nodes it does not use."""
        return (self.estimate.monthly_usd if self.estimate else 0.0) + self.idle_usd

    @property
    def exemptions(self) -> list[str]:
        if self.deployment is None or self.workload is None:
            return []
        return self.deployment.exemptions.claimed(self.workload.ttft_target_s)

    @property
    def context_tokens(self) -> int | None:
        if self.deployment is None or self.workload is None:
            return None
        return max(self.deployment.max_model_len or 0, self.workload.tokens_per_request)

    def problem(self, message: str, unknown: bool = False) -> None:
        self.problems.append(Problem(self.urn, self.name, f"{self.name}: {message}", unknown))


class PricedModel(Model):
    """A Model once priced: its estimate, deployment and declared economics are all set (`_price` prices only
    models with a deployment and declared economics). The type `is_priced` narrows a Model to."""

    estimate: Estimate
    deployment: Deployment
    declared: econ.Economics

    @property
    def workload(self) -> Workload:
        return self.declared.workload


def is_priced(m: Model) -> TypeGuard[PricedModel]:
    """Whether the model was priced (`Model.priced`), as a narrowing the rules read its figures through."""
    return m.estimate is not None and m.deployment is not None and m.declared is not None


@dataclass
class Stack:
    """Everything the pack derived from one set of resources."""

    resources: list[Res]
    node_groups: list[NodeGroup]
    models: list[Model]
    name: str
    production: bool
    economics: econ.StackEconomics | None
    book: Any
    fleet: Fleet | None
    problems: list[Problem]           # stack-level (price book, stack economics, unused GPU pools)

    @property
    def all_problems(self) -> list[Problem]:
        out = list(self.problems)
        for ng in self.node_groups:
            out += ng.problems
        for m in self.models:
            out += m.problems
        return out

    @property
    def budget_usd_per_month(self) -> float | None:
        return None if self.economics is None else self.economics.budget_usd_per_month

    @property
    def overheads(self):
        return econ.StackEconomics().overheads if self.economics is None else self.economics.overheads

    @property
    def api_tiers_monthly_usd(self) -> float:
        return self.fleet.api_monthly_usd if self.fleet else 0.0

    @property
    def monthly_usd(self) -> float:
        """Self-hosted models (with idle node-group nodes) plus routed API tiers."""
        return sum(m.monthly_usd for m in self.models) + self.api_tiers_monthly_usd

    def figures(self) -> dict:
        """The pack's figures in the shape of the preview's exported `cost` (cost.report_model.fleet_document), for comparison."""
        if self.fleet is None:
            return {}
        d = fleet_document(self.fleet)
        d["monthly_usd"] = round(self.monthly_usd, 2)
        return d


# ---------------------------------------------------------------------------------------------
# Reading node groups
# ---------------------------------------------------------------------------------------------

def _zones_of(ng: Res, subnets_by_urn: dict, subnets_by_id: dict) -> list[str] | None:
    """The availability zones a node group's subnets lie in: the subnets its `subnetIds` came from
    (property dependencies, as the CLI sends them), known subnet ids, else its `breakeven.dev/zones` tag."""
    zones = {subnets_by_urn[u].props.get("availabilityZone") for u in ng.deps.get("subnetIds", []) if u in subnets_by_urn}
    zones = {z for z in zones if isinstance(z, str) and not is_unknown(z)}
    if zones:
        return sorted(zones)
    ids = ng.props.get("subnetIds")
    if isinstance(ids, list) and ids and all(isinstance(i, str) and i in subnets_by_id for i in ids):
        return sorted({subnets_by_id[i] for i in ids})
    tags = ng.props.get("tags")
    tag = tags.get("breakeven.dev/zones") if isinstance(tags, Mapping) else None
    if isinstance(tag, str) and tag and not is_unknown(tag):
        return sorted({z for z in re.split(r"[\s,;+/]+", tag) if z})
    return None


def read_node_groups(resources: list[Res]) -> list[NodeGroup]:
    subnets = [r for r in resources if r.type == SUBNET]
    by_urn = {s.urn: s for s in subnets}
    by_id = {s.props["id"]: s.props["availabilityZone"] for s in subnets
             if isinstance(s.props.get("id"), str) and isinstance(s.props.get("availabilityZone"), str)
             and not (is_unknown(s.props["id"]) or is_unknown(s.props["availabilityZone"]))}
    out = []
    for r in (r for r in resources if r.type == NODE_GROUP):
        probs: list[Problem] = []

        def read(*path, default=None):
            try:
                return get(r.props, *path, default=default)
            except Unknown as u:
                probs.append(Problem(r.urn, r.name, f"node group {r.name}: {u.path} is unknown during preview", True))
                return default

        def count(value: Any, what: str) -> int | None:
            try:
                return None if value is None else whole(value, what)
            except (Unknown, InputError) as e:
                probs.append(Problem(r.urn, r.name, f"node group {r.name}: {e}", isinstance(e, Unknown)))
                return None

        raw_types = read("instanceTypes", default=[])
        itypes = [t for t in raw_types if isinstance(t, str) and not is_unknown(t)] if isinstance(raw_types, list) else []
        uses_template = bool(r.props.get("launchTemplate") or r.deps.get("launchTemplate"))
        if not itypes and uses_template:   # EKS takes the instance type from the launch template
            try:
                from_template = cap.node_group_template_type(r, resources)
            except InputError as e:
                probs.append(Problem(r.urn, r.name, f"node group {r.name}: {e}"))
                from_template = None
            itypes = [from_template] if from_template else []
        elif not itypes and r.props.get("instanceTypes") in (None, []):   # neither: EKS's default (pulumi_aws NodeGroup.instance_types)
            itypes = list(EKS_DEFAULT_INSTANCE_TYPES)
        tags = read("tags", default={})
        ng = NodeGroup(
            res=r, instance_types=itypes, capacity_type=read("capacityType", default="ON_DEMAND"),
            desired=count(read("scalingConfig", "desiredSize"), "scalingConfig.desiredSize"),
            max_size=count(read("scalingConfig", "maxSize"), "scalingConfig.maxSize"),
            labels={k: v for k, v in (read("labels", default={}) or {}).items() if not is_unknown(v)},
            taints=[t for t in (read("taints", default=[]) or []) if isinstance(t, Mapping)],
            tags=dict(tags) if isinstance(tags, Mapping) else {},
            zones=_zones_of(r, by_urn, by_id), ami_type=str(read("amiType", default="") or ""), problems=probs,
        )
        unpriceable = [t for t in itypes if t not in catalog.instances()]
        if not itypes:
            probs.append(Problem(r.urn, r.name, f"node group {r.name}: its instance type cannot be read (no instanceTypes, "
                                 "and its launch template is not among the stack's resources or sets no instanceType); "
                                 "it may launch GPU machines that cannot be priced", uses_template is False))
        elif ng.is_gpu and unpriceable:
            probs.append(Problem(r.urn, r.name, f"node group {r.name}: instance type "
                                 f"{', '.join(unpriceable) or 'missing'} is not in the catalog; its GPUs cannot be priced"))
        out.append(ng)
    return out + _karpenter_pools(resources)


def _karpenter_pools(resources: list[Res]) -> list[NodeGroup]:
    """Karpenter pools whose GPU ceiling can be priced, as node groups pods can be matched to: the machines their
    limits allow (dearest fleet first), the labels and taints their nodes carry. An unpriceable pool stays a
    capacity source the pack names (policies.capacity)."""
    out = []
    for c in cap.read_capacity(resources)[0]:
        if not c.karpenter or not c.is_gpu or c.ceiling() is None or not c.nodes:
            continue
        nodes = c.nodes
        order = sorted(nodes, key=lambda t: -(instance_hourly_usd(t, "on-demand") * nodes[t]))
        top = nodes[order[0]]
        out.append(NodeGroup(res=c.res, instance_types=order, capacity_type="SPOT" if c.spot_only else "ON_DEMAND",
                             desired=top, max_size=top, labels=c.labels, taints=c.taints, tags={}, zones=c.zones,
                             what=c.what, per_type=dict(c.nodes)))
    return out


# ---------------------------------------------------------------------------------------------
# Reading the GPU workloads
# ---------------------------------------------------------------------------------------------

def _gpu_requests(template: Mapping) -> list[Any]:
    """The raw `nvidia.com/gpu` limits (or requests) of a pod template's containers."""
    out = []
    for group in ("initContainers", "containers"):
        for c in get(template, "spec", group, default=[]) or []:
            res = c.get("resources") if isinstance(c, Mapping) else None
            res = res if isinstance(res, Mapping) else {}
            value = next((s.get(GPU_RESOURCE) for s in (res.get("limits"), res.get("requests"))
                          if isinstance(s, Mapping) and s.get(GPU_RESOURCE) is not None), None)
            if value is not None:
                out.append(value)
    return out


def is_gpu_workload(r: Res) -> bool:
    """A Kubernetes object of any pod-running kind whose pods request GPUs (or might: unknown values count)."""
    if not r.type.startswith("kubernetes:") or r.kind not in POD_TEMPLATE_KINDS:
        return False
    return any(v != 0 and str(v) != "0" for _, t in pod_templates(r) for v in _gpu_requests(t))


def _gpus(template: Mapping, where: str) -> int:
    return sum(whole(v, f"{where}.resources.limits.{GPU_RESOURCE}") for v in _gpu_requests(template))


def _match_node_groups(pod_spec: Mapping, groups: list[NodeGroup]) -> list[NodeGroup]:
    return [g for g in groups if g.is_gpu and selects(pod_spec, g.node_labels())
            and all(tolerates(pod_spec, t) for t in g.taints)]


def _replicas(r: Res, groups: list[NodeGroup]) -> int:
    """Replicas (vLLM servers) the object runs, as Kubernetes would."""
    spec = r.props.get("spec") or {}
    if r.kind == "Pod":
        return 1
    if r.kind in ("Job", "CronJob"):
        job = get(spec, "jobTemplate", "spec", default={}) if r.kind == "CronJob" else spec
        return whole(job.get("parallelism", 1), "spec.parallelism")
    if r.kind == "DaemonSet":
        return sum(g.desired or 0 for g in groups)
    return whole(spec.get("replicas", 1), "spec.replicas")


def _gpus_per_replica(r: Res, templates: list[tuple[str, Mapping[str, Any]]]) -> int:
    if r.kind != "LeaderWorkerSet":
        return _gpus(templates[0][1], templates[0][0])
    size = whole(get(r.props, "spec", "leaderWorkerTemplate", "size", default=1), "spec.leaderWorkerTemplate.size")
    by_role = {path.rsplit(".", 1)[-1]: (path, t) for path, t in templates}
    wpath, worker = by_role.get("workerTemplate", templates[-1])
    per_worker = _gpus(worker, wpath)
    per_leader = _gpus(*reversed(by_role["leaderTemplate"])) if "leaderTemplate" in by_role else per_worker
    return per_leader + per_worker * max(size - 1, 0)


def read_model(r: Res, groups: list[NodeGroup], configmaps: dict | None = None,
               foreign: Callable[[str], Workload | None] | None = None, stack: str = "") -> Model:
    """One GPU workload -> its declared economics, cross-checked against and completed by the resources.

    foreign: model name -> the workload the policy config declares for it; a workload without breakeven's economics
    is then priced from its resources (vLLM arguments, GPU limits, replicas, the capacity its pods land on)."""
    templates = pod_templates(r)
    raw_metadata = r.props.get("metadata")
    metadata: Mapping[str, Any] = raw_metadata if isinstance(raw_metadata, Mapping) else {}
    labels = get(templates[0][1], "metadata", "labels", default={}) or {}
    name = str((metadata.get("labels") or {}).get("app.kubernetes.io/instance") or metadata.get("name") or r.name)
    m = Model(name=name, urn=r.urn, res=r, pod_labels=dict(labels), namespace=str(metadata.get("namespace") or "default"),
              pod_specs=[t.get("spec") or {} for _, t in templates])
    m.pod_spec = next((t.get("spec") or {} for p, t in templates if p.endswith("workerTemplate")), m.pod_specs[0])
    m.node_groups = _match_node_groups(m.pod_spec, groups)   # matched first: an unpriceable model still owns its nodes
    try:
        annotation = (metadata.get("annotations") or {}).get(econ.ANNOTATION)
        args = engine_args(m.pod_spec, configmaps or {}, m.namespace)
        granted = foreign(m.name) if foreign is not None and annotation is None else None
        if annotation is None and granted is None:
            where = "; ".join(g.describe_ceiling() for g in m.node_groups)
            raise InputError(econ.ANNOTATION, None, "the economics breakeven writes on every GPU workload, or its "
                             f"workload in the policy config (trust.grants.{stack or '<stack>'}.models.{m.name}.workload)",
                             f"the {r.kind} requests {GPU_RESOURCE} but carries no economics to price it by"
                             + (f"; the GPU capacity it runs on: {where}" if where else ""))
        if is_unknown(annotation):
            raise Unknown(econ.ANNOTATION)
        if granted is not None:
            m.total_replicas = _replicas(r, m.node_groups)
            m.declared = _from_resources(m, _gpus_per_replica(r, templates), args, granted, stack)
        else:
            m.declared = econ.Economics.from_json(annotation)
        m.name = m.declared.deployment.name or m.name
        for g in m.node_groups:
            if g.economics_name is not None:
                tagged = econ.Economics.from_tags(g.tags, f"node group {g.res.name} tags")
                if (tagged.deployment, tagged.workload) != (m.declared.deployment, m.declared.workload):
                    m.problem(f"node group {g.res.name}'s economics tags differ from the workload's {econ.ANNOTATION}")
        m.total_replicas = _replicas(r, m.node_groups)
        m.deployment = _as_deployed(m, _gpus_per_replica(r, templates), args)
    except Unknown as u:
        m.problem(f"{u.path} is unknown during preview", unknown=True)
    except InputError as e:
        m.problem(str(e))
    return m


# vLLM --quantization values -> the precision breakeven prices; absent: the checkpoint's 16-bit weights.
QUANTIZATION_PRICED = {None: "bf16", "fp8": "fp8", "awq": "int4-awq", "awq_marlin": "int4-awq", "mxfp4": "mxfp4"}


def served_model(args: list[str]) -> str | None:
    """The model a vLLM server serves: `--model`, else the positional after `serve` (`vllm serve MODEL`)."""
    flag = arg_value(args, "--model")
    if flag is not None:
        return flag
    if "serve" in args:
        i = args.index("serve")
        if i + 1 < len(args) and not args[i + 1].startswith("-"):
            return args[i + 1]
    return None


def _from_resources(m: Model, gpus: int, args: list[str], workload: Workload, stack: str) -> econ.Economics:
    """The economics of a GPU workload breakeven did not write, from its resources and the workload the policy config
    declares: the model it serves, its GPUs and replicas, the engine arguments, and the cheapest catalog type of the
    capacity its pods land on that holds one replica (what Karpenter launches). No spares are assumed."""
    served = served_model(args)
    if served is None:
        raise InputError("--model", None, "the model the vLLM server serves (--model, or vllm serve MODEL)")
    model = catalog.model(served, "--model")
    quant = arg_value(args, "--quantization")
    if quant not in QUANTIZATION_PRICED:
        raise InputError("--quantization", quant, ", ".join(str(q) for q in QUANTIZATION_PRICED if q))
    types = sorted({t for g in m.node_groups for t in g.instance_types
                    if t in catalog.instances() and catalog.instance(t).gpus >= min(gpus, 8)},
                   key=lambda t: instance_hourly_usd(t, "on-demand"))
    if not types:
        raise InputError("instance type", ", ".join(sorted({t for g in m.node_groups for t in g.instance_types})) or None,
                         "a catalog GPU type its pods can land on (a node group or a Karpenter pool matching its node "
                         "selector and tolerations)")
    raw = {k: arg_value(args, f) for k, f in (("max_model_len", "--max-model-len"), ("gmu", "--gpu-memory-utilization"),
                                              ("seqs", "--max-num-seqs"))}
    d = Deployment.build(
        model=model.id, instance_type=types[0], gpus_per_replica=gpus, replicas=m.total_replicas, redundancy=0,
        precision=QUANTIZATION_PRICED[quant], name=m.name,
        pricing="spot" if all(g.capacity_type == "SPOT" for g in m.node_groups) else "on-demand",
        max_model_len=None if raw["max_model_len"] is None else whole(raw["max_model_len"], "--max-model-len"),
        gpu_memory_utilization=0.9 if raw["gmu"] is None else float(raw["gmu"]),
        max_num_seqs=256 if raw["seqs"] is None else whole(raw["seqs"], "--max-num-seqs"),
        kv_cache_dtype=kv_cache_dtype(arg_value(args, "--kv-cache-dtype") or "auto"),
        expert_parallel=bool(switch(args, "--enable-expert-parallel", "-ep")), api_servers=api_server_count(args))
    return econ.Economics(d, workload, econ.StackEconomics(stack=stack))


def _as_deployed(m: Model, gpus: int, args: list[str]) -> Deployment | None:
    """The declared deployment with what the resources decide substituted; each disagreement is a problem."""
    assert m.declared is not None and m.total_replicas is not None   # read_model sets both first
    d = m.declared.deployment
    if gpus < 1:
        m.problem(f"its pods request no usable {GPU_RESOURCE}; nothing to price")
        return None
    changes: dict[str, Any] = {}

    def check(what: str, declared: Any, actual: Any, field_name: str) -> None:
        if actual is not None and declared != actual:
            m.problem(f"the economics declare {what} {declared} but the resources run {actual}; priced as deployed")
            changes[field_name] = actual

    check("GPUs per replica", d.gpus_per_replica, gpus, "gpus_per_replica")
    serving = m.total_replicas - d.redundancy
    if serving < 1:
        m.problem(f"{m.total_replicas} replica(s) with {d.redundancy} declared as redundancy leaves none serving")
        return None
    check("replicas (serving + redundancy)", d.total_replicas, m.total_replicas, "replicas")
    changes["replicas"] = serving   # the redundancy stays as declared: resources cannot tell spares apart
    # Engine settings on the server's command line (checked only where the flag is given).
    for flag, key, kind in (("--max-model-len", "max_model_len", int), ("--gpu-memory-utilization", "gpu_memory_utilization", float),
                            ("--max-num-seqs", "max_num_seqs", int)):
        raw = arg_value(args, flag)
        if raw is not None:
            value = float(raw) if kind is float else whole(raw, flag)
            check(flag, getattr(d, key), value, key)
    # The KV cache dtype and expert parallelism change capacity; an absent flag is vLLM's default (auto, off).
    kv = arg_value(args, "--kv-cache-dtype")
    check("--kv-cache-dtype", d.kv_cache_dtype, kv_cache_dtype(kv or "auto"), "kv_cache_dtype")
    check("--enable-expert-parallel", d.expert_parallel, bool(switch(args, "--enable-expert-parallel", "-ep")),
          "expert_parallel")
    # The API-server processes cap a replica's output rate; absent, vLLM runs one (no data parallelism here).
    check("--api-server-count", d.api_servers, api_server_count(args), "api_servers")
    hit = m.declared.workload.prefix_cache_hit_rate   # vLLM caches prefixes unless told not to
    if hit > 0 and switch(args, "--enable-prefix-caching") is False:
        m.problem(f"the economics count {hit:.0%} of prompt tokens as prefix-cache hits but the server runs "
                  "--no-enable-prefix-caching; its capacity is overstated")
    tp, pp = arg_value(args, "--tensor-parallel-size"), arg_value(args, "--pipeline-parallel-size")
    if tp is not None and whole(tp, "--tensor-parallel-size") * whole(pp or 1, "--pipeline-parallel-size") != gpus:
        m.problem(f"--tensor-parallel-size {tp} x --pipeline-parallel-size {pp or 1} does not use the {gpus} GPU(s) "
                  "each replica requests")
    # Where the pods land: instance type and capacity type of the node groups that can carry them.
    carrying = [g for g in m.node_groups if (g.desired or 0) > 0] or m.node_groups
    if not carrying:
        m.problem("no GPU node group matches the pods' node selector and tolerations; the replicas could not be "
                  "scheduled and cannot be priced")
        return None
    itypes = sorted({t for g in carrying for t in g.instance_types})
    outside = [t for t in itypes if t not in catalog.instances()]
    if not itypes or outside:
        m.problem(f"instance type {', '.join(outside) or 'none'} is not in the catalog; its GPUs cannot be priced")
        return None
    if len({catalog.instance(t).gpu for t in itypes}) > 1:
        m.problem(f"its node groups mix GPUs ({', '.join(itypes)}); vLLM replicas need one GPU type")
        return None
    check("instance type", d.instance_type, d.instance_type if d.instance_type in itypes else itypes[0], "instance_type")
    caps = {g.capacity_type or "ON_DEMAND" for g in carrying}
    bought = "spot" if caps == {"SPOT"} else ("on-demand" if caps == {"ON_DEMAND"} else "mixed")
    if bought == "mixed" or (bought == "spot") != (d.pricing == "spot"):
        m.problem(f"the economics declare {d.pricing} but its node groups buy {'/'.join(sorted(caps))}")
        if bought != "mixed":
            changes["pricing"] = bought
    try:
        return Deployment.build(**{**d.__dict__, **changes, "gpu": None})
    except InputError as e:
        m.problem(f"as deployed it cannot be priced: {e}")
        return None


API_SERVER_COUNT = "--api-server-count"


def api_server_count(args: list[str]) -> int:
    """vLLM's --api-server-count as `vllm serve` parses it (`--api-server-count N`, `=N`, underscores, the `-asc`
    alias; the last occurrence wins), 1 when absent. A shortened spelling argparse would also accept
    (`--api-server`) raises InputError: the pack reads this flag written in full."""
    spelled = []
    for a in args:
        name, eq, value = a.partition("=")
        name = name.replace("_", "-") if name.startswith("--") else name
        if name == "-asc":
            name = API_SERVER_COUNT
        elif name.startswith("--api-s") and name != API_SERVER_COUNT and API_SERVER_COUNT.startswith(name):
            raise InputError(name, a, f"{API_SERVER_COUNT} written in full")
        spelled.append(name + eq + value)
    raw = arg_value(spelled, API_SERVER_COUNT)
    return 1 if raw is None else whole(raw, API_SERVER_COUNT)


# vLLM --kv-cache-dtype values -> the KV dtype breakeven prices (bytes per element): 16-bit or one-byte fp8.
KV_DTYPES_PRICED = {"auto": "auto", "bfloat16": "auto", "float16": "auto",
                    "fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8"}


def kv_cache_dtype(value: str) -> str:
    """The priced KV dtype of a vLLM --kv-cache-dtype value; InputError for one breakeven cannot price."""
    if value not in KV_DTYPES_PRICED:
        raise InputError("--kv-cache-dtype", value, ", ".join(KV_DTYPES_PRICED),
                         "the KV bytes per token of this dtype are not in the capacity model")
    return KV_DTYPES_PRICED[value]


def models_from_tags(groups: list[NodeGroup], covered: set[str]) -> list[Model]:
    """Models whose GPU node groups carry economics tags but no workload was shown (a first deploy)."""
    by_name: dict[str, list[NodeGroup]] = {}
    for g in groups:
        if g.is_gpu and g.economics_name and g.economics_name not in covered:
            by_name.setdefault(g.economics_name, []).append(g)
    out = []
    for name, gs in by_name.items():
        m = Model(name=name, urn=gs[0].res.urn, node_groups=gs)
        try:
            values = [econ.Economics.from_tags(g.tags, f"node group {g.res.name} tags") for g in gs]
            if any(v != values[0] for v in values[1:]):
                raise InputError(econ.TAG_PREFIX + "*", name, "the same economics on every node group of a model")
            m.declared = values[0]
            d = m.declared.deployment
            m.total_replicas = d.total_replicas
            itypes = {t for g in gs for t in g.instance_types}
            caps = {g.capacity_type or "ON_DEMAND" for g in gs}
            if itypes != {d.instance_type}:
                m.problem(f"the economics tags declare {d.instance_type} but its node groups run {', '.join(sorted(itypes))}")
            elif caps != {"SPOT" if d.pricing == "spot" else "ON_DEMAND"}:
                m.problem(f"the economics tags declare {d.pricing} but its node groups buy {'/'.join(sorted(caps))}")
            else:
                m.deployment = d
        except InputError as e:
            m.problem(str(e))
        out.append(m)
    return out


# ---------------------------------------------------------------------------------------------
# Pricing
# ---------------------------------------------------------------------------------------------

def _fits(m: Model) -> bool:
    """The model fits its GPUs (cost.estimate refuses otherwise), so it can be priced."""
    d = m.deployment
    assert d is not None   # _price passes only models with a deployment
    fit = capacity.memory_fit(catalog.model(d.model), catalog.gpu(d.gpu), d.gpus_per_replica, d.precision,
                              m.context_tokens, d.gpu_memory_utilization, max_num_seqs=d.max_num_seqs)
    if not fit.fits:
        m.problem(f"{d.model} does not fit {d.gpus_per_replica}x {d.gpu} at a {m.context_tokens}-token context "
                  f"({fit.shortfall_gb:.1f} GB short); it cannot be served, so it is not priced")
    return fit.fits


def _idle(m: Model, book: Any = None) -> None:
    """Nodes the model's node groups may run beyond what its replicas need (up to their maximum sizes) are billed
    too: at the plan's rate, or on-demand where the plan is reserved (a commitment covers the planned nodes only).
    Fewer nodes than the replicas need is a problem."""
    est = m.estimate
    if est is None or est.plan.billing != "instance":
        return
    itype = est.plan.instance_type
    assert itype is not None   # instance billing names its instance
    desired = [g.ceiling_for(itype) if g.per_type else g.desired for g in m.node_groups]   # Karpenter launches on demand
    ceilings = [g.ceiling_for(itype) for g in m.node_groups]
    if any(d is None for d in desired) or any(c is None for c in ceilings):
        m.problem("a node group's desired or maximum size cannot be read; its node count is not checked", unknown=True)
        return
    have, need = sum(d for d in desired if d is not None), est.plan.nodes
    ceiling = sum(c for c in ceilings if c is not None)
    # What the groups may bill: their maximum sizes; nodes beyond what the replicas need are priced as headroom.
    if ceiling > need:
        m.idle_nodes = ceiling - need
        rate = est.plan.unit_usd_hr
        if m.deployment is not None and m.deployment.pricing in COMMITMENTS:
            rate = instance_hourly_usd(itype, "on-demand", book)
        m.idle_usd = m.idle_nodes * rate * HOURS
        m.idle_where = ", ".join(f"{g.what} {g.res.name} up to {g.ceiling_for(itype)} x {itype} (its limits)" if g.per_type
                                 else f"{g.res.name} desired {g.desired} max {g.max_size}" for g in m.node_groups)
    if have < need:
        m.problem(f"its node groups run {have} node(s) but its {m.total_replicas} replica(s) need {need} "
                  f"x {est.plan.instance_type}: some pods would stay Pending")


def _price(models: list[Model], stack: econ.StackEconomics, book, problems: list[Problem]) -> Fleet | None:
    """Price the models that can be priced as one fleet (routing tiers included when every tier's model is
    priced); a model that cannot be priced even alone is recorded and left out."""
    priced: list[Model] = []
    values: dict[str, econ.Economics] = {}
    for m in models:
        if m.deployment is not None and m.declared is not None and _fits(m):
            priced.append(m)
            values[m.name] = replace(m.declared, deployment=m.deployment, stack=stack)
    fleet = None
    if values:
        try:
            fleet = econ.price(list(values.values()), book)
        except InputError as e:
            alone = []
            for m in priced:
                try:
                    econ.price([replace(values[m.name], stack=replace(stack, routing=None))], book)
                    alone.append(m)
                except InputError as err:
                    m.problem(str(err))
            problems.append(Problem("", "stack", f"the stack cannot be priced as a whole ({e}); priced without routing"))
            priced = alone
            fleet = econ.price([replace(values[m.name], stack=replace(stack, routing=None)) for m in priced], book) if priced else None
    for m, est in zip(priced, fleet.estimates if fleet else (), strict=True):
        m.estimate = est
        _idle(m, book)
    return fleet


def _trusted_stack(stack_econ: econ.StackEconomics, name: str, trust: Trust,
                   problems: list[Problem]) -> tuple[econ.StackEconomics, Any]:
    """The stack-level economics as the policy config trusts them, and the price book to price with: a price book
    or an overhead below the catalog default counts only where granted; each claim beyond the grants is a problem."""
    grant = trust.grant(name)
    book = None
    declared_book = stack_econ.price_book
    if declared_book:
        if grant.price_book != declared_book:
            problems.append(Problem("", "stack", f"the stack prices with price book {declared_book!r}, which "
                                                 f"{trust.source} does not grant ({trust.where(name, None, 'priceBook')}); "
                                                 "priced with the catalog's prices"))
        else:
            path = _book_name(declared_book)
            try:
                book = api_prices.load_price_book(path)
            except InputError as e:
                problems.append(Problem("", "stack", f"price book: {e}"))
    defaults, granted = Overheads(), dict(grant.overheads)
    kept = {}
    for key, value in stack_econ.overheads.to_dict().items():
        floor = getattr(defaults, key)
        if value < floor and not (key in granted and value >= granted[key]):
            problems.append(Problem("", "stack", f"the stack declares overhead {key} {value:g}, below the catalog's {floor:g}, "
                                                 f"which {trust.source} does not grant "
                                                 f"({trust.where(name, None, 'overheads.' + key)}); priced at {floor:g}"))
            value = floor
        kept[key] = value
    return replace(stack_econ, overheads=Overheads(**kept), price_book=declared_book if book is not None else None), book


def _book_name(name: str) -> str:
    """A price book the policy config names: a file (absolute or beside the pack) when one exists, else a bundled name."""
    path = trust_mod.resolve(name)
    return str(path) if path.is_file() else name


def _trust_model(m: Model, stack: str, trust: Trust) -> None:
    """The model's claims as the policy config trusts them: exemptions, a reserved capacity type, its own GPU price
    or capacity count only where granted; each claim beyond the grants is a problem and is priced without."""
    d, w = m.deployment, m.declared.workload if m.declared else None
    if d is None or w is None or m.declared is None:
        return
    grant = trust.grant(stack, m.name)
    changes: dict[str, Any] = {}

    def refuse(what: str, key: str, priced: str) -> None:
        m.problem(f"{what}, which {trust.source} does not grant ({trust.where(stack, m.name, key)}); {priced}")

    ex = {"fine_tuned": d.exemptions.fine_tuned, "private_data": d.exemptions.private_data,
          "custom_inference": d.exemptions.custom_inference}
    for field_name in ex:
        label = field_name.replace("_", "-")
        if ex[field_name] and label not in grant.exemptions:
            refuse(f"the economics claim the {label} exemption", "exemptions", "judged without it")
            ex[field_name] = False
    changes["exemptions"] = Exemptions(**ex)
    if w.ttft_target_s is not None and w.ttft_target_s < LOW_TTFT_S and "low-ttft" not in grant.exemptions:
        refuse(f"the economics claim a {milliseconds(w.ttft_target_s):g} ms TTFT target (the low-ttft exemption)", "exemptions",
               f"judged at {milliseconds(LOW_TTFT_S):g} ms, where APIs still compete")
        m.declared = replace(m.declared, workload=replace(w, ttft_target_s=LOW_TTFT_S))
    if d.pricing in COMMITMENTS and d.pricing not in grant.commitments:
        refuse(f"the economics price {d.pricing} capacity (a commitment)", "commitments", "priced on-demand")
        changes["pricing"] = "on-demand"
    if d.hourly_usd_per_gpu is not None and (grant.hourly_usd_per_gpu is None or d.hourly_usd_per_gpu < grant.hourly_usd_per_gpu):
        refuse(f"the economics set their own GPU price of ${d.hourly_usd_per_gpu:g}/GPU-hour", "hourlyUsdPerGpu",
               "priced from the instance catalog")
        changes["hourly_usd_per_gpu"] = None
    if d.capacity_tokens_per_month is not None and (grant.capacity_tokens_per_month is None
                                                    or d.capacity_tokens_per_month > grant.capacity_tokens_per_month):
        refuse(f"the economics set their own capacity of {d.capacity_tokens_per_month:,.0f} tokens/month",
               "capacityTokensPerMonth", "capacity from the capacity model")
        changes["capacity_tokens_per_month"] = None
    try:
        m.deployment = Deployment.build(**{**d.__dict__, **changes, "gpu": None})
    except InputError as e:
        m.problem(f"as trusted it cannot be priced: {e}")
        m.deployment = None


def _measured(m: Model, stack: str, trust: Trust) -> None:
    """Judge the measured volume where the policy config names a usage file for the model: the usage replaces the
    declared volume and request size (the declared workload is kept for the comparison). An unreadable file is a
    problem: the pack cannot judge what it was told to."""
    path = trust.grant(stack, m.name).usage
    if path is None or m.declared is None:
        return
    try:   # measured on another model it says nothing about this one (cost.usage.for_model, as estimate and preview)
        u = usage_mod.for_model(usage_mod.load(path), m.declared.deployment.model, path)
    except InputError as e:
        m.problem(f"the usage file the policy config names ({trust.where(stack, m.name, 'usage')}) cannot be read: {e}")
        return
    m.usage, m.usage_file, m.declared_workload = u, path, m.declared.workload
    m.declared = replace(m.declared, workload=u.workload(m.declared.workload))


def _price_declared(models: list[Model], stack: econ.StackEconomics, book: Any) -> None:
    """For models judged on measured usage: the same deployment priced alone on its declared workload."""
    for m in models:
        if m.usage is None or m.declared_workload is None or not is_priced(m):
            continue
        try:
            value = replace(m.declared, deployment=m.deployment, workload=m.declared_workload,
                            stack=replace(stack, routing=None))
            m.declared_estimate = econ.price([value], book).estimates[0]
        except InputError as e:
            m.problem(f"cannot be priced on its declared workload for the comparison with the measured one: {e}")


def _unused_capacity(res: list[Res], groups: list[NodeGroup], models: list[Model], book: Any,
                     problems: list[Problem]) -> None:
    """GPU capacity no priced model runs on: each node group, auto-scaling group, instance, fleet or Karpenter pool
    priced at its ceiling (or named with what could not be read), and GPU launch templates nothing here uses."""
    used = {id(g) for m in models for g in m.node_groups}
    for g in groups:
        ceiling = g.ceiling
        if g.is_gpu and id(g) not in used and (ceiling is None or ceiling > 0):
            usd = g.hourly_usd(book)
            cost = (f": ${usd * ceiling * HOURS:,.2f}/month at its ceiling ({HOURS:g} h)" if usd is not None and ceiling
                    else "")
            sizes = "its limits" if g.per_type else f"desired {g.desired}, max {g.max_size}"   # Karpenter: its limits
            problems.append(Problem(g.res.urn, g.res.name, f"GPU {g.what} {g.res.name} may run {ceiling} x "
                                    f"{', '.join(g.instance_types) or 'unknown type'} ({sizes}){cost} that no priced model "
                                    "uses (no GPU workload and no economics tags)"))
    sources, templates = cap.read_capacity(res)
    as_groups = {g.res.urn for g in groups}
    for c in sources:
        if not c.is_gpu or c.res.urn in as_groups:
            continue
        problems.append(Problem(c.res.urn, c.res.name, c.describe(book) + "; it is GPU capacity no priced model runs "
                                "on, so it cannot be judged against any model's economics (serve models on breakeven's node "
                                "groups, or remove it)", c.unknown))
    for t in templates:
        problems.append(Problem(t.urn, t.name, f"launch template {t.name} sets GPU instance type "
                                f"{t.props.get('instanceType')} but nothing in the stack launches from it: what does "
                                "(outside this stack) cannot be priced"))


def _configmaps(res: list[Res]) -> dict[tuple[str, str], Res]:
    """The stack's ConfigMaps by (namespace, name); one whose name is unknown during preview is left out (a
    `--config` file in it is then reported as unreadable)."""
    out = {}
    for r in res:
        meta = r.props.get("metadata")
        if r.type != "kubernetes:core/v1:ConfigMap" or not isinstance(meta, Mapping):
            continue
        ns, name = meta.get("namespace") or "default", meta.get("name") or r.name
        if not (is_unknown(ns) or is_unknown(name)):
            out[(str(ns), str(name))] = r
    return out


def build_stack(resources: Sequence[Any], *, stack: str = "",
                non_production: Sequence[str] = NON_PRODUCTION_STACKS, trust: Trust = Trust()) -> Stack:
    """Derive and price everything the pack checks from the resources and the policy config's trust."""
    res = normalize(resources, stack or "stack")
    groups = read_node_groups(res)
    name = stack or stack_name(res)

    def foreign(model: str) -> Workload | None:
        g = trust.grant(name, model)
        if g.workload is not None:
            return Workload.build(g.workload[0], avg_input_tokens=g.workload[1], avg_output_tokens=g.workload[2])
        try:
            return usage_mod.load(g.usage).workload(None) if g.usage else None
        except InputError:
            return None   # _measured names the unreadable file

    models = [read_model(r, groups, _configmaps(res), foreign, name) for r in res if is_gpu_workload(r)]
    models += models_from_tags(groups, {m.name for m in models})
    problems: list[Problem] = []
    declared = [m.declared for m in models if m.declared is not None]
    stack_econ = None
    opted_in = any(e.stack.production for e in declared) or any(
        str(g.tags.get(econ.TAG_PREFIX + "stack.production")) == "true" for g in groups)
    try:
        stack_econ = econ.stack_of(declared) if declared else None
    except InputError as e:
        problems.append(Problem("", "stack", f"the models disagree on stack-level economics: {e}"))
        stack_econ = declared[0].stack
    production = is_production(name, opted_in, non_production, trust.grant(name).production is False)
    book = None
    if stack_econ is not None:
        stack_econ, book = _trusted_stack(stack_econ, name, trust, problems)
        for m in models:
            _trust_model(m, name, trust)
            _measured(m, name, trust)
    for r in res:
        why = opaque_workload(r)
        if why and not trust.allows(r.name, r.urn):
            problems.append(Problem(r.urn, r.name, f"{r.name}: the pack cannot look into this workload: {why}; list it in "
                                                   "the policy config's trust.allowedWorkloads if it runs no GPUs",
                                    "unknown during preview" in why))
    fleet = _price(models, stack_econ, book, problems) if stack_econ is not None else None
    if stack_econ is not None:
        _price_declared(models, stack_econ, book)
    _unused_capacity(res, groups, models, book, problems)
    return Stack(res, groups, models, name, production, stack_econ, book, fleet, problems)


_CACHE: dict[tuple, Stack] = {}
_LOCK = threading.Lock()


def stack_for(resources: Sequence[Any], *, stack: str = "",
              non_production: Sequence[str] = NON_PRODUCTION_STACKS, trust: Trust = Trust()) -> Stack:
    """`build_stack`, memoised on the resources' content (every stack policy of one AnalyzeStack shares it)."""
    res = normalize(resources, stack or "stack")
    key = (fingerprint(res), stack, tuple(non_production), trust.key())
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        hit = build_stack(res, stack=stack, non_production=non_production, trust=trust)
        with _LOCK:
            if len(_CACHE) > 16:
                _CACHE.clear()
            _CACHE[key] = hit
    return hit
