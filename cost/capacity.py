"""Capacity of one vLLM replica: does the model fit, and how many tokens per second does it serve.

Physics first, then named efficiency factors: a `cost.factors.Factors` value passed in (the published
fit in cost/data/factors.yaml by default, or a live calibration), never module state:

* Memory: weights + runtime overhead + KV cache must fit ``tp x GPU memory x gpu_memory_utilization``.
  KV bytes per token = ``2 x layers x kv_heads x head_dim x kv_dtype_bytes`` (KV in the model dtype;
  fp8 and int4 weights keep a bf16 KV cache). vLLM allocates KV in blocks of 16 tokens.
* Decode step: weights read once per step (for mixture-of-experts, the experts the step's tokens
  touch) plus ``batch x context x kv_bytes`` read by attention, both at a fraction of HBM bandwidth;
  the GEMMs are compute-bound once the batch is large. Prefill of new requests is interleaved into
  the decode steps (chunked prefill) and is compute-bound. Each step also pays a scheduler/CPU
  cost (fixed plus per running sequence) and, with tensor parallelism, two all-reduces per layer
  and a per-doubling GEMM efficiency loss.
* Real traffic has a length tail: sequences in the batch are length-biased (the long ones are there
  longer), so the KV read per step and the KV held per sequence use ``O x (1 + cv^2) / 2``, not
  ``O / 2``. ``length_cv=0`` models fixed-length benchmark traffic.

Units: "GB" in this module is GiB (2**30 bytes), the unit vLLM logs and nvidia-smi report; memory
per GPU is the catalog's driver-reported `memory_gib` (L4 and A10G show 22.35 GiB, L40S 44.7 GiB).

Everything here is closed-form or a bounded bisection (TPOT target); catalog-derived constants are
cached per (model, gpu, tp, precision).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from cost.catalog import BYTES_PER_PARAM, PRECISIONS, Gpu, Model
from cost.errors import InputError
from cost.factors import Factors, published

GIB = float(2**30)
KV_BLOCK_TOKENS = 16            # vLLM paged-attention block size (tokens per KV block)
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9   # vLLM default --gpu-memory-utilization
DEFAULT_MAX_NUM_SEQS = 256             # vLLM default --max-num-seqs (V0, and V1 on GPUs < 70 GiB / A100)
TP_SIZES = (1, 2, 4, 8)

# --- weights -------------------------------------------------------------------------------
# AWQ int4 stores, per group of 128 weights, a 16-bit scale and a 4-bit zero point:
# (16 + 4) / (128 x 4) = 3.9 % on top of 0.5 byte/param.
AWQ_GROUP_SIZE = 128
AWQ_SCALE_OVERHEAD = (16 + 4) / (AWQ_GROUP_SIZE * 4)
# Quantized checkpoints (fp8, AWQ) keep the token embedding and the LM head in 16-bit
# (catalog: vocab_size, tie_word_embeddings).

# --- runtime overhead per GPU (inside the gpu_memory_utilization budget) ----------------------
# CUDA context + cuBLAS/cuDNN workspaces + CUDA-graph pools + sampler buffers: vLLM reports this as
# "non-torch memory" plus graph memory, typically 0.6-1.5 GiB per GPU on A100/H100.
CUDA_RUNTIME_GIB = 1.0
# NCCL communicators and vLLM's custom all-reduce buffers, per GPU, only when tp > 1.
NCCL_GIB = 0.5
# Peak activation memory of the profiling forward pass: max_num_batched_tokens (2048, the server
# default on < 70 GiB GPUs) x hidden x 2 bytes x ~20 live hidden-sized tensors (QKV, attention out,
# MLP gate/up intermediates at ~3.5x hidden), sharded by tp.
ACTIVATION_TOKENS = 2048
ACTIVATION_WIDTH = 20

# --- interconnect (all-reduce) ------------------------------------------------------------------
# SXM parts in the catalog sit on NVLink/NVSwitch (AWS p4d/p4de 600 GB/s, p5/p5e 900 GB/s, p6 1.8 TB/s
# bidirectional per GPU); the PCIe cards (g5/g6/g6e, RTX 4090) all-reduce over PCIe Gen4 x16.
_NVLINK_GB_S = {"A100-40GB": 300.0, "A100-80GB": 300.0, "H100": 450.0, "H200": 450.0, "B200": 900.0}
_PCIE_GB_S = 25.0   # achievable unidirectional bandwidth over PCIe Gen4 x16


def _gpu_link(gpu: Gpu, f: Factors) -> tuple[float, float]:
    """(unidirectional bandwidth in bytes/s, latency per all-reduce in s) for a GPU type."""
    if gpu.id in _NVLINK_GB_S:
        return _NVLINK_GB_S[gpu.id] * 1e9, f.allreduce_latency_nvlink_s
    return _PCIE_GB_S * 1e9, f.allreduce_latency_pcie_s


# --- public results ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MemoryFit:
    """How one TP group's memory divides between weights, runtime overhead and KV cache (GiB)."""

    model_id: str
    gpu_id: str
    tp: int
    precision: str
    context_tokens: int
    weights_gb: float
    runtime_overhead_gb: float
    usable_gb: float            # tp x memory x gpu_memory_utilization
    kv_bytes_per_token: int     # whole model, all layers (2 x layers x kv_heads x head_dim x bytes)
    kv_budget_gb: float         # usable - weights - overhead (0 if negative)
    kv_capacity_tokens: int     # tokens of KV the budget holds, whole 16-token blocks
    fits: bool                  # weights + overhead + one full-context sequence fit
    shortfall_gb: float         # > 0 when it does not fit
    max_sequences_at_context: int = 0   # full-context sequences the KV budget holds


