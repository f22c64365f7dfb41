"""Capacity of one vLLM replica: does the model fit, and how many tokens per second does it serve.

Physics first, then named efficiency factors: a `cost.physics.factors.Factors` value passed in (the published
fit in cost/data/factors.yaml by default, or a live calibration), never module state:

* Memory: weights + runtime overhead + KV cache must fit ``tp x GPU memory x gpu_memory_utilization``.
  The runtime overhead is the CUDA context and NCCL plus vLLM's profiled activation peak on every GPU:
  the forward pass over the step token budget, or the sampler warm-up over ``max_num_seqs`` logits of
  the whole vocabulary, whichever is larger. Weights as checkpoints ship them: bf16; fp8 and
  int4-AWQ with 16-bit embeddings; mxfp4 (gpt-oss) on the routed experts only, the rest bf16.
  KV bytes per token per layer = ``2 x kv_heads x head_dim x kv_dtype_bytes`` (GQA, KV heads sharded over tp) or
  ``(kv_lora_rank + qk_rope_head_dim) x kv_dtype_bytes`` (MLA, one latent for all heads, replicated
  on every GPU of the group); sliding-window / chunked-attention layers hold at most their window.
  The KV dtype is its own choice (``kv_cache_dtype`` auto = 16-bit, or fp8). vLLM allocates KV in
  blocks of 16 tokens.
* Decode step: weights read once per step - for mixture-of-experts the always-active part plus the
  routed experts the batch touches, ``E x (1 - (1 - k/E)^b)`` of E per MoE layer for b tokens with
  top-k routing (with expert parallelism, the busiest GPU's share), streamed slower than the dense weights the
  narrower each GPU's expert slice (published kernel benchmarks: cost/physics/moe_floor.py) - plus the KV the batch attends
  to, both at a fraction of HBM bandwidth;
  the GEMMs are compute-bound once the batch is large. Prefill of new requests is interleaved into
  the decode steps (chunked prefill) and is compute-bound at its own MFU (prefill_mfu). Attention runs at the
  16-bit rate whatever the weights are quantized to (vLLM applies a quantization config to the linear and MoE
  layers; `Attention` takes only its KV-cache scale from it). MLA attends over the latent when decoding (absorbed)
  and expands it to per-head K and V for prompts (vLLM 0.32 model_executor/layers/attention/mla_attention.py,
  "forward_mqa" / "forward_mha"), so a prompt token's attention costs (nope + rope + v) per head, not (2 latent + rope).
  Each step
  also pays a kernel floor per layer (attention, norms, RoPE; a MoE layer's kernel chain besides, at its
  GPU generation's small-batch floor from published vLLM kernel benchmarks: cost/physics/moe_floor.py), a
  scheduler/CPU cost (fixed, plus the front end's per running sequence, shared by the API-server
  processes), added to the GPU time on an engine that schedules synchronously and overlapped with it on one that
  schedules asynchronously (vLLM >= 0.14 by default, the deployed 0.32 included: cost/physics/vllm_engine.py), where
  the scheduler's time and the overlapping share of the per-sequence time (factors.async_per_seq_overlap) hide
  behind the GPU time; and, with tensor parallelism, two all-reduces per layer and a per-doubling efficiency
  loss on compute-bound GEMM and attention time only (each GPU streams its own weight and KV shard at the full
  rate). The untied input-embedding table is gathered, never streamed.
* Admission and growth (vLLM 0.32, vllm/v1/core/sched/scheduler.py `Scheduler.schedule`, and
  vllm/v1/core/kv_cache_manager.py `KVCacheManager.allocate_slots`): a waiting request is admitted when the
  blocks of its *prompt* are free (`full_sequence_must_fit=scheduler_reserve_full_isl` checks
  `request.num_tokens`, not prompt + max_tokens; the admission watermark, `SchedulerConfig.watermark`, is 0 by
  default); a running request gets a new block each time its generated tokens fill one, and when none is free the
  scheduler preempts the lowest-priority running request (the last admitted, FCFS) and recomputes it later. So
  the engine sustains as many sequences as the pool holds at their *current* lengths, prompt plus the output
  generated so far, not their final lengths: `Throughput.max_concurrency` (reported as `sustained_concurrency`).
  `MemoryFit.max_concurrency` is what vLLM logs at start-up instead, the KV cache over one request of the maximum
  model length (vllm/v1/core/kv_cache_utils.py `get_max_concurrency_for_kv_cache_config`).
* Real traffic has a length tail: sequences in the batch are length-biased (the long ones are there
  longer), so the KV read per step and the KV held per sequence use ``O x (1 + cv^2) / 2``, not
  ``O / 2``. ``length_cv=0`` models fixed-length benchmark traffic.

Units: "GB" in this module is GiB (2**30 bytes), the unit vLLM logs and nvidia-smi report; memory
per GPU is the catalog's driver-reported `memory_gib` (L4 and A10G show 22.35 GiB, L40S 44.7 GiB).

A group larger than one node (more GPUs than the largest instance of that GPU carries, e.g.
DeepSeek-V3 at fp8 on H100) is served tensor-parallel inside each node and pipeline-parallel across
nodes: `MemoryFit.nodes` says how many, and the step adds one activation hop per node boundary.

Everything here is closed-form or a bounded bisection (TPOT target); catalog-derived constants are
cached per (model, gpu, tp, precision, kv_cache_dtype, expert_parallel, factors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from cost.catalog import BYTES_PER_PARAM, KV_CACHE_DTYPES, PRECISIONS, Gpu, Model, checkpoints
from cost.errors import InputError
from cost.physics import moe_floor, vllm_engine
from cost.physics.factors import Factors, published

GIB = float(2**30)
KV_BLOCK_TOKENS = 16            # vLLM paged-attention block size (tokens per KV block)
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9   # vLLM default --gpu-memory-utilization
DEFAULT_MAX_NUM_SEQS = 256             # vLLM default --max-num-seqs (V0, and V1 on GPUs < 70 GiB / A100)
TP_SIZES = (1, 2, 4, 8, 16, 32)       # 16 and 32: two and four 8-GPU nodes (pipeline-parallel across nodes)
KV_DTYPE_BYTES = {"auto": 2, "fp8": 1}

# --- weights -------------------------------------------------------------------------------
# AWQ int4 stores, per group of 128 weights, a 16-bit scale and a 4-bit zero point:
# (16 + 4) / (128 x 4) = 3.9 % on top of 0.5 byte/param.
AWQ_GROUP_SIZE = 128
AWQ_SCALE_OVERHEAD = (16 + 4) / (AWQ_GROUP_SIZE * 4)
# Quantized checkpoints (fp8, AWQ) keep the token embedding and the LM head in 16-bit
# (catalog: vocab_size, tie_word_embeddings). MXFP4 (gpt-oss): one 8-bit scale per 32 FP4 values on the
# routed experts (4.25 bits/param, catalog.BYTES_PER_PARAM); attention, router, embeddings stay bf16.

# --- runtime overhead per GPU (inside the gpu_memory_utilization budget) ----------------------
# CUDA context + cuBLAS/cuDNN workspaces + CUDA-graph pools + sampler buffers: vLLM reports this as
# "non-torch memory" plus graph memory, typically 0.6-1.5 GiB per GPU on A100/H100.
CUDA_RUNTIME_GIB = 1.0
# NCCL communicators and vLLM's custom all-reduce buffers, per GPU, only when tp > 1.
NCCL_GIB = 0.5
# Peak activation memory of the profiling forward pass: max_num_batched_tokens x hidden x 2 bytes
# x ~20 live hidden-sized tensors (QKV, attention out, MLP gate/up intermediates at ~3.5x hidden),
# sharded by tp. The same token budget caps a step's tokens (decodes plus one prefill chunk).
ACTIVATION_WIDTH = 20
# vLLM's profile run then warms the sampler up on max_num_seqs requests at once: full-vocabulary fp32
# logits on every GPU, plus the top-k/top-p sort and softmax temporaries. Its peak, not the forward
# pass's, is what a large vocabulary at vLLM's H100 default of 1,024 sequences leaves out of the KV cache.
# Bytes per logit from published vLLM memory logs (llm-d/llm-d-benchmark config_explorer/
# empirical-vllm-memory-results.md @ 0282dcf6, vLLM ~0.11, one H100, max_num_seqs 1,024): a profiled
# activation peak of 7.38 GiB for gpt-oss-20b (vocabulary 201,088) and 5.64 GiB for Qwen3-32B (151,936),
# 38.5 and 38.9 bytes per logit, the same at TP 2; their forward passes alone need ~1 GiB.
SAMPLER_BYTES_PER_LOGIT = 39


def max_num_batched_tokens(gpu: Gpu) -> int:
    """vLLM's default token budget per step for the OpenAI server on this GPU (the chart sets none):
    16,384 from 160 GiB (B200), 8,192 from 70 GiB except A100s (H100, H200), else 2,048
    (EngineArgs.get_batch_defaults in vllm/engine/arg_utils.py, read in the pinned vLLM 0.32)."""
    if gpu.memory_gib >= 160:
        return 16384
    if gpu.memory_gib >= 70 and not gpu.id.startswith("A100"):
        return 8192
    return 2048

# --- weight-only int4 GEMMs (AWQ / GPTQ through Marlin) -------------------------------------------------
# vLLM's Marlin kernel (csrc/quantization/gptq_marlin/gptq_marlin.cu `marlin_mm`, adapted from IST-DASLab/marlin)
# covers at most 16 x max_m_blocks = 64 rows of the batch per pass over the weights: a larger batch runs as
# `par` slices of 64 rows side by side, each streaming and dequantizing the whole 4-bit weight matrix again.
# So a step of t tokens reads the int4 weights ceil(t / 64) times: near the 4-bit bytes (near-free dequant,
# bandwidth-bound) at small batch, as many bytes as 16-bit weights at 256 tokens, where the GEMM is compute-bound
# at the 16-bit tensor-core rate (Marlin: "essentially ideal speedups at all batchsizes", IST-DASLab/marlin README).
MARLIN_M_SLICE = 64

# --- interconnect (all-reduce) ------------------------------------------------------------------
# SXM parts in the catalog sit on NVLink/NVSwitch (AWS p4d/p4de 600 GB/s, p5/p5e 900 GB/s, p6 1.8 TB/s
# bidirectional per GPU); the PCIe cards (g5/g6/g6e, RTX 4090) all-reduce over PCIe Gen4 x16.
_NVLINK_GB_S = {"A100-40GB": 300.0, "A100-80GB": 300.0, "H100": 450.0, "H200": 450.0, "B200": 900.0}
_PCIE_GB_S = 25.0   # achievable unidirectional bandwidth over PCIe Gen4 x16
# Between nodes (pipeline stages): AWS EFA, 400 Gb/s per A100 node (p4d) and 3,200 Gb/s per H100/H200/B200
# node (p5/p5en/p6) shared by 8 GPUs; one hop per node boundary per step, ~25 us latency (EFA/libfabric).
_EFA_GB_S = {"A100-40GB": 6.25, "A100-80GB": 6.25, "H100": 50.0, "H200": 50.0, "B200": 50.0}
_EFA_DEFAULT_GB_S = 12.5
INTER_NODE_LATENCY_S = 25e-6
GPUS_PER_NODE_DEFAULT = 8

# --- the OpenAI-compatible front end ------------------------------------------------------------------
# vLLM's engine core and its API server are separate processes (V1); the API server detokenizes and
# streams every output token in Python. One API-server process streams on the order of 10,000 output
# tokens/s; past that the engine waits on it, whatever the GPUs (hence vLLM's --api-server-count).
# Physical prior, NOT fitted: published unbounded ShareGPT runs on very different hardware level off at
# 7,400-8,100 output tok/s including their ramp-down (validation.csv: 1x H100 Llama 8B, 8x B200 gpt-oss-120b).
API_SERVER_TOKENS_S = 10_000.0


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
    max_concurrency: float = 0.0        # the same unrounded: what vLLM logs as "Maximum concurrency for N tokens per request"
    kv_cache_dtype: str = "auto"
    nodes: int = 1              # > 1: the group spans nodes (tensor parallel inside, pipeline parallel across)
    gpus_per_node: int = 8


@dataclass(frozen=True)
class Throughput:
    """Sustained serving rate of one replica (the whole TP group) for a workload."""

    concurrency: int
    max_concurrency: int         # what the engine sustains for this traffic (reported as sustained_concurrency)
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
    expert_bytes: float          # routed experts (whole group); 0 for dense models
    expert_read_scale: float     # a routed-expert byte's stream time over a dense byte's (cost/physics/moe_floor.py)
    sliced_bytes: float          # int4 Marlin weights re-read per MARLIN_M_SLICE tokens of a step (whole group); else 0
    lookup_bytes: float          # untied input-embedding table (whole group): gathered, never streamed
    experts: int                 # routed experts per MoE layer
    expert_hit: float            # top-k / E: chance one token routes to a given expert
    expert_parallel: bool
    kv_bytes_token: int          # whole model, as in MemoryFit
    kv_bytes_token_gpu: float    # per GPU, every layer holding the token (KV heads shard over tp; MLA replicated)
    kv_window_bytes_gpu: float   # of which: the sliding-window / chunked layers
    window: int                  # their window (tokens); 0 = none
    usable_per_gpu_bytes_at_1: float   # memory x GiB (before gpu_memory_utilization)
    step_tokens: int             # vLLM's max_num_batched_tokens on this GPU
    overhead_bytes: float        # whole group: CUDA runtime and NCCL, before the profiled activation peak
    activation_bytes_gpu: float  # per GPU: the profiling forward pass's activations
    vocab: int                   # logits per sequence in the sampler warm-up
    hbm_bytes_s: float           # per GPU, effective (x HBM_EFFICIENCY)
    kv_read_bytes_s: float       # per GPU, effective for paged-attention KV reads
    gemm_flops_s: float          # per GPU, effective (peak of the compute dtype x GEMM_MFU)
    prefill_flops_s: float       # per GPU, effective for prompt tokens (peak x prefill_mfu)
    attn_flops_s: float          # per GPU, attention (16-bit: the weights' quantization does not reach it) x GEMM_MFU
    attn_prefill_flops_s: float  # the same at prefill_mfu
    flops_per_token: float       # decode: 2 x params a token multiplies (active, no embedding lookup)
    prefill_flops_per_token: float   # prefill: the same without the LM head (logits only for the last token)
    layer_fixed_s: float         # per (micro-)step GPU time of a stage's layers that no batch or weight size changes
    attn_flops_per_token_ctx: float   # full-attention layers: FLOPs per token per attended context token
    attn_window_flops_per_token_ctx: float   # window layers, same unit (they attend to at most `window`)
    attn_prefill_scale: float    # a prompt token's attention FLOPs over a decode token's (MLA: un-absorbed / absorbed)
    active_fraction: float       # active / total params (1 for dense)
    tp_efficiency: float         # compute (GEMM/attention FLOP) efficiency of a tp-way shard; byte streams lose none
    ar_per_step_fixed_s: float   # all-reduce latency per step (2 per layer)
    ar_bytes_per_token_s: float  # all-reduce / all-to-all transfer time per token in the step
    hop_fixed_s: float           # pipeline hops between nodes per step (latency)
    hop_per_token_s: float       # pipeline hops between nodes per token in the step (transfer)
    nodes: int                   # pipeline stages (one per node)
    hidden: int
    factors: Factors

    def kv_tokens(self, ctx: float) -> float:
        """KV a sequence of `ctx` tokens holds, in units of 'a token held by every layer'."""
        if not self.window:
            return ctx
        full = self.kv_bytes_token_gpu - self.kv_window_bytes_gpu
        return (ctx * full + min(ctx, self.window + KV_BLOCK_TOKENS) * self.kv_window_bytes_gpu) / self.kv_bytes_token_gpu

    def attn_flops(self, ctx: float, prefill: bool = False) -> float:
        """Attention FLOPs of one token attending to `ctx` earlier tokens (whole model); prefill: a prompt token's
        (MLA runs prompts un-absorbed, see `_config`)."""
        scale = self.attn_prefill_scale if prefill else 1.0
        return scale * (ctx * self.attn_flops_per_token_ctx + min(ctx, self.window or ctx) * self.attn_window_flops_per_token_ctx)


def _expert_and_other_bytes(model: Model, precision: str) -> tuple[float, float]:
    """(routed-expert bytes, everything else) for the whole model at a precision."""
    params = model.params_b * 1e9
    experts = model.expert_params_b * 1e9
    if precision in ("bf16", "fp16"):
        return experts * 2.0, (params - experts) * 2.0
    if precision == "mxfp4":
        if not model.serves(precision):
            raise InputError("precision", precision, ", ".join(p for p in PRECISIONS if model.serves(p)) + " for " + model.id,
                             "mxfp4 quantizes routed MoE experts (gpt-oss ships it); this model has none")
        return experts * BYTES_PER_PARAM["mxfp4"], (params - experts) * 2.0
    embed = model.embedding_params_b * 1e9
    bpp = BYTES_PER_PARAM[precision]
    if precision == "int4-awq":
        bpp *= 1 + AWQ_SCALE_OVERHEAD
    return experts * bpp, (params - experts - embed) * bpp + embed * 2.0


def weight_bytes(model: Model, precision: str) -> float:
    """Bytes of weights for the whole model at a precision, as its checkpoint ships them
    (quantized layers + 16-bit embeddings; mxfp4 on the routed experts only)."""
    experts, other = _expert_and_other_bytes(model, precision)
    return experts + other


def _kv_layer_bytes(model: Model, kv_cache_dtype: str, tp: int) -> tuple[float, float]:
    """KV bytes per token of one layer: (whole model's view, one GPU of a tp group)."""
    b = KV_DTYPE_BYTES[kv_cache_dtype]
    if model.attention_kind == "mla":
        per_layer = (model.kv_lora_rank + model.qk_rope_head_dim) * b
        return per_layer, per_layer          # one latent shared by all heads: every GPU holds all of it
    per_gpu_heads = max(1, math.ceil(model.kv_heads / min(tp, GPUS_PER_NODE_DEFAULT)))
    return 2 * model.kv_heads * model.head_dim * b, 2 * per_gpu_heads * model.head_dim * b


def kv_bytes_per_token(model: Model, kv_cache_dtype: str = "auto") -> int:
    """KV-cache bytes per token for the whole model with every layer holding it.

    GQA: 2 (K and V) x layers x kv_heads x head_dim x dtype bytes; MLA: layers x (kv_lora_rank +
    qk_rope_head_dim) x dtype bytes. kv_cache_dtype "auto" keeps the model's 16-bit dtype whatever
    the weight precision (vLLM's default); "fp8" halves it. Window layers hold fewer tokens
    (`MemoryFit` and the throughput model account for that).
    """
    return int(model.layers * _kv_layer_bytes(model, kv_cache_dtype, 1)[0])


def gpus_per_node(gpu: Gpu) -> int:
    """The most GPUs of this type one AWS instance carries (8 when the catalog has none)."""
    return _gpus_per_node(gpu.id)


@lru_cache(maxsize=64)
def _gpus_per_node(gpu_id: str) -> int:
    from cost.catalog import instances_for

    return max((i.gpus for i in instances_for(gpu_id)), default=GPUS_PER_NODE_DEFAULT)


def _expert_touch_share(c: _Config, tokens: float, tp: int) -> float:
    """Share of the routed-expert bytes one GPU reads in a step with `tokens` tokens.

    Each token picks k of E experts per MoE layer, so an expert is touched with probability
    q = 1 - (1 - k/E)^tokens and a layer reads E x q experts on average. Tensor parallelism splits
    every expert over the group: each GPU reads q of its 1/tp share. Expert parallelism places E/tp whole
    experts on each GPU; the step waits for the busiest one: mean n q plus two standard deviations of the
    binomial count (n = E/tp), capped at n.
    """
    q = 1.0 - (1.0 - c.expert_hit) ** max(tokens, 1.0)
    if not c.expert_parallel or tp == 1:
        return q
    n = c.experts / tp
    busiest = min(n, n * q + 2.0 * math.sqrt(max(0.0, n * q * (1.0 - q))))
    return busiest / n


def _moe_layer_floor_s(gpu: Gpu, f: Factors) -> float:
    """Seconds one MoE layer's kernel chain costs per step beyond streaming its experts (the small-batch floor
    of the GPU's generation, cost/data/moe-kernels.yaml; the prior moe_layer_overhead_s where none is published)."""
    floor = moe_floor.layer_floor_s(gpu.id)
    return f.moe_layer_overhead_s if floor is None else floor


@lru_cache(maxsize=4096)
def _config(model: Model, gpu: Gpu, tp: int, precision: str, f: Factors, kv_cache_dtype: str = "auto",
            expert_parallel: bool = False) -> _Config:
    experts_b, other_b = _expert_and_other_bytes(model, precision)
    weights = experts_b + other_b
    kv_tok = kv_bytes_per_token(model, kv_cache_dtype)
    _, kv_layer_gpu = _kv_layer_bytes(model, kv_cache_dtype, tp)
    window_layers = model.window_layers if model.window_tokens else 0
    node = gpus_per_node(gpu)
    nodes = max(1, math.ceil(tp / node))
    tp_node = tp // nodes                 # tensor parallel inside a node; the layers split over the nodes
    layers_gpu = model.layers / nodes     # each pipeline stage holds its share of the layers
    kv_tok_gpu = kv_layer_gpu * model.layers / nodes
    kv_win_gpu = kv_layer_gpu * window_layers / nodes
    step_tokens = max_num_batched_tokens(gpu)
    act = step_tokens * model.hidden_size * 2 * ACTIVATION_WIDTH / tp_node
    per_gpu_overhead = CUDA_RUNTIME_GIB * GIB + (NCCL_GIB * GIB if tp > 1 else 0.0)
    # Compute dtype: fp8 weights run fp8 GEMMs where the GPU has fp8 tensor cores (W8A8), otherwise
    # vLLM dequantizes to 16-bit (Marlin W8A16 / W4A16) and pays a dequantization efficiency. MXFP4
    # experts run as weight-only (Marlin / Triton MoE kernels dequantize to 16-bit) below Blackwell.
    peak = gpu.bf16_tflops * 1e12
    quant_eff = 1.0
    if precision == "fp8":
        if gpu.fp8_tflops:
            peak = gpu.fp8_tflops * 1e12
            quant_eff = f.fp8_gemm_efficiency
        else:
            quant_eff = f.weight_only_quant_gemm_efficiency
    elif precision == "int4-awq" and not model.experts:
        quant_eff = f.int4_gemm_efficiency
    elif precision in ("int4-awq", "mxfp4"):
        quant_eff = f.weight_only_quant_gemm_efficiency
    tp_eff = f.tp_efficiency_per_doubling ** math.log2(tp_node)
    link_bytes_s, ar_latency = _gpu_link(gpu, f)
    # Inside a node: two all-reduces per layer of the stage (ring: 2 (tp-1)/tp of tokens x hidden x 2 bytes
    # per GPU). With expert parallelism the MoE layers dispatch and combine each token's k expert inputs
    # (all-to-all) instead of all-reducing the MoE output.
    ar_fixed = 2 * layers_gpu * ar_latency if tp_node > 1 else 0.0
    ar_msgs_per_token = 2 * layers_gpu
    if expert_parallel and model.experts and tp_node > 1:
        moe_layers_gpu = model.moe_layers / nodes
        ar_msgs_per_token += moe_layers_gpu * (2 * model.experts_per_token - 1)
    ar_per_token = (ar_msgs_per_token * model.hidden_size * 2 * 2 * (tp_node - 1) / tp_node / link_bytes_s) if tp_node > 1 else 0.0
    efa = _EFA_GB_S.get(gpu.id, _EFA_DEFAULT_GB_S) * 1e9 * min(tp_node, 8) / 8
    hop_fixed = (nodes - 1) * INTER_NODE_LATENCY_S / nodes
    hop_token = (nodes - 1) * model.hidden_size * 2 / efa / nodes if nodes > 1 else 0.0
    hbm = gpu.hbm_gb_s * 1e9
    # GEMM parameters a token multiplies: everything but the routed experts it skips (top-k of E) and the
    # input embedding (a row lookup); the LM head runs for sampled positions only, so prefill skips it.
    lm_head = model.vocab_size * model.hidden_size
    lookup = 0 if model.tie_word_embeddings else lm_head
    skipped = model.expert_params_b * 1e9 * (1 - model.experts_per_token / model.experts) if model.experts else 0.0
    gemm_params = model.params_b * 1e9 - skipped - lookup
    if not model.experts and model.active_params_b < model.params_b:   # MoE without expert dims in the catalog
        gemm_params = model.active_params_b * 1e9 - lookup
    if model.attention_kind == "mla":
        # absorbed MLA decode: q.k over (kv_lora + rope) and p.v over kv_lora, per head
        attn_layer = 2.0 * model.attention_heads * (2 * model.kv_lora_rank + model.qk_rope_head_dim)
        # prompts run un-absorbed: the latent is expanded to per-head K (nope + rope) and V, then ordinary attention
        attn_prefill_layer = 2.0 * model.attention_heads * (model.qk_nope_head_dim + model.qk_rope_head_dim + model.v_head_dim)
    else:
        attn_layer = attn_prefill_layer = 4.0 * model.attention_heads * model.head_dim
    return _Config(
        weights_bytes=weights,
        expert_bytes=experts_b,
        # The expert GEMMs stream slower than the dense weights by what kernel benchmarks give for the expert width each
        # GPU holds (issue 22, part moen: cost/physics/moe_floor.py expert_stream_slowdown).
        expert_read_scale=moe_floor.expert_stream_slowdown(
            model.moe_intermediate_size / (1 if expert_parallel else tp_node)) if model.moe_intermediate_size else 1.0,
        sliced_bytes=(other_b - model.embedding_params_b * 1e9 * 2.0) if precision == "int4-awq" and not model.experts else 0.0,
        lookup_bytes=lookup * 2.0,
        experts=model.experts,
        expert_hit=(model.experts_per_token / model.experts) if model.experts else 1.0,
        expert_parallel=bool(expert_parallel and model.experts),
        kv_bytes_token=kv_tok,
        kv_bytes_token_gpu=kv_tok_gpu,
        kv_window_bytes_gpu=kv_win_gpu,
        window=model.window_tokens if window_layers else 0,
        usable_per_gpu_bytes_at_1=gpu.memory_gib * GIB,
        step_tokens=step_tokens,
        overhead_bytes=per_gpu_overhead * tp,
        activation_bytes_gpu=act,
        vocab=model.vocab_size,
        hbm_bytes_s=hbm * f.hbm_efficiency,
        kv_read_bytes_s=hbm * f.hbm_efficiency * f.kv_read_efficiency,
        gemm_flops_s=peak * f.gemm_mfu * quant_eff,
        prefill_flops_s=peak * f.prefill_mfu * quant_eff,
        attn_flops_s=gpu.bf16_tflops * 1e12 * f.gemm_mfu,
        attn_prefill_flops_s=gpu.bf16_tflops * 1e12 * f.prefill_mfu,
        flops_per_token=2.0 * gemm_params,
        prefill_flops_per_token=2.0 * (gemm_params - lm_head),
        # Kernels whose time no weight or KV byte explains: the attention kernel's floor, norms, RoPE and
        # residual adds of every layer; a MoE layer's kernel chain besides (top-k, token sort, two grouped GEMMs
        # that a small batch cannot fill, activation, combine): the generation's small-batch floor read from
        # published kernel benchmarks (cost/physics/moe_floor.py), else the prior moe_layer_overhead_s.
        layer_fixed_s=(f.layer_overhead_s * layers_gpu
                       + (_moe_layer_floor_s(gpu, f) * model.moe_layers / nodes if model.experts else 0.0)),
        attn_flops_per_token_ctx=attn_layer * (model.layers - window_layers),
        attn_window_flops_per_token_ctx=attn_layer * window_layers,
        attn_prefill_scale=attn_prefill_layer / attn_layer,
        active_fraction=min(1.0, model.active_params_b / model.params_b),
        tp_efficiency=tp_eff,
        ar_per_step_fixed_s=ar_fixed,
        ar_bytes_per_token_s=ar_per_token,
        hop_fixed_s=hop_fixed,
        hop_per_token_s=hop_token,
        nodes=nodes,
        hidden=model.hidden_size,
        factors=f,
    )


# --- memory ------------------------------------------------------------------------------------
def _check_common(tp: int, precision: str, gmu: float, kv_cache_dtype: str = "auto") -> None:
    if precision not in PRECISIONS:
        raise InputError("precision", precision, ", ".join(PRECISIONS))
    if not isinstance(tp, int) or isinstance(tp, bool) or tp < 1:
        raise InputError("gpus", tp, "a positive whole number of GPUs per replica (1, 2, 4, 8; 16 or 32 across nodes)")
    if not (0.0 < gmu <= 1.0):
        raise InputError("gpu_memory_utilization", gmu, "a fraction in (0, 1]", "vLLM's default is 0.9")
    if kv_cache_dtype not in KV_CACHE_DTYPES:
        raise InputError("kv_cache_dtype", kv_cache_dtype, ", ".join(KV_CACHE_DTYPES))


@lru_cache(maxsize=8192, typed=True)   # pure in its (hashable) arguments; estimates of the same hardware repeat it
def memory_fit(model: Model, gpu: Gpu, tp: int, precision: str, context_tokens: int,
               gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION, kv_cache_dtype: str = "auto",
               expert_parallel: bool = False, max_num_seqs: int = DEFAULT_MAX_NUM_SEQS) -> MemoryFit:
    """Split ``tp x memory x gpu_memory_utilization`` into weights, runtime overhead and KV cache.

    The runtime overhead holds vLLM's profiled activation peak on every GPU: the forward pass over the
    step token budget, or the sampler warm-up over ``max_num_seqs`` full-vocabulary logits if larger.

    ``fits`` means weights + overhead + the KV of one sequence of ``context_tokens`` fit (vLLM
    refuses to start otherwise: "max_model_len is larger than the KV cache can hold").
    ``kv_capacity_tokens`` counts tokens held by every layer; window layers hold at most their
    window, so a long sequence of a windowed model costs less than ``tokens x kv_bytes_per_token``.
    A group of more GPUs than one node carries reports ``nodes`` > 1 (a multi-node replica).
    """
    _check_common(tp, precision, gpu_memory_utilization, kv_cache_dtype)
    node = gpus_per_node(gpu)
    if tp > node and tp % node:
        raise InputError("gpus", tp, f"up to {node} GPUs per node, or a multiple of {node} for a multi-node replica")
    c = _config(model, gpu, tp, precision, published(), kv_cache_dtype, expert_parallel)
    usable = tp * c.usable_per_gpu_bytes_at_1 * gpu_memory_utilization
    sampler = SAMPLER_BYTES_PER_LOGIT * max_num_seqs * c.vocab
    overhead = c.overhead_bytes + tp * max(c.activation_bytes_gpu, sampler)
    budget = usable - c.weights_bytes - overhead
    kv_gpu = c.kv_bytes_token_gpu
    per_gpu_budget = budget / tp
    capacity = 0
    if per_gpu_budget > 0:
        capacity = int(per_gpu_budget // (kv_gpu * KV_BLOCK_TOKENS)) * KV_BLOCK_TOKENS
    ctx = max(1, int(context_tokens))
    blocks_needed = -(-ctx // KV_BLOCK_TOKENS) * KV_BLOCK_TOKENS
    held_one_seq = c.kv_tokens(blocks_needed)
    need_one_seq = held_one_seq * kv_gpu * tp
    shortfall = c.weights_bytes + overhead + need_one_seq - usable
    fits = shortfall <= 0
    return MemoryFit(
        model_id=model.id, gpu_id=gpu.id, tp=tp, precision=precision, context_tokens=ctx,
        weights_gb=c.weights_bytes / GIB, runtime_overhead_gb=overhead / GIB, usable_gb=usable / GIB,
        kv_bytes_per_token=c.kv_bytes_token, kv_budget_gb=max(0.0, budget) / GIB,
        kv_capacity_tokens=capacity, fits=fits, shortfall_gb=max(0.0, shortfall) / GIB,
        max_sequences_at_context=int(capacity // held_one_seq) if capacity else 0,
        max_concurrency=capacity / held_one_seq,
        kv_cache_dtype=kv_cache_dtype, nodes=c.nodes, gpus_per_node=node,
    )


def _sensible_precisions(model: Model, precision: str) -> tuple[str, ...]:
    """The asked precision, then the smaller ones vLLM serves well (fp8, int4 AWQ; mxfp4 where shipped)."""
    candidates = ["fp8", "int4-awq"] + (["mxfp4"] if checkpoints.known(model.id, "mxfp4") else [])
    smaller = [p for p in candidates if p != precision and BYTES_PER_PARAM[p] < BYTES_PER_PARAM[precision]]
    return (precision, *smaller)


def _tp_allowed(model: Model, tp: int, node: int) -> bool:
    """vLLM shards attention heads over the tensor-parallel GPUs of a node: they must divide the heads."""
    return model.attention_heads % min(tp, node) == 0


def smallest_fits(model: Model, precision: str, context_tokens: int,
                  gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
                  kv_cache_dtype: str = "auto", max_num_seqs: int = DEFAULT_MAX_NUM_SEQS) -> list[tuple[str, int]]:
    """For every catalog GPU, the smallest group in 1, 2, 4, 8 GPUs (then 2 or 4 nodes of 8) that fits.

    Only tensor-parallel sizes that divide the attention heads are tried (vLLM's requirement); groups
    across nodes only for NVLink GPUs (PCIe cards in several nodes are not a serving setup worth
    suggesting). Sorted by total GPU memory of the configuration, then by count.
    """
    from cost.catalog import gpus

    out = []
    for g in gpus().values():
        node = gpus_per_node(g)
        for tp in TP_SIZES:
            if not _tp_allowed(model, tp, node) or (tp > node and (tp % node or g.id not in _NVLINK_GB_S)):
                continue
            if memory_fit(model, g, tp, precision, context_tokens, gpu_memory_utilization, kv_cache_dtype,
                          max_num_seqs=max_num_seqs).fits:
                out.append((g.id, tp, tp * g.memory_gib))
                break
    out.sort(key=lambda r: (r[2], r[1]))
    return [(gid, tp) for gid, tp, _ in out]


def _describe(gpu_id: str, n: int) -> str:
    from cost.catalog import gpu

    node = gpus_per_node(gpu(gpu_id))
    return f"{n}x {gpu_id}" + (f" ({n // node} nodes)" if n > node else "")


def require_fit(model: Model, gpu: Gpu, tp: int, precision: str, context_tokens: int,
                gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION, key: str = "gpus",
                kv_cache_dtype: str = "auto", expert_parallel: bool = False,
                max_num_seqs: int = DEFAULT_MAX_NUM_SEQS) -> MemoryFit:
    """The memory fit, or an InputError under ``key`` saying how many GB are missing and what fits
    (multi-node groups included, named with their node count)."""
    fit = memory_fit(model, gpu, tp, precision, context_tokens, gpu_memory_utilization, kv_cache_dtype, expert_parallel,
                     max_num_seqs)
    if fit.fits:
        return fit
    options = []
    for prec in _sensible_precisions(model, precision):
        found = smallest_fits(model, prec, context_tokens, gpu_memory_utilization, kv_cache_dtype, max_num_seqs)
        if found:
            options.append(f"{prec}: " + ", ".join(_describe(g, n) for g, n in found))
        else:
            options.append(f"{prec}: nothing up to 4 nodes")
    detail = (
        f"{model.id} at {precision} needs {fit.weights_gb:.1f} GB weights + {fit.runtime_overhead_gb:.1f} GB runtime"
        f" + {fit.context_tokens * fit.kv_bytes_per_token / GIB:.2f} GB KV for one {fit.context_tokens}-token sequence,"
        f" but {tp}x {gpu.id} gives {fit.usable_gb:.1f} GB at gpu_memory_utilization {gpu_memory_utilization:g}:"
        f" {fit.shortfall_gb:.1f} GB short"
    )
    raise InputError(key, f"{tp}x {gpu.id}", "smallest fitting configurations — " + "; ".join(options), detail)


# --- throughput -----------------------------------------------------------------------------------
def preemption_recompute_tokens(avg_input_tokens: float, avg_output_tokens: float, batch: float) -> float:
    """Tokens a request recomputes on average, through preemption, when the engine runs at its KV limit.

    vLLM 0.32 (vllm/v1/core/sched/scheduler.py `Scheduler.schedule`; vllm/v1/core/kv_cache_manager.py
    `allocate_slots`, admission watermark 0): each step the `batch` running requests first get the block their
    next token needs, from what the last step's completions freed plus what admission left free; the waiting
    queue is then admitted FCFS while the head's whole prompt fits, so admission leaves U free tokens, less than
    one prompt of I (taken as spread evenly over [0, I)). After a step with no completion (probability
    q = exp(-batch / O), completions being Poisson with mean batch / O a step) the next step's growth comes out of
    U alone, and a run of k such steps needs k x batch tokens. Past U the scheduler preempts the last admitted
    request; its blocks return to the free queue tail first and stay in the prefix cache (on by default,
    `CacheConfig.enable_prefix_caching`) until reused (vllm/v1/core/single_type_kv_cache_manager.py frees "in
    reverse order so that the tail blocks are evicted first"), so what is recomputed is the shortfall,
    E[(k x batch - U)+]. One run follows each step with a completion; per request, over the batch / O requests
    finishing a step. Near 0 when many requests finish every step; about O - I / 2 when few do."""
    inp, out, b = max(float(avg_input_tokens), 1.0), float(avg_output_tokens), max(float(batch), 1e-9)
    lam = b / out
    q = math.exp(-lam)                          # a step without a completion
    k0 = math.ceil(inp / b)                     # runs of k0 steps or more outgrow any U
    per_run = q ** k0 * (b * k0 - inp / 2 + b * q / (1 - q))    # sum over k >= k0 of (1 - q) q^k (k b - I / 2)
    k, qk = 1, q
    while k < k0 and qk > 1e-12:                # shorter runs: E[(k b - U)+] = (k b)^2 / (2 I)
        per_run += (1 - q) * qk * (k * b) ** 2 / (2 * inp)
        k, qk = k + 1, qk * q
    return (1 - q) * per_run / lam


def _weights_s(c: _Config, read: float, tokens: float, tp: int) -> float:
    """Seconds to stream a step's weights: `read` bytes once, plus the int4 Marlin weights again for every
    further MARLIN_M_SLICE tokens of the step."""
    again = c.sliced_bytes * (max(1, math.ceil(tokens / MARLIN_M_SLICE)) - 1)
    return (read + again) / tp / c.hbm_bytes_s


def _step(c: _Config, batch: float, prefill_tokens: float, ctx: float, prefill_ctx: float,
          tp: int, chunk: float | None = None, api_servers: int = 1,
          async_scheduling: bool = vllm_engine.DEPLOYED_ASYNC_SCHEDULING,
          v0_single_step: bool = False) -> tuple[float, tuple[tuple[str, float], ...]]:
    """Seconds for one engine step: `batch` decode tokens at average context `ctx`, plus on average
    `prefill_tokens` of chunked prefill whose average attention context is `prefill_ctx`.

    Prompts arrive in chunks of `chunk` tokens (None: spread evenly over the steps): a share
    prefill_tokens / chunk of the steps carries one chunk, the others none. Averaging the tokens
    before the roofline would hide a prompt under the weight read that it does not fit under.

    Across nodes (pipeline parallel) the batch runs as one micro-batch per stage: each stage reads its
    weights once per micro-batch, so a step is `nodes` stage-steps of batch/nodes plus the hops.

    The per-sequence CPU time is the front end's per-token work (detokenising, streaming), which
    `api_servers` processes (vLLM --api-server-count) share.

    async_scheduling: the engine overlaps a step's CPU work with the previous step's GPU work
    (cost/physics/vllm_engine.py): the scheduler's per-step time and the share s = factors.async_per_seq_overlap of
    the per-sequence time hide behind the GPU time, step = (1 - s) per-seq + max(GPU, sched + s per-seq), and
    "scheduler/cpu" is the CPU time the GPU still waits on; without it CPU and GPU time add.

    v0_single_step: vLLM's V0 engine with its single-step scheduler, which adds its scheduler, input preparation and
    sampled-token copy in series, per step and per running sequence (cost/physics/vllm_engine.py `single_step_cpu`).
    """
    n = c.nodes
    b = batch / n
    p = prefill_tokens / n
    tokens = b + p
    # Weights are read once per (micro-)step: the always-active part whole, the routed experts only as
    # far as this step's decode tokens touch them, the input embedding not at all (a gather of the step's
    # token rows). A prompt's prefill reads the experts once per request, small next to O decode steps;
    # it is left to the prefill compute term.
    read = c.weights_bytes - c.expert_bytes - c.lookup_bytes
    if c.expert_bytes:
        read += c.expert_bytes * _expert_touch_share(c, b, tp // n) * c.expert_read_scale
    t_weights = _weights_s(c, read, b, tp)
    # Tensor parallelism: each GPU streams its own 1/tp shard of the weights and of the KV from its own HBM, in
    # parallel, at the full rate (no loss). What a shard loses is compute efficiency (smaller, less efficient GEMM
    # and attention tiles), so tp_efficiency divides only the compute-bound times; the all-reduces and the per-layer
    # kernels that do not shrink with tp are their own terms (t_comm, t_layers).
    eff = c.tp_efficiency
    # Chunked prefill runs the step's prompt tokens through the same GEMMs as its decode tokens: one
    # weight read, one roofline over all the step's tokens. `prefill` is what the prompt tokens add.
    t_decode_gemm = b * c.flops_per_token / tp / c.gemm_flops_s / eff
    t_lin_decode = max(t_weights, t_decode_gemm)
    size = p if not chunk or p >= chunk else chunk     # tokens of a step that carries prefill
    share = 1.0 if not size else p / size              # share of the steps that carry it
    t_lin = (1.0 - share) * t_lin_decode + share * max(_weights_s(c, read, b + size, tp),
                                                       t_decode_gemm + size * c.prefill_flops_per_token / tp / c.prefill_flops_s / eff)
    t_kv = b * c.kv_tokens(ctx) * c.kv_bytes_token_gpu / c.kv_read_bytes_s
    t_decode_attn_flops = b * c.attn_flops(ctx) / tp / c.attn_flops_s / eff
    t_prefill_attn = p * c.attn_flops(prefill_ctx, prefill=True) / tp / c.attn_prefill_flops_s / eff
    t_gemm = n * t_lin_decode
    t_attn = n * max(t_kv, t_decode_attn_flops)
    t_layers = n * c.layer_fixed_s
    t_prefill = n * (t_lin - t_lin_decode + t_prefill_attn)
    t_comm = n * (c.ar_per_step_fixed_s + tokens * c.ar_bytes_per_token_s + c.hop_fixed_s + tokens * c.hop_per_token_s)
    t_sched = n * c.factors.step_overhead_s                              # the engine core's per-step work
    t_front = batch * c.factors.per_seq_overhead_s / api_servers         # per running sequence (the front end's)
    t_gpu = t_gemm + t_attn + t_layers + t_prefill + t_comm
    t_cpu = t_sched + t_front                                            # the CPU time the GPU waits on
    if v0_single_step:       # V0 single-step: its CPU work per step, in series (cost/data/vllm-engines.yaml)
        t_cpu += vllm_engine.single_step_cpu().seconds(batch)
    if async_scheduling:     # what overlaps hides behind the GPU work of the step before; the rest stays in series
        hidden = t_sched + c.factors.async_per_seq_overlap * t_front
        t_cpu = t_cpu - hidden + max(0.0, hidden - t_gpu)
    return t_gpu + t_cpu, (("weights/gemm", t_gemm), ("kv-attention", t_attn), ("layer kernels", t_layers),
                           ("prefill", t_prefill), ("all-reduce", t_comm), ("scheduler/cpu", t_cpu))


@lru_cache(maxsize=8192, typed=True)   # pure in its (hashable) arguments; estimates of the same hardware repeat it
def throughput(model: Model, gpu: Gpu, tp: int, precision: str, avg_input_tokens: float, avg_output_tokens: float,
               *, concurrency: int | None = None, tpot_target_s: float | None = None,
               gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION,
               max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
               length_cv: float | None = None, factors: Factors | None = None,
               kv_cache_dtype: str = "auto", expert_parallel: bool = False,
               prefix_cache_hit_rate: float = 0.0, api_servers: int = 1,
               async_scheduling: bool = vllm_engine.DEPLOYED_ASYNC_SCHEDULING,
               v0_single_step: bool = False) -> Throughput:
    """Sustained output tokens/s of one replica serving requests of the given average shape.

    concurrency: requests in flight (closed loop); None = as many as KV cache and max_num_seqs allow.
    tpot_target_s: the largest concurrency whose time per output token meets the target.
    length_cv: coefficient of variation of output lengths; None = real-traffic default
    (factors.real_traffic_length_cv), 0 = fixed-length benchmark traffic.
    factors: the efficiency factors; None = the published fit.
    kv_cache_dtype: "auto" (16-bit) or "fp8": KV capacity and the KV read per step.
    expert_parallel: MoE experts placed whole on GPUs (vLLM --enable-expert-parallel) instead of split.
    prefix_cache_hit_rate: share of prompt tokens found in vLLM's prefix cache (RAG / chat reuse); they
    are not recomputed (the rest still attends to them), so prefill work and TTFT shrink. KV held is
    unchanged (sharing cached blocks between running requests is not modelled).
    api_servers: vLLM --api-server-count; they share the front end's per-sequence CPU time
    (factors.per_seq_overhead_s), and each streams at most API_SERVER_TOKENS_S output tokens/s
    (limited_by "api-server" when that, not the GPUs, caps the replica).
    async_scheduling: the engine overlaps each step's scheduler time, and the share factors.async_per_seq_overlap of
    its per-sequence time, with the GPU work of the step before (`_step`); default: what the deployed vLLM does
    (cost/physics/vllm_engine.py).
    v0_single_step: price the step of vLLM's V0 single-step engine (vLLM 0.6-0.7 by default; `_step`), for
    measurements of it; the deployed engine is not.
    Raises InputError (key "gpus") when the model does not fit with one request's context.
    """
    inp = float(avg_input_tokens)
    out = float(avg_output_tokens)
    if not (inp >= 0 and out >= 1):
        raise InputError("avg_output_tokens" if out < 1 else "avg_input_tokens",
                         avg_output_tokens if out < 1 else avg_input_tokens, "a positive number of tokens")
    if max_num_seqs < 1:
        raise InputError("max_num_seqs", max_num_seqs, "a positive whole number")
    hit = prefix_cache_hit_rate
    if isinstance(hit, bool) or not isinstance(hit, (int, float)) or not 0.0 <= hit < 1.0:
        raise InputError("prefix_cache_hit_rate", hit, "a fraction in [0, 1): the share of prompt tokens served from the prefix cache")
    if isinstance(api_servers, bool) or not isinstance(api_servers, int) or api_servers < 1:
        raise InputError("api_servers", api_servers, "a positive whole number of API-server processes")
    f = factors or published()
    cv = f.real_traffic_length_cv if length_cv is None else max(0.0, float(length_cv))
    fit = require_fit(model, gpu, tp, precision, math.ceil(inp + out), gpu_memory_utilization,
                      kv_cache_dtype=kv_cache_dtype, expert_parallel=expert_parallel, max_num_seqs=max_num_seqs)
    c = _config(model, gpu, tp, precision, f, kv_cache_dtype, expert_parallel)

    # KV held by a running sequence: its prompt plus the output generated so far (blocks are allocated as tokens
    # are generated, see the module docstring), averaged over the running sequences, which the tail length-biases:
    # I + O (1 + cv^2) / 2, not each one's final I + O; plus the half block paged attention wastes on average
    # (window layers: at most their window).
    kv_ctx = inp + out * (1.0 + cv * cv) / 2.0
    kv_held = c.kv_tokens(kv_ctx) + KV_BLOCK_TOKENS / 2
    kv_limit = max(1, int(fit.kv_capacity_tokens * f.kv_admission_fill // kv_held))
    max_conc = min(max_num_seqs, kv_limit)
    cap_reason = "kv-cache" if kv_limit < max_num_seqs else "max-num-seqs"

    computed = inp * (1.0 - hit)           # prompt tokens actually prefilled
    prefill_per_out = computed / out       # prefill tokens interleaved per decode token
    prefill_ctx = inp * hit + computed / 2.0   # average context a prefilled token attends to

    def chunk_at(b: float) -> float:
        return min(computed, max(KV_BLOCK_TOKENS, c.step_tokens - b))

    def step_at(b: float) -> float:
        return _step(c, b, b * prefill_per_out, kv_ctx, prefill_ctx, tp, chunk_at(b), api_servers, async_scheduling,
                     v0_single_step)[0]

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

    # A full pool (the engine at its KV limit) grows by preempting: the preempted requests' tokens are
    # prefilled again, like prompts (preemption_recompute_tokens).
    per_out = prefill_per_out
    if cap_reason == "kv-cache" and conc >= max_conc:
        per_out += preemption_recompute_tokens(inp, out, conc) / out
    step, parts = _step(c, conc, conc * per_out, kv_ctx, prefill_ctx, tp, chunk_at(conc), api_servers, async_scheduling,
                        v0_single_step)
    tok_s = conc / step * f.serving_efficiency
    if tok_s > api_servers * API_SERVER_TOKENS_S:
        tok_s, reason = api_servers * API_SERVER_TOKENS_S, "api-server"
        step = conc / tok_s                  # the engine waits on the front end: each token takes longer
    # TTFT: the uncached part of the prompt is prefilled in chunks of the step token budget left after
    # the decodes, one chunk per step, each step also carrying the running batch.
    alone = _step(c, 0, computed, 0.0, prefill_ctx, tp, None, 1, async_scheduling, v0_single_step)[0]
    budget = max(KV_BLOCK_TOKENS, c.step_tokens - conc)
    chunks = max(1, math.ceil(computed / budget))
    if conc <= 1:
        ttft = alone
    else:
        ttft = chunks * _step(c, conc - 1, min(computed, budget), kv_ctx, prefill_ctx, tp, None, api_servers,
                              async_scheduling, v0_single_step)[0] + 0.5 * step
    return Throughput(
        concurrency=conc, max_concurrency=max_conc, output_tok_s=tok_s, ttft_s=ttft, tpot_s=step,
        decode_step_s=step, prefill_s_per_request=alone, limited_by=reason, kv_context_tokens=kv_ctx,
        step_breakdown=parts,
    )


def hbm_roofline_tok_s(model: Model, gpu: Gpu, tp: int, precision: str) -> float:
    """Batch-1 decode ceiling: HBM bandwidth of the group / bytes of weights read per token
    (MoE: the always-active weights plus the top-k experts of each MoE layer; never the untied
    input-embedding table, of which a step gathers one row per token)."""
    c = _config(model, gpu, tp, precision, published())
    read = c.weights_bytes - c.expert_bytes - c.lookup_bytes + c.expert_bytes * c.expert_hit
    if not c.expert_bytes and c.active_fraction < 1:      # MoE without expert dimensions in the catalog
        read = c.weights_bytes * c.active_fraction
    return tp * gpu.hbm_gb_s * 1e9 / read


def decode_step(model: Model, gpu: Gpu, tp: int, precision: str, batch: int, context: float,
                factors: Factors | None = None,
                async_scheduling: bool = vllm_engine.DEPLOYED_ASYNC_SCHEDULING,
                v0_single_step: bool = False) -> dict[str, float]:
    """Seconds of one pure decode step (no prefill) by cause, as `throughput` models it:
    `batch` sequences each holding `context` tokens of KV. Keys as in Throughput.step_breakdown."""
    c = _config(model, gpu, tp, precision, factors or published())
    return dict(_step(c, float(batch), 0.0, float(context), 0.0, tp, None, 1, async_scheduling, v0_single_step)[1])
