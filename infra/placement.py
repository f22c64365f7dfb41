"""Where a validated stack's replicas run: the one pass that sizes, packs and places every model.

`infra/config/spec.py` only validates what the stack says (replicas stay None when it says `auto`). `place` sizes
each model's replicas (`cost.physics.sizing.sized`: as many as carry the workload), packs them onto nodes
(`cost.pricing.nodes.plan_nodes`), spreads the nodes over zone pools with their EKS node group names, and picks
where a replaced node gets the weights. Every check that reads those counts is here, and raises InputError naming
the stack key before any resource is created. The program, the pricing, the components and the preview read
the result; nothing sizes again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cost import catalog
from cost.deployment import Deployment
from cost.errors import InputError
from cost.physics import weights_source
from cost.physics.sizing import sized
from cost.physics.weights_cache import plan_cache
from cost.pricing.nodes import NodePlan, plan_nodes, zone_spread
from cost.pricing.tco import Overheads
from cost.workload import milliseconds
from infra.config.spec import (
    IMAGE_AND_RUNTIME_GIB,
    NODE_GROUP_NAME_MAX,
    ClusterSpec,
    ModelSpec,
    P,
    StackSpec,
    price_book,
)

if TYPE_CHECKING:
    from cost.pricing.api_prices import PriceBook


@dataclass(frozen=True)
class ZonePool:
    """One GPU node group: the zones its subnets span and its node count."""

    suffix: str               # "a", "b", ... or "all"
    zones: tuple[str, ...]
    nodes: int
    node_group: str = ""      # the EKS node group name, `<cluster>-<model>-<suffix>` (checked unique and <= 63)


@dataclass(frozen=True)
class ModelPlacement:
    """One model as placed: its sized deployment, the nodes it is billed for, its zone pools and weights path."""

    model: ModelSpec
    deployment: Deployment    # replicas that carry the workload (sized when the stack says auto), zones resolved
    plan: NodePlan
    pools: tuple[ZonePool, ...]
    weights_source: str       # where a replaced node gets the weights: huggingface | s3 (cost/physics/weights_source.py)

    @property
    def replicas(self) -> int:
        """Serving replicas (without the spares)."""
        return self.deployment.serving_replicas

    @property
    def total_replicas(self) -> int:
        """Serving replicas plus the spares (the pods the chart runs)."""
        return self.deployment.total_replicas

    @property
    def zones(self) -> int:
        """Zones the model's nodes spread across."""
        return self.deployment.zones

    @property
    def nodes(self) -> int:
        """GPU nodes over all its zone pools."""
        return sum(p.nodes for p in self.pools)

    @property
    def pod_cpu(self) -> int:
        """CPU cores one vLLM pod requests: its share of three quarters of the instance's vCPUs (the rest
        is left to the kubelet, system daemons and the proxy sidecar)."""
        return pod_cpu(catalog.instance(self.model.instance_type), self.plan.replicas_per_instance)

    @property
    def disk_needed_gib(self) -> int:
        """Node disk the replicas packed on one node need: their caches plus the vLLM image."""
        return self.plan.replicas_per_instance * self.model.cache_gib + IMAGE_AND_RUNTIME_GIB

    def disk_gib(self, overheads: Overheads) -> int:
        """GPU node disk: the priced storage per node, or (when storage is not priced) what the pods need."""
        return int(overheads.storage_gib_per_node) or self.disk_needed_gib

    def to_dict(self) -> dict:
        """The model as the stack declares it and as placed (its entry in `Placement.to_dict`)."""
        m = self.model
        return {
            "name": m.name, "model": m.model, "hf": m.hf, "precision": m.precision, "gpu": m.gpu,
            "instanceType": m.instance_type, "tensorParallel": m.gpus_per_replica, "replicas": self.replicas,
            "redundancy": {"spares": m.spares, "zones": self.zones}, "capacityType": m.capacity_type,
            "maxModelLen": m.max_model_len, "gpuMemoryUtilization": m.gpu_memory_utilization,
            "maxNumSeqs": m.max_num_seqs, "kvCacheDtype": m.deployment.kv_cache_dtype,
            "expertParallel": m.deployment.expert_parallel, "apiServerCount": m.deployment.api_servers, "extraArgs": list(m.extra_args), "weightsGiB": m.weights_gib,
            "weights": {"source": self.weights_source},
            "workload": {"tokensPerMonth": m.workload.tokens_per_month, "inputShare": round(m.workload.input_share, 4),
                         "avgInputTokens": m.workload.avg_input_tokens, "avgOutputTokens": m.workload.avg_output_tokens,
                         "utilization": m.workload.utilization,
                         "ttftTargetMs": milliseconds(m.workload.ttft_target_s),
                         "tpotTargetMs": milliseconds(m.workload.tpot_target_s),
                         "prefixCacheHitRate": m.workload.prefix_cache_hit_rate},
            "exemptions": {"fineTuned": m.exemptions.fine_tuned, "privateData": m.exemptions.private_data,
                           "customInference": m.exemptions.custom_inference},
            "nodes": {"instances": self.nodes, "instancesPerReplica": self.plan.instances_per_replica,
                      "replicasPerInstance": self.plan.replicas_per_instance,
                      "pools": [{"suffix": z.suffix, "zones": list(z.zones), "nodes": z.nodes} for z in self.pools]},
        }


