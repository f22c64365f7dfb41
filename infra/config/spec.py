"""The typed, validated stack spec: what a stack's config asks for, checked before anything is built.

Pure Python (no Pulumi import): the program, the offline preview, the policy pack and the tests all
load a spec the same way. The shape of each config section (types, ranges, formats, unknown keys) is
checked by its pydantic model in `infra/config/schema.py`; this module builds the typed spec from the
validated sections and checks what spans keys or catalogs (zones of the region, fit, names). Every bad value raises `cost.errors.InputError` whose key is the config
path the user wrote, e.g. `breakeven:models[0].replicas`, with the value and what is allowed.

The spec only validates: it sizes nothing (`replicas: auto` stays None). Sizing the replicas, packing them onto
nodes, the zone pools, the weights source and the checks that read those counts are `infra/placement.py`'s.

Stack config layout (project namespace `breakeven`; full reference in stacks/README.md):

    breakeven:production   bool    production defaults (N+1 across zones, NAT per zone, API key)
    breakeven:namespace    string  Kubernetes namespace of the vLLM services
    breakeven:cluster      object  region, zones, kubernetesVersion, vpcCidr, endpoint, systemNodes,
                                   gpuAmiType, natGateways, or `existing` (kubeconfig): serving only
    breakeven:models       list    one entry per self-hosted model (the fleet)
    breakeven:routing      object  hybrid routing: the routed workload and its tiers (model or API)
    breakeven:pricing      object  priceBook, overheads, budgetUsdPerMonth
    breakeven:hfToken      secret  Hugging Face token   (pulumi config set --secret)
    breakeven:vllmApiKey   secret  vLLM API key         (pulumi config set --secret)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cost import catalog
from cost.catalog import eks as eks_calendar
from cost.catalog import regions, strictload
from cost.catalog.checkpoints import resolve as resolve_checkpoint
from cost.deployment import RESERVED, Commitment, Deployment, DeploymentFields, Exemptions
from cost.errors import InputError
from cost.physics.weights_cache import pod_cache_gib
from cost.pricing.nodes import plan_nodes
from cost.pricing.tco import Overheads
from cost.pydantic_errors import spelled
from cost.workload import Workload, WorkloadFields, require_within_context, seconds
from infra.config import schema
from infra.config.schema import CONFIG_KEYS, DNS_LABEL, NS, P

if TYPE_CHECKING:
    from cost.pricing.api_prices import PriceBook
from infra.config.schema import SECRET_KEYS as SECRET_KEYS  # re-exported: the program and tests read it here

GPU_POOL_LABEL = "breakeven.dev/gpu-pool"
GPU_AMI_TYPES = {
    # AMI type -> whether it already runs the NVIDIA device plugin (EKS user guide: the
    # Bottlerocket NVIDIA variants ship it; the AL2023 NVIDIA AMIs carry the driver only).
    "AL2023_x86_64_NVIDIA": False,
    "BOTTLEROCKET_x86_64_NVIDIA": True,
}
DEFAULT_MAX_MODEL_LEN = 8192
IMAGE_AND_RUNTIME_GIB = 40  # vLLM image (compressed layers and unpacked snapshot), logs and scratch on the node disk
# AWS names the kit generates from config, and their limits (EKS CreateNodegroup: nodegroupName up to 63
# characters; the system node group is `<cluster>-system`).
NODE_GROUP_NAME_MAX = 63

def today() -> dt.date:
    """The date support calendars and prices are read for (UTC)."""
    return dt.datetime.now(dt.UTC).date()


def _rekey(err: InputError, prefix: str) -> InputError:
    """An error raised by `cost` (naming its argument) with its key spelled as the config path under `prefix`:
    the alias `DeploymentFields` gives the argument, or the workload section's for a workload argument."""
    key = err.key
    if key in DeploymentFields.model_fields:
        key = spelled(DeploymentFields, key)
    elif key in WorkloadFields.model_fields:
        key = f"{spelled(schema.Model, 'workload')}.{spelled(schema.Workload, key)}"
    return InputError(prefix + key, err.value, err.allowed, err.detail)


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """The EKS API endpoint: private access from the VPC, public access restricted to CIDRs."""

    public_access: bool
    public_access_cidrs: tuple[str, ...]
    private_access: bool
    private_access_cidrs: tuple[str, ...] = ()   # may reach the private endpoint on 443; () = the VPC CIDR

    def private_cidrs(self, vpc_cidr: str) -> list[str]:
        """Networks the cluster security group admits on 443 (the private endpoint): those named, or the VPC."""
        return list(self.private_access_cidrs) or [vpc_cidr]


