"""The stack config schema: one pydantic model per config section, validating and documenting in one place.

These models check the *shape* of what a user wrote (types, ranges, finite numbers, enums, formats,
unknown keys) under the camelCase names used in `stacks/Pulumi.<stack>.yaml`. What needs several
keys or a catalog at once (zones of the region, a model that fits its GPUs, generated names) is
checked in `infra/config/spec.py`, which builds the typed spec from these validated values. The config
reference in `stacks/README.md` is generated from these models (`python -m infra.config.configdoc`).

`validate(values)` raises `cost.errors.InputError` whose key is the config path the user wrote,
e.g. `breakeven:models[0].replicas`, with the value and what is allowed, never a pydantic traceback.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from cost.deployment import CommitmentFields, ExemptionsFields
from cost.pydantic_errors import Allowed, to_input_error
from cost.pydantic_errors import allowed as allowed  # re-exported: infra/config/configdoc.py documents each key with it
from cost.pydantic_errors import refuse as _refuse
from cost.workload import WorkloadFieldsMs

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
    "access": "object",
    "hfToken": "secret",
    "vllmApiKey": "secret",
}
SECRET_KEYS = tuple(k for k, kind in CONFIG_KEYS.items() if kind == "secret")

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
K8S_VERSION = re.compile(r"^1\.(2[89]|3\d)$")
# EC2 instance types: family (letters, generation digit, attributes, optional -suffix) "." size.
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.(nano|micro|small|medium|large|xlarge|[0-9]+xlarge|"
                           r"metal(-[0-9]+xl)?)$")
HF_REPO = re.compile(r"^[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?/[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?$")
S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$")
# Namespaces Kubernetes itself owns (kube-*) and `default`, which the kit would share with anything
# else in the cluster; the program creates its namespace, so it must be one of its own.
RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Flags the spec sets from its own keys; a second value in extraArgs would silently disagree with the price.
SPEC_FLAGS = {"model": "model/source", "tensor-parallel-size": "tensorParallel", "max-model-len": "maxModelLen",
              "gpu-memory-utilization": "gpuMemoryUtilization", "max-num-seqs": "maxNumSeqs", "port": "(the chart)",
              "host": "(the chart)", "served-model-name": "name", "kv-cache-dtype": "kvCacheDtype",
              "enable-expert-parallel": "expertParallel", "api-server-count": "apiServerCount"}
SHORT_SPEC_FLAGS = {"-ep": "expertParallel", "-asc": "apiServerCount"}  # vLLM's one-dash aliases of flags the spec sets
SECRET_LITERAL = re.compile(r"hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}")


# --- field types ------------------------------------------------------------------------------------

def _dns_label_check(max_len: int) -> tuple[AfterValidator, Allowed]:
    allowed = f"a lowercase DNS label of at most {max_len} characters (a-z, 0-9, -), starting with a letter"

    def check(value: str) -> str:
        if not DNS_LABEL.match(value) or len(value) > max_len:
            _refuse(allowed)
        return value
    return AfterValidator(check), Allowed(allowed)


# DNS labels of at most 30, 60 and 63 characters (written out: a type checker reads only static annotations)
DnsLabel30 = Annotated[str, *_dns_label_check(30)]
DnsLabel60 = Annotated[str, *_dns_label_check(60)]
DnsLabel63 = Annotated[str, *_dns_label_check(63)]


def _namespace(value: str) -> str:
    if value in RESERVED_NAMESPACES or value.startswith("kube-"):
        _refuse("a namespace of its own (not default or kube-*)",
                "the program creates and owns the namespace; Kubernetes reserves kube-*")
    return value


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        _refuse("a CIDR block such as 203.0.113.0/24 (network address, prefix 0-32 for IPv4, 0-128 for IPv6)", str(e))
    if str(net) != value.strip():  # e.g. 0.0.0.0/00: ipaddress reads it, AWS does not
        _refuse(f"a CIDR block written as AWS expects it: {net}")
    return str(net)


def _vpc_cidr(value: str) -> str:
    net = ipaddress.ip_network(_cidr(value))
    if net.version != 4 or not 16 <= net.prefixlen <= 20:
        _refuse("an IPv4 CIDR block from /16 to /20, e.g. 10.40.0.0/16")
    return str(net)


def _instance_type(value: str) -> str:
    if len(value) > 32 or not INSTANCE_TYPE.match(value):
        _refuse("an EC2 instance type such as m6i.large")
    return value


def _source(value: str) -> str:
    ok = HF_REPO.match(value) or S3_URI.match(value) or (value.startswith("/") and not re.search(r"\s", value))
    if not ok or ".." in value or len(value) > 1024:
        _refuse("a Hugging Face repo id (org/name), an s3://bucket/prefix URI or an absolute path in the container, "
                "without whitespace")
    return value


def _engine_arg(value: str) -> str:
    """One vLLM command-line token. vLLM's FlexibleArgumentParser reads `_` as `-` in flag names and
    argparse accepts unambiguous prefixes (`--api-k`), so the check normalises before comparing."""
    if not value or re.search(r"\s", value):
        _refuse("one command-line token without whitespace, such as --enable-prefix-caching")
    if SECRET_LITERAL.search(value):
        _refuse("no secret literal: set the key with pulumi config set --secret breakeven:vllmApiKey",
                "the value looks like a token or an access key")
    short = value.split("=", 1)[0]
    if short in SHORT_SPEC_FLAGS:
        _refuse(f"a flag the spec does not set itself; set {SHORT_SPEC_FLAGS[short]} instead")
    if value.startswith("--"):
        name = value[2:].split("=", 1)[0].split(".", 1)[0].lower().replace("_", "-")
        if (len(name) >= 5 and "api-key".startswith(name)) or "api-key" in name or "apikey" in name:
            _refuse("no API key flag: the kit passes the key from the secret breakeven:vllmApiKey",
                    "a key in engine args ends up in the pod spec and the process list")
        if name == "config":
            _refuse("engine flags listed here, not a --config file (a file would bypass these checks)")
        # argparse reads an unambiguous prefix (--enable-expert) as the whole flag, and --no-<flag> as its negation.
        flag = next((f for f in SPEC_FLAGS if f == name or f == name.removeprefix("no-")
                     or (len(name) >= 4 and f.startswith(name))), None)
        if flag is not None:
            _refuse(f"a flag the spec does not set itself; set {SPEC_FLAGS[flag]} instead")
    return value


Namespace = Annotated[DnsLabel63, AfterValidator(_namespace),
                      Allowed("a lowercase DNS label of at most 63 characters, not default or kube-*")]
Cidr = Annotated[str, AfterValidator(_cidr), Allowed("a CIDR block such as 203.0.113.0/24")]
VpcCidr = Annotated[str, AfterValidator(_vpc_cidr), Allowed("an IPv4 CIDR block from /16 to /20, e.g. 10.40.0.0/16")]
InstanceType = Annotated[str, AfterValidator(_instance_type), Allowed("an EC2 instance type such as m6i.large")]
Source = Annotated[str, AfterValidator(_source), Allowed("a Hugging Face repo id (org/name), s3://bucket/prefix or /absolute/path")]
EngineArg = Annotated[str, AfterValidator(_engine_arg),
                      Allowed("a vLLM flag or value such as --enable-prefix-caching (never an API key)")]
NonEmpty = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^\S(.*\S)?$"), Allowed("a non-empty string")]


class Section(BaseModel):
    """Base of every config section: camelCase keys, strict types, finite numbers, no unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel,
                              frozen=True, validate_default=False)