@dataclass(frozen=True)
class Placement:
    """A validated stack and every model of it as placed, in the spec's order."""

    spec: StackSpec
    models: tuple[ModelPlacement, ...]

    def model(self, name: str) -> ModelPlacement:
        """The placed model of that name (a model the spec holds)."""
        return next(p for p in self.models if p.model.name == name)

    def warnings(self) -> list[str]:
        """Valid but risky choices, logged as warnings by the program (the policy pack may enforce them)."""
        spec, out = self.spec, []
        for p in self.models:
            m, rpi = p.model, p.plan.replicas_per_instance
            if spec.production and 0 < m.spares < rpi:
                out.append(f"{m.key}.redundancy.spares: {m.spares} spare replica(s), but {rpi} replicas share each "
                           f"{m.instance_type}; losing one node loses {rpi} replicas (use spares >= {rpi})")
            if spec.production and m.capacity_type == "spot":
                out.append(f"{m.key}.capacityType: spot nodes can be reclaimed at two minutes' notice")
        priced = catalog.instances_region()
        if spec.cluster.existing is None and spec.cluster.region != priced:
            out.append(f"{P}cluster.region: GPU instances are priced at {priced} rates (cost/data/instances.yaml); "
                       f"{spec.cluster.region} rates may differ")
        return out

    def to_dict(self) -> dict:
        """The stack as validated and placed, JSON-able (no secret values: only which secret keys are set): the spec's
        values, and each model's sized replicas, zones, weights source and nodes."""
        spec = self.spec
        c = spec.cluster
        return {
            "project": spec.project, "stack": spec.stack, "production": spec.production, "namespace": spec.namespace,
            "cluster": {
                "name": c.name, "region": c.region, "zones": list(c.zones), "kubernetesVersion": c.kubernetes_version,
                "vpcCidr": c.vpc_cidr, "gpuAmiType": c.gpu_ami_type, "natGateways": c.nat_gateways,
                "endpoint": {"publicAccess": c.endpoint.public_access, "publicAccessCidrs": list(c.endpoint.public_access_cidrs),
                             "privateAccess": c.endpoint.private_access,
                             "privateAccessCidrs": c.endpoint.private_cidrs(c.vpc_cidr)},
                "systemNodes": {"instanceType": c.system_instance_type, "count": c.system_nodes},
                "devicePlugin": c.device_plugin,
                "existing": None if c.existing is None else {"context": c.existing.context, "devicePlugin": c.existing.device_plugin},
            },
            "models": [p.to_dict() for p in self.models],
            "routing": None if spec.routing is None else {
                "tokensPerMonth": spec.routing.workload.tokens_per_month,
                "tiers": [{"name": t.name, "share": t.share, "model": t.model, "api": t.api} for t in spec.routing.tiers],
            },
            "pricing": {"priceBook": spec.pricing.price_book, "overheads": spec.pricing.overheads.to_dict(),
                        "budgetUsdPerMonth": spec.pricing.budget_usd_per_month},
            "secretsSet": sorted(spec.secrets_present),
        }


