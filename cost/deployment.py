"""What is self-hosted: one model served by vLLM on a set of GPUs, and the exemptions it claims.

`DeploymentFields` is the one pydantic model of a deployment's values: Python names (cost's arguments and the
economics wire), aliases in the stack-config spelling (the key's path inside a `breakeven:models` entry), what
each accepts. `Deployment.build` validates through it, the economics value (cost/economics_model.py) extends it,
and the stack spec names cost's errors by its aliases. What needs the catalogs (a model id, a GPU, an instance,
a precision, a tensor-parallel size that splits the heads, a length within the context) is checked after it,
under the field's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from cost import catalog
from cost.errors import InputError
from cost.pydantic_errors import Allowed, FromText, Whole, real, refuse, to_input_error
from cost.units import parse_tokens

EXEMPTIONS = ("fine-tuned", "private-data", "custom-inference", "low-ttft")
# Upper bounds: beyond them a value is a typo (1e11 replicas), not a plan.
LIMITS = {"gpus_per_replica": 64, "replicas": 1000, "redundancy": 1000, "max_num_seqs": 65536, "api_servers": 64,
          "zones": 6}
# vLLM's --gpu-memory-utilization as the kit accepts it (the stack schema's gpuMemoryUtilization range): below 0.1 no
# model is served, and vLLM itself allows up to 1.0, which leaves nothing for other processes on the GPU.
GPU_MEMORY_UTILIZATION_RANGE = (0.1, 0.99)
GPU_MEMORY_UTILIZATION_ALLOWED = (f"a fraction from {GPU_MEMORY_UTILIZATION_RANGE[0]:g} to {GPU_MEMORY_UTILIZATION_RANGE[1]:g} "
                                  "(vLLM --gpu-memory-utilization; default 0.9)")
MIN_MODEL_LEN = 16


def check_gpu_memory_utilization(value: object, key: str = "gpu_memory_utilization") -> float:
    """The value, or an InputError under `key` naming the allowed range."""
    low, high = GPU_MEMORY_UTILIZATION_RANGE
    if not _finite(value) or not low <= value <= high:  # type: ignore[operator]  # _finite: a real number
        raise InputError(key, value, GPU_MEMORY_UTILIZATION_ALLOWED)
    return float(value)  # type: ignore[arg-type]


def _count(name: str, low: int) -> Allowed:
    """What a whole number from `low` to LIMITS[name] allows, in words."""
    return Allowed(f"a whole number, from {low} to {LIMITS[name]}")


HOURLY_ALLOWED = "a positive price per GPU-hour in USD, at most 1000"
CAPACITY_ALLOWED = "a positive token volume such as 750M, at most 10000T"


def _capacity(value: Any) -> float:
    """A capacity override: a positive token volume, as a number or the notation 750M, 3.2B (cost.units.parse_tokens)."""
    try:
        tokens = parse_tokens(value)
    except InputError:
        refuse(CAPACITY_ALLOWED)
    if tokens == 0:
        refuse(CAPACITY_ALLOWED)
    return tokens


def _auto(value: Any) -> Any:
    """replicas "auto" is None: sized by cost.estimate."""
    return None if value == "auto" else value


class DeploymentFields(BaseModel):
    """A deployment's values, checked before the catalogs are asked (the dataclass `Deployment` documents each)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel,
                              frozen=True, validate_default=False)

    model: str = Field(description="llama-3.1-8b, llama-3.1-70b, ... or a Hugging Face name")
    gpu: str | None = Field(None, description="GPU id as in the catalog (A100-80GB, H100, L4, ...; case-insensitive)")
    gpus_per_replica: Annotated[Whole, Field(ge=1, le=LIMITS["gpus_per_replica"]), _count("gpus_per_replica", 1)] = Field(
        1, alias="tensorParallel", description="GPUs per replica (tensor parallel size)", json_schema_extra={"flag": "--gpus"})
    replicas: Annotated[Annotated[Whole, Field(ge=1, le=LIMITS["replicas"]), _count("replicas", 1)] | None,
                        BeforeValidator(_auto)] = Field(
        1, description='serving replicas, or none ("auto"): as many as carry the volume at the planned utilization '
                       "(the command line's default)")
    redundancy: Annotated[Whole, Field(ge=0, le=LIMITS["redundancy"]), _count("redundancy", 0)] = Field(
        0, alias="redundancy.spares", description="extra failover replicas (N+1 = 1)")
    precision: str = Field("bf16", description="bf16, fp16, fp8, int4-awq, mxfp4 (gpt-oss experts)")
    pricing: str = Field("on-demand", alias="capacityType",
                         description="on-demand (default), spot, reserved-1y, reserved-3y")
    instance_type: str | None = Field(None, description="AWS instance type (g6.xlarge, p5.48xlarge, ...)",
                                      json_schema_extra={"flag": "--instance"})
    hourly_usd_per_gpu: Annotated[Any, real(0, 1000, HOURLY_ALLOWED, above_low=True), Allowed(HOURLY_ALLOWED)] | None = Field(
        None, description="price per GPU-hour, overrides the catalog", json_schema_extra={"flag": "--hourly-usd"})
    gpu_memory_utilization: Annotated[float, Field(ge=GPU_MEMORY_UTILIZATION_RANGE[0], le=GPU_MEMORY_UTILIZATION_RANGE[1]),
                                      Allowed(GPU_MEMORY_UTILIZATION_ALLOWED)] = Field(
        0.9, description="vLLM --gpu-memory-utilization: the share of each GPU's memory for weights, runtime and KV cache "
                          "(0.1 to 0.99; default 0.9)")
    max_num_seqs: Annotated[Whole, Field(ge=1, le=LIMITS["max_num_seqs"]), _count("max_num_seqs", 1)] = Field(
        256, description="vLLM --max-num-seqs (default 256)")
    concurrency: Annotated[Whole, Field(ge=1, le=LIMITS["max_num_seqs"]), Allowed(
        f"a whole number of concurrent requests, from 1 to {LIMITS['max_num_seqs']}")] | None = Field(
        None, description="concurrent requests per replica")
    capacity_tokens_per_month: Annotated[float, BeforeValidator(_capacity), Allowed(CAPACITY_ALLOWED), FromText()] | None = Field(
        None, description="overrides the capacity model (e.g. 750M)")
    max_model_len: Annotated[Whole, Allowed(  # the range needs the model's context: checked in `resolve`
        f"a whole number of tokens, from {MIN_MODEL_LEN} to the model's context")] | None = Field(
        None, description="vLLM --max-model-len: the longest sequence a replica accepts")
    name: str = Field("", description="the deployment's name (a stack's model name)")
    kv_cache_dtype: str = Field("auto", description="auto (16-bit) or fp8: vLLM's --kv-cache-dtype")
    expert_parallel: bool = Field(False, description="MoE: experts whole on GPUs (vLLM --enable-expert-parallel)")
    api_servers: Annotated[Whole, Field(ge=1, le=LIMITS["api_servers"]), _count("api_servers", 1)] = Field(
        1, alias="apiServerCount",
        description="vLLM API-server processes per replica, 1 to 64 (vLLM --api-server-count; default 1)")
    zones: Annotated[Whole, Field(ge=1, le=LIMITS["zones"]), _count("zones", 1)] = Field(
        1, alias="redundancy.zones", description="availability zones the nodes spread over (a search's default: 2 with "
                                                "--production, else 1)")


