"""Every resource that can launch GPU machines, read at the ceiling it allows, whoever wrote it.

The pack judges what a stack *may* bill, not what it says it runs. Besides the EKS managed node
groups (`policies.pricing.NodeGroup`), these resources launch EC2 instances and are read here:

* self-managed auto-scaling groups (`aws:autoscaling/group:Group`) at the largest of their `maxSize`,
  `desiredCapacity` and every scheduled action's `maxSize` / `desiredCapacity`
  (`aws:autoscaling/schedule:Schedule`: a schedule can raise the group's maximum), plus a Running warm pool;
* EC2 instances (`aws:ec2/instance:Instance`) and Spot instance requests, one machine each;
* On-Demand Capacity Reservations (`aws:ec2/capacityReservation:CapacityReservation`) at their instance count;
* AWS Batch compute environments (`aws:batch/computeEnvironment:ComputeEnvironment`) at the machines `maxVcpus` allows;
* SageMaker endpoint configurations with GPU instances: named, their prices are not in the catalog;
* Spot Fleets (`aws:ec2/spotFleetRequest:SpotFleetRequest`) and EC2 Fleets (`aws:ec2/fleet:Fleet`) at
  their target capacity, in machines of the smallest weight they may launch;
* Karpenter NodePools (`karpenter.sh` NodePool, and the older Provisioner) at the machines their
  `limits` allow; a pool without limits is unbounded and cannot be priced.

Instance types come from the resource itself or from the launch template it names (resolved through
the property dependencies the CLI sends, or the template's `name`). A type is a GPU type when the
instance catalog lists it or its family is an NVIDIA GPU family (g*, p*), whatever the labels, tags or
AMI say. A ceiling is priced on-demand (spot may bill less, never more). Nothing here knows the stack spec.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cost import catalog
from cost.errors import InputError
from cost.pricing.nodes import instance_hourly_usd
from policies.resources import Res, Unknown, get, is_unknown, whole

ASG = "aws:autoscaling/group:Group"
SCHEDULE = "aws:autoscaling/schedule:Schedule"
INSTANCE = "aws:ec2/instance:Instance"
SPOT_FLEET = "aws:ec2/spotFleetRequest:SpotFleetRequest"
EC2_FLEET = "aws:ec2/fleet:Fleet"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
LAUNCH_CONFIGURATION = "aws:ec2/launchConfiguration:LaunchConfiguration"
SPOT_INSTANCE = "aws:ec2/spotInstanceRequest:SpotInstanceRequest"
CAPACITY_RESERVATION = "aws:ec2/capacityReservation:CapacityReservation"
BATCH = "aws:batch/computeEnvironment:ComputeEnvironment"
SAGEMAKER_ENDPOINT = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
WHAT = {ASG: "auto-scaling group", INSTANCE: "EC2 instance", SPOT_INSTANCE: "EC2 Spot instance request",
        SPOT_FLEET: "Spot Fleet request", EC2_FLEET: "EC2 Fleet", CAPACITY_RESERVATION: "EC2 capacity reservation",
        BATCH: "AWS Batch compute environment", SAGEMAKER_ENDPOINT: "SageMaker endpoint configuration"}
KARPENTER_KINDS = ("NodePool", "Provisioner")
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
# NVIDIA GPU instance families (EC2 "accelerated computing": G and P), e.g. g4dn, g5, g6e, gr6, p4d, p5en.
GPU_FAMILY = re.compile(r"^(g\d+[a-z]*|gr\d+[a-z]*|p\d+[a-z]*)\.")
HOURS = catalog.assumptions()["hours_per_month"]


def is_gpu_type(instance_type: str) -> bool:
    """A GPU instance type: in the GPU instance catalog, or of an NVIDIA GPU family the catalog lacks."""
    return instance_type in catalog.instances() or bool(GPU_FAMILY.match(instance_type))


@dataclass
class Capacity:
    """One resource that can launch GPU machines, at its ceiling.

    nodes: instance type -> the most machines of that type it may run (None: the types or the count could not be
    read, or it is unbounded); why: what could not be read, for the violation; detail: which setting is the ceiling.
    """

    res: Res
    what: str
    nodes: dict[str, int] | None
    why: str = ""
    unknown: bool = False
    detail: str = ""
    # Karpenter only: what its nodes carry, for matching pods to it (labels, taints, zones, capacity type).
    labels: dict = field(default_factory=dict)
    taints: list = field(default_factory=list)
    zones: list[str] | None = None
    spot_only: bool = False

    @property
    def karpenter(self) -> bool:
        return self.what.startswith("Karpenter")

    @property
    def is_gpu(self) -> bool:
        """It may launch GPU machines (an unreadable instance type counts: it might)."""
        return self.nodes is None or any(is_gpu_type(t) and n > 0 for t, n in self.nodes.items())

    def ceiling(self, book: Any = None) -> tuple[str, int, float] | None:
        """(instance type, machines, $/month) of the dearest fleet it may run, on-demand; None when a GPU type is
        outside the catalog or the count is unreadable."""
        if self.nodes is None or any(is_gpu_type(t) and t not in catalog.instances() for t in self.nodes):
            return None
        best = None
        for t, n in self.nodes.items():
            if t not in catalog.instances():
                continue
            try:
                usd = instance_hourly_usd(t, "on-demand", book) * n * HOURS
            except InputError:
                return None
            if best is None or usd > best[2]:
                best = (t, n, usd)
        return best

    def describe(self, book: Any = None) -> str:
        """`<what> <name> may run N x type: $X/month at its ceiling`, or why it cannot be priced."""
        top = self.ceiling(book)
        if top is None:
            why = self.why or "GPU instance type " + ", ".join(
                t for t in self.nodes or {} if is_gpu_type(t) and t not in catalog.instances()) + " is not in the instance catalog"
            types = ", ".join(self.nodes or {}) or "unknown types"
            return f"{self.what} {self.res.name} may launch GPU machines ({types}) but cannot be priced: {why}"
        t, n, usd = top
        return (f"{self.what} {self.res.name} may run {n} x {t}{self.detail}: ${usd:,.2f}/month at its ceiling "
                f"(on-demand, {HOURS:g} h)")


@dataclass
class _Lookup:
    """Launch templates and configurations of the stack, by URN and by name."""

    by_urn: dict[str, Res] = field(default_factory=dict)
    by_name: dict[str, Res] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)   # URNs of the templates some capacity source launches from

    @classmethod
    def of(cls, resources: list[Res], type_: str) -> _Lookup:
        out = cls()
        for r in resources:
            if r.type == type_:
                out.by_urn[r.urn] = r
                name = r.props.get("name")
                if isinstance(name, str) and not is_unknown(name):
                    out.by_name[name] = r
        return out


def _template_type(r: Res, dep_key: str, spec: Any, templates: _Lookup, *, versioned: bool = True) -> str:
    """The instance type of the launch template a resource names (by dependency URN or by name), at the version it
    names (`_check_version`; launch configurations have no versions: versioned=False)."""
    candidates = [templates.by_urn[u] for u in r.deps.get(dep_key, []) if u in templates.by_urn]
    if not candidates and isinstance(spec, Mapping):
        for key in ("name", "launchTemplateName"):
            name = spec.get(key)
            if isinstance(name, str) and name in templates.by_name:
                candidates.append(templates.by_name[name])
    if len({c.urn for c in candidates}) != 1:
        raise InputError(dep_key, "launch template", "a launch template of this stack",
                         "the launch template it launches from is not among the stack's resources")
    templates.used.add(candidates[0].urn)
    if versioned:
        _check_version(dep_key, spec, candidates[0])
    value = get(candidates[0].props, "instanceType", where=f"launch template {candidates[0].name}")
    if not isinstance(value, str) or not value:
        raise InputError(f"launch template {candidates[0].name}.instanceType", value, "an instance type")
    return value


def _check_version(dep_key: str, spec: Any, template: Res) -> None:
    """The pack sees a launch template's settings as this preview leaves them: its latest version. A reference is
    read only when it launches that version: `$Latest`, the template's `latest_version` (unknown during a preview
    that changes the template, or equal to a `latestVersion` the template shows), or `$Default` / no version when
    the template sets `updateDefaultVersion` (else its default stays at an older version, EC2 CreateLaunchTemplateVersion:
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateLaunchTemplateVersion.html). Any other version,
    e.g. "1" pinned before the template changed, may launch another instance type: unreadable."""
    version = spec.get("version") if isinstance(spec, Mapping) else None
    if version == "$Latest" or is_unknown(version):
        return
    if version in (None, "", "$Default"):
        if template.props.get("updateDefaultVersion") is True:
            return
        raise InputError(f"{dep_key}.version", version, "$Latest, or the template's latest_version",
                         f"launch template {template.name}'s default version is not updated with its settings "
                         "(updateDefaultVersion is not true), so the instance type it launches cannot be read")
    latest = template.props.get("latestVersion")
    try:   # numbers arrive over gRPC as floats ("3" against 3.0)
        if latest is not None and not is_unknown(latest) and float(latest) == float(str(version)):
            return
    except ValueError:
        pass
    raise InputError(f"{dep_key}.version", version, "$Latest, or the template's latest_version",
                     f"version {version} of launch template {template.name} may set another instance type than the "
                     "settings the pack is shown, so the instance type it launches cannot be read")


def node_group_template_type(r: Res, resources: list[Res]) -> str | None:
    """A managed node group's instance type when it comes from its launch template (instanceTypes empty); None when
    it names none. Raises InputError when the template or its version cannot be read."""
    spec = r.props.get("launchTemplate")
    if not spec and not r.deps.get("launchTemplate"):
        return None
    return _template_type(r, "launchTemplate", spec, _Lookup.of(resources, LAUNCH_TEMPLATE))


def _count(value: Any, what: str) -> int | None:
    return None if value is None else whole(value, what)


def _pinned(overrides: list[Any], where: str) -> None:
    """Attribute-based instance selection (`instanceRequirements`) lets AWS pick any matching type: unreadable."""
    for o in overrides:
        if isinstance(o, Mapping) and o.get("instanceRequirements") and not o.get("instanceType"):
            raise InputError(f"{where}.overrides.instanceRequirements", "attribute-based instance selection",
                             "instance types pinned with instanceType", "AWS may launch any type that matches")


def _asg(r: Res, schedules: list[Res], templates: _Lookup, configs: _Lookup) -> Capacity:
    types: list[str] = []
    mixed = get(r.props, "mixedInstancesPolicy", "launchTemplate", default=None)
    if isinstance(mixed, Mapping):
        _pinned(mixed.get("overrides") or [], "mixedInstancesPolicy.launchTemplate")
        overrides = [o.get("instanceType") for o in mixed.get("overrides") or [] if isinstance(o, Mapping)]
        types = [t for t in overrides if isinstance(t, str)]
        if not types:
            types = [_template_type(r, "mixedInstancesPolicy", mixed.get("launchTemplateSpecification"), templates)]
    elif r.props.get("launchTemplate") or r.deps.get("launchTemplate"):
        types = [_template_type(r, "launchTemplate", r.props.get("launchTemplate"), templates)]
    elif r.props.get("launchConfiguration"):
        types = [_template_type(r, "launchConfiguration", {"name": r.props.get("launchConfiguration")}, configs,
                               versioned=False)]
    else:
        raise InputError("launchTemplate", None, "a launch template, launch configuration or mixed instances policy")
    sizes = {"maxSize": _count(get(r.props, "maxSize"), "maxSize"),
             "desiredCapacity": _count(get(r.props, "desiredCapacity"), "desiredCapacity")}
    name = r.props.get("name")
    for s in schedules:
        mine = r.urn in s.deps.get("autoscalingGroupName", []) or (
            isinstance(name, str) and not is_unknown(name) and s.props.get("autoscalingGroupName") == name)
        if mine:
            for key in ("maxSize", "desiredCapacity"):
                sizes[f"schedule {s.name} {key}"] = _count(get(s.props, key, where=s.name), f"schedule {s.name}.{key}")
    known = {k: v for k, v in sizes.items() if v is not None}
    if not known:
        raise InputError("maxSize", None, "the group's maximum size")
    warm = r.props.get("warmPool")
    if isinstance(warm, Mapping) and get(warm, "poolState", default="Stopped") == "Running":
        # Running warm instances bill like in-service ones. The pool holds maxGroupPreparedCapacity (default: the
        # maximum) less the desired capacity, and at least its minSize: at most max(prepared, maximum + minSize) in all
        # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-warm-pools.html)
        top = max(known.values())
        prepared = _count(get(warm, "maxGroupPreparedCapacity", default=None), "warmPool.maxGroupPreparedCapacity")
        floor = _count(get(warm, "minSize", default=None), "warmPool.minSize") or 0
        known["size with its Running warm pool"] = max(top if prepared is None or prepared < 0 else prepared, top + floor)
    which = max(known, key=lambda k: known[k])
    return Capacity(r, "auto-scaling group", {t: known[which] for t in types}, detail=f" (its {which})")


def _weighted_nodes(target: int, overrides: list[Mapping], unit: str) -> dict[str, int]:
    """Machines of each type a fleet's target capacity may buy: the target over the type's weight (its
    `weightedCapacity`; for vcpu / memory-mib targets, the type's vCPUs or MiB), rounded up."""
    out: dict[str, int] = {}
    for o in overrides:
        itype = o.get("instanceType")
        if not isinstance(itype, str):
            continue
        weight = o.get("weightedCapacity")
        if weight in (None, "") and unit in ("vcpu", "memory-mib"):
            if itype not in catalog.instances():
                raise InputError("targetCapacityUnitType", unit, "units, or a type in the instance catalog",
                                 f"the {unit} of {itype} are not in the catalog")
            inst = catalog.instance(itype)
            weight = inst.vcpus if unit == "vcpu" else inst.memory_gib * 1024
        try:
            w = float(weight) if weight not in (None, "") else 1.0
        except (TypeError, ValueError):
            raise InputError("weightedCapacity", weight, "a positive number") from None
        if not math.isfinite(w) or w <= 0:
            raise InputError("weightedCapacity", weight, "a positive number")
        out[itype] = max(out.get(itype, 0), math.ceil(target / w))
    return out


def _fleet_types(r: Res, configs: list[Any], templates: _Lookup, spec_key: str) -> tuple[list[str], list[Mapping]]:
    types, overrides = [], []
    for c in configs:
        if not isinstance(c, Mapping):
            continue
        own = [o for o in c.get("overrides") or [] if isinstance(o, Mapping)]
        _pinned(own, "launchTemplateConfigs")
        typed = [o for o in own if isinstance(o.get("instanceType"), str)]
        if typed and len(typed) == len(own):
            overrides += typed
            types += [o["instanceType"] for o in typed]
        else:
            t = _template_type(r, "launchTemplateConfigs", c.get(spec_key), templates)
            types.append(t)
            overrides += [{**o, "instanceType": o.get("instanceType") or t} for o in own] or [{"instanceType": t}]
    return types, overrides


def _spot_fleet(r: Res, templates: _Lookup) -> Capacity:
    specs = [s for s in get(r.props, "launchSpecifications", default=[]) or [] if isinstance(s, Mapping)]
    types = [s["instanceType"] for s in specs if isinstance(s.get("instanceType"), str)]
    overrides: list[Mapping] = list(specs)
    t2, o2 = _fleet_types(r, get(r.props, "launchTemplateConfigs", default=[]) or [], templates, "launchTemplateSpecification")
    types, overrides = types + t2, overrides + o2
    if not types:
        raise InputError("launchSpecifications", None, "launch specifications or launch template configs with instance types")
    target = whole(get(r.props, "targetCapacity"), "targetCapacity")
    unit = str(get(r.props, "targetCapacityUnitType", default="units"))
    return Capacity(r, "Spot Fleet request", _weighted_nodes(target, overrides, unit),
                    detail=f" (its targetCapacity {target} {unit})")


def _ec2_fleet(r: Res, templates: _Lookup) -> Capacity:
    types, overrides = _fleet_types(r, get(r.props, "launchTemplateConfigs", default=[]) or [], templates,
                                    "launchTemplateSpecification")
    if not types:
        raise InputError("launchTemplateConfigs", None, "launch template configs with instance types")
    spec = get(r.props, "targetCapacitySpecification", default={}) or {}
    target = whole(get(spec, "totalTargetCapacity"), "targetCapacitySpecification.totalTargetCapacity")
    unit = str(get(spec, "targetCapacityUnitType", default="units"))
    return Capacity(r, "EC2 Fleet", _weighted_nodes(target, overrides, unit),
                    detail=f" (its totalTargetCapacity {target} {unit})")


def _instance(r: Res, templates: _Lookup) -> Capacity:
    """An EC2 instance or Spot instance request: one machine."""
    itype = get(r.props, "instanceType")
    if itype is None:
        itype = _template_type(r, "launchTemplate", r.props.get("launchTemplate"), templates)
    return Capacity(r, WHAT[r.type], {str(itype): 1})


def _reservation(r: Res) -> Capacity:
    """An On-Demand Capacity Reservation bills its instance count at the on-demand rate whether instances run in it or
    not (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/capacity-reservations-pricing-billing.html)."""
    itype = get(r.props, "instanceType")
    count = whole(get(r.props, "instanceCount"), "instanceCount")
    return Capacity(r, WHAT[r.type], {str(itype): count}, detail=" (its instanceCount, billed whether used or not)")


# AWS Batch instance type entries that name a whole GPU family ("p4d", "g5"): which sizes it launches cannot be read.
GPU_FAMILY_NAME = re.compile(r"^(g\d+[a-z]*|gr\d+[a-z]*|p\d+[a-z]*)$")


def _batch(r: Res) -> Capacity:
    """A managed AWS Batch compute environment on EC2 or Spot: machines of each GPU type that `maxVcpus` allows
    (Batch launches instances until the environment's vCPUs reach maxVcpus); Fargate runs no GPUs."""
    resources = get(r.props, "computeResources", default=None)
    if not isinstance(resources, Mapping) or str(resources.get("type", "")).upper() in ("FARGATE", "FARGATE_SPOT"):
        return Capacity(r, WHAT[r.type], {})
    types = [str(t) for t in get(resources, "instanceTypes", default=[]) or []]
    family = [t for t in types if GPU_FAMILY_NAME.match(t)]
    if family:
        raise InputError("computeResources.instanceTypes", family[0], "instance types (p4d.24xlarge), not families",
                         "Batch may launch any size of the family")
    gpu = [t for t in types if is_gpu_type(t)]
    if not gpu:
        return Capacity(r, WHAT[r.type], {})
    max_vcpus = whole(get(resources, "maxVcpus"), "computeResources.maxVcpus")
    nodes = {t: math.ceil(max_vcpus / catalog.instance(t).vcpus) if t in catalog.instances() else 1 for t in gpu}
    return Capacity(r, WHAT[r.type], nodes, detail=f" (its maxVcpus {max_vcpus})")


def _sagemaker(r: Res) -> Capacity:
    """A SageMaker endpoint's GPU instances (ml.g5.*, ml.p4d.*) bill at SageMaker's prices, which the instance catalog
    does not hold: named, never priced at EC2's lower rate."""
    variants = get(r.props, "productionVariants", default=[]) or []
    gpu = [str(v.get("instanceType")) for v in variants if isinstance(v, Mapping)
           and is_gpu_type(str(v.get("instanceType") or "").removeprefix("ml."))]
    if not gpu:
        return Capacity(r, WHAT[r.type], {})
    return Capacity(r, WHAT[r.type], None, why=f"SageMaker bills {', '.join(gpu)} at SageMaker's instance prices, which "
                    "the instance catalog does not hold")


def _karpenter(r: Res) -> Capacity:
    """A Karpenter NodePool (karpenter.sh/v1, v1beta1) or Provisioner (v1alpha5) at the machines its limits allow."""
    spec = get(r.props, "spec", default={}) or {}
    if r.kind == "Provisioner":
        requirements, limits = spec.get("requirements") or [], get(spec, "limits", "resources", default={}) or {}
    else:
        requirements = get(spec, "template", "spec", "requirements", default=[]) or []
        limits = spec.get("limits") or {}
    what = f"Karpenter {r.kind}"
    pinned = None
    for req in requirements:
        if isinstance(req, Mapping) and req.get("key") in INSTANCE_TYPE_LABELS and req.get("operator") == "In":
            values = [str(v) for v in req.get("values") or []]
            pinned = values if pinned is None else [v for v in pinned if v in values]
    categories = _allowed(requirements, "karpenter.k8s.aws/instance-category")
    if pinned is None:
        if categories is not None and not ({"g", "p"} & set(categories)):
            return Capacity(r, what, {})   # it can only launch non-GPU categories
        return Capacity(r, what, None, why="its requirements do not pin node.kubernetes.io/instance-type "
                        "(In a list of catalog types), so which GPU machines it may launch cannot be read")
    gpu_types = [t for t in pinned if is_gpu_type(t)]
    if not gpu_types:
        return Capacity(r, what, {})
    if not isinstance(limits, Mapping) or not limits:
        return Capacity(r, what, None, why="it sets no limits, so it may launch GPU machines without bound "
                        "(set spec.limits, e.g. nvidia.com/gpu)")
    outside = [t for t in gpu_types if t not in catalog.instances()]
    if outside:
        return Capacity(r, what, None, why=f"GPU instance type {', '.join(outside)} is not in the instance catalog")
    nodes: dict[str, int] = {}
    for t in gpu_types:
        inst = catalog.instance(t)
        per = {"nvidia.com/gpu": inst.gpus, "cpu": inst.vcpus, "memory": inst.memory_gib * 2**30}
        counts = [math.ceil(_quantity(v, f"spec.limits.{k}") / per[k]) for k, v in limits.items() if k in per]
        if not counts:
            return Capacity(r, what, None, why=f"its limits ({', '.join(limits)}) bound neither nvidia.com/gpu, "
                            "cpu nor memory, so its GPU machines are unbounded")
        # Karpenter checks the limits before it launches a machine, so the last one may overshoot them: ceil.
        nodes[t] = min(counts)
    template = spec if r.kind == "Provisioner" else get(spec, "template", default={}) or {}
    labels = dict(get(template, "metadata", "labels", default={}) or {}) if r.kind != "Provisioner" else dict(spec.get("labels") or {})
    labels["karpenter.sh/nodepool" if r.kind == "NodePool" else "karpenter.sh/provisioner-name"] = \
        str(get(r.props, "metadata", "name", default=r.name))
    for req in requirements:   # a requirement with one allowed value is a label every node carries
        values = req.get("values") or [] if isinstance(req, Mapping) else []
        if isinstance(req, Mapping) and req.get("operator") == "In" and len(values) == 1:
            labels.setdefault(str(req.get("key")), str(values[0]))
    taints = (spec.get("taints") if r.kind == "Provisioner" else get(template, "spec", "taints", default=[])) or []
    return Capacity(r, what, nodes, detail=f" (its limits {', '.join(f'{k}: {v}' for k, v in limits.items())})",
                    labels=labels, taints=[t for t in taints if isinstance(t, Mapping)],
                    zones=_allowed(requirements, "topology.kubernetes.io/zone"),
                    spot_only=_allowed(requirements, "karpenter.sh/capacity-type") == ["spot"])


def _allowed(requirements: list, key: str) -> list[str] | None:
    for req in requirements:
        if isinstance(req, Mapping) and req.get("key") == key and req.get("operator") == "In":
            return [str(v) for v in req.get("values") or []]
    return None


_SUFFIX = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 1e-3}