def place(spec: StackSpec, book: PriceBook | None = None) -> Placement:
    """Size, pack and place every model of a validated spec; InputError (the stack key, the value, what is
    allowed) on the first count the stack cannot hold. `book`: the price book the spec names, when the caller has
    loaded it (None: loaded here)."""
    if book is None:
        book = price_book(spec)
    placed = tuple(_place(m, spec.cluster, book) for m in spec.models)
    _check_disk(spec, placed)
    _check_node_groups(spec.cluster, placed)
    return Placement(spec, placed)


def _place(m: ModelSpec, cluster: ClusterSpec, book: PriceBook | None) -> ModelPlacement:
    """One model sized, packed onto nodes, spread over zone pools, with its weights source."""
    key = m.key
    deployment = sized(m.deployment, m.workload)   # replicas that carry the workload when the stack says auto
    plan = plan_nodes(deployment, book)
    inst = catalog.instance(m.instance_type)
    _require_cores(key, deployment, inst, plan.replicas_per_instance)
    commitment = deployment.commitment
    if commitment is not None and plan.units * plan.unit_usd_hr > commitment.hourly_usd + 1e-9:
        need = plan.units * plan.unit_usd_hr
        raise InputError(f"{key}.commitment.hourlyUsd", commitment.hourly_usd,
                         f"at least {need:,.2f} (the {plan.units} x {inst.type} at the {m.capacity_type} discount), or "
                         "capacityType on-demand", "a commitment that covers part of the nodes leaves the rest on-demand")

    # Zones: spread the instances over `zones` zones of the cluster; a multi-node replica's group of
    # `per_group` instances stays in one zone (its nodes talk every step), so whole groups are spread.
    units, per_group = plan.units, plan.instances_per_replica
    groups = units // per_group
    zones = m.zones
    if zones is None:
        zones = min(2, len(cluster.zones), groups) if m.spares else 1
    if zones > len(cluster.zones) and cluster.existing is None:
        raise InputError(f"{key}.redundancy.zones", zones,
                         f"at most {len(cluster.zones)} (the zones breakeven:cluster.zones lists: {', '.join(cluster.zones)})",
                         "add zones to the cluster or spread this model over fewer")
    if zones > units:
        raise InputError(f"{key}.redundancy.zones", zones,
                         f"at most {units} (this model runs on {units} x {inst.type}; a zone without a node holds nothing)")
    if zones > groups:
        raise InputError(f"{key}.redundancy.zones", zones,
                         f"at most {groups} (each replica is a group of {per_group} x {inst.type} kept in one zone; "
                         f"{groups} group(s) fill at most {groups} zone(s))")
    deployment = replace(deployment, zones=zones)
    prefix = f"{cluster.name}-{m.name}"
    # One pool may span the cluster's zones only when no replica spans nodes: a group's nodes must share a zone
    # (and, on EFA instances, a cluster placement group, which an Auto Scaling group cannot combine with several zones).
    if cluster.existing is not None or (zones == 1 and per_group == 1):
        pools: tuple[ZonePool, ...] = (ZonePool("all", cluster.zones, units, f"{prefix}-all"),)
    else:
        pools = tuple(ZonePool(z[-1], (z,), n * per_group, f"{prefix}-{z[-1]}")
                      for z, n in zip(cluster.zones[:zones], zone_spread(groups, zones), strict=True))
    nodes = sum(p.nodes for p in pools)
    # The stack's weights.source (checked by the spec), or the cheaper path for this many nodes.
    source = m.weights_choice or weights_source.choose(m.weights_bytes, nodes, cluster.existing is None and m.hub_weights)
    return ModelPlacement(m, deployment, plan, pools, source)


def weights_on_instance_store(p: ModelPlacement, ami_type: str) -> bool:
    """The model's nodes keep the weights on NVMe instance store (cost/physics/weights_cache.py), not on the gp3 disk."""
    m = p.model
    return plan_cache(m.instance_type, ami_type, p.plan.replicas_per_instance * m.cache_gib).medium == "instance-store"


