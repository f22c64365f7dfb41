"""What is self-hosted: one model served by vLLM on a set of GPUs, and the exemptions it claims."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cost import catalog
from cost.errors import InputError
from cost.units import MAX_TOKENS_PER_MONTH

EXEMPTIONS = ("fine-tuned", "private-data", "custom-inference", "low-ttft")
# Upper bounds: beyond them a value is a typo (1e11 replicas), not a plan.
LIMITS = {"gpus_per_replica": 64, "replicas": 1000, "redundancy": 1000, "max_num_seqs": 65536, "api_servers": 64,
          "zones": 6}
# vLLM's --gpu-memory-utilization as the kit accepts it (the stack schema's gpuMemoryUtilization range): below 0.1 no
# model is served, and vLLM itself allows up to 1.0, which leaves nothing for other processes on the GPU.
GPU_MEMORY_UTILIZATION_RANGE = (0.1, 0.99)


def check_gpu_memory_utilization(value: object, key: str = "gpu_memory_utilization") -> float:
    """The value, or an InputError under `key` naming the allowed range."""
    low, high = GPU_MEMORY_UTILIZATION_RANGE
    if not _finite(value) or not low <= value <= high:  # type: ignore[operator]  # _finite: a real number
        raise InputError(key, value, f"a fraction from {low:g} to {high:g} (vLLM --gpu-memory-utilization; default 0.9)")
    return float(value)  # type: ignore[arg-type]
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


COMMITMENT_KINDS = ("savings-plan", "reserved-instances")
RESERVED = ("reserved-1y", "reserved-3y")


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
        """A Commitment from itself or a mapping {kind, hourly_usd, recorded_in}; InputError naming the key."""
        if isinstance(value, Commitment):
            return value
        if not isinstance(value, dict) or set(value) != {"kind", "hourly_usd", "recorded_in"}:
            raise InputError(key, value, "a mapping with kind, hourly_usd and recorded_in")
        if value["kind"] not in COMMITMENT_KINDS:
            raise InputError(f"{key}.kind", value["kind"], ", ".join(COMMITMENT_KINDS))
        hourly = value["hourly_usd"]
        if not _finite(hourly) or not 0 < hourly <= 1e6:
            raise InputError(f"{key}.hourly_usd", hourly, "a positive USD amount per hour")
        where = value["recorded_in"]
        if not isinstance(where, str) or not where.strip():
            raise InputError(f"{key}.recorded_in", where, "where the commitment is recorded: its ARN, RI ids or contract")
        return cls(value["kind"], float(hourly), where.strip())


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
    def total_replicas(self) -> int:
        return self.replicas + self.redundancy

    @classmethod
    def build(cls, **kwargs) -> Deployment:
        """Validate and normalise: resolve aliases, check every value, fill the GPU from the instance."""
        d = dict(kwargs)
        d["model"] = catalog.model(d["model"], "model").id
        itype = d.get("instance_type")
        if itype:
            inst = catalog.instance(itype, "instance_type")
            if d.get("gpu") and catalog.gpu(d["gpu"]).id != inst.gpu:
                raise InputError("gpu", d["gpu"], f"{inst.gpu} (the GPU of {itype}) or leave it out")
            d["gpu"] = inst.gpu
        if not d.get("gpu"):
            raise InputError("gpu", d.get("gpu"), "a GPU (" + ", ".join(catalog.gpus()) + ") or an instance type")
        d["gpu"] = catalog.gpu(d["gpu"], "gpu").id
        d["precision"] = catalog.precision(d.get("precision", "bf16"), "precision")
        d["pricing"] = catalog.pricing(d.get("pricing", "on-demand"), "pricing")
        d["kv_cache_dtype"] = catalog.kv_cache_dtype(d.get("kv_cache_dtype", "auto"), "kv_cache_dtype")
        if not isinstance(d.get("expert_parallel", False), bool):
            raise InputError("expert_parallel", d["expert_parallel"], "true or false")
        for key, low in (("gpus_per_replica", 1), ("replicas", 1), ("redundancy", 0), ("max_num_seqs", 1),
                         ("api_servers", 1), ("zones", 1)):
            val = d.get(key, cls.__dataclass_fields__[key].default)
            if key == "replicas" and val in (None, "auto"):
                d[key] = None
                continue
            if not _whole(val) or not low <= val <= LIMITS[key]:
                raise InputError(key, val, f"a whole number, from {low} to {LIMITS[key]}")
            d[key] = int(val)
        model = catalog.model(d["model"])
        tp = d["gpus_per_replica"]
        if not tensor_parallel_ok(model, tp):
            raise InputError("gpus_per_replica", tp, "a tensor-parallel size that splits the attention heads evenly: "
                             + ", ".join(str(n) for n in tensor_parallel_sizes(model)),
                             f"{model.id} has {model.attention_heads} attention heads and {model.kv_heads} KV heads")
        if d.get("expert_parallel"):
            if not model.is_moe:
                raise InputError("expert_parallel", True, "false for a dense model (expert parallelism places MoE experts)",
                                 f"{model.id} has no experts")
            if tp == 1:
                raise InputError("expert_parallel", True, "true only with 2 or more GPUs per replica",
                                 "with one GPU every expert is on it already")
        if d.get("concurrency") is not None:
            c = d["concurrency"]
            if not _whole(c) or not 1 <= c <= LIMITS["max_num_seqs"]:
                raise InputError("concurrency", c, f"a whole number of concurrent requests, from 1 to {LIMITS['max_num_seqs']}")
            d["concurrency"] = int(c)
        mml = d.get("max_model_len")
        if mml is not None and (not _whole(mml) or not 16 <= mml <= model.context):
            raise InputError("max_model_len", mml, f"a whole number of tokens, from 16 to {model.context} ({model.id}'s context)")
        d["gpu_memory_utilization"] = check_gpu_memory_utilization(d.get("gpu_memory_utilization", 0.9))
        hourly = d.get("hourly_usd_per_gpu")
        if hourly is not None and (not _finite(hourly) or not 0 < hourly <= 1000):
            raise InputError("hourly_usd_per_gpu", hourly, "a positive price per GPU-hour in USD, at most 1000")
        if d.get("commitment") is not None:
            if d["pricing"] not in RESERVED:
                raise InputError("commitment", d["commitment"], f"a commitment only with pricing {' or '.join(RESERVED)}")
            d["commitment"] = Commitment.build(d["commitment"], "commitment")
        cap = d.get("capacity_tokens_per_month")
        if cap is not None and (not _finite(cap) or not 0 < cap <= MAX_TOKENS_PER_MONTH):
            raise InputError("capacity_tokens_per_month", cap, "a positive token volume, at most 10000T")
        return cls(**d)


def _finite(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _whole(value: object) -> bool:
    return _finite(value) and int(value) == value  # type: ignore[call-overload]  # _finite: a real number


def tensor_parallel_ok(model: catalog.Model, tp: int) -> bool:
    """vLLM splits attention heads evenly over the tensor-parallel ranks (KV heads are split, or
    replicated when there are fewer KV heads than ranks)."""
    kv = model.kv_heads
    return model.attention_heads % tp == 0 and (kv % tp == 0 or tp % kv == 0)


def tensor_parallel_sizes(model: catalog.Model, most: int = 8) -> list[int]:
    """The tensor-parallel sizes up to `most` that vLLM accepts for a model."""
    return [n for n in range(1, most + 1) if tensor_parallel_ok(model, n)]