def _quantity(value: Any, what: str) -> float:
    """A Kubernetes resource quantity ("8", "1000", "4000Gi", "500m") as a number."""
    if is_unknown(value):
        raise Unknown(what)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|Ti|k|M|G|T|m)?\s*", str(value))
    if isinstance(value, bool) or m is None:
        raise InputError(what, value, "a Kubernetes quantity, e.g. 8, 1000, 4000Gi")
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


def read_capacity(resources: list[Res]) -> tuple[list[Capacity], list[Res]]:
    """Every resource other than the managed node groups that can launch machines, at its ceiling (one that cannot
    be read is kept with `why`, and `unknown` when a value is unknown during preview), and the launch templates with
    a GPU instance type that nothing in the stack launches from (what does is outside what the pack is shown)."""
    templates = _Lookup.of(resources, LAUNCH_TEMPLATE)
    configs = _Lookup.of(resources, LAUNCH_CONFIGURATION)
    schedules = [r for r in resources if r.type == SCHEDULE]
    readers = {ASG: lambda r: _asg(r, schedules, templates, configs), INSTANCE: lambda r: _instance(r, templates),
               SPOT_INSTANCE: lambda r: _instance(r, templates), SPOT_FLEET: lambda r: _spot_fleet(r, templates),
               EC2_FLEET: lambda r: _ec2_fleet(r, templates), CAPACITY_RESERVATION: _reservation, BATCH: _batch,
               SAGEMAKER_ENDPOINT: _sagemaker}
    out = []
    for r in resources:
        karpenter = r.type.startswith("kubernetes:karpenter.sh/") and r.kind in KARPENTER_KINDS
        if r.type not in readers and not karpenter:
            continue
        what = f"Karpenter {r.kind}" if karpenter else WHAT[r.type]
        try:
            out.append(_karpenter(r) if karpenter else readers[r.type](r))
        except Unknown as u:
            out.append(Capacity(r, what, None, why=f"{u.path or 'a value'} is unknown during preview", unknown=True))
        except InputError as e:
            out.append(Capacity(r, what, None, why=str(e)))
    return out, _unused_gpu_templates(resources, templates.used)


def _unused_gpu_templates(resources: list[Res], used: set[str]) -> list[Res]:
    depended = {u for r in resources for urns in r.deps.values() for u in urns}
    return [r for r in resources if r.type == LAUNCH_TEMPLATE and r.urn not in used | depended
            and isinstance(r.props.get("instanceType"), str) and not is_unknown(r.props["instanceType"])
            and is_gpu_type(r.props["instanceType"])]
