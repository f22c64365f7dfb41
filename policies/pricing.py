"""Resources -> cost inputs: the policy pack prices what it is shown.

The pack never reads the stack spec. It reads the resources a preview registers — the GPU node
groups (`aws:eks/nodeGroup:NodeGroup`: instance types, scaling, capacity type, zones) and the
vLLM workloads the chart renders (`kubernetes:apps/v1:Deployment` or a LeaderWorkerSet: GPU limits,
replicas, engine arguments and the `breakeven.dev/*` economics annotations) — rebuilds
`cost.Deployment` / `cost.Workload` from them and prices the fleet with `cost.fleet.price_fleet`,
exactly as the program does from the spec. What is checked is therefore what would be deployed.

Whatever cannot be priced (an instance type outside the catalog, a value unknown during preview,
a workload no node group can carry) is recorded as a `Problem`, never guessed.

Input: a list of resources, each either a dict `{type, name, inputs | props | properties, urn?,
parent?, propertyDependencies?}` (the offline preview's `plan.resources`) or a
`pulumi_policy.PolicyResource` (what the analyzer hands a stack policy).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE, UNKNOWN_ARRAY_VALUE, UNKNOWN_ASSET_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE,
)

from cost import api_prices, capacity, catalog
from cost.deployment import EXEMPTIONS, Deployment, Exemptions
from cost.errors import InputError
from cost.estimate import Estimate
from cost.fleet import Fleet, Tier, price_fleet
from cost.tco import Overheads
from cost.units import parse_tokens
from cost.workload import Workload

ANN = "breakeven.dev/"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"
GPU_RESOURCE = "nvidia.com/gpu"
ZONE_KEY = "topology.kubernetes.io/zone"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "LeaderWorkerSet")
POD_TEMPLATE_KINDS = WORKLOAD_KINDS + ("DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
HOURS = catalog.assumptions()["hours_per_month"]
UNKNOWNS = frozenset({UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
                      UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE})
EKS_TO_PRICING = {"SPOT": "spot", "ON_DEMAND": "on-demand"}
PRODUCTION_WORDS = ("production", "prod", "true", "yes")
NON_PRODUCTION_WORDS = ("false", "no", "development", "dev", "staging", "test")


class Unknown(Exception):
    """A value the preview cannot know yet (an output of a resource not created)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWNS


# ---------------------------------------------------------------------------------------------
# Resources, normalised
# ---------------------------------------------------------------------------------------------

@dataclass
class Res:
    """One resource as the pack sees it: type token, name, URN and plain properties.

    Unknown values stay in `props` as the engine's sentinels; `get` raises `Unknown` on them.
    deps: property name -> URNs of the resources the property's value came from.
    """

    type: str
    name: str
    urn: str
    props: dict
    parent: str = ""
    deps: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.type.startswith("kubernetes:"):
            kind = self.props.get("kind")
            return kind if isinstance(kind, str) and not is_unknown(kind) else self.type.rsplit(":", 1)[-1]
        return self.type.rsplit(":", 1)[-1]

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}"


def plain(value: Any) -> Any:
    """Unwrap the policy SDK's unknown-checking proxies into dicts and lists (sentinels kept)."""
    cls = type(value).__name__
    if cls in ("_DictProxy", "_ListProxy"):
        value = value["__target"]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def get(obj: Any, *path: Any, default: Any = None, where: str = "") -> Any:
    """obj[path...], `default` when absent; raises Unknown when a step is unknown during preview."""
    cur = obj
    walked = [where] if where else []
    for step in path:
        if is_unknown(cur):
            raise Unknown(".".join(walked))
        if isinstance(step, int):
            if not isinstance(cur, list) or step >= len(cur):
                return default
            cur = cur[step]
        else:
            if not isinstance(cur, Mapping) or step not in cur:
                return default
            cur = cur[step]
        walked.append(str(step))
    if is_unknown(cur):
        raise Unknown(".".join(walked))
    return default if cur is None else cur


def make_urn(type_: str, name: str, stack: str = "stack", project: str = "breakeven") -> str:
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def normalize(resources: Sequence[Any], stack: str = "stack", project: str = "breakeven") -> list[Res]:
    """Resource dicts (the offline preview's plan) or PolicyResources -> `Res`."""
    out = []
    for r in resources:
        if isinstance(r, Res):
            out.append(r)
        elif isinstance(r, Mapping):
            type_ = str(r.get("type", ""))
            name = str(r.get("name", ""))
            props = r.get("inputs", r.get("props", r.get("properties"))) or {}
            deps = r.get("propertyDependencies") or r.get("property_dependencies") or {}
            out.append(Res(type_, name, str(r.get("urn") or make_urn(type_, name, stack, project)), plain(props),
                           str(r.get("parent") or ""), {k: list(v) for k, v in dict(deps).items()}))
        else:  # pulumi_policy.PolicyResource
            deps = {k: [d.urn for d in v] for k, v in (getattr(r, "property_dependencies", None) or {}).items()}
            parent = getattr(r, "parent", None)
            out.append(Res(r.resource_type, r.name, r.urn, plain(r.props), parent.urn if parent is not None else "", deps))
    return out