LOW_TTFT_S = 0.050  # the seeds: API round trips add 50-200 ms, so a TTFT target under 50 ms needs self-hosting


@dataclass(frozen=True)
class Exemptions:
    """The seeds' reasons to self-host; each narrows the alternatives a deployment is compared with."""

    fine_tuned: bool = False
    private_data: bool = False
    custom_inference: bool = False

    def claimed(self, ttft_target_s: float | None = None) -> list[str]:
        """Names of the exemptions that apply (a TTFT target under 50 ms counts as `low-ttft`)."""
        names = [n for n, on in (("fine-tuned", self.fine_tuned), ("private-data", self.private_data),
                                 ("custom-inference", self.custom_inference)) if on]
        if ttft_target_s is not None and ttft_target_s < LOW_TTFT_S:
            names.append("low-ttft")
        return names


class ExemptionsFields(BaseModel):
    """The exemptions a deployment claims (the dataclass `Exemptions`); camelCase aliases, as a stack file spells them."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel)

    fine_tuned: bool = Field(False, description="Custom weights no API serves.")
    private_data: bool = Field(False, description="Data must not leave your infrastructure.")
    custom_inference: bool = Field(False, description="A modified inference pipeline.")


COMMITMENT_KINDS = ("savings-plan", "reserved-instances")
RESERVED = ("reserved-1y", "reserved-3y")


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class CommitmentFields(BaseModel):
    """A commitment's values (the dataclass `Commitment` documents each); camelCase aliases, as a stack file spells them."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, alias_generator=to_camel,
                              frozen=True, validate_default=False)

    kind: Literal["savings-plan", "reserved-instances"] = Field(
        description="savings-plan (Compute or EC2 Instance Savings Plan) or reserved-instances.")
    hourly_usd: Annotated[float, Field(gt=0, le=1e6), Allowed("a positive USD amount per hour, at most 1,000,000")] = Field(
        description="The discounted spend per hour it covers (the Savings Plan's hourly commitment, or the reserved "
                    "instances' effective hourly price); it must cover the model's nodes at the discount.")
    # What an AWS tag value may hold: the node groups carry it as one (cost.economics.Economics.to_tags). The length
    # is bounded apart from the pattern: `{1,200}` over `\w` (Unicode) built a 70-250 ms automaton at import.
    recorded_in: Annotated[str, BeforeValidator(_stripped),
                           Field(max_length=200, pattern=r"^[\w .:/=+\-@]+$"),
                           Allowed("the Savings Plan ARN, the Reserved Instance ids or the contract (letters, digits, "
                                   "spaces and . : / = + - @ _)")] = Field(
        description="Where the commitment is recorded, e.g. arn:aws:savingsplans::123456789012:savingsplan/<id>.")


