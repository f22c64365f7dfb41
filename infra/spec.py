"""The typed, validated stack spec: what a stack's config asks for, checked before anything is built.

Pure Python (no Pulumi import): the program, the offline preview, the policy pack and the tests all
load a spec the same way. Every bad value raises `cost.errors.InputError` whose key is the config
path the user wrote, e.g. `breakeven:models[0].replicas`, with the value and what is allowed.

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
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cost import catalog
from cost import eks as eks_calendar
from cost.checkpoints import resolve as resolve_checkpoint
from cost.deployment import Deployment, Exemptions
from cost.errors import InputError
from cost.nodes import NodePlan, plan_nodes
from cost.tco import Overheads
from cost.units import parse_tokens
from cost.workload import Workload

NS = "breakeven"
P = f"{NS}:"

# Top-level keys and how their raw (string) config value is decoded.
CONFIG_KEYS: dict[str, str] = {
    "production": "boolean",
    "namespace": "string",
    "cluster": "object",
    "models": "array",
    "routing": "object",
    "pricing": "object",
    "hfToken": "secret",
    "vllmApiKey": "secret",
}
SECRET_KEYS = tuple(k for k, kind in CONFIG_KEYS.items() if kind == "secret")

GPU_POOL_LABEL = "breakeven.dev/gpu-pool"
GPU_AMI_TYPES = {
    # AMI type -> whether it already runs the NVIDIA device plugin (EKS user guide: the
    # Bottlerocket NVIDIA variants ship it; the AL2023 NVIDIA AMIs carry the driver only).
    "AL2023_x86_64_NVIDIA": False,
    "BOTTLEROCKET_x86_64_NVIDIA": True,
}
CAPACITY_TYPES = catalog.PRICINGS  # on-demand, spot, reserved-1y, reserved-3y
NAT_MODES = ("one-per-zone", "single")
DEFAULT_MAX_MODEL_LEN = 8192
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
ZONE = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
SOURCE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
IMAGE_AND_RUNTIME_GIB = 40  # vLLM image (compressed layers and unpacked snapshot), logs and scratch on the node disk

# cost's argument names -> this spec's config names, for errors raised inside `cost`.
_COST_KEYS = {
    "model": "model", "gpu": "gpu", "instance_type": "instanceType", "gpus_per_replica": "tensorParallel",
    "replicas": "replicas", "redundancy": "redundancy.spares", "precision": "precision", "pricing": "capacityType",
    "gpu_memory_utilization": "gpuMemoryUtilization", "max_num_seqs": "maxNumSeqs", "max_model_len": "maxModelLen",
    "tokens_per_month": "workload.tokensPerMonth", "input_share": "workload.inputShare",
    "avg_input_tokens": "workload.avgInputTokens", "avg_output_tokens": "workload.avgOutputTokens",
    "utilization": "workload.utilization",
}


def today() -> dt.date:
    """The date support calendars and prices are read for (UTC)."""
    return dt.datetime.now(dt.timezone.utc).date()


def _rekey(err: InputError, prefix: str) -> InputError:
    """An error raised by `cost` with its key spelled as the config path."""
    return InputError(prefix + _COST_KEYS.get(err.key, err.key), err.value, err.allowed, err.detail)


# ---------------------------------------------------------------------------------------------
# Small typed readers. Each names the full config key in its error.
# ---------------------------------------------------------------------------------------------

def _obj(value: Any, key: str, allowed: tuple[str, ...]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(key, value, "a mapping with keys " + ", ".join(allowed))
    for k in value:
        if k not in allowed:
            raise InputError(f"{key}.{k}", value[k], "a known key: " + ", ".join(allowed), "unknown key (a typo?)")
    return dict(value)


def _int(value: Any, key: str, low: int, high: int | None = None) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value == value and int(value) == value
    if not ok or value < low or (high is not None and value > high):
        rng = f"at least {low}" if high is None else f"from {low} to {high}"
        raise InputError(key, value, f"a whole number, {rng}")
    return int(value)


def _num(value: Any, key: str, low: float, high: float | None = None, *, low_open: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value == value
    if ok:
        ok = (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        lo = f"above {low:g}" if low_open else f"at least {low:g}"
        raise InputError(key, value, f"a number {lo}" + ("" if high is None else f" and at most {high:g}"))
    return float(value)


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InputError(key, value, "true or false")


def _str(value: Any, key: str, allowed: str = "a non-empty string") -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(key, value, allowed)
    return value.strip()


def _choice(value: Any, key: str, choices: tuple[str, ...] | list[str]) -> str:
    if value not in choices:
        raise InputError(key, value, ", ".join(choices))
    return value


def _list(value: Any, key: str, allowed: str) -> list:
    if not isinstance(value, list):
        raise InputError(key, value, allowed)
    return value


def _dns_name(value: Any, key: str, max_len: int = 40) -> str:
    s = _str(value, key, f"a lowercase DNS label of at most {max_len} characters (a-z, 0-9, -)")
    if not DNS_LABEL.match(s) or len(s) > max_len:
        raise InputError(key, value, f"a lowercase DNS label of at most {max_len} characters (a-z, 0-9, -), starting with a letter")
    return s


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoint:
    """The EKS API endpoint: private access from the VPC, public access restricted to CIDRs."""

    public_access: bool
    public_access_cidrs: tuple[str, ...]
    private_access: bool


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

    @property
    def device_plugin(self) -> bool:
        """Whether the kit installs the NVIDIA device plugin."""
        if self.existing is not None:
            return self.existing.device_plugin
        return not GPU_AMI_TYPES[self.gpu_ami_type]


@dataclass(frozen=True)
class ZonePool:
    """One GPU node group: the zones its subnets span and its node count."""

    suffix: str               # "a", "b", ... or "all"
    zones: tuple[str, ...]
    nodes: int


@dataclass(frozen=True)
class ModelSpec:
    """One self-hosted model, as priced and as deployed."""

    index: int
    name: str                 # Kubernetes-safe name: release, node pool label, resource names
    model: str                # catalog id: the architecture the capacity model and the API comparison use
    hf: str                   # the weights vLLM loads: the catalog checkpoint's repo, or `source` (fine-tuned)
    precision: str
    gpu: str
    instance_type: str
    tensor_parallel: int
    replicas: int
    spares: int               # N+spares
    zones: int                # zones the model's nodes spread across
    capacity_type: str        # on-demand | spot | reserved-1y | reserved-3y
    max_model_len: int
    gpu_memory_utilization: float
    max_num_seqs: int
    extra_args: tuple[str, ...]
    workload: Workload
    exemptions: Exemptions
    deployment: Deployment
    plan: NodePlan
    pools: tuple[ZonePool, ...]
    weights_gib: int          # the checkpoint's bytes on disk, in GiB (rounded up): cache, disk, startup window
    checkpoint_flags: tuple[str, ...]   # vLLM flags the checkpoint needs (cost/data/checkpoints.yaml)

    @property
    def key(self) -> str:
        return f"{P}models[{self.index}]"

    @property
    def cache_gib(self) -> int:
        """Model cache of one pod (an emptyDir on the node disk): the weights plus 10 % and 5 GiB."""
        return math.ceil(self.weights_gib * 1.1) + 5

    @property
    def disk_needed_gib(self) -> int:
        """Node disk the replicas packed on one node need: their caches plus the vLLM image."""
        return self.plan.replicas_per_instance * self.cache_gib + IMAGE_AND_RUNTIME_GIB

    def disk_gib(self, overheads: Overheads) -> int:
        """GPU node disk: the priced storage per node, or (when storage is not priced) what the pods need."""
        return int(overheads.storage_gib_per_node) or self.disk_needed_gib

    @property
    def total_replicas(self) -> int:
        return self.replicas + self.spares

    @property
    def nodes(self) -> int:
        return sum(p.nodes for p in self.pools)

    @property
    def eks_capacity_type(self) -> str:
        """EKS sells spot or on-demand; reserved pricing is a billing discount on on-demand nodes."""
        return "SPOT" if self.capacity_type == "spot" else "ON_DEMAND"

    @property
    def pool_label(self) -> str:
        return self.name


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

    def to_config(self) -> dict:
        """The config spelling of the routed workload and its tiers (what `breakeven:routing` takes)."""
        w = self.workload
        return {"tokensPerMonth": w.tokens_per_month, "avgInputTokens": w.avg_input_tokens,
                "avgOutputTokens": w.avg_output_tokens, "utilization": w.utilization,
                "tiers": [{"name": t.name, "share": t.share, **({"model": t.model} if t.model else {"api": t.api})}
                          for t in self.tiers]}


@dataclass(frozen=True)
class PricingSpec:
    price_book: str | None
    overheads: Overheads
    budget_usd_per_month: float | None


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

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)

    def warnings(self) -> list[str]:
        """Valid but risky choices, logged as warnings by the program (the policy pack may enforce them)."""
        out = []
        for m in self.models:
            rpi = m.plan.replicas_per_instance
            if self.production and m.spares == 0:
                out.append(f"{m.key}.redundancy: no spare replica in a production stack; one node failure takes "
                           f"{m.name} below its planned capacity")
            elif self.production and 0 < m.spares < rpi:
                out.append(f"{m.key}.redundancy.spares: {m.spares} spare replica(s), but {rpi} replicas share each "
                           f"{m.instance_type}; losing one node loses {rpi} replicas (use spares >= {rpi})")
            if self.production and m.capacity_type == "spot":
                out.append(f"{m.key}.capacityType: spot nodes can be reclaimed at two minutes' notice")
        return out

    def to_dict(self) -> dict:
        """JSON-able summary (no secret values: only which secret keys are set)."""
        c = self.cluster
        return {
            "project": self.project, "stack": self.stack, "production": self.production, "namespace": self.namespace,
            "cluster": {
                "name": c.name, "region": c.region, "zones": list(c.zones), "kubernetesVersion": c.kubernetes_version,
                "vpcCidr": c.vpc_cidr, "gpuAmiType": c.gpu_ami_type, "natGateways": c.nat_gateways,
                "endpoint": {"publicAccess": c.endpoint.public_access, "publicAccessCidrs": list(c.endpoint.public_access_cidrs),
                             "privateAccess": c.endpoint.private_access},
                "systemNodes": {"instanceType": c.system_instance_type, "count": c.system_nodes},
                "devicePlugin": c.device_plugin,
                "existing": None if c.existing is None else {"context": c.existing.context, "devicePlugin": c.existing.device_plugin},
            },
            "models": [
                {
                    "name": m.name, "model": m.model, "hf": m.hf, "precision": m.precision, "gpu": m.gpu,
                    "instanceType": m.instance_type, "tensorParallel": m.tensor_parallel, "replicas": m.replicas,
                    "redundancy": {"spares": m.spares, "zones": m.zones}, "capacityType": m.capacity_type,
                    "maxModelLen": m.max_model_len, "gpuMemoryUtilization": m.gpu_memory_utilization,
                    "maxNumSeqs": m.max_num_seqs, "extraArgs": list(m.extra_args), "weightsGiB": m.weights_gib,
                    "workload": {"tokensPerMonth": m.workload.tokens_per_month, "inputShare": round(m.workload.input_share, 4),
                                 "avgInputTokens": m.workload.avg_input_tokens, "avgOutputTokens": m.workload.avg_output_tokens,
                                 "utilization": m.workload.utilization,
                                 "ttftTargetMs": None if m.workload.ttft_target_s is None else m.workload.ttft_target_s * 1000,
                                 "tpotTargetMs": None if m.workload.tpot_target_s is None else m.workload.tpot_target_s * 1000},
                    "exemptions": {"fineTuned": m.exemptions.fine_tuned, "privateData": m.exemptions.private_data,
                                   "customInference": m.exemptions.custom_inference},
                    "nodes": {"instances": m.nodes, "instancesPerReplica": m.plan.instances_per_replica,
                              "replicasPerInstance": m.plan.replicas_per_instance,
                              "pools": [{"suffix": p.suffix, "zones": list(p.zones), "nodes": p.nodes} for p in m.pools]},
                }
                for m in self.models
            ],
            "routing": None if self.routing is None else {
                "tokensPerMonth": self.routing.workload.tokens_per_month,
                "tiers": [{"name": t.name, "share": t.share, "model": t.model, "api": t.api} for t in self.routing.tiers],
            },
            "pricing": {"priceBook": self.pricing.price_book, "overheads": self.pricing.overheads.to_dict(),
                        "budgetUsdPerMonth": self.pricing.budget_usd_per_month},
            "secretsSet": sorted(self.secrets_present),
        }


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
            values[short] = json.loads(value)
        except json.JSONDecodeError:
            if kind == "boolean":
                values[short] = value
            else:
                raise InputError(full, value, f"a YAML/JSON {kind}") from None
    return values, frozenset(secrets)


def load(
    raw: Mapping[str, Any],
    *,
    project: str = NS,
    stack: str = "dev",
    aws_region: str | None = None,
    book=None,
) -> StackSpec:
    """Build and validate the spec from raw stack config. Raises InputError on the first bad value."""
    values, secrets = decode(raw, project)
    if aws_region is None:
        aws_region = raw.get("aws:region")
    production = _bool(values.get("production", True), P + "production")
    namespace = _dns_name(values.get("namespace", "llm"), P + "namespace", 63)
    cluster = _cluster(values.get("cluster"), project, stack, production, aws_region)
    pricing = _pricing(values.get("pricing"))
    if book is None and pricing.price_book:
        book = _load_book(pricing.price_book)
    raw_models = values.get("models")
    if raw_models is None:
        raise InputError(P + "models", None, "a list of one or more models to serve (see stacks/README.md)")
    _list(raw_models, P + "models", "a list of one or more models to serve")
    if not raw_models:
        raise InputError(P + "models", raw_models, "a list of one or more models to serve")
    routing_raw = _obj(values.get("routing"), P + "routing",
                       ("tokensPerMonth", "inputShare", "avgInputTokens", "avgOutputTokens", "utilization", "tiers"))
    routing = _routing(routing_raw) if routing_raw else None
    if routing is not None:  # tier targets first: a typo there would otherwise read as a missing workload
        names = set()
        for i, m in enumerate(raw_models):
            if isinstance(m, Mapping):
                try:
                    names.add(m.get("name") or catalog.model(m.get("model")).id.replace(".", "-"))
                except InputError:
                    pass
        for j, t in enumerate(routing.tiers):
            if t.model is not None and t.model not in names:
                raise InputError(f"{P}routing.tiers[{j}].model", t.model, ", ".join(sorted(names)) or "a name from breakeven:models")
    models = []
    for i, m in enumerate(raw_models):
        models.append(_model(i, m, production, cluster, routing, book))
    names = [m.name for m in models]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise InputError(f"{P}models[{i}].name", n, "a name no other model in this stack uses")
    if routing is not None:
        _check_tiers(routing, models, book)
    disk_key = P + "pricing.overheads.storageGibPerNode"
    for m in models:
        need = m.disk_needed_gib
        if cluster.existing is None and 0 < pricing.overheads.storage_gib_per_node < need:
            raise InputError(disk_key, pricing.overheads.storage_gib_per_node,
                             f"at least {need} GiB: the GPU node disk (priced per node) holds the model cache of each of "
                             f"the {m.plan.replicas_per_instance} {m.name} replica(s) on a node ({m.cache_gib} GiB for "
                             f"{m.weights_gib} GiB of weights) plus {IMAGE_AND_RUNTIME_GIB} GiB for the image")
    if production and "vllmApiKey" not in secrets:
        raise InputError(P + "vllmApiKey", None,
                         "a secret API key for the vLLM endpoints: pulumi config set --secret breakeven:vllmApiKey <key>",
                         "production stacks do not serve unauthenticated endpoints")
    return StackSpec(project, stack, production, namespace, cluster, tuple(models), routing, pricing, secrets)


def _load_book(name: str):
    from cost import api_prices

    try:
        book = api_prices.load_price_book(name)
    except InputError as e:
        raise InputError(P + "pricing.priceBook", name, e.allowed, e.detail) from None
    except (OSError, ValueError) as e:
        raise InputError(P + "pricing.priceBook", name, "a bundled price book name (e.g. seed-2025) or a readable YAML file", str(e)) from None
    if book is None:
        raise InputError(P + "pricing.priceBook", name, "a bundled price book name (e.g. seed-2025) or a readable YAML file")
    return book


def _cluster(value: Any, project: str, stack: str, production: bool, aws_region: str | None) -> ClusterSpec:
    key = P + "cluster"
    c = _obj(value, key, ("name", "region", "zones", "kubernetesVersion", "vpcCidr", "endpoint", "systemNodes",
                          "gpuAmiType", "natGateways", "existing"))
    name = _dns_name(c.get("name", f"{project}-{stack}"), f"{key}.name", 60)
    region = c.get("region", aws_region)
    if region is None:
        raise InputError(f"{key}.region", None, "an AWS region such as us-east-1 (or set aws:region)")
    region = _str(region, f"{key}.region", "an AWS region such as us-east-1")
    if not REGION.match(region):
        raise InputError(f"{key}.region", region, "an AWS region such as us-east-1")
    if aws_region and c.get("region") and aws_region != region:
        raise InputError(f"{key}.region", region, f"the region aws:region names ({aws_region}), or leave one of them out")
    zones_raw = c.get("zones", [f"{region}a", f"{region}b", f"{region}c"] if production else [f"{region}a", f"{region}b"])
    zones = _list(zones_raw, f"{key}.zones", f"a list of availability zones in {region}, at least 2")
    for j, z in enumerate(zones):
        if not isinstance(z, str) or not ZONE.match(z) or not z.startswith(region):
            raise InputError(f"{key}.zones[{j}]", z, f"an availability zone of {region} such as {region}a")
    if len(set(zones)) != len(zones):
        raise InputError(f"{key}.zones", zones, "distinct availability zones")
    if len(zones) < 2 or len(zones) > 6:
        raise InputError(f"{key}.zones", zones, "from 2 to 6 availability zones",
                         "EKS needs subnets in at least two zones")
    # Default: the newest EKS version in standard support today; an older one is priced at the
    # extended-support rate (cost/platform.py); one past extended support is refused.
    version = str(c.get("kubernetesVersion", eks_calendar.default_version(today())))
    eks_calendar.check(version, today(), f"{key}.kubernetesVersion")
    cidr = c.get("vpcCidr", "10.40.0.0/16")
    try:
        net = ipaddress.ip_network(str(cidr))
    except ValueError:
        raise InputError(f"{key}.vpcCidr", cidr, "an IPv4 CIDR block from /16 to /20, e.g. 10.40.0.0/16") from None
    if net.version != 4 or not 16 <= net.prefixlen <= 20:
        raise InputError(f"{key}.vpcCidr", cidr, "an IPv4 CIDR block from /16 to /20, e.g. 10.40.0.0/16")
    ep = _obj(c.get("endpoint"), f"{key}.endpoint", ("publicAccess", "publicAccessCidrs", "privateAccess"))
    public = _bool(ep.get("publicAccess", True), f"{key}.endpoint.publicAccess")
    private = _bool(ep.get("privateAccess", True), f"{key}.endpoint.privateAccess")
    cidrs = _list(ep.get("publicAccessCidrs", []), f"{key}.endpoint.publicAccessCidrs", "a list of IPv4 CIDR blocks")
    for j, cb in enumerate(cidrs):
        try:
            ipaddress.ip_network(str(cb))
        except ValueError:
            raise InputError(f"{key}.endpoint.publicAccessCidrs[{j}]", cb, "an IPv4 CIDR block such as 203.0.113.0/24") from None
        if production and str(cb) == "0.0.0.0/0":
            raise InputError(f"{key}.endpoint.publicAccessCidrs[{j}]", cb,
                             "the CIDR blocks of the networks that run kubectl and pulumi (a production endpoint is restricted)")
    if public and not cidrs and c.get("existing") is None:
        raise InputError(f"{key}.endpoint.publicAccessCidrs", cidrs,
                         "one or more CIDR blocks allowed to reach the public API endpoint, or endpoint.publicAccess: false")
    if not public and not private:
        raise InputError(f"{key}.endpoint.privateAccess", False, "true when publicAccess is false (the API must be reachable)")
    sysn = _obj(c.get("systemNodes"), f"{key}.systemNodes", ("instanceType", "count"))
    sys_type = _str(sysn.get("instanceType", "m6i.large"), f"{key}.systemNodes.instanceType", "an EC2 instance type such as m6i.large")
    sys_count = _int(sysn.get("count", 2 if production else 1), f"{key}.systemNodes.count", 1, 20)
    ami = _choice(c.get("gpuAmiType", "AL2023_x86_64_NVIDIA"), f"{key}.gpuAmiType", tuple(GPU_AMI_TYPES))
    nat = _choice(c.get("natGateways", "one-per-zone" if production else "single"), f"{key}.natGateways", NAT_MODES)
    existing = None
    if c.get("existing") is not None:
        ex = _obj(c["existing"], f"{key}.existing", ("kubeconfig", "context", "devicePlugin"))
        kc = _str(ex.get("kubeconfig"), f"{key}.existing.kubeconfig", "a path to a kubeconfig file (e.g. ~/.kube/config)")
        ctx = ex.get("context")
        if ctx is not None:
            ctx = _str(ctx, f"{key}.existing.context", "a context name from the kubeconfig")
        existing = ExistingCluster(kc, ctx, _bool(ex.get("devicePlugin", False), f"{key}.existing.devicePlugin"))
    return ClusterSpec(name, region, tuple(zones), version, str(net), Endpoint(public, tuple(str(x) for x in cidrs), private),
                       sys_type, sys_count, ami, nat, existing)


def _pricing(value: Any) -> PricingSpec:
    key = P + "pricing"
    p = _obj(value, key, ("priceBook", "overheads", "budgetUsdPerMonth"))
    book = p.get("priceBook")
    if book is not None:
        book = _str(book, f"{key}.priceBook", "a price book name (e.g. seed-2025) or a YAML file path")
    try:
        overheads = Overheads.from_dict(p.get("overheads"), f"{key}.overheads.")
    except InputError as e:
        raise e if e.key.startswith(P) else e.under(P) from None
    budget = p.get("budgetUsdPerMonth")
    if budget is not None:
        budget = _num(budget, f"{key}.budgetUsdPerMonth", 0, low_open=True)
    return PricingSpec(book, overheads, budget)


def _workload_args(w: dict, key: str) -> dict:
    args: dict[str, Any] = {}
    if "tokensPerMonth" not in w:
        raise InputError(f"{key}.tokensPerMonth", None, "a monthly token volume such as 100M or 3.2B")
    args["tokens_per_month"] = parse_tokens(w["tokensPerMonth"], f"{key}.tokensPerMonth")
    if "inputShare" in w:
        args["input_share"] = _num(w["inputShare"], f"{key}.inputShare", 0, 1, low_open=True)
        if args["input_share"] >= 1:
            raise InputError(f"{key}.inputShare", w["inputShare"], "a fraction strictly between 0 and 1")
    for src, dst in (("avgInputTokens", "avg_input_tokens"), ("avgOutputTokens", "avg_output_tokens")):
        if src in w:
            args[dst] = _int(w[src], f"{key}.{src}", 1, 1_000_000)
    if "utilization" in w:
        args["utilization"] = _num(w["utilization"], f"{key}.utilization", 0, 1, low_open=True)
    for src, dst in (("ttftTargetMs", "ttft_target_s"), ("tpotTargetMs", "tpot_target_s")):
        if w.get(src) is not None:
            args[dst] = _num(w[src], f"{key}.{src}", 0, low_open=True) / 1000
    return args


_WORKLOAD_COST_KEYS = {"tokens_per_month": "tokensPerMonth", "input_share": "inputShare", "avg_input_tokens": "avgInputTokens",
                       "avg_output_tokens": "avgOutputTokens", "utilization": "utilization",
                       "ttft_target_s": "ttftTargetMs", "tpot_target_s": "tpotTargetMs"}


def _build_workload(args: dict, key: str) -> Workload:
    try:
        return Workload.build(**args)
    except InputError as e:
        raise InputError(f"{key}.{_WORKLOAD_COST_KEYS.get(e.key, e.key)}", e.value, e.allowed, e.detail) from None


_WORKLOAD_KEYS = ("tokensPerMonth", "inputShare", "avgInputTokens", "avgOutputTokens", "utilization", "ttftTargetMs", "tpotTargetMs")


def _routing(r: dict) -> RoutingSpec:
    key = P + "routing"
    workload = _build_workload(_workload_args({k: v for k, v in r.items() if k != "tiers"}, key), key)
    tiers_raw = _list(r.get("tiers"), f"{key}.tiers", "a list of tiers, each {name, share, model | api}")
    if not tiers_raw:
        raise InputError(f"{key}.tiers", tiers_raw, "one or more tiers, each {name, share, model | api}")
    tiers = []
    for j, t in enumerate(tiers_raw):
        tk = f"{key}.tiers[{j}]"
        t = _obj(t, tk, ("name", "share", "model", "api"))
        name = _str(t.get("name", f"tier-{j}"), f"{tk}.name")
        share = _num(t.get("share"), f"{tk}.share", 0, 1, low_open=True)
        model, api = t.get("model"), t.get("api")
        if (model is None) == (api is None):
            raise InputError(tk, t, "exactly one of `model` (a self-hosted model's name) or `api` (an API id)")
        tiers.append(TierSpec(name, share, model, api))
    total = sum(t.share for t in tiers)
    if abs(total - 1) > 1e-6:
        raise InputError(f"{key}.tiers", [t.share for t in tiers], "shares that sum to 1", f"they sum to {total:g}")
    return RoutingSpec(workload, tuple(tiers))


def _check_tiers(routing: RoutingSpec, models: list[ModelSpec], book) -> None:
    from cost import api_prices

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


def _redundancy(value: Any, key: str, production: bool) -> tuple[int, int | None]:
    """(spares, zones or None for the default). Accepts {spares, zones}, "N+1" or "none"."""
    if isinstance(value, str):
        s = value.strip().upper()
        if s == "NONE":
            return 0, 1
        m = re.fullmatch(r"N\s*\+\s*(\d+)", s)
        if not m:
            raise InputError(key, value, '"N+1" (one spare replica), "none", or {spares, zones}')
        return int(m.group(1)), None
    if value is None:
        return (1, None) if production else (0, None)
    r = _obj(value, key, ("spares", "zones"))
    spares = _int(r.get("spares", 1 if production else 0), f"{key}.spares", 0, 16)
    zones = None if r.get("zones") is None else _int(r["zones"], f"{key}.zones", 1, 6)
    return spares, zones


def _spread(units: int, zones: tuple[str, ...]) -> tuple[ZonePool, ...]:
    """Whole instances over zones, as evenly as possible (the first zones take the remainder)."""
    base, extra = divmod(units, len(zones))
    return tuple(ZonePool(z[-1], (z,), base + (1 if i < extra else 0)) for i, z in enumerate(zones))


def _model(i: int, value: Any, production: bool, cluster: ClusterSpec, routing: RoutingSpec | None, book) -> ModelSpec:
    key = f"{P}models[{i}]"
    m = _obj(value, key, ("name", "model", "precision", "gpu", "instanceType", "tensorParallel", "replicas", "redundancy",
                          "capacityType", "maxModelLen", "gpuMemoryUtilization", "maxNumSeqs", "workload", "exemptions",
                          "extraArgs", "source"))
    if m.get("model") is None:
        raise InputError(f"{key}.model", None, ", ".join(catalog.models()) + " (or their Hugging Face names)")
    try:
        entry = catalog.model(m["model"], f"{key}.model")
    except InputError as e:
        raise InputError(f"{key}.model", m["model"], e.allowed) from None
    name = _dns_name(m.get("name", entry.id.replace(".", "-")), f"{key}.name", 30)
    precision = _choice(m.get("precision", "bf16"), f"{key}.precision", catalog.PRECISIONS)
    capacity_type = _choice(m.get("capacityType", "on-demand"), f"{key}.capacityType", CAPACITY_TYPES)
    tp = _int(m.get("tensorParallel", 1), f"{key}.tensorParallel", 1, 8)
    if tp & (tp - 1):
        raise InputError(f"{key}.tensorParallel", tp, "1, 2, 4 or 8 (vLLM splits attention heads evenly)")
    replicas = _int(m.get("replicas", 1), f"{key}.replicas", 1, 64)
    spares, zones = _redundancy(m.get("redundancy"), f"{key}.redundancy", production)
    max_len = _int(m.get("maxModelLen", min(DEFAULT_MAX_MODEL_LEN, entry.context)), f"{key}.maxModelLen", 256, entry.context)
    gmu = _num(m.get("gpuMemoryUtilization", 0.9), f"{key}.gpuMemoryUtilization", 0.1, 0.99)
    max_seqs = _int(m.get("maxNumSeqs", 256), f"{key}.maxNumSeqs", 1, 4096)
    extra = _list(m.get("extraArgs", []), f"{key}.extraArgs", "a list of extra vLLM command-line arguments (strings)")
    for j, a in enumerate(extra):
        if not isinstance(a, str):
            raise InputError(f"{key}.extraArgs[{j}]", a, "a string such as --enable-prefix-caching")

    source = None
    if m.get("source") is not None:
        source = _str(m["source"], f"{key}.source", "a Hugging Face repo id (org/name) or an absolute path in the container")
        if not (SOURCE.match(source) or source.startswith("/")):
            raise InputError(f"{key}.source", source, "a Hugging Face repo id (org/name) or an absolute path in the container")
    ex = _obj(m.get("exemptions"), f"{key}.exemptions", ("fineTuned", "privateData", "customInference"))
    exemptions = Exemptions(
        fine_tuned=_bool(ex.get("fineTuned", False), f"{key}.exemptions.fineTuned"),
        private_data=_bool(ex.get("privateData", False), f"{key}.exemptions.privateData"),
        custom_inference=_bool(ex.get("customInference", False), f"{key}.exemptions.customInference"),
    )

    # Workload: declared on the model, or its tier's share of the routed workload (hybrid stacks).
    wkey = f"{key}.workload"
    w = _obj(m.get("workload"), wkey, _WORKLOAD_KEYS)
    tier = None if routing is None else next((t for t in routing.tiers if t.model == name), None)
    if tier is not None:
        rw = routing.workload
        routed_tokens = rw.tokens_per_month * tier.share
        if "tokensPerMonth" in w:
            declared = parse_tokens(w["tokensPerMonth"], f"{wkey}.tokensPerMonth")
            if abs(declared - routed_tokens) > 0.01 * max(routed_tokens, 1):
                raise InputError(f"{wkey}.tokensPerMonth", w["tokensPerMonth"],
                                 f"the tier's share of the routed volume ({routed_tokens:,.0f}), or leave it out",
                                 f"routing tier {tier.name!r} sends {tier.share:g} of {rw.tokens_per_month:,.0f} tokens/month here")
        args = {"tokens_per_month": routed_tokens, "avg_input_tokens": rw.avg_input_tokens,
                "avg_output_tokens": rw.avg_output_tokens, "utilization": rw.utilization,
                "ttft_target_s": rw.ttft_target_s, "tpot_target_s": rw.tpot_target_s}
        args.update({k: v for k, v in _workload_args({"tokensPerMonth": routed_tokens, **w}, wkey).items()
                     if k != "tokens_per_month"})
        if "inputShare" in w and not ("avgInputTokens" in w or "avgOutputTokens" in w):
            args.pop("avg_input_tokens"), args.pop("avg_output_tokens")
    else:
        if not w:
            raise InputError(wkey, None, "a workload: {tokensPerMonth, inputShare | avgInputTokens + avgOutputTokens, ...}")
        args = _workload_args(w, wkey)
    workload = _build_workload(args, wkey)

    # GPU or instance type: the program deploys whole AWS instances, so one is always chosen.
    gpu, itype = m.get("gpu"), m.get("instanceType")
    if gpu is None and itype is None:
        raise InputError(f"{key}.gpu", None, "a GPU (" + ", ".join(catalog.gpus()) + ") or an instanceType")
    dargs = dict(model=entry.id, gpu=gpu, gpus_per_replica=tp, replicas=replicas, redundancy=spares, precision=precision,
                 pricing=capacity_type, instance_type=itype, gpu_memory_utilization=gmu, max_num_seqs=max_seqs,
                 exemptions=exemptions, name=name)
    dargs["max_model_len"] = max_len
    try:
        deployment = Deployment.build(**dargs)
        if itype is None:
            chosen = plan_nodes(deployment, None).instance_type
            if chosen is None:
                raise InputError(f"{key}.gpu", gpu, "a GPU sold as an AWS instance, or name an instanceType")
            deployment = Deployment.build(**{**dargs, "gpu": deployment.gpu, "instance_type": chosen})
        plan = plan_nodes(deployment, book)
    except InputError as e:
        raise (e if e.key.startswith(P) else _rekey(e, f"{key}.")) from None
    inst = catalog.instance(deployment.instance_type)
    if catalog.gpu(deployment.gpu).id == "RTX-4090":
        raise InputError(f"{key}.gpu", gpu, "a data-centre GPU sold on AWS")
    if tp > inst.gpus:
        raise InputError(f"{key}.tensorParallel", tp, f"at most {inst.gpus} (the GPUs of one {inst.type})",
                         "this kit runs each vLLM replica on one node; pick a larger instance type")
    _require_fit(key, entry, deployment, workload, max_len)

    # Zones: spread the instances over `zones` zones of the cluster.
    units = plan.units
    if zones is None:
        zones = min(2, len(cluster.zones), units) if spares else 1
    if zones > len(cluster.zones) and cluster.existing is None:
        raise InputError(f"{key}.redundancy.zones", zones,
                         f"at most {len(cluster.zones)} (the zones breakeven:cluster.zones lists: {', '.join(cluster.zones)})",
                         "add zones to the cluster or spread this model over fewer")
    if zones > units:
        raise InputError(f"{key}.redundancy.zones", zones,
                         f"at most {units} (this model runs on {units} x {inst.type}; a zone without a node holds nothing)")
    if cluster.existing is not None or zones == 1:
        pools = (ZonePool("all", cluster.zones, units),)
    else:
        pools = _spread(units, cluster.zones[:zones])

    checkpoint = resolve_checkpoint(entry.id, precision, source, key)
    weights_gib = math.ceil(checkpoint.gib)
    return ModelSpec(i, name, entry.id, checkpoint.repo, precision, deployment.gpu, deployment.instance_type, tp, replicas, spares,
                     zones, capacity_type, max_len, gmu, max_seqs, tuple(extra), workload, exemptions, deployment, plan,
                     pools, weights_gib, checkpoint.flags)


def _require_fit(key: str, entry, deployment: Deployment, workload: Workload, max_len: int) -> None:
    """The weights, runtime and one full-length sequence of KV cache must fit the replica's GPUs
    (the same check, with the same context, as `cost.estimate`)."""
    from cost import capacity

    context = max(max_len, workload.tokens_per_request)
    try:
        capacity.require_fit(entry, catalog.gpu(deployment.gpu), deployment.gpus_per_replica, deployment.precision,
                             context, deployment.gpu_memory_utilization, key=f"{key}.tensorParallel")
    except InputError as e:
        raise (e if e.key.startswith(P) else _rekey(e, f"{key}.")) from None