def fingerprint(resources: list[Res]) -> str:
    doc = [(r.type, r.urn, r.props, r.deps) for r in resources]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# What the pack derives
# ---------------------------------------------------------------------------------------------

@dataclass
class Problem:
    """Something the pack could not price or verify, and why."""

    urn: str
    subject: str   # the model or resource it concerns
    message: str
    unknown: bool = False  # an unknown-during-preview value (vs. a value outside the catalogs)


@dataclass
class NodeGroup:
    res: Res
    instance_types: list[str]
    capacity_type: str | None        # SPOT | ON_DEMAND
    desired: int | None
    min_size: int | None
    max_size: int | None
    labels: dict
    taints: list
    zones: list[str] | None          # None: could not be resolved
    ami_type: str = ""
    problems: list[Problem] = field(default_factory=list)
    unknown: set = field(default_factory=set)   # top-level inputs unknown during preview

    @property
    def gpu(self) -> str | None:
        for t in self.instance_types:
            inst = catalog.instances().get(t)
            if inst is not None:
                return inst.gpu
        return None

    @property
    def is_gpu(self) -> bool:
        """A GPU pool: a catalog GPU instance type, an NVIDIA/GPU AMI or the GPU-present label."""
        if any(t in catalog.instances() for t in self.instance_types):
            return True
        return ("NVIDIA" in self.ami_type or "GPU" in self.ami_type
                or str(self.labels.get("nvidia.com/gpu.present")) == "true")

    @property
    def unknown_instance_types(self) -> list[str]:
        return [t for t in self.instance_types if t not in catalog.instances()]

    def node_labels(self) -> dict:
        """Labels a node of the group carries: the group's own plus those EKS sets on every node."""
        out = dict(self.labels)
        if self.capacity_type:
            out["eks.amazonaws.com/capacityType"] = self.capacity_type
        if len(self.instance_types) == 1:
            out["node.kubernetes.io/instance-type"] = self.instance_types[0]
        return out


@dataclass
class Model:
    """One rendered vLLM workload, as priced."""

    res: Res
    name: str
    ann: dict
    pod_spec: dict            # the pod template the GPU nodes must carry (a LeaderWorkerSet's workers)
    pod_labels: dict
    namespace: str
    pod_specs: list = field(default_factory=list)   # every pod template (LeaderWorkerSet: leader and workers)
    total_replicas: int | None = None
    gpus_per_replica: int | None = None
    node_groups: list[NodeGroup] = field(default_factory=list)
    deployment: Deployment | None = None
    workload: Workload | None = None
    estimate: Estimate | None = None
    idle_nodes: int = 0
    idle_usd: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def urn(self) -> str:
        return self.res.urn

    @property
    def priced(self) -> bool:
        return self.estimate is not None

    @property
    def monthly_usd(self) -> float:
        """What the stack pays for this model: the estimate plus node-group nodes it does not use."""
        return (self.estimate.monthly_usd if self.estimate else 0.0) + self.idle_usd

    @property
    def exemptions(self) -> list[str]:
        """The seeds' exemptions the workload declares. `low-ttft` counts when the declared TTFT target is
        under 50 ms, or when it is claimed and no target is annotated; a claim with a target of 50 ms or
        more does not count."""
        claimed = set(_csv(self.ann.get("exemptions")))
        ttft = None if self.workload is None else self.workload.ttft_target_s
        if ttft is not None:
            claimed.discard("low-ttft")
            claimed |= set(Exemptions().claimed(ttft))
        return [e for e in EXEMPTIONS if e in claimed]

    @property
    def context_tokens(self) -> int | None:
        if self.deployment is None or self.workload is None:
            return None
        return max(self.deployment.max_model_len or 0, self.workload.tokens_per_request)