def node_disk_needed_gib(p: ModelPlacement, ami_type: str) -> int:
    """gp3 disk one GPU node needs: the image and runtime, plus the weights caches unless instance store holds them."""
    return IMAGE_AND_RUNTIME_GIB if weights_on_instance_store(p, ami_type) else p.disk_needed_gib


def _check_disk(spec: StackSpec, placed: tuple[ModelPlacement, ...]) -> None:
    """The GPU node disk the stack prices per node holds what each model's pods on a node need."""
    cluster, storage = spec.cluster, spec.pricing.overheads.storage_gib_per_node
    if cluster.existing is not None:
        return
    for p in placed:
        m, need = p.model, node_disk_needed_gib(p, cluster.gpu_ami_type)
        if 0 < storage < need:
            held = (f"{m.instance_type}'s NVMe instance store holds the weights, so only the image and runtime"
                    if weights_on_instance_store(p, cluster.gpu_ami_type) else
                    f"the model cache of each of the {p.plan.replicas_per_instance} {m.name} replica(s) on a node "
                    f"({m.cache_gib} GiB for {m.weights_gib} GiB of weights) plus {IMAGE_AND_RUNTIME_GIB} GiB for the image")
            raise InputError(P + "pricing.overheads.storageGibPerNode", storage,
                             f"at least {need} GiB: the GPU node disk (priced per node) holds {held}")


def _check_node_groups(cluster: ClusterSpec, placed: tuple[ModelPlacement, ...]) -> None:
    """Every EKS node group name the program will create is unique and within EKS's 63 characters,
    or the error names the key to change."""
    if cluster.existing is not None:
        return
    seen = {f"{cluster.name}-system": f"{P}cluster.name"}
    for p in placed:
        m = p.model
        for pool in p.pools:
            ng = pool.node_group
            if len(ng) > NODE_GROUP_NAME_MAX:
                room = NODE_GROUP_NAME_MAX - len(cluster.name) - len(pool.suffix) - 2
                raise InputError(f"{m.key}.name", m.name,
                                 f"a name of at most {max(room, 0)} characters, or a shorter breakeven:cluster.name",
                                 f"the EKS node group {ng!r} would be {len(ng)} characters; EKS allows {NODE_GROUP_NAME_MAX}")
            if ng in seen:
                raise InputError(f"{m.key}.name", m.name, "a name that gives each node group its own name",
                                 f"node group {ng!r} is also generated for {seen[ng]}")
            seen[ng] = f"{m.key}.name"


def pod_cpu(inst: catalog.Instance, replicas_per_instance: int) -> int:
    """CPU cores a vLLM pod requests on `inst` when `replicas_per_instance` pods share it (at least 1)."""
    return max(1, int(inst.vcpus * 0.75 / replicas_per_instance))


def _require_cores(key: str, d: Deployment, inst: catalog.Instance, replicas_per_instance: int) -> None:
    """More than one API server: the pod's CPU request holds a core for every vLLM process, as vLLM's
    architecture overview counts them (docs/design/arch_overview.md, "Process Count Summary": A API
    servers + 1 engine core + 1 worker per GPU without data parallelism)."""
    if d.api_servers == 1:
        return   # vLLM's default layout; the request is the instance share it always was
    cores = pod_cpu(inst, replicas_per_instance)
    needed = d.api_servers + 1 + d.gpus_per_replica
    if needed > cores:
        most = cores - 1 - d.gpus_per_replica
        raise InputError(f"{key}.apiServerCount", d.api_servers,
                         f"at most {most} on {inst.type}" if most > 1 else f"1 on {inst.type}",
                         f"each vLLM pod requests {cores} CPU cores ({replicas_per_instance} pod(s) per {inst.vcpus}-vCPU "
                         f"instance) and needs one per process: {d.api_servers} API servers + 1 engine core + "
                         f"{d.gpus_per_replica} GPU worker(s) = {needed}; lower it, or pick an instance type with more vCPUs per pod")