# --- sections ---------------------------------------------------------------------------------------

class Endpoint(Section):
    """The EKS API endpoint."""

    public_access: bool = Field(True, description="Reachable from the internet (restricted to publicAccessCidrs).")
    public_access_cidrs: list[Cidr] = Field(
        [], description="Networks allowed to reach the public endpoint; required when publicAccess is true. "
                        "Production refuses any set that covers all of IPv4 or IPv6.")
    private_access: bool = Field(True, description="Reachable from inside the VPC.")
    private_access_cidrs: list[Cidr] = Field(
        [], max_length=40, description="Networks allowed to reach the private endpoint on 443 (an ingress rule on the "
                                       "cluster security group); default the VPC CIDR. Add a peered network or VPN here.")
    phase: Literal[1, 2] = Field(1, description="Private endpoints are set up in two phases (docs/deploying.md, "
                                                "\"Private endpoint\"): phase 1 creates the cluster reachable from where Pulumi "
                                                "runs; set 2, and publicAccess false, only after phase 1 is applied and "
                                                "from a machine inside the VPC (or a peered network / VPN).")


class SystemNodes(Section):
    """The small node group for cluster add-ons."""

    instance_type: InstanceType = Field("m6i.large", description="EC2 instance type of the system nodes.")
    count: int | None = Field(None, ge=1, le=20, description="Nodes; default 2 in production, else 1.")