@dataclass
class Stack:
    """Everything the pack derived from one set of resources."""

    resources: list[Res]
    node_groups: list[NodeGroup]
    models: list[Model]
    name: str
    production: bool
    book: Any
    overheads: Overheads
    budget_usd_per_month: float | None
    tiers: list[Tier]
    routed_workload: Workload | None
    fleet: Fleet | None
    problems: list[Problem]           # stack-level (price book, overheads, routing, unused GPU pools)

    @property
    def all_problems(self) -> list[Problem]:
        out = list(self.problems)
        for ng in self.node_groups:
            out += ng.problems
        for m in self.models:
            out += m.problems
        return out

    @property
    def complete(self) -> bool:
        """Every model priced and every stack-level input read."""
        return all(m.priced for m in self.models) and not self.problems

    @property
    def api_tiers_monthly_usd(self) -> float:
        return self.fleet.api_monthly_usd if self.fleet else 0.0

    @property
    def monthly_usd(self) -> float:
        """Self-hosted models (with idle node-group nodes) plus routed API tiers."""
        return sum(m.monthly_usd for m in self.models) + self.api_tiers_monthly_usd

    def model(self, name: str) -> Model:
        return next(m for m in self.models if m.name == name)

    def figures(self) -> dict:
        """The pack's figures in the shape of the preview's exported `cost` (Fleet.to_dict), for comparison."""
        if self.fleet is None:
            return {}
        d = self.fleet.to_dict()
        d["monthly_usd"] = round(self.monthly_usd, 2)
        return d


# ---------------------------------------------------------------------------------------------
# Reading node groups
# ---------------------------------------------------------------------------------------------

def _int_or_none(v: Any) -> int | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return int(f) if f == int(f) else None


def _zones_of(ng: Res, subnets_by_urn: dict, subnets_by_id: dict) -> list[str] | None:
    """The availability zones a node group's subnets lie in.

    1. the subnets its `subnetIds` input came from (property dependencies: what the CLI sends),
    2. known subnet ids matched against the subnets' ids (the offline preview's mock ids),
    3. the `breakeven.dev/zones` tag the program may set (zones separated by spaces, commas, `+` or `/`:
       AWS tag values allow no commas).
    """
    zones: set[str] = set()
    for urn in ng.deps.get("subnetIds", []):
        s = subnets_by_urn.get(urn)
        az = None if s is None else s.props.get("availabilityZone")
        if isinstance(az, str) and not is_unknown(az):
            zones.add(az)
    if zones:
        return sorted(zones)
    ids = ng.props.get("subnetIds")
    if isinstance(ids, list) and ids and all(isinstance(i, str) and not is_unknown(i) for i in ids):
        found = [subnets_by_id.get(i) for i in ids]
        if all(s is not None for s in found):
            return sorted(set(found))
    tag = (ng.props.get("tags") or {}).get(ANN + "zones") if isinstance(ng.props.get("tags"), Mapping) else None
    if isinstance(tag, str) and tag and not is_unknown(tag):
        return sorted({z for z in re.split(r"[\s,;+/]+", tag) if z})
    return None


def read_node_groups(resources: list[Res]) -> list[NodeGroup]:
    subnets = [r for r in resources if r.type == SUBNET]
    by_urn = {s.urn: s for s in subnets}
    by_id = {}
    for s in subnets:
        sid = s.props.get("id")
        az = s.props.get("availabilityZone")
        if isinstance(sid, str) and isinstance(az, str) and not (is_unknown(sid) or is_unknown(az)):
            by_id[sid] = az
    out = []
    for r in resources:
        if r.type != NODE_GROUP:
            continue
        probs: list[Problem] = []
        unknown: set = set()

        def read(*path, default=None):
            try:
                return get(r.props, *path, default=default)
            except Unknown as u:
                unknown.add(str(path[0]))
                probs.append(Problem(r.urn, r.name, f"{r.name}.{u.path} is unknown during preview", unknown=True))
                return None

        itypes = [t for t in (read("instanceTypes", default=[]) or []) if isinstance(t, str) and not is_unknown(t)]
        ng = NodeGroup(
            res=r, instance_types=itypes, capacity_type=read("capacityType", default="ON_DEMAND"),
            desired=_int_or_none(read("scalingConfig", "desiredSize")), min_size=_int_or_none(read("scalingConfig", "minSize")),
            max_size=_int_or_none(read("scalingConfig", "maxSize")),
            labels={k: v for k, v in (read("labels", default={}) or {}).items() if not is_unknown(v)},
            taints=[t for t in (read("taints", default=[]) or []) if isinstance(t, Mapping)],
            zones=_zones_of(r, by_urn, by_id), ami_type=str(read("amiType", default="") or ""), problems=probs,
            unknown=unknown,
        )
        if ng.unknown_instance_types and ng.is_gpu:
            probs.append(Problem(r.urn, r.name, f"node group {r.name}: instance type {', '.join(ng.unknown_instance_types)} "
                                                "is not in the catalog; its GPUs cannot be priced"))
        out.append(ng)
    return out


# ---------------------------------------------------------------------------------------------
# Reading the vLLM workloads
# ---------------------------------------------------------------------------------------------

def _csv(value: Any) -> list[str]:
    if not isinstance(value, str) or is_unknown(value):
        return []
    return [p.strip() for p in value.split(",") if p.strip()]