@dataclass(frozen=True)
class ExistingCluster:
    """Deploy only the serving layer into a cluster that already exists.

    kubeconfig: a path to a kubeconfig file (or its contents), as the Kubernetes provider takes it.
    device_plugin: install the NVIDIA device plugin (False when the cluster already runs it).
    """

    kubeconfig: str
    context: str | None
    device_plugin: bool


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    region: str
    zones: tuple[str, ...]
    kubernetes_version: str
    vpc_cidr: str
    endpoint: Endpoint
    system_instance_type: str
    system_nodes: int
    gpu_ami_type: str
    nat_gateways: str
    existing: ExistingCluster | None
    zones_given: bool = True   # false: the program picks zone IDs from the offerings (infra/config/zones.py)

    @property
    def device_plugin(self) -> bool:
        """Whether the kit installs the NVIDIA device plugin."""
        if self.existing is not None:
            return self.existing.device_plugin
        return not GPU_AMI_TYPES[self.gpu_ami_type]


@dataclass(frozen=True)
class ModelSpec:
    """One self-hosted model as the stack declares it, validated. Its sized replicas, nodes, zone pools and
    weights path are the placement's (infra/placement.py)."""

    index: int
    name: str                 # Kubernetes-safe name: release, node pool label, resource names
    model: str                # catalog id: the architecture the capacity model and the API comparison use
    hf: str                   # the weights vLLM loads: the catalog checkpoint's repo, or `source` (fine-tuned)
    precision: str
    gpu: str
    instance_type: str
    gpus_per_replica: int     # the stack's tensorParallel
    replicas: int | None      # serving replicas the stack names; None: "auto" (sized by infra/placement.py)
    spares: int               # N+spares
    zones: int | None         # zones the stack spreads the model's nodes across; None: the placement's default
    capacity_type: str        # on-demand | spot | reserved-1y | reserved-3y
    max_model_len: int
    gpu_memory_utilization: float
    max_num_seqs: int
    extra_args: tuple[str, ...]
    workload: Workload
    exemptions: Exemptions
    deployment: Deployment    # as declared: replicas None when "auto"
    weights_gib: int          # the checkpoint's bytes on disk, in GiB (rounded up): cache, disk, startup window
    checkpoint_flags: tuple[str, ...]   # vLLM flags the checkpoint needs (cost/data/checkpoints.yaml)
    capacity_reservation_id: str | None = None  # ODCR or Capacity Block the nodes launch into
    capacity_block: bool = False
    gated: bool = False       # the weights are in a gated Hugging Face repo (cost/data/checkpoints.yaml `gated:`)
    own_source: bool = False  # `source` names the stack's own Hugging Face repo (a fine-tune: private unless said)
    accept_zone_loss_share: float = 0.0  # production: the least share carried after losing a zone (default 1)
    weights_choice: str | None = None  # the stack's weights.source (checked); None: the placement picks the cheaper path
    weights_bytes: int = 0    # the checkpoint's bytes (cost/data/checkpoints.yaml): the S3 copy's size

    @property
    def key(self) -> str:
        return f"{P}models[{self.index}]"

    @property
    def cache_gib(self) -> int:
        """Model cache of one pod (an emptyDir on the node disk): the weights plus 10 % and 5 GiB."""
        return pod_cache_gib(self.weights_gib)

    @property
    def hub_weights(self) -> bool:
        """The weights come from a Hugging Face repo (not an S3 URI or a local path)."""
        return not self.hf.startswith(("s3://", "/"))

    @property
    def eks_capacity_type(self) -> str:
        """EKS sells spot or on-demand (or a Capacity Block); reserved pricing is a billing discount on on-demand nodes."""
        if self.capacity_block:
            return "CAPACITY_BLOCK"
        return "SPOT" if self.capacity_type == "spot" else "ON_DEMAND"

    @property
    def pool_label(self) -> str:
        return self.name

    @property
    def k8s_name(self) -> str:
        """Name of the chart's objects (Deployment, Service, ...) for this release: charts/vllm's
        `vllm.fullname` -- the release name when it contains "vllm", else `<release>-vllm`, cut at 52."""
        return (self.name if "vllm" in self.name else f"{self.name}-vllm")[:52].rstrip("-")