class Existing(Section):
    """Deploy only the serving layer into a cluster you already run."""

    kubeconfig: Annotated[str, Allowed("a path to a kubeconfig file, or its contents")] = Field(
        min_length=1, description="Path to a kubeconfig file (or its contents).")
    context: NonEmpty | None = Field(None, description="Context in the kubeconfig; default its current context.")
    device_plugin: bool = Field(False, description="Install the NVIDIA device plugin (false when the cluster runs it).")


class Cluster(Section):
    """The EKS cluster (or an existing cluster)."""

    name: DnsLabel60 | None = Field(None, description="EKS cluster name; default `<project>-<stack>`.")
    region: Annotated[str, Allowed("an AWS Region code from cost/data/regions.yaml, such as us-east-1")] | None = Field(
        None, description="AWS Region code from cost/data/regions.yaml; default `aws:region`.")
    zones: Annotated[list[str], Allowed("2 to 6 distinct Availability Zones of the region, such as us-east-1a")] | None = Field(
        None, min_length=2, max_length=6,
                                    description="Availability Zones of the region (2-6, distinct); default "
                                                "`<region>a,b,c` in production, else `a,b`.")
    kubernetes_version: Annotated[str, Allowed('an EKS Kubernetes version such as "1.35" (quoted)')] | None = Field(
        None, pattern=K8S_VERSION.pattern,
        description='EKS Kubernetes version, quoted ("1.35"); default: the newest in standard support today '
                    '(cost/data/eks.yaml). An older one is priced at the extended-support rate; one past extended '
                    'support is refused.')
    vpc_cidr: VpcCidr = Field("10.40.0.0/16", description="VPC CIDR block.")
    endpoint: Endpoint = Field(Endpoint(), description="API endpoint access.")
    system_nodes: SystemNodes = Field(SystemNodes(), description="System node group.")
    gpu_ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = Field(
        "AL2023_x86_64_NVIDIA", description="GPU node AMI; Bottlerocket NVIDIA carries the device plugin, AL2023 does not "
                                            "(the kit installs it).")
    nat_gateways: Literal["one-per-zone", "single"] | None = Field(
        None, description="NAT gateways; default one-per-zone in production, else single.")
    existing: Existing | None = Field(None, description="Serve into an existing cluster instead of creating one.")


class Workload(Section, WorkloadFieldsMs):
    """What a model (or the routed traffic) is asked to serve."""


class Commitment(Section, CommitmentFields):
    """The Savings Plan or Reserved Instances that a reserved capacity type is billed under."""


class Redundancy(Section):
    """Spare replicas and the zones a model's nodes spread over."""

    spares: int | None = Field(None, ge=0, le=16, description="Extra replicas for failover; default 1 in production, "
                                                              "else 0.")
    zones: int | None = Field(None, ge=1, le=6, description="Zones the model's nodes spread over (one node group per "
                                                            "zone); default 2 when there are spares.")
    accept_zone_loss_share: float | None = Field(
        None, ge=0, le=1, description="Production: the least share of the declared volume the model may carry after "
                                      "losing its fullest zone (default 1: the spares cover a zone). Set it lower only "
                                      "to accept, explicitly, a degraded service while a zone is out.")