def pod_templates(r: Res) -> list[tuple[str, dict]]:
    """(path, pod template) pairs of a Kubernetes object that runs pods."""
    spec = r.props.get("spec")
    if not isinstance(spec, Mapping):
        return []
    kind = r.kind
    if kind == "Pod":
        return [("spec", {"metadata": r.props.get("metadata") or {}, "spec": spec})]
    if kind == "CronJob":
        t = get(spec, "jobTemplate", "spec", "template", default=None)
        return [("spec.jobTemplate.spec.template", t)] if isinstance(t, Mapping) else []
    if kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        out = []
        for key in ("leaderTemplate", "workerTemplate"):
            if isinstance(lwt.get(key), Mapping):
                out.append((f"spec.leaderWorkerTemplate.{key}", lwt[key]))
        return out
    t = spec.get("template")
    return [("spec.template", t)] if isinstance(t, Mapping) else []


def _gpu_limit(container: Mapping) -> int:
    res = container.get("resources") or {}
    for section in ("limits", "requests"):
        v = (res.get(section) or {}).get(GPU_RESOURCE)
        if v is not None:
            if is_unknown(v):
                raise Unknown(f"resources.{section}.{GPU_RESOURCE}")
            return int(float(v))
    return 0


def _arg_value(args: list, flag: str) -> str | None:
    for i, a in enumerate(args):
        if not isinstance(a, str):
            continue
        if a == flag and i + 1 < len(args):
            return str(args[i + 1])
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _vllm_args(pod_spec: Mapping) -> list[str]:
    """The vLLM server's command line: every string of the containers' command and args."""
    out: list[str] = []
    for c in pod_spec.get("containers") or []:
        for key in ("command", "args"):
            for a in c.get(key) or []:
                if isinstance(a, str):
                    out += a.split()
    return out


def _num(value: Any, key: str, kind=float) -> Any:
    if value is None:
        return None
    if is_unknown(value):
        raise Unknown(key)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(key, value, "a number") from None
    if kind is int:
        if v != int(v):
            raise InputError(key, value, "a whole number")
        return int(v)
    return v


def _annotations(r: Res, template: Mapping) -> dict:
    """The workload's breakeven.dev/* annotations (object metadata, completed by the pod template's)."""
    out = {}
    for source in (get(template, "metadata", "annotations", default={}), get(r.props, "metadata", "annotations", default={})):
        if isinstance(source, Mapping):
            for k, v in source.items():
                if k.startswith(ANN):
                    out[k[len(ANN):]] = v
    return out


def is_vllm_workload(r: Res) -> bool:
    if not r.type.startswith("kubernetes:") or r.kind not in WORKLOAD_KINDS:
        return False
    for _, t in pod_templates(r):
        if "model" in _annotations(r, t):
            return True
    return False


def _tolerates(pod_spec: Mapping, taint: Mapping) -> bool:
    effect = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}.get(
        str(taint.get("effect")), str(taint.get("effect")))
    if effect == "PreferNoSchedule":
        return True
    for t in pod_spec.get("tolerations") or []:
        if t.get("effect") not in (None, "", effect):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and str(t.get("value", "")) == str(taint.get("value", "")):
            return True
    return False


def _selects(pod_spec: Mapping, labels: Mapping) -> bool:
    """nodeSelector and required node affinity (In / NotIn / Exists / DoesNotExist) against node labels."""
    for k, v in (pod_spec.get("nodeSelector") or {}).items():
        if str(labels.get(k)) != str(v):
            return False
    terms = get(pod_spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                "nodeSelectorTerms", default=[])
    if not terms:
        return True
    for term in terms:
        ok = True
        for e in term.get("matchExpressions") or []:
            key, op, vals = e.get("key"), e.get("operator"), [str(x) for x in e.get("values") or []]
            have = labels.get(key)
            if op == "In":
                ok &= have is not None and str(have) in vals
            elif op == "NotIn":
                ok &= have is None or str(have) not in vals
            elif op == "Exists":
                ok &= have is not None
            elif op == "DoesNotExist":
                ok &= have is None
        if ok:
            return True
    return False


def _match_node_groups(pod_spec: Mapping, groups: list[NodeGroup]) -> list[NodeGroup]:
    return [g for g in groups if _selects(pod_spec, g.node_labels()) and all(_tolerates(pod_spec, t) for t in g.taints)]