@dataclass(frozen=True)
class Commitment:
    """The Savings Plan or Reserved Instances a reserved capacity type is billed under.

    kind: savings-plan (a Compute or EC2 Instance Savings Plan) or reserved-instances.
    hourly_usd: the discounted spend per hour it covers (a Savings Plan's hourly commitment, or the
      reserved instances' effective hourly price); it must cover the deployment's nodes at the discount.
    recorded_in: where it is recorded (the Savings Plan ARN, the Reserved Instance ids, or a contract).
    """

    kind: str
    hourly_usd: float
    recorded_in: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "hourly_usd": self.hourly_usd, "recorded_in": self.recorded_in}

    @classmethod
    def build(cls, value: object, key: str = "commitment") -> Commitment:
        """A Commitment from itself or a mapping {kind, hourly_usd, recorded_in} (`CommitmentFields`); InputError
        naming `key.<field>`."""
        if isinstance(value, Commitment):
            return value
        try:
            v = CommitmentFields.model_validate(value, by_alias=False, by_name=True)
        except ValidationError as err:
            raise to_input_error(err, CommitmentFields, f"{key}.") from None
        return cls(v.kind, v.hourly_usd, v.recorded_in)


@dataclass(frozen=True)
class Deployment:
    """One model served with vLLM.

    gpus_per_replica: tensor x pipeline parallel size of one vLLM server.
    replicas: replicas planned to carry the load; None ("auto") lets `cost.estimate.estimate` size them
      to carry the workload at its planned utilization within its latency targets; redundancy: extra replicas for failover (N+1 = 1).
    instance_type: the AWS instance; None prices per GPU (hourly_usd_per_gpu, the price book, or the
      smallest AWS instance carrying the GPU).
    hourly_usd_per_gpu: overrides every catalog price, billed per GPU (a marketplace rental).
    concurrency: concurrent requests per replica; None means as many as the KV cache holds, capped
      at max_num_seqs like vLLM's scheduler.
    capacity_tokens_per_month: overrides the capacity model (tokens/month for the whole deployment
      at the planned utilization).
    max_model_len: the longest sequence the server accepts (vLLM's --max-model-len); it must fit
      the KV cache. None: the workload's average request.
    kv_cache_dtype: vLLM's --kv-cache-dtype: "auto" (the model's 16-bit dtype) or "fp8" (half the KV bytes).
    expert_parallel: MoE experts placed whole on the GPUs (vLLM --enable-expert-parallel) instead of split.
    api_servers: vLLM's --api-server-count, the OpenAI-server processes in front of the engine (1 to 64;
      each is a process wanting a CPU core). They share the front end's per-sequence CPU time, and each
      streams at most cost.physics.capacity.API_SERVER_TOKENS_S output tokens/s.
    commitment: the Savings Plan or Reserved Instances behind a reserved-1y/-3y pricing (None: none named).
    zones: availability zones the nodes spread over, as evenly as possible (1 to 6): what losing one zone
      leaves (`cost.pricing.nodes.replicas_after_zone_loss`).
    """

    model: str
    gpu: str
    gpus_per_replica: int = 1
    replicas: int | None = 1
    redundancy: int = 0
    precision: str = "bf16"
    pricing: str = "on-demand"
    instance_type: str | None = None
    hourly_usd_per_gpu: float | None = None
    gpu_memory_utilization: float = 0.9
    max_num_seqs: int = 256
    concurrency: int | None = None
    capacity_tokens_per_month: float | None = None
    max_model_len: int | None = None
    exemptions: Exemptions = field(default_factory=Exemptions)
    name: str = ""
    kv_cache_dtype: str = "auto"
    expert_parallel: bool = False
    api_servers: int = 1
    commitment: Commitment | None = None
    zones: int = 1

    @property
    def serving_replicas(self) -> int:
        """The planned serving replicas; a deployment with replicas "auto" has none until `cost.estimate.estimate`
        sizes it (every Estimate's deployment is sized)."""
        if self.replicas is None:
            raise ValueError(f'deployment {self.name or self.model}: replicas "auto" is not sized yet (cost.estimate.estimate sizes it)')
        return self.replicas

    @property
    def total_replicas(self) -> int:
        return self.serving_replicas + self.redundancy

    @classmethod
    def build(cls, exemptions: Exemptions | None = None, commitment: object = None, **fields: Any) -> Deployment:
        """Validate and normalise: check every value (`DeploymentFields`), then resolve it in the catalogs."""
        try:
            v = DeploymentFields.model_validate(fields, by_alias=False, by_name=True)
        except ValidationError as err:
            raise to_input_error(err, DeploymentFields, "") from None
        return cls.resolve(v, exemptions or Exemptions(), commitment)

    @classmethod
    def resolve(cls, v: DeploymentFields, exemptions: Exemptions, commitment: object = None) -> Deployment:
        """The deployment from checked values: aliases resolved to catalog ids, the GPU filled from the instance,
        and what only the catalogs can say checked; an InputError names the field."""
        model = catalog.model(v.model, "model")
        gpu = v.gpu
        if v.instance_type:
            inst = catalog.instance(v.instance_type, "instance_type")
            if gpu and catalog.gpu(gpu).id != inst.gpu:
                raise InputError("gpu", gpu, f"{inst.gpu} (the GPU of {v.instance_type}) or leave it out")
            gpu = inst.gpu
        if not gpu:
            raise InputError("gpu", gpu, "a GPU (" + ", ".join(catalog.gpus()) + ") or an instance type")
        tp = v.gpus_per_replica
        if not tensor_parallel_ok(model, tp):
            raise InputError("gpus_per_replica", tp, "a tensor-parallel size that splits the attention heads evenly: "
                             + ", ".join(str(n) for n in tensor_parallel_sizes(model)),
                             f"{model.id} has {model.attention_heads} attention heads and {model.kv_heads} KV heads")
        if v.expert_parallel:
            if not model.is_moe:
                raise InputError("expert_parallel", True, "false for a dense model (expert parallelism places MoE experts)",
                                 f"{model.id} has no experts")
            if tp == 1:
                raise InputError("expert_parallel", True, "true only with 2 or more GPUs per replica",
                                 "with one GPU every expert is on it already")
        if v.max_model_len is not None and not MIN_MODEL_LEN <= v.max_model_len <= model.context:
            raise InputError("max_model_len", v.max_model_len,
                             f"a whole number of tokens, from {MIN_MODEL_LEN} to {model.context} ({model.id}'s context)")
        pricing = catalog.pricing(v.pricing, "pricing")
        if commitment is not None:
            if pricing not in RESERVED:
                raise InputError("commitment", commitment, f"a commitment only with pricing {' or '.join(RESERVED)}")
            commitment = Commitment.build(commitment, "commitment")
        return cls(**{**v.model_dump(), "model": model.id, "gpu": catalog.gpu(gpu, "gpu").id,
                      "precision": catalog.precision(v.precision, "precision"), "pricing": pricing,
                      "kv_cache_dtype": catalog.kv_cache_dtype(v.kv_cache_dtype, "kv_cache_dtype"),
                      "exemptions": exemptions, "commitment": commitment})


def _finite(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def tensor_parallel_ok(model: catalog.Model, tp: int) -> bool:
    """vLLM splits attention heads evenly over the tensor-parallel ranks (KV heads are split, or
    replicated when there are fewer KV heads than ranks)."""
    kv = model.kv_heads
    return model.attention_heads % tp == 0 and (kv % tp == 0 or tp % kv == 0)


def tensor_parallel_sizes(model: catalog.Model, most: int = 8) -> list[int]:
    """The tensor-parallel sizes up to `most` that vLLM accepts for a model."""
    return [n for n in range(1, most + 1) if tensor_parallel_ok(model, n)]