@dataclass(frozen=True)
class Throughput:
    """Sustained serving rate of one replica (the whole TP group) for a workload."""

    concurrency: int
    max_concurrency: int
    output_tok_s: float          # one replica (whole TP group), sustained
    ttft_s: float
    tpot_s: float
    decode_step_s: float
    prefill_s_per_request: float
    limited_by: str              # "kv-cache", "max-num-seqs", "tpot-target", "tpot-target-unmet", "requested"
    kv_context_tokens: float = 0.0   # average KV held per running sequence (length-biased)
    step_breakdown: tuple[tuple[str, float], ...] = ()   # seconds per decode step, by cause


# --- cached per-configuration constants -----------------------------------------------------------
@dataclass(frozen=True)
class _Config:
    weights_bytes: float         # whole group
    kv_bytes_token: int          # whole model, as in MemoryFit
    kv_bytes_token_gpu: float    # per GPU (KV heads shard over tp, replicated when tp > kv_heads)
    usable_per_gpu_bytes_at_1: float   # memory x GiB (before gpu_memory_utilization)
    overhead_bytes: float        # whole group
    hbm_bytes_s: float           # per GPU, effective (x HBM_EFFICIENCY)
    kv_read_bytes_s: float       # per GPU, effective for paged-attention KV reads
    gemm_flops_s: float          # per GPU, effective (peak of the compute dtype x GEMM_MFU)
    prefill_flops_s: float       # per GPU, effective for prefill
    flops_per_token: float       # 2 x active params (whole model)
    attn_flops_per_token_ctx: float   # 4 x layers x heads x head_dim (whole model), per token per context token
    active_fraction: float       # active / total params (1 for dense)
    tp_efficiency: float         # GEMM/attention efficiency of a tp-way shard
    ar_per_step_fixed_s: float   # all-reduce latency per step (2 per layer)
    ar_bytes_per_token_s: float  # all-reduce transfer time per token in the step
    hidden: int
    factors: Factors


def weight_bytes(model: Model, precision: str) -> float:
    """Bytes of weights for the whole model at a precision (quantized layers + 16-bit embeddings)."""
    params = model.params_b * 1e9
    if precision in ("bf16", "fp16"):
        return params * 2.0
    embed = model.vocab_size * model.hidden_size * (1 if model.tie_word_embeddings else 2)
    bpp = BYTES_PER_PARAM[precision]
    if precision == "int4-awq":
        bpp *= 1 + AWQ_SCALE_OVERHEAD
    return (params - embed) * bpp + embed * 2.0