@dataclass(frozen=True)
class TierSpec:
    name: str
    share: float
    model: str | None
    api: str | None


@dataclass(frozen=True)
class RoutingSpec:
    workload: Workload
    tiers: tuple[TierSpec, ...]


@dataclass(frozen=True)
class PricingSpec:
    price_book: str | None
    overheads: Overheads
    budget_usd_per_month: float | None


@dataclass(frozen=True)
class AccessSpec:
    """Callers the program's NetworkPolicy admits, and whether Services get an internal NLB."""

    client_namespaces: tuple[str, ...] = ()
    same_namespace: bool = False
    metrics_namespaces: tuple[str, ...] = ("monitoring",)
    internal_load_balancer: bool = False


@dataclass(frozen=True)
class StackSpec:
    project: str
    stack: str
    production: bool
    namespace: str
    cluster: ClusterSpec
    models: tuple[ModelSpec, ...]
    routing: RoutingSpec | None
    pricing: PricingSpec
    secrets_present: frozenset[str] = field(default_factory=frozenset)
    access: AccessSpec = field(default_factory=AccessSpec)

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)


# ---------------------------------------------------------------------------------------------
# Raw config -> values
# ---------------------------------------------------------------------------------------------

def decode(raw: Mapping[str, Any], project: str = NS) -> tuple[dict[str, Any], frozenset[str]]:
    """Decode raw config (`breakeven:key` -> string, as the Pulumi engine passes it) into values.

    Returns the decoded non-secret values by short key and the set of secret keys present.
    Unknown `breakeven:*` keys are errors (a typo would otherwise be silently ignored).
    """
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for full, value in raw.items():
        ns, _, short = full.partition(":")
        if ns != project:
            continue
        kind = CONFIG_KEYS.get(short)
        if kind is None:
            raise InputError(full, value if not isinstance(value, str) or len(value) < 80 else value[:77] + "...",
                             "a known key: " + ", ".join(P + k for k in CONFIG_KEYS), "unknown key (a typo?)")
        if kind == "secret":
            if value not in (None, ""):
                secrets.add(short)
            continue
        if kind == "string" or not isinstance(value, str):
            values[short] = value
            continue
        try:
            values[short] = strictload.json_text(value, full, sep=".")
        except InputError as e:
            if e.key != full:       # a value inside the document, named by its path
                raise
            if kind == "boolean" and not value.lstrip().startswith(("{", "[")):
                values[short] = value
            else:
                raise InputError(full, value if len(value) < 80 else value[:77] + "...", f"a YAML/JSON {kind}",
                                 e.detail or str(e.value)) from None
    return values, frozenset(secrets)