REPLICAS_ALLOWED = 'a whole number, from 1 to 64, or "auto"'


def _replicas(value: Any) -> Any:
    """A replica count, or "auto" (sized by cost.estimate.sized once the workload is known)."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64):
        return value
    _refuse(REPLICAS_ALLOWED)


def _redundancy(value: Any) -> Any:
    """`"N+1"` / `"none"` are shorthands for {spares: 1} / {spares: 0, zones: 1}."""
    if isinstance(value, str):
        s = value.strip().upper()
        if s == "NONE":
            return {"spares": 0, "zones": 1}
        m = re.fullmatch(r"N\s*\+\s*(\d{1,2})", s)
        if not m:
            _refuse('"N+1" (one spare replica), "none", or {spares, zones}')
        return {"spares": int(m.group(1))}
    return value


class Exemptions(Section, ExemptionsFields):
    """The seeds' reasons to self-host: each changes what the model is compared with (fine-tuned weights: offers
    that serve them; private data: APIs inside your own cloud account; custom inference: nothing)."""


class Weights(Section):
    """Where a replaced GPU node gets the weights (cost/physics/weights_source.py)."""

    source: Literal["huggingface", "s3"] | None = Field(
        None, description="huggingface: each new node downloads the checkpoint from the Hub through NAT. s3: a "
                          "regional S3 copy (seeded once by a Job) streamed by vLLM's Run:ai loader through a free "
                          "gateway endpoint, read-only on its prefix. Default: the cheaper for this stack (s3 where "
                          "the program creates the cluster).")


class Model(Section):
    """One self-hosted model (an entry of `breakeven:models`)."""

    name: DnsLabel30 | None = Field(None, description="Release, node pool and label name; default from the model id.")
    model: Annotated[NonEmpty, Allowed("a model id from cost/data/models.yaml or its Hugging Face name")] = Field(
        description="Catalog id or Hugging Face name: the architecture that is sized and priced.")
    source: Source | None = Field(None, description="The weights vLLM loads (e.g. your fine-tune); default the "
                                                    "catalog's repo.")
    precision: Literal["bf16", "fp16", "fp8", "int4-awq", "mxfp4"] = Field("bf16", description="Weight precision (mxfp4: gpt-oss checkpoints).")
    gpu: Annotated[NonEmpty, Allowed("a GPU id from cost/data/gpus.yaml")] | None = Field(None, description="GPU id (L4, H100, ...); the smallest AWS instance carrying the "
                                                   "replica is picked. Give this or instanceType.")
    instance_type: Annotated[NonEmpty, Allowed("an instance type from cost/data/instances.yaml")] | None = Field(
        None, description="AWS GPU instance type from cost/data/instances.yaml.")
    gpus_per_replica: int = Field(1, ge=1, le=64, alias="tensorParallel",
                                  description="GPUs per replica (the deployment's gpus_per_replica; vLLM splits them "
                                              "tensor x pipeline); must split the model's attention heads evenly. Above "
                                              "one instance's GPUs: a multiple of them, served as a LeaderWorkerSet group "
                                              "(tensor inside a node, pipeline across nodes).")
    replicas: Annotated[int | Literal["auto"], BeforeValidator(_replicas), Allowed(REPLICAS_ALLOWED)] = Field(
        1, description='Replicas that carry the planned load; "auto": as many as carry the workload at its planned '
                       "utilization within its latency targets.")
    redundancy: Annotated[Redundancy | None, BeforeValidator(_redundancy),
                          Allowed('"N+1" (one spare replica), "none", or {spares, zones}')] = Field(
        None, description='`{spares, zones}`, "N+1" or "none"; production refuses "none".')
    capacity_type: Literal["on-demand", "spot", "reserved-1y", "reserved-3y"] = Field(
        "on-demand", description="Reserved = on-demand nodes billed at the discount in cost/data/assumptions.yaml "
                                 "when `commitment` names the Savings Plan or Reserved Instances; without it, priced on-demand.")
    max_model_len: int | None = Field(None, ge=256, le=10_000_000, description="Longest sequence vLLM accepts; at most "
                                                                              "the model's context; default min(8192, context).")
    gpu_memory_utilization: float = Field(0.9, ge=0.1, le=0.99, description="Share of GPU memory vLLM may use.")
    max_num_seqs: int = Field(256, ge=1, le=4096, description="vLLM's cap on concurrent sequences per replica.")
    kv_cache_dtype: Literal["auto", "fp8"] = Field("auto", description="KV cache dtype (vLLM --kv-cache-dtype): auto "
                                                                      "keeps the model's 16-bit dtype; fp8 halves the "
                                                                      "KV bytes (more concurrent sequences, less read "
                                                                      "per decode step).")
    expert_parallel: bool = Field(False, description="MoE models: experts placed whole on the replica's GPUs (vLLM "
                                                     "--enable-expert-parallel) instead of split; needs an MoE model "
                                                     "and tensorParallel of 2 or more.")
    api_server_count: int = Field(1, ge=1, le=64, description="vLLM --api-server-count (\"How many API server "
                                  "processes to run\", vLLM 0.32's help): each streams the output tokens of its "
                                  "requests, so one replica serves at most this many times one process's rate. "
                                  "vLLM spawns one process per server and each needs a CPU core of the pod's "
                                  "request, beside the engine core and one worker per GPU: at most 64, and the "
                                  "instance must have the cores. Default 1 (vLLM's, without data parallelism).")
    extra_args: list[EngineArg] = Field([], max_length=64, description="Extra vLLM flags (never an API key, never a "
                                                                       "flag the spec sets).")
    workload: Workload | None = Field(None, description="What this model serves; omit it when a routing tier feeds it.")
    weights: Weights = Field(Weights(), description="Where a replaced node gets the weights: huggingface or s3.")
    exemptions: Exemptions = Field(Exemptions(), description="Reasons to self-host; each narrows the alternatives it is compared with.")
    capacity_reservation_id: Annotated[str, Field(pattern=r"^cr-[0-9a-f]{8,17}$"),
                                       Allowed("an EC2 capacity reservation id such as cr-0123456789abcdef0")] | None = Field(
        None, description="On-demand Capacity Reservation or Capacity Block (p4/p5) the GPU nodes launch into; "
                          "needs capacityType on-demand or reserved-*.")
    capacity_block: bool = Field(False, description="capacityReservationId is an EC2 Capacity Block for ML (p4/p5): "
                                                    "the nodes launch as capacity-block instances.")
    commitment: Commitment | None = Field(None, description="reserved-1y/-3y: the Savings Plan or Reserved Instances "
                                                          "behind the discount. Without one the nodes are priced on-demand "
                                                          "(what AWS bills) and the report shows what one would save.")


class Tier(Section):
    """One routing tier: a share of the routed traffic to a self-hosted model or an API."""

    name: NonEmpty | None = Field(None, description="Tier name; default tier-<n>.")
    share: float = Field(gt=0, le=1, description="Share of the routed tokens; all shares sum to 1.")
    model: Annotated[NonEmpty, Allowed("the name of a model in breakeven:models")] | None = Field(
        None, description="Self-hosted target of the tier.")
    api: Annotated[NonEmpty, Allowed("an API id from cost/data/apis.yaml")] | None = Field(None, description="An API id from cost/data/apis.yaml (groq:llama-3.3-70b-versatile).")


class Routing(Workload):
    """Hybrid routing: the routed workload and its tiers."""

    tiers: list[Tier] = Field(min_length=1, max_length=16, description="`{name, share, model | api}`, shares summing to 1.")


class Overheads(Section):
    """Non-GPU costs, each overridable (defaults in cost/data/assumptions.yaml)."""

    ops_tax_share: float | None = Field(None, ge=0, le=1, description="Ops tax as a share of GPU spend.")
    mlops_fte: float | None = Field(None, ge=0, le=100, description="MLOps staff, full-time equivalents.")
    usd_per_fte_month: float | None = Field(None, ge=0, le=1_000_000, description="Monthly cost of one FTE (USD).")
    monitoring_usd_per_month: float | None = Field(None, ge=0, le=1_000_000, description="Monitoring (USD/month).")
    storage_gib_per_node: float | None = Field(None, ge=0, le=16384, description="GPU node disk (GiB; EBS gp3 max 16384), "
                                                                                 "also priced as storage.")
    storage_usd_per_gib_month: float | None = Field(None, ge=0, le=100, description="Storage price (USD per GiB-month).")


def _overheads(value: Any) -> Any:
    """`"default"` keeps every default; `"none"` zeroes every overhead."""
    if value == "default":
        return {}
    if value == "none":
        return {to_camel(name): 0.0 for name in Overheads.model_fields}
    return value


class Pricing(Section):
    """How the stack is priced."""

    price_book: Annotated[NonEmpty, Allowed("a bundled price book name or a YAML file path")] | None = Field(
        None, description="A bundled price book (seed-2025) or a YAML file.")
    overheads: Annotated[Overheads, BeforeValidator(_overheads),
                         Allowed('"default", "none" or a mapping of opsTaxShare, mlopsFte, usdPerFteMonth, '
                                 'monitoringUsdPerMonth, storageGibPerNode, storageUsdPerGibMonth')] = Field(
        Overheads(), description='"default", "none" or a mapping of the overheads below.')
    budget_usd_per_month: float | None = Field(None, gt=0, le=1e9, description="Monthly budget (USD); the preview "
                                                                               "warns above it.")


class Access(Section):
    """Who may call the vLLM endpoints: the NetworkPolicy the program renders, and how clients reach them."""

    client_namespaces: list[DnsLabel63] = Field(
        [], max_length=32, description="Namespaces whose pods may call the API port (/v1/* and /health through the "
                                       "path allow-list; every other vLLM path is closed).")
    same_namespace: bool = Field(False, description="Pods of the serving namespace itself may call the API.")
    metrics_namespaces: list[DnsLabel63] = Field(
        ["monitoring"], max_length=8, description="Namespaces whose pods may scrape /metrics (its own port).")
    load_balancer: Literal["none", "internal"] = Field(
        "none", description="internal: each model's Service becomes an internal Network Load Balancer in the private "
                            "subnets, and the NetworkPolicy admits the VPC CIDR on the API port. none: in-cluster only.")


class Stack(Section):
    """Every non-secret `breakeven:*` key of a stack."""

    production: bool = Field(True, description="Production defaults: N+1 over two zones, NAT per zone, two system "
                                               "nodes, a required vLLM API key, a restricted endpoint.")
    namespace: Namespace = Field("llm", description="Kubernetes namespace of the vLLM services (the program creates it).")
    cluster: Cluster = Field(Cluster(), description="The EKS cluster.")
    models: Annotated[list[Model], Allowed("a list of one or more models to serve (see stacks/README.md)")] = Field(min_length=1, max_length=32, description="The fleet: one entry per self-hosted model.")
    routing: Routing | None = Field(None, description="Hybrid routing (optional).")
    pricing: Pricing = Field(Pricing(), description="Price book, overheads, budget.")
    access: Access = Field(Access(), description="Callers the NetworkPolicy admits; optional internal load balancer.")

    @field_validator("routing", "cluster", "pricing", "access", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any, info) -> Any:
        """Pulumi.yaml declares `{}` defaults for the object keys; `{}` routing means no routing."""
        if info.field_name == "routing" and value == {}:
            return None
        return value


def validate(values: dict[str, Any]) -> Stack:
    """Validate decoded stack config (short keys -> values). Raises InputError on the first bad value."""
    try:
        return Stack.model_validate(values)
    except ValidationError as err:
        raise to_input_error(err, Stack, P) from None