def read_model(r: Res, groups: list[NodeGroup]) -> Model:
    """One rendered vLLM workload -> cost inputs (Deployment, Workload) and its node groups."""
    templates = pod_templates(r)
    _, first = templates[0]
    ann = _annotations(r, first)
    metadata = r.props.get("metadata") or {}
    labels = get(first, "metadata", "labels", default={}) or {}
    name = ann.get("name") or (metadata.get("labels") or {}).get("app.kubernetes.io/instance") or metadata.get("name") or r.name
    m = Model(res=r, name=str(name), ann=ann, pod_spec=first.get("spec") or {}, pod_labels=dict(labels),
              namespace=str(metadata.get("namespace") or "default"), pod_specs=[t.get("spec") or {} for _, t in templates])
    subject = m.name

    def problem(message: str, unknown: bool = False) -> None:
        m.problems.append(Problem(r.urn, subject, message, unknown))

    # The node groups the pods can land on (labels they select, taints they tolerate), matched first so that
    # a workload the pack cannot price still accounts for its nodes. A LeaderWorkerSet's workers need them.
    if r.kind == "LeaderWorkerSet":
        m.pod_spec = (next((t for p, t in templates if p.endswith("workerTemplate")), first).get("spec")) or m.pod_spec
    m.node_groups = _match_node_groups(m.pod_spec, [g for g in groups if g.is_gpu or g.instance_types])
    try:
        for key, value in ann.items():
            if is_unknown(value):
                raise Unknown(ANN + key)
        spec = r.props.get("spec") or {}
        # Replicas: Deployment spec.replicas, or LeaderWorkerSet groups; pods of a replica and their GPUs.
        total = _num(get(spec, "replicas", where="spec"), "spec.replicas", int)
        if total is None:
            total = _num(ann.get("replicas"), ANN + "replicas", int) or 1
        m.total_replicas = total
        if r.kind == "LeaderWorkerSet":
            size = _num(get(spec, "leaderWorkerTemplate", "size", where="spec"), "spec.leaderWorkerTemplate.size", int) or 1
            leader = next((t for p, t in templates if p.endswith("leaderTemplate")), None)
            worker = next((t for p, t in templates if p.endswith("workerTemplate")), templates[-1][1])
            per_worker = sum(_gpu_limit(c) for c in get(worker, "spec", "containers", default=[]))
            per_leader = per_worker if leader is None else sum(_gpu_limit(c) for c in get(leader, "spec", "containers", default=[]))
            gpus = per_leader + per_worker * (size - 1)
        else:
            gpus = sum(_gpu_limit(c) for c in get(first, "spec", "containers", default=[]))
        m.gpus_per_replica = gpus
        if gpus < 1:
            problem(f"{subject}: the vLLM containers request no {GPU_RESOURCE}; nothing to price")
            return m
        tp_ann = _num(ann.get("tensor-parallel"), ANN + "tensor-parallel", int)
        if tp_ann is not None and tp_ann != gpus:
            m.notes.append(f"{ANN}tensor-parallel says {tp_ann} but each replica requests {gpus} GPU(s); priced as deployed, "
                           f"{gpus}")

        redundancy = _num(ann.get("redundancy"), ANN + "redundancy", int) or 0
        serving = total - redundancy
        if serving < 1:
            problem(f"{subject}: {total} replica(s) with {redundancy} declared as redundancy leaves none serving")
            return m
        rep_ann = _num(ann.get("replicas"), ANN + "replicas", int)
        if rep_ann is not None and rep_ann not in (serving, total):
            m.notes.append(f"{ANN}replicas says {rep_ann}; the workload runs {total} ({serving} serving + {redundancy} spare)")

        gpu_groups = [g for g in m.node_groups if g.is_gpu]
        if not gpu_groups:
            problem(f"{subject}: no GPU node group matches the pods' node selector and tolerations; "
                    "the replicas could not be scheduled and cannot be priced")
            return m
        carrying = [g for g in gpu_groups if (g.desired or 0) > 0] or gpu_groups
        unsure = [f"{g.res.name}.{f}" for g in carrying for f in sorted(g.unknown) if f in ("instanceTypes", "capacityType")]
        if unsure:
            problem(f"{subject}: {', '.join(unsure)} is unknown during preview", unknown=True)
            return m
        itypes = sorted({t for g in carrying for t in g.instance_types})
        unknown = [t for t in itypes if t not in catalog.instances()]
        if unknown:
            problem(f"{subject}: instance type {', '.join(unknown)} is not in the catalog; cannot price it")
            return m
        if not itypes:
            problem(f"{subject}: the node groups carrying it name no instance type", unknown=True)
            return m
        if len({catalog.instance(t).gpu for t in itypes}) > 1:
            problem(f"{subject}: its node groups mix GPUs ({', '.join(itypes)}); vLLM replicas need one GPU type")
            return m
        declared = ann.get("instance-type")
        itype = declared if declared in itypes else itypes[0]
        if declared and declared not in itypes:
            m.notes.append(f"{ANN}instance-type says {declared} but its node groups run {', '.join(itypes)}; priced as {itype}")

        # Capacity type: what the carrying node groups buy (reserved is a billing discount on on-demand).
        caps = {g.capacity_type for g in carrying}
        declared_pricing = ann.get("capacity-type") or "on-demand"
        if caps == {"SPOT"}:
            pricing = "spot"
        elif caps <= {"ON_DEMAND", None}:
            pricing = declared_pricing if declared_pricing in ("on-demand", "reserved-1y", "reserved-3y") else "on-demand"
        else:
            pricing = declared_pricing if declared_pricing in catalog.PRICINGS else "on-demand"
        if pricing != declared_pricing:
            m.notes.append(f"{ANN}capacity-type says {declared_pricing} but its node groups buy "
                           f"{'/'.join(sorted(str(c) for c in caps))}; priced as {pricing}")

        # Engine settings from the vLLM command line (what the server will really do), annotations as fallback.
        args = _vllm_args(m.pod_spec)
        mml = _num(_arg_value(args, "--max-model-len") or ann.get("max-model-len"), "--max-model-len", int)
        gmu = _num(_arg_value(args, "--gpu-memory-utilization") or ann.get("gpu-memory-utilization"),
                   "--gpu-memory-utilization")
        seqs = _num(_arg_value(args, "--max-num-seqs") or ann.get("max-num-seqs"), "--max-num-seqs", int)
        hourly = _num(ann.get("hourly-usd-per-gpu"), ANN + "hourly-usd-per-gpu")
        conc = _num(ann.get("concurrency"), ANN + "concurrency", int)
        cap_tokens = ann.get("capacity-tokens-per-month")
        ex = set(_csv(ann.get("exemptions")))
        unknown_ex = ex - set(EXEMPTIONS)
        if unknown_ex:
            raise InputError(ANN + "exemptions", ann.get("exemptions"), ", ".join(EXEMPTIONS))

        kwargs: dict = dict(model=ann["model"], gpu=catalog.instance(itype).gpu, instance_type=itype, gpus_per_replica=gpus,
                            replicas=serving, redundancy=redundancy, precision=ann.get("precision") or "bf16", pricing=pricing,
                            exemptions=Exemptions("fine-tuned" in ex, "private-data" in ex, "custom-inference" in ex),
                            name=m.name)
        for key, val in (("max_model_len", mml), ("gpu_memory_utilization", gmu), ("max_num_seqs", seqs),
                         ("hourly_usd_per_gpu", hourly), ("concurrency", conc)):
            if val is not None:
                kwargs[key] = val
        if cap_tokens not in (None, ""):
            kwargs["capacity_tokens_per_month"] = parse_tokens(cap_tokens, ANN + "capacity-tokens-per-month")
        m.deployment = Deployment.build(**kwargs)
        m.workload = read_workload(ann)
    except Unknown as u:
        problem(f"{subject}: {u.path} is unknown during preview", unknown=True)
    except InputError as e:
        problem(f"{subject}: {e}")
    return m