def load(
    raw: Mapping[str, Any],
    *,
    project: str = NS,
    stack: str = "dev",
    aws_region: str | None = None,
    book: PriceBook | None = None,
) -> StackSpec:
    """Build and validate the spec from raw stack config. Raises InputError on the first bad value. Checks that read
    the sized replica count (nodes, zones, node group names, disks) are the placement's (infra/placement.py)."""
    values, secrets = decode(raw, project)
    if aws_region is None:
        aws_region = raw.get("aws:region")
    cfg = schema.validate(values)
    production = cfg.production
    cluster = _cluster(cfg.cluster, project, stack, production, aws_region)
    pricing = _pricing(cfg.pricing)
    if book is None and pricing.price_book:
        book = _load_book(pricing.price_book)
    routing = _routing(cfg.routing) if cfg.routing is not None else None
    if routing is not None:  # tier targets first: a typo there would otherwise read as a missing workload
        names: set[str] = set()
        for entry in cfg.models:
            try:
                names.add(entry.name or catalog.model(entry.model).id.replace(".", "-"))
            except InputError:
                pass
        for j, t in enumerate(routing.tiers):
            if t.model is not None and t.model not in names:
                raise InputError(f"{P}routing.tiers[{j}].model", t.model, ", ".join(sorted(names)) or "a name from breakeven:models")
    models = [_model(i, m, production, cluster, routing, book) for i, m in enumerate(cfg.models)]
    model_names = [m.name for m in models]
    for i, n in enumerate(model_names):
        if model_names.index(n) != i:
            raise InputError(f"{P}models[{i}].name", n, "a name no other model in this stack uses")
    if routing is not None:
        _check_tiers(routing, models, book)
    _check_object_names(models)
    a = cfg.access
    if a.load_balancer == "internal" and cluster.existing is not None:
        raise InputError(f"{P}access.loadBalancer", "internal", "none with cluster.existing",
                         "the kit only knows the VPC of a cluster it creates (the NetworkPolicy admits its CIDR)")
    access = AccessSpec(tuple(a.client_namespaces), a.same_namespace, tuple(a.metrics_namespaces),
                        a.load_balancer == "internal")
    return StackSpec(project, stack, production, cfg.namespace, cluster, tuple(models), routing, pricing, secrets, access)


def price_book(spec: StackSpec) -> PriceBook | None:
    """The price book the spec names (None: the AWS catalog and the genai-prices snapshot)."""
    return _load_book(spec.pricing.price_book) if spec.pricing.price_book else None


def _load_book(name: str) -> PriceBook:
    from cost.pricing import api_prices

    try:
        book = api_prices.load_price_book(name)
    except InputError as e:
        raise InputError(P + "pricing.priceBook", name, e.allowed, e.detail) from None
    except (OSError, ValueError) as e:
        raise InputError(P + "pricing.priceBook", name, "a bundled price book name (e.g. seed-2025) or a readable YAML file", str(e)) from None
    if book is None:
        raise InputError(P + "pricing.priceBook", name, "a bundled price book name (e.g. seed-2025) or a readable YAML file")
    return book