def kv_bytes_per_token(model: Model, precision: str = "bf16") -> int:
    """KV-cache bytes per token for the whole model: 2 (K and V) x layers x kv_heads x head_dim x 2.

    The KV cache stays in the model's 16-bit dtype for every weight precision (vLLM's default
    --kv-cache-dtype auto); an fp8 KV cache is an explicit opt-in this model does not assume.
    """
    del precision  # KV dtype is independent of the weight precision unless asked
    return 2 * model.layers * model.kv_heads * model.head_dim * 2


@lru_cache(maxsize=4096)
def _config(model: Model, gpu: Gpu, tp: int, precision: str, f: Factors) -> _Config:
    weights = weight_bytes(model, precision)
    kv_tok = kv_bytes_per_token(model, precision)
    kv_heads_gpu = max(1, math.ceil(model.kv_heads / tp))
    kv_tok_gpu = 2 * model.layers * kv_heads_gpu * model.head_dim * 2
    act = ACTIVATION_TOKENS * model.hidden_size * 2 * ACTIVATION_WIDTH / tp
    per_gpu_overhead = CUDA_RUNTIME_GIB * GIB + (NCCL_GIB * GIB if tp > 1 else 0.0) + act
    # Compute dtype: fp8 weights run fp8 GEMMs where the GPU has fp8 tensor cores (W8A8), otherwise
    # vLLM dequantizes to 16-bit (Marlin W8A16 / W4A16) and pays a dequantization efficiency.
    peak = gpu.bf16_tflops * 1e12
    quant_eff = 1.0
    if precision == "fp8":
        if gpu.fp8_tflops:
            peak = gpu.fp8_tflops * 1e12
            quant_eff = f.fp8_gemm_efficiency
        else:
            quant_eff = f.weight_only_quant_gemm_efficiency
    elif precision == "int4-awq":
        quant_eff = f.weight_only_quant_gemm_efficiency
    tp_eff = f.tp_efficiency_per_doubling ** math.log2(tp)
    link_bytes_s, ar_latency = _gpu_link(gpu, f)
    ar_fixed = 2 * model.layers * ar_latency if tp > 1 else 0.0
    # ring all-reduce moves 2 (tp-1)/tp of the message per GPU; message = tokens x hidden x 2 bytes
    ar_per_token = (2 * model.layers * model.hidden_size * 2 * 2 * (tp - 1) / tp / link_bytes_s) if tp > 1 else 0.0
    hbm = gpu.hbm_gb_s * 1e9
    return _Config(
        weights_bytes=weights,
        kv_bytes_token=kv_tok,
        kv_bytes_token_gpu=kv_tok_gpu,
        usable_per_gpu_bytes_at_1=gpu.memory_gib * GIB,
        overhead_bytes=per_gpu_overhead * tp,
        hbm_bytes_s=hbm * f.hbm_efficiency,
        kv_read_bytes_s=hbm * f.hbm_efficiency * f.kv_read_efficiency,
        gemm_flops_s=peak * f.gemm_mfu * quant_eff,
        prefill_flops_s=peak * f.gemm_mfu * quant_eff,
        flops_per_token=2.0 * model.active_params_b * 1e9,
        attn_flops_per_token_ctx=4.0 * model.layers * model.attention_heads * model.head_dim,
        active_fraction=min(1.0, model.active_params_b / model.params_b),
        tp_efficiency=tp_eff,
        ar_per_step_fixed_s=ar_fixed,
        ar_bytes_per_token_s=ar_per_token,
        hidden=model.hidden_size,
        factors=f,
    )


# --- memory ------------------------------------------------------------------------------------
def _check_common(tp: int, precision: str, gmu: float) -> None:
    if precision not in PRECISIONS:
        raise InputError("precision", precision, ", ".join(PRECISIONS))
    if not isinstance(tp, int) or isinstance(tp, bool) or tp < 1:
        raise InputError("gpus", tp, "a positive whole number of GPUs per replica (1, 2, 4, 8)")
    if not (0.0 < gmu <= 1.0):
        raise InputError("gpu_memory_utilization", gmu, "a fraction in (0, 1]", "vLLM's default is 0.9")