def read_workload(ann: Mapping) -> Workload:
    """The declared workload from the economics annotations. The average request sizes win over the
    input share when both are given (the share is a rounded rendering of them)."""
    for key in ("tokens-per-month", "input-share", "avg-input-tokens", "avg-output-tokens", "utilization",
                "ttft-target-ms", "tpot-target-ms"):
        if is_unknown(ann.get(key)):
            raise Unknown(ANN + key)
    if ann.get("tokens-per-month") in (None, ""):
        raise InputError(ANN + "tokens-per-month", None, "the declared monthly token volume (e.g. 100M)")
    avg_in = _num(ann.get("avg-input-tokens"), ANN + "avg-input-tokens", int)
    avg_out = _num(ann.get("avg-output-tokens"), ANN + "avg-output-tokens", int)
    share = None if (avg_in and avg_out) else _num(ann.get("input-share"), ANN + "input-share")
    ttft = _num(ann.get("ttft-target-ms"), ANN + "ttft-target-ms")
    tpot = _num(ann.get("tpot-target-ms"), ANN + "tpot-target-ms")
    util = _num(ann.get("utilization"), ANN + "utilization")
    return Workload.build(
        parse_tokens(ann["tokens-per-month"], ANN + "tokens-per-month"),
        input_share=share, avg_input_tokens=avg_in, avg_output_tokens=avg_out,
        utilization=0.8 if util is None else util,
        ttft_target_s=None if ttft is None else ttft / 1000,
        tpot_target_s=None if tpot is None else tpot / 1000,
    )


# ---------------------------------------------------------------------------------------------
# Stack-level economics (repeated on every workload; they must agree)
# ---------------------------------------------------------------------------------------------

STACK_KEYS = ("stack", "environment", "production", "price-book", "gpu-price-source", "overheads", "budget-usd-per-month", "routing")