def _cluster(c: schema.Cluster, project: str, stack: str, production: bool, aws_region: str | None) -> ClusterSpec:
    key = P + "cluster"
    name = c.name or f"{project}-{stack}"
    if c.name is None and (not DNS_LABEL.match(name) or len(name) > 60):
        raise InputError(f"{key}.name", None, "a lowercase DNS label of at most 60 characters",
                         f"the default <project>-<stack> ({name!r}) is not one; set breakeven:cluster.name")
    if c.existing is None and len(f"{name}-system") > NODE_GROUP_NAME_MAX:
        raise InputError(f"{key}.name", name, f"at most {NODE_GROUP_NAME_MAX - len('-system')} characters",
                         f"the system node group is named {name}-system and EKS allows {NODE_GROUP_NAME_MAX}")
    region = c.region or aws_region
    if region is None:
        raise InputError(f"{key}.region", None, "an AWS region such as us-east-1 (or set aws:region)")
    regions.region(region, f"{key}.region" if c.region else "aws:region")
    if aws_region and c.region and aws_region != region:
        raise InputError(f"{key}.region", region, f"the region aws:region names ({aws_region}), or leave one of them out")
    zones = c.zones if c.zones is not None else [f"{region}{x}" for x in ("abc" if production else "ab")]
    for j, z in enumerate(zones):
        regions.zone(z, region, f"{key}.zones[{j}]")
    if len(set(zones)) != len(zones):
        raise InputError(f"{key}.zones", zones, "distinct availability zones")
    # Default: the newest EKS version in standard support today; an older one is priced at the
    # extended-support rate (cost/pricing/platform.py); one past extended support is refused.
    version = c.kubernetes_version or eks_calendar.default_version(today())
    eks_calendar.check(version, today(), f"{key}.kubernetesVersion")
    ep = c.endpoint
    if production:
        _check_public_cidrs(ep.public_access_cidrs, f"{key}.endpoint.publicAccessCidrs")
    if ep.public_access and not ep.public_access_cidrs and c.existing is None:
        raise InputError(f"{key}.endpoint.publicAccessCidrs", [],
                         "one or more CIDR blocks allowed to reach the public API endpoint, or endpoint.publicAccess: false")
    if not ep.public_access and ep.phase != 2 and c.existing is None:
        raise InputError(f"{key}.endpoint.publicAccess", False,
                         "true for phase 1 (the first `pulumi up` must reach the new cluster's API from where it runs); "
                         "false only with endpoint.phase: 2, after phase 1 is applied, from inside the VPC or a network "
                         "peered with it", "docs/deploying.md: Private endpoint, in two phases")
    if not ep.public_access and not ep.private_access:
        raise InputError(f"{key}.endpoint.privateAccess", False, "true when publicAccess is false (the API must be reachable)")
    sys_count = c.system_nodes.count if c.system_nodes.count is not None else (2 if production else 1)
    nat = c.nat_gateways or ("one-per-zone" if production else "single")
    existing = None
    if c.existing is not None:
        existing = ExistingCluster(c.existing.kubeconfig, c.existing.context, c.existing.device_plugin)
    return ClusterSpec(name, region, tuple(zones), version, c.vpc_cidr,
                       Endpoint(ep.public_access, tuple(ep.public_access_cidrs), ep.private_access,
                                tuple(ep.private_access_cidrs)),
                       c.system_nodes.instance_type, sys_count, c.gpu_ami_type, nat, existing, c.zones is not None)


def _check_public_cidrs(cidrs: list[str], key: str) -> None:
    """A production endpoint is restricted: no block, and no set of blocks, that covers a whole address family."""
    allowed = ("the CIDR blocks of the networks that run kubectl and pulumi (a production endpoint is restricted; "
               "not all of IPv4 or IPv6)")
    nets = [ipaddress.ip_network(c) for c in cidrs]
    for j, n in enumerate(nets):
        if n.prefixlen == 0:
            raise InputError(f"{key}[{j}]", cidrs[j], allowed)
    for version in (4, 6):
        union = list(ipaddress.collapse_addresses(n for n in nets if n.version == version))  # type: ignore[type-var]  # one version at a time
        if any(n.prefixlen == 0 for n in union):
            raise InputError(key, cidrs, allowed, f"together these blocks cover every IPv{version} address")


def _pricing(p: schema.Pricing) -> PricingSpec:
    given = {k: v for k, v in p.overheads.model_dump().items() if v is not None}
    overheads = Overheads(**given)
    return PricingSpec(p.price_book, overheads, p.budget_usd_per_month)


def _workload_args(w: schema.Workload, key: str) -> dict:
    """The cost arguments of a validated workload section (only what it sets): its `WorkloadFields` as they are,
    the latency targets from milliseconds to seconds."""
    if w.tokens_per_month is None:
        raise InputError(f"{key}.tokensPerMonth", None, "a monthly token volume such as 100M or 3.2B")
    args: dict[str, Any] = w.model_dump(include=set(WorkloadFields.model_fields), exclude_none=True)
    targets = {"ttft_target_s": seconds(w.ttft_target_ms), "tpot_target_s": seconds(w.tpot_target_ms)}
    return args | {k: v for k, v in targets.items() if v is not None}