def memory_fit(model: Model, gpu: Gpu, tp: int, precision: str, context_tokens: int,
               gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION) -> MemoryFit:
    """Split ``tp x memory x gpu_memory_utilization`` into weights, runtime overhead and KV cache.

    ``fits`` means weights + overhead + the KV of one sequence of ``context_tokens`` fit (vLLM
    refuses to start otherwise: "max_model_len is larger than the KV cache can hold").
    """
    _check_common(tp, precision, gpu_memory_utilization)
    c = _config(model, gpu, tp, precision, published())
    usable = tp * c.usable_per_gpu_bytes_at_1 * gpu_memory_utilization
    budget = usable - c.weights_bytes - c.overhead_bytes
    kv_gpu = c.kv_bytes_token_gpu
    per_gpu_budget = budget / tp
    capacity = 0
    if per_gpu_budget > 0:
        capacity = int(per_gpu_budget // (kv_gpu * KV_BLOCK_TOKENS)) * KV_BLOCK_TOKENS
    ctx = max(1, int(context_tokens))
    blocks_needed = -(-ctx // KV_BLOCK_TOKENS) * KV_BLOCK_TOKENS
    need_one_seq = blocks_needed * kv_gpu * tp
    shortfall = c.weights_bytes + c.overhead_bytes + need_one_seq - usable
    fits = shortfall <= 0
    return MemoryFit(
        model_id=model.id, gpu_id=gpu.id, tp=tp, precision=precision, context_tokens=ctx,
        weights_gb=c.weights_bytes / GIB, runtime_overhead_gb=c.overhead_bytes / GIB, usable_gb=usable / GIB,
        kv_bytes_per_token=c.kv_bytes_token, kv_budget_gb=max(0.0, budget) / GIB,
        kv_capacity_tokens=capacity, fits=fits, shortfall_gb=max(0.0, shortfall) / GIB,
        max_sequences_at_context=capacity // blocks_needed if capacity else 0,
    )


def _sensible_precisions(precision: str) -> tuple[str, ...]:
    """The asked precision, then the smaller ones vLLM serves well (fp8, int4 AWQ)."""
    smaller = [p for p in ("fp8", "int4-awq") if BYTES_PER_PARAM[p] < BYTES_PER_PARAM[precision]]
    return (precision, *smaller)


def smallest_fits(model: Model, precision: str, context_tokens: int,
                  gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION) -> list[tuple[str, int]]:
    """For every catalog GPU, the smallest tensor-parallel size in 1, 2, 4, 8 that fits (GPU id, count).

    Only sizes that divide the attention heads are tried (vLLM's requirement). Sorted by total GPU
    memory of the configuration, then by count.
    """
    from cost.catalog import gpus

    out = []
    for g in gpus().values():
        for tp in TP_SIZES:
            if model.attention_heads % tp:
                continue
            if memory_fit(model, g, tp, precision, context_tokens, gpu_memory_utilization).fits:
                out.append((g.id, tp, tp * g.memory_gib))
                break
    out.sort(key=lambda r: (r[2], r[1]))
    return [(gid, tp) for gid, tp, _ in out]


def require_fit(model: Model, gpu: Gpu, tp: int, precision: str, context_tokens: int,
                gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION, key: str = "gpus") -> MemoryFit:
    """The memory fit, or an InputError under ``key`` saying how many GB are missing and what fits."""
    fit = memory_fit(model, gpu, tp, precision, context_tokens, gpu_memory_utilization)
    if fit.fits:
        return fit
    options = []
    for prec in _sensible_precisions(precision):
        found = smallest_fits(model, prec, context_tokens, gpu_memory_utilization)
        if found:
            options.append(f"{prec}: " + ", ".join(f"{n}x {g}" for g, n in found))
        else:
            options.append(f"{prec}: nothing up to 8 GPUs")
    detail = (
        f"{model.id} at {precision} needs {fit.weights_gb:.1f} GB weights + {fit.runtime_overhead_gb:.1f} GB runtime"
        f" + {fit.context_tokens * fit.kv_bytes_per_token / GIB:.2f} GB KV for one {fit.context_tokens}-token sequence,"
        f" but {tp}x {gpu.id} gives {fit.usable_gb:.1f} GB at gpu_memory_utilization {gpu_memory_utilization:g}:"
        f" {fit.shortfall_gb:.1f} GB short"
    )
    raise InputError(key, f"{tp}x {gpu.id}", "smallest fitting configurations — " + "; ".join(options), detail)


# --- throughput -----------------------------------------------------------------------------------
def _step(c: _Config, batch: float, prefill_tokens: float, ctx: float, prefill_ctx: float,
          tp: int) -> tuple[float, tuple[tuple[str, float], ...]]:
    """Seconds for one engine step: `batch` decode tokens at average context `ctx`, plus
    `prefill_tokens` of chunked prefill whose average attention context is `prefill_ctx`."""
    tokens = batch + prefill_tokens
    # Weights are read once per step. MoE: the expected share of expert weights that `batch` decode
    # tokens touch, each routing to a fraction `active_fraction` of them (top-k of E): 1-(1-a)^batch,
    # -> a at batch 1, -> all experts at large batch. A prompt's prefill reads the experts once per
    # request, which is small next to O decode steps and is left to the prefill compute term.
    if c.active_fraction < 1.0:
        share = 1.0 - (1.0 - c.active_fraction) ** max(batch, 1.0)
    else:
        share = 1.0
    t_weights = c.weights_bytes * share / tp / c.hbm_bytes_s
    eff = c.tp_efficiency
    t_decode_gemm = batch * c.flops_per_token / tp / c.gemm_flops_s
    t_kv = batch * ctx * c.kv_bytes_token_gpu / c.kv_read_bytes_s
    t_decode_attn_flops = batch * ctx * c.attn_flops_per_token_ctx / tp / c.gemm_flops_s
    t_prefill = prefill_tokens * (c.flops_per_token + prefill_ctx * c.attn_flops_per_token_ctx) / tp / c.prefill_flops_s
    t_gemm = max(t_weights, t_decode_gemm) / eff
    t_attn = max(t_kv, t_decode_attn_flops) / eff
    t_prefill /= eff
    t_comm = c.ar_per_step_fixed_s + tokens * c.ar_bytes_per_token_s
    t_cpu = c.factors.step_overhead_s + batch * c.factors.per_seq_overhead_s
    total = t_gemm + t_attn + t_prefill + t_comm + t_cpu
    return total, (("weights/gemm", t_gemm), ("kv-attention", t_attn), ("prefill", t_prefill),
                   ("all-reduce", t_comm), ("scheduler/cpu", t_cpu))


def throughput(model: Model, gpu: Gpu, tp: int, precision: str, avg_input_tokens: float, avg_output_tokens: float,
               *, concurrency: int | None = None, tpot_target_s: float | None = None,
               gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
               max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
               length_cv: float | None = None, factors: Factors | None = None) -> Throughput:
    """Sustained output tokens/s of one replica serving requests of the given average shape.

    concurrency: requests in flight (closed loop); None = as many as KV cache and max_num_seqs allow.
    tpot_target_s: the largest concurrency whose time per output token meets the target.
    length_cv: coefficient of variation of output lengths; None = real-traffic default
    (factors.real_traffic_length_cv), 0 = fixed-length benchmark traffic.
    factors: the efficiency factors; None = the published fit.
    Raises InputError (key "gpus") when the model does not fit with one request's context.
    """
    inp = float(avg_input_tokens)
    out = float(avg_output_tokens)
    if not (inp >= 0 and out >= 1):
        raise InputError("avg_output_tokens" if out < 1 else "avg_input_tokens",
                         avg_output_tokens if out < 1 else avg_input_tokens, "a positive number of tokens")
    if max_num_seqs < 1:
        raise InputError("max_num_seqs", max_num_seqs, "a positive whole number")
    f = factors or published()
    cv = f.real_traffic_length_cv if length_cv is None else max(0.0, float(length_cv))
    fit = require_fit(model, gpu, tp, precision, int(math.ceil(inp + out)), gpu_memory_utilization)
    c = _config(model, gpu, tp, precision, f)

    # KV held by a running sequence, averaged over its life and length-biased by the tail, plus
    # the half block paged attention wastes on average.
    kv_ctx = inp + out * (1.0 + cv * cv) / 2.0
    kv_held = kv_ctx + KV_BLOCK_TOKENS / 2
    kv_limit = max(1, int(fit.kv_capacity_tokens * f.kv_admission_fill // kv_held))
    max_conc = min(max_num_seqs, kv_limit)
    cap_reason = "kv-cache" if kv_limit < max_num_seqs else "max-num-seqs"

    prefill_per_out = inp / out            # prefill tokens interleaved per decode token
    prefill_ctx = inp / 2.0

    def step_at(b: float) -> float:
        return _step(c, b, b * prefill_per_out, kv_ctx, prefill_ctx, tp)[0]

    if tpot_target_s is not None:
        if tpot_target_s <= 0:
            raise InputError("tpot_target_s", tpot_target_s, "a positive number of seconds")
        if step_at(1) > tpot_target_s:
            conc, reason = 1, "tpot-target-unmet"
        elif step_at(max_conc) <= tpot_target_s:
            conc, reason = max_conc, cap_reason
        else:
            lo, hi = 1, max_conc            # step_at(lo) meets the target, step_at(hi) does not
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if step_at(mid) <= tpot_target_s:
                    lo = mid
                else:
                    hi = mid
            conc, reason = lo, "tpot-target"
        if concurrency is not None and concurrency < conc:
            conc, reason = max(1, int(concurrency)), "requested"
    elif concurrency is None:
        conc, reason = max_conc, cap_reason
    else:
        if int(concurrency) < 1:
            raise InputError("concurrency", concurrency, "a positive whole number of requests in flight")
        conc = int(concurrency)
        reason = "requested"
        if conc > max_conc:
            conc, reason = max_conc, cap_reason

    step, parts = _step(c, conc, conc * prefill_per_out, kv_ctx, prefill_ctx, tp)
    tok_s = conc / step * f.serving_efficiency
    # TTFT: the prompt is prefilled in chunks of the step token budget left after the decodes,
    # one chunk per step, each step also carrying the running batch.
    alone = _step(c, 0, inp, 0.0, prefill_ctx, tp)[0]
    budget = max(KV_BLOCK_TOKENS, ACTIVATION_TOKENS - conc)
    chunks = max(1, math.ceil(inp / budget))
    if conc <= 1:
        ttft = alone
    else:
        ttft = chunks * _step(c, conc - 1, min(inp, budget), kv_ctx, prefill_ctx, tp)[0] + 0.5 * step
    return Throughput(
        concurrency=conc, max_concurrency=max_conc, output_tok_s=tok_s, ttft_s=ttft, tpot_s=step,
        decode_step_s=step, prefill_s_per_request=alone, limited_by=reason, kv_context_tokens=kv_ctx,
        step_breakdown=parts,
    )


def hbm_roofline_tok_s(model: Model, gpu: Gpu, tp: int, precision: str) -> float:
    """Batch-1 decode ceiling: HBM bandwidth of the group / bytes of weights read per token."""
    c = _config(model, gpu, tp, precision, published())
    read = c.weights_bytes * (c.active_fraction if c.active_fraction < 1 else 1.0)
    return tp * gpu.hbm_gb_s * 1e9 / read


def decode_step(model: Model, gpu: Gpu, tp: int, precision: str, batch: int, context: float,
                factors: Factors | None = None) -> dict[str, float]:
    """Seconds of one pure decode step (no prefill) by cause, as `throughput` models it:
    `batch` sequences each holding `context` tokens of KV. Keys as in Throughput.step_breakdown."""
    c = _config(model, gpu, tp, precision, factors or published())
    return dict(_step(c, float(batch), 0.0, float(context), 0.0, tp)[1])