def _stack_values(models: list[Model], problems: list[Problem]) -> dict:
    values: dict = {}
    for key in STACK_KEYS:
        seen = {}
        for m in models:
            v = m.ann.get(key)
            if v is not None and v != "":
                seen.setdefault(json.dumps(v, sort_keys=True, default=str), (v, m))
        if len(seen) > 1:
            names = ", ".join(f"{m.name}={v!r}" for v, m in seen.values())
            problems.append(Problem(models[0].urn, "stack", f"{ANN}{key} differs between workloads ({names}); "
                                                            "a stack has one value"))
        if seen:
            values[key] = next(iter(seen.values()))[0]
    return values


def _json_value(value: Any, key: str) -> Any:
    if isinstance(value, str):
        s = value.strip()
        if s in ("default", "none"):
            return s
        try:
            return json.loads(s)
        except json.JSONDecodeError:
            raise InputError(ANN + key, value, "JSON") from None
    return value


def _routing(value: Any) -> tuple[list[Tier], Workload | None]:
    """`breakeven.dev/routing`: {tokensPerMonth, avgInputTokens, avgOutputTokens | inputShare, utilization,
    tiers: [{name, share, model | api}]} — the stack's routed workload and where each share goes."""
    r = _json_value(value, "routing")
    if not isinstance(r, Mapping) or "tiers" not in r:
        raise InputError(ANN + "routing", value, "JSON {tokensPerMonth, avgInputTokens, avgOutputTokens, tiers: [...]}")
    w = Workload.build(parse_tokens(r.get("tokensPerMonth"), ANN + "routing.tokensPerMonth"),
                       input_share=None if "avgInputTokens" in r else r.get("inputShare"),
                       avg_input_tokens=r.get("avgInputTokens"), avg_output_tokens=r.get("avgOutputTokens"),
                       utilization=r.get("utilization", 0.8))
    tiers = [Tier(str(t.get("name", f"tier-{i}")), float(t["share"]), deployment=t.get("model"), api=t.get("api"))
             for i, t in enumerate(r["tiers"])]
    return tiers, w


def is_production(environment: Any, stack: str, patterns: Sequence[str] = ()) -> bool:
    """Production when the workloads say so (`breakeven.dev/environment`), else when the stack name matches."""
    if isinstance(environment, str) and environment.strip().lower() in PRODUCTION_WORDS + NON_PRODUCTION_WORDS:
        return environment.strip().lower() in PRODUCTION_WORDS
    if isinstance(environment, bool):
        return environment
    return any(re.fullmatch(p, stack or "") for p in patterns)


# ---------------------------------------------------------------------------------------------
# Pricing
# ---------------------------------------------------------------------------------------------

def _priceable(m: Model, book) -> bool:
    """The model fits its GPUs (cost.estimate refuses otherwise) and its plan can be priced."""
    d, w = m.deployment, m.workload
    if d is None or w is None:
        return False
    fit = capacity.memory_fit(catalog.model(d.model), catalog.gpu(d.gpu), d.gpus_per_replica, d.precision,
                              m.context_tokens, d.gpu_memory_utilization)
    if not fit.fits:
        m.problems.append(Problem(m.urn, m.name, f"{m.name}: {d.model} does not fit {d.gpus_per_replica}x {d.gpu} at a "
                                                 f"{m.context_tokens}-token context ({fit.shortfall_gb:.1f} GB short); "
                                                 "it cannot be served, so it is not priced"))
        return False
    return True


def _idle(m: Model) -> None:
    """Nodes the model's node groups run beyond what its replicas need are billed too."""
    est = m.estimate
    if est is None or est.plan.billing != "instance":
        return
    desired = [g.desired for g in m.node_groups if g.is_gpu]
    if any(d is None for d in desired):
        m.notes.append("a node group's desired size is unknown during preview; its node count is not checked")
        return
    have, need = sum(desired), est.plan.nodes
    if have > need:
        m.idle_nodes = have - need
        m.idle_usd = m.idle_nodes * est.plan.unit_usd_hr * HOURS
    elif have < need:
        m.notes.append(f"its node groups run {have} node(s) but its {m.total_replicas} replica(s) need {need} "
                       f"x {est.plan.instance_type}: {need - have} replica node(s) short, some pods will stay Pending")


def node_hourly_usd(g: NodeGroup, book=None) -> float | None:
    """What one node of a group costs per hour (its first catalog instance type, its capacity type)."""
    from cost.nodes import plan_nodes

    inst = next((catalog.instances()[t] for t in g.instance_types if t in catalog.instances()), None)
    if inst is None:
        return None
    # plan_nodes prices a deployment; one replica on one whole instance is exactly one node.
    probe = Deployment(model="", gpu=inst.gpu, gpus_per_replica=inst.gpus, instance_type=inst.type,
                       pricing=EKS_TO_PRICING.get(g.capacity_type or "ON_DEMAND", "on-demand"))
    try:
        return plan_nodes(probe, book).unit_usd_hr
    except InputError:
        return None