def _build_workload(args: dict, key: str) -> Workload:
    """`Workload.build`, its error named by the config key (`spelled`: the field's alias)."""
    try:
        return Workload.build(**args)
    except InputError as e:
        raise InputError(f"{key}.{spelled(schema.Workload, e.key)}", e.value, e.allowed, e.detail) from None


def _routing(r: schema.Routing) -> RoutingSpec:
    key = P + "routing"
    workload = _build_workload(_workload_args(r, key), key)
    tiers = []
    for j, t in enumerate(r.tiers):
        tk = f"{key}.tiers[{j}]"
        if (t.model is None) == (t.api is None):
            raise InputError(tk, t.model_dump(by_alias=True, exclude_none=True),
                             "exactly one of `model` (a self-hosted model's name) or `api` (an API id)")
        tiers.append(TierSpec(t.name or f"tier-{j}", t.share, t.model, t.api))
    total = sum(t.share for t in tiers)
    if abs(total - 1) > 1e-6:
        raise InputError(f"{key}.tiers", [t.share for t in tiers], "shares that sum to 1", f"they sum to {total:g}")
    return RoutingSpec(workload, tuple(tiers))


def _check_tiers(routing: RoutingSpec, models: list[ModelSpec], book) -> None:
    from cost.pricing import api_prices

    names = {m.name for m in models}
    for j, t in enumerate(routing.tiers):
        tk = f"{P}routing.tiers[{j}]"
        if t.model is not None and t.model not in names:
            raise InputError(f"{tk}.model", t.model, ", ".join(sorted(names)))
        if t.api is not None:
            try:
                api_prices.offer(t.api, book)
            except InputError as e:
                raise InputError(f"{tk}.api", t.api, e.allowed, e.detail) from None


