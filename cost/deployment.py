"""What is self-hosted: one model served by vLLM on a set of GPUs, and the exemptions it claims."""

from __future__ import annotations

from dataclasses import dataclass, field

from cost import catalog
from cost.errors import InputError

EXEMPTIONS = ("fine-tuned", "private-data", "custom-inference", "low-ttft")
LOW_TTFT_S = 0.050  # the seeds: API round trips add 50-200 ms, so a TTFT target under 50 ms needs self-hosting


@dataclass(frozen=True)
class Exemptions:
    """The seeds' reasons to self-host regardless of price."""

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


@dataclass(frozen=True)
class Deployment:
    """One model served with vLLM.

    gpus_per_replica: tensor x pipeline parallel size of one vLLM server.
    replicas: replicas planned to carry the load; redundancy: extra replicas for failover (N+1 = 1).
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
    """

    model: str
    gpu: str
    gpus_per_replica: int = 1
    replicas: int = 1
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

    @property
    def total_replicas(self) -> int:
        return self.replicas + self.redundancy

    @classmethod
    def build(cls, **kwargs) -> "Deployment":
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
        for key, low in (("gpus_per_replica", 1), ("replicas", 1), ("redundancy", 0), ("max_num_seqs", 1)):
            val = d.get(key, cls.__dataclass_fields__[key].default)
            if isinstance(val, bool) or not isinstance(val, (int, float)) or int(val) != val or val < low:
                raise InputError(key, val, f"a whole number, at least {low}")
            d[key] = int(val)
        if d.get("concurrency") is not None:
            c = d["concurrency"]
            if isinstance(c, bool) or int(c) != c or c < 1:
                raise InputError("concurrency", c, "a whole number of concurrent requests, at least 1")
            d["concurrency"] = int(c)
        mml = d.get("max_model_len")
        if mml is not None and (isinstance(mml, bool) or int(mml) != mml or mml < 16):
            raise InputError("max_model_len", mml, "a whole number of tokens, at least 16")
        gmu = d.get("gpu_memory_utilization", 0.9)
        if not 0.1 <= gmu <= 0.99:
            raise InputError("gpu_memory_utilization", gmu, "a fraction between 0.1 and 0.99")
        hourly = d.get("hourly_usd_per_gpu")
        if hourly is not None and hourly <= 0:
            raise InputError("hourly_usd_per_gpu", hourly, "a positive price per GPU-hour in USD")
        cap = d.get("capacity_tokens_per_month")
        if cap is not None and cap <= 0:
            raise InputError("capacity_tokens_per_month", cap, "a positive token volume")
        return cls(**d)