def _price(models: list[Model], book, overheads: Overheads, budget: float | None, tiers: list[Tier],
           routed: Workload | None, problems: list[Problem]) -> Fleet | None:
    """Price the models that can be priced as one fleet (the per-stack overheads split between them by GPU
    spend, as the program does), with the routed API tiers. A model the fleet cannot price is isolated
    and recorded, and so are routing tiers that cannot be priced; the rest is still priced."""
    priced = [m for m in models if _priceable(m, book)]
    if not priced:
        return None
    names = {m.name for m in priced}
    if any(t.deployment is not None and t.deployment not in names for t in tiers):
        problems.append(Problem("", "stack", "a routing tier sends traffic to a model that could not be priced; "
                                             "the API tiers are left out of the total"))
        tiers, routed = [], None

    def fleet_of(ms: list[Model], ts: list[Tier], rw: Workload | None) -> Fleet:
        return price_fleet([(m.deployment, m.workload) for m in ms], tiers=ts, routed_workload=rw, book=book,
                           overheads=overheads, budget_usd_per_month=budget)

    try:
        fleet = fleet_of(priced, tiers, routed)
    except InputError:
        alone = []
        for m in priced:
            try:
                fleet_of([m], [], None)
                alone.append(m)
            except InputError as e:
                m.problems.append(Problem(m.urn, m.name, f"{m.name}: {e}"))
        priced = alone
        if not priced:
            return None
        try:
            ts = [t for t in tiers if t.deployment is None or t.deployment in {m.name for m in priced}]
            fleet = fleet_of(priced, ts if len(ts) == len(tiers) else [], routed if len(ts) == len(tiers) else None)
        except InputError as e:
            problems.append(Problem("", "stack", f"the routing tiers cannot be priced ({e}); they are left out of the total"))
            fleet = fleet_of(priced, [], None)
    for m, est in zip(priced, fleet.estimates):
        m.estimate = est
        _idle(m)
    return fleet


def build_stack(resources: Sequence[Any], *, stack: str = "", production_stacks: Sequence[str] = ()) -> Stack:
    """Derive and price everything the pack checks from the resources."""
    res = normalize(resources, stack or "stack")
    groups = read_node_groups(res)
    models = [read_model(r, groups) for r in res if is_vllm_workload(r)]
    problems: list[Problem] = []
    values = _stack_values(models, problems)
    stack_name = str(values.get("stack") or stack or "")
    production = is_production(values.get("environment", values.get("production")), stack_name, production_stacks)

    book, overheads, budget, tiers, routed = None, Overheads(), None, [], None
    try:
        name = values.get("price-book")
        src = values.get("gpu-price-source")
        if not name and isinstance(src, str) and src.startswith("price-book:"):
            name = src.split(":", 1)[1]
        book = api_prices.load_price_book(name) if name else None
    except InputError as e:
        problems.append(Problem("", "stack", f"price book: {e}"))
    try:
        if "overheads" in values:
            overheads = Overheads.from_dict(_json_value(values["overheads"], "overheads"), ANN + "overheads.")
        if values.get("budget-usd-per-month") not in (None, ""):
            budget = _num(values["budget-usd-per-month"], ANN + "budget-usd-per-month")
        if values.get("routing") not in (None, ""):
            tiers, routed = _routing(values["routing"])
    except Unknown as u:
        problems.append(Problem("", "stack", f"{u.path} is unknown during preview", unknown=True))
    except (InputError, KeyError, TypeError, ValueError) as e:
        problems.append(Problem("", "stack", f"stack economics: {e}"))

    fleet = _price(models, book, overheads, budget, tiers, routed, problems)
    if fleet is None:
        tiers, routed = [], None

    # GPU node groups no vLLM workload runs on are billed for nothing.
    used = {id(g) for m in models for g in m.node_groups}
    for g in groups:
        if g.is_gpu and id(g) not in used and (g.desired or 0) > 0:
            usd = node_hourly_usd(g, book)
            cost = f" (${usd * g.desired * HOURS:,.2f}/month)" if usd is not None else ""
            problems.append(Problem(g.res.urn, g.res.name, f"GPU node group {g.res.name} runs {g.desired} node(s){cost} "
                                                           "that no vLLM workload is scheduled on"))
    return Stack(res, groups, models, stack_name, production, book, overheads, budget, tiers, routed, fleet, problems)


_CACHE: dict[tuple, Stack] = {}
_LOCK = threading.Lock()


def stack_for(resources: Sequence[Any], *, stack: str = "", production_stacks: Sequence[str] = ()) -> Stack:
    """`build_stack`, memoised on the resources' content (every stack policy of one AnalyzeStack shares it)."""
    res = normalize(resources, stack or "stack")
    key = (fingerprint(res), stack, tuple(production_stacks))
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    result = build_stack(res, stack=stack, production_stacks=production_stacks)
    with _LOCK:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[key] = result
    return result