def _model(i: int, m: schema.Model, production: bool, cluster: ClusterSpec, routing: RoutingSpec | None, book) -> ModelSpec:
    key = f"{P}models[{i}]"
    try:
        entry = catalog.model(m.model, f"{key}.model")
    except InputError as e:
        raise InputError(f"{key}.model", m.model, e.allowed) from None
    name = m.name or entry.id.replace(".", "-")
    gpus_per_replica = m.gpus_per_replica
    if m.redundancy is not None and m.redundancy.spares == 0 and production:
        raise InputError(f"{key}.redundancy", m.redundancy.model_dump(by_alias=True, exclude_none=True),
                         'at least one spare replica in a production stack ("N+1"), or breakeven:production: false',
                         f"without a spare, one node failure takes {name} below its planned capacity")
    spares = (1 if production else 0) if m.redundancy is None or m.redundancy.spares is None else m.redundancy.spares
    zones = None if m.redundancy is None else m.redundancy.zones
    max_len = m.max_model_len if m.max_model_len is not None else min(DEFAULT_MAX_MODEL_LEN, entry.context)
    if max_len > entry.context:
        raise InputError(f"{key}.maxModelLen", max_len, f"a whole number, from 256 to {entry.context} ({entry.id}'s context)")
    # The weights vLLM loads (cost/data/checkpoints.yaml), or `source`; a quantized precision with no
    # pre-quantized checkpoint and no `source` is refused here.
    checkpoint = resolve_checkpoint(entry.id, m.precision, m.source, key)
    source = checkpoint.repo
    exemptions = Exemptions(**m.exemptions.model_dump())

    # Workload: declared on the model, or its tier's share of the routed workload (hybrid stacks).
    wkey = f"{key}.workload"
    w = m.workload or schema.Workload()
    tier = None if routing is None else next((t for t in routing.tiers if t.model == name), None)
    if routing is not None and tier is not None:
        rw = routing.workload
        routed_tokens = rw.tokens_per_month * tier.share
        if w.tokens_per_month is not None and abs(w.tokens_per_month - routed_tokens) > 0.01 * max(routed_tokens, 1):
            raise InputError(f"{wkey}.tokensPerMonth", w.tokens_per_month,
                             f"the tier's share of the routed volume ({routed_tokens:,.0f}), or leave it out",
                             f"routing tier {tier.name!r} sends {tier.share:g} of {rw.tokens_per_month:,.0f} tokens/month here")
        args = {"tokens_per_month": routed_tokens, "avg_input_tokens": rw.avg_input_tokens,
                "avg_output_tokens": rw.avg_output_tokens, "utilization": rw.utilization,
                "ttft_target_s": rw.ttft_target_s, "tpot_target_s": rw.tpot_target_s,
                "prefix_cache_hit_rate": rw.prefix_cache_hit_rate}
        own = _workload_args(w.model_copy(update={"tokens_per_month": routed_tokens}), wkey)
        args.update({k: v for k, v in own.items() if k != "tokens_per_month"})
        if w.input_share is not None and w.avg_input_tokens is None and w.avg_output_tokens is None:
            args.pop("avg_input_tokens"), args.pop("avg_output_tokens")
    else:
        if m.workload is None:
            raise InputError(wkey, None, "a workload: {tokensPerMonth, inputShare | avgInputTokens + avgOutputTokens, ...}")
        args = _workload_args(w, wkey)
    workload = _build_workload(args, wkey)

    # GPU or instance type: the program deploys whole AWS instances, so one is always chosen.
    gpu, itype = m.gpu, m.instance_type
    if gpu is None and itype is None:
        raise InputError(f"{key}.gpu", None, "a GPU (" + ", ".join(catalog.gpus()) + ") or an instanceType")
    auto = m.replicas == "auto"
    # A reserved capacity type is billed at its discount only under a named commitment; else AWS bills on-demand.
    commitment = None
    if m.commitment is not None:
        if m.capacity_type not in RESERVED:
            raise InputError(f"{key}.commitment", m.commitment.model_dump(by_alias=True),
                             f"a commitment only with capacityType {' or '.join(RESERVED)}")
        commitment = Commitment(m.commitment.kind, m.commitment.hourly_usd, m.commitment.recorded_in)
    pricing = m.capacity_type if m.capacity_type not in RESERVED or commitment else "on-demand"
    dargs: dict[str, Any] = dict(model=entry.id, gpu=gpu, gpus_per_replica=gpus_per_replica, replicas=1 if auto else m.replicas, redundancy=spares,
                 precision=m.precision, pricing=pricing, commitment=commitment, instance_type=itype,
                 gpu_memory_utilization=m.gpu_memory_utilization, max_num_seqs=m.max_num_seqs, exemptions=exemptions,
                 name=name, max_model_len=max_len, kv_cache_dtype=m.kv_cache_dtype, expert_parallel=m.expert_parallel,
                 api_servers=m.api_server_count)
    try:
        deployment = Deployment.build(**dargs)
        if itype is None:
            chosen = plan_nodes(deployment, None).instance_type
            if chosen is None:
                raise InputError(f"{key}.gpu", gpu, "a GPU sold as an AWS instance, or name an instanceType")
            deployment = Deployment.build(**{**dargs, "gpu": deployment.gpu, "instance_type": chosen})
        # More GPUs than one instance: a multi-node group; plan_nodes refuses a layout vLLM cannot serve
        # with the message estimate and optimize give (cost.physics.multinode.require_deployable).
        plan_nodes(deployment, book)
        require_within_context(workload, entry.id, entry.context, max_len)
    except InputError as e:
        raise (e if e.key.startswith(P) else _rekey(e, f"{key}.")) from None
    assert deployment.instance_type is not None   # named, or chosen above
    inst = catalog.instance(deployment.instance_type)
    if catalog.gpu(deployment.gpu).id == "RTX-4090":
        raise InputError(f"{key}.gpu", gpu, "a data-centre GPU sold on AWS")
    _require_fit(key, entry, deployment, workload, max_len)
    if auto:   # "auto": the placement sizes them (infra/placement.py, cost.physics.sizing.sized)
        deployment = replace(deployment, replicas=None)
    if zones is not None:
        deployment = replace(deployment, zones=zones)
    accept = 1.0 if production else 0.0
    if m.redundancy is not None and m.redundancy.accept_zone_loss_share is not None:
        accept = m.redundancy.accept_zone_loss_share

    if m.capacity_reservation_id is not None and m.capacity_type == "spot":
        raise InputError(f"{key}.capacityReservationId", m.capacity_reservation_id,
                         "a reservation for on-demand or reserved-* nodes (capacityType), not spot")
    if m.capacity_block and m.capacity_reservation_id is None:
        raise InputError(f"{key}.capacityBlock", True, "true only with capacityReservationId (the Capacity Block's id)")
    weights_gib = math.ceil(checkpoint.gib)
    _check_weights_source(f"{key}.weights.source", m.weights.source, source, cluster)
    return ModelSpec(i, name, entry.id, source, m.precision, deployment.gpu, inst.type, gpus_per_replica, deployment.replicas,
                     spares, zones, m.capacity_type, max_len, m.gpu_memory_utilization, m.max_num_seqs,
                     tuple(m.extra_args), workload, exemptions, deployment, weights_gib, checkpoint.flags,
                     m.capacity_reservation_id, m.capacity_block, checkpoint.gated,
                     m.source is not None and not m.source.startswith(("s3://", "/")), accept, m.weights.source,
                     checkpoint.bytes)


def _check_weights_source(key: str, chosen: str | None, repo: str, cluster: ClusterSpec) -> None:
    """The stack's weights.source, when it names one, is one the program can provide: the S3 path needs what the
    program creates (the VPC's gateway endpoint, the cluster's OIDC provider) and a Hugging Face repo to seed the
    copy from. Without one the placement picks the cheaper path (infra/placement.py, cost/physics/weights_source.py)."""
    if chosen == "s3" and cluster.existing is not None:
        raise InputError(key, chosen, "huggingface with cluster.existing (the program creates the S3 gateway endpoint "
                                      "and the pod's IAM role only in the cluster it creates)")
    if chosen == "s3" and repo.startswith(("s3://", "/")):
        raise InputError(key, chosen, f"huggingface when source is {repo} (the S3 copy is seeded from a Hugging Face repo)")


def _check_object_names(models: list[ModelSpec]) -> None:
    """Every model's Kubernetes objects have names of their own (the chart's objects share one namespace), or the
    error names the key to change. (The EKS node group names are the placement's check: infra/placement.py.)"""
    objects: dict[str, str] = {}
    for m in models:
        if m.k8s_name in objects:
            raise InputError(f"{m.key}.name", m.name, "a name whose Kubernetes objects differ from every other model's",
                             f"{m.name} and {objects[m.k8s_name]} would both create objects named {m.k8s_name}")
        objects[m.k8s_name] = m.name


def _require_fit(key: str, entry, deployment: Deployment, workload: Workload, max_len: int) -> None:
    """The weights, runtime and one full-length sequence of KV cache must fit the replica's GPUs
    (the same check, with the same context, as `cost.estimate`)."""
    from cost.physics import capacity

    context = max(max_len, workload.tokens_per_request)
    try:
        capacity.require_fit(entry, catalog.gpu(deployment.gpu), deployment.gpus_per_replica, deployment.precision,
                             context, deployment.gpu_memory_utilization, key=f"{key}.tensorParallel",
                             kv_cache_dtype=deployment.kv_cache_dtype, expert_parallel=deployment.expert_parallel,
                             max_num_seqs=deployment.max_num_seqs)
    except InputError as e:
        raise (e if e.key.startswith(P) else _rekey(e, f"{key}.")) from None
