"""Capacity physics for today's open models: checkpoint-accurate weights, MoE expert reads, MLA and
window KV, the KV-cache dtype, multi-node groups and the prefix cache."""

from __future__ import annotations

import pytest

from cost import catalog
from cost.catalog import checkpoints
from cost.errors import InputError
from cost.physics import capacity
from cost.physics.factors import published

H100 = catalog.gpu("H100")
H200 = catalog.gpu("H200")
L40S = catalog.gpu("L40S")
OSS120 = catalog.model("gpt-oss-120b")
OSS20 = catalog.model("gpt-oss-20b")
DSV3 = catalog.model("deepseek-v3")
Q30 = catalog.model("qwen3-30b-a3b")
Q32 = catalog.model("qwen3-32b")

FILES = sorted(k for k, c in checkpoints.checkpoints().items() if c.bytes_from == "files")


def test_the_size_check_covers_the_checkpoints_whose_size_was_read():
    assert {("gpt-oss-20b", "mxfp4"), ("gpt-oss-120b", "mxfp4"), ("deepseek-v3", "fp8"),
            ("llama-3.1-8b", "fp8"), ("llama-3.1-70b", "int4-awq")} <= set(FILES)
    # issue 12's new models: every one is held to the size its repository ships, not to an estimate
    assert {(m, "bf16") for m in ("qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b",
                                  "llama-4-scout", "llama-4-maverick")} <= set(FILES)


@pytest.mark.parametrize("mid,precision", FILES, ids=lambda v: v)
def test_weight_bytes_match_the_published_checkpoint_within_5_percent(mid, precision):
    """What the memory fit loads is what the repository ships (mxfp4 experts + bf16 rest for gpt-oss,
    block-fp8 for DeepSeek-V3 whose 688.6 GB also carries the 14B MTP module vLLM skips), for every
    checkpoint whose size was read from its files or model card (estimates are not a check)."""
    fit = capacity.memory_fit(catalog.model(mid), H200, 8, precision, 1024)
    assert fit.weights_gb * 2**30 == pytest.approx(checkpoints.checkpoints()[(mid, precision)].bytes, rel=0.05)


def test_mxfp4_quantizes_only_the_experts_and_needs_them():
    experts, other = capacity._expert_and_other_bytes(OSS120, "mxfp4")
    assert experts == pytest.approx(OSS120.expert_params_b * 1e9 * 4.25 / 8)
    assert other == pytest.approx((OSS120.params_b - OSS120.expert_params_b) * 1e9 * 2)
    with pytest.raises(InputError) as e:
        capacity.memory_fit(Q32, H100, 1, "mxfp4", 1024)
    assert e.value.key == "precision"
    assert capacity.memory_fit(OSS120, H100, 1, "mxfp4", 8192).fits      # one 80 GB GPU, as OpenAI says


def test_expected_distinct_experts_per_step():
    """E x (1 - (1 - k/E)^b) experts per MoE layer: k at batch 1, all of them at large batch."""
    c = capacity._config(Q30, H100, 1, "bf16", published())
    for b in (1, 4, 32, 256):
        expected = Q30.experts * (1 - (1 - Q30.experts_per_token / Q30.experts) ** b)
        assert capacity._expert_touch_share(c, b, 1) * Q30.experts == pytest.approx(expected)
    assert capacity._expert_touch_share(c, 1, 1) * Q30.experts == pytest.approx(8)
    assert capacity._expert_touch_share(c, 256, 1) > 0.99


def test_moe_decode_reads_touched_experts_not_all_weights():
    """Batch-1 decode of gpt-oss-120b reads ~5 B params' bytes, not 117 B: tokens/s far above a dense
    model of the same size, and the weight time grows with the batch as more experts are touched."""
    c = capacity._config(OSS120, H100, 1, "mxfp4", published())
    t1 = dict(capacity._step(c, 1, 0, 1000, 0, 1)[1])["weights/gemm"]
    t64 = dict(capacity._step(c, 64, 0, 1000, 0, 1)[1])["weights/gemm"]
    full = c.weights_bytes / c.hbm_bytes_s
    assert t1 < 0.15 * full
    assert t1 < t64 <= full * 1.001


def test_expert_parallel_waits_for_the_busiest_gpu():
    """At small batch, EP's busiest GPU reads more than an even TP split; at large batch they meet."""
    tp = capacity._config(Q30, H100, 4, "bf16", published())
    ep = capacity._config(Q30, H100, 4, "bf16", published(), "auto", True)
    assert capacity._expert_touch_share(ep, 2, 4) > capacity._expert_touch_share(tp, 2, 4)
    assert capacity._expert_touch_share(ep, 512, 4) == pytest.approx(capacity._expert_touch_share(tp, 512, 4), abs=0.01)
    assert capacity.throughput(Q30, H100, 4, "bf16", 600, 400, concurrency=4, expert_parallel=True).output_tok_s \
        < capacity.throughput(Q30, H100, 4, "bf16", 600, 400, concurrency=4).output_tok_s


def test_mla_kv_is_the_compressed_latent_and_not_sharded_by_tp():
    assert capacity.kv_bytes_per_token(DSV3) == 61 * (512 + 64) * 2 == 70_272
    c8 = capacity._config(DSV3, H200, 8, "fp8", published())
    assert c8.kv_bytes_token_gpu == 70_272      # every GPU holds the whole latent
    # a GQA model's KV shards over the group
    assert capacity._config(Q32, H100, 8, "bf16", published()).kv_bytes_token_gpu == 64 * 2 * 1 * 128 * 2


def test_mla_prompts_run_unabsorbed_and_decodes_absorbed():
    """vLLM 0.32 (model_executor/layers/attention/mla_attention.py): prompts take the compute-friendly path, the latent
    expanded to per-head K (nope + rope dims) and V, decodes the data-movement-friendly one over the latent."""
    c = capacity._config(DSV3, H200, 8, "fp8", published())
    per_head_prefill = 128 + 64 + 128            # q.k over qk_nope + qk_rope, p.v over v_head_dim
    per_head_decode = 2 * 512 + 64               # q.k over kv_lora + rope, p.v over kv_lora
    assert c.attn_flops(1000, prefill=True) / c.attn_flops(1000) == pytest.approx(per_head_prefill / per_head_decode)
    assert capacity._config(Q32, H100, 1, "bf16", published()).attn_prefill_scale == 1.0    # GQA: one path


def test_attention_runs_at_16_bit_whatever_the_weights_are_quantized_to():
    """Weight quantization reaches the linear and MoE layers, not attention (vLLM's Attention takes only a KV-cache
    scale from the quantization config): fp8 weights do not make attention run at the fp8 peak, nor do weight-only
    int4 / MXFP4 weights slow it down."""
    rates = {p: capacity._config(DSV3, H200, 8, p, published()).attn_flops_s for p in ("fp8", "int4-awq")}
    assert rates["fp8"] == rates["int4-awq"] == H200.bf16_tflops * 1e12 * published().gemm_mfu
    oss = capacity._config(OSS120, H100, 1, "mxfp4", published())
    assert oss.attn_prefill_flops_s > oss.prefill_flops_s     # the experts' dequantization does not slow attention


def test_window_layers_hold_at_most_their_window():
    """gpt-oss: half the layers keep 128 tokens, so a 32k sequence holds about half the KV of full attention."""
    fit = capacity.memory_fit(OSS120, H100, 1, "mxfp4", 32768)
    c = capacity._config(OSS120, H100, 1, "mxfp4", published())
    held = c.kv_tokens(32768)
    assert held == pytest.approx((32768 * 18 + (128 + 16) * 18) / 36)
    assert fit.max_sequences_at_context == int(fit.kv_capacity_tokens // held)
    assert fit.max_sequences_at_context >= 2 * (fit.kv_capacity_tokens // 32768) - 1
    assert c.kv_tokens(100) == pytest.approx(100)       # short sequences: every layer holds all of it


def test_fp8_kv_cache_halves_kv_bytes_and_doubles_capacity():
    auto = capacity.memory_fit(Q32, H100, 1, "fp8", 4096)
    fp8 = capacity.memory_fit(Q32, H100, 1, "fp8", 4096, kv_cache_dtype="fp8")
    assert fp8.kv_bytes_per_token * 2 == auto.kv_bytes_per_token
    assert fp8.kv_capacity_tokens == pytest.approx(2 * auto.kv_capacity_tokens, rel=0.001)
    slow = capacity.throughput(Q32, H100, 1, "fp8", 4000, 500, concurrency=32)
    fast = capacity.throughput(Q32, H100, 1, "fp8", 4000, 500, concurrency=32, kv_cache_dtype="fp8")
    assert fast.output_tok_s > slow.output_tok_s      # half the KV read per step
    with pytest.raises(InputError) as e:
        capacity.memory_fit(Q32, H100, 1, "fp8", 4096, kv_cache_dtype="int8")
    assert e.value.key == "kv_cache_dtype"


def test_too_big_for_one_node_is_offered_across_nodes():
    with pytest.raises(InputError) as e:
        capacity.require_fit(DSV3, H100, 8, "fp8", 4096)
    assert "16x H100 (2 nodes)" in str(e.value)
    fit = capacity.require_fit(DSV3, H100, 16, "fp8", 4096)
    assert fit.nodes == 2 and fit.gpus_per_node == 8
    t = capacity.throughput(DSV3, H100, 16, "fp8", 600, 400)
    assert t.output_tok_s > 0
    with pytest.raises(InputError) as e:
        capacity.memory_fit(DSV3, H100, 12, "fp8", 4096)
    assert e.value.key == "gpus"


def test_prefix_cache_removes_prefill_work_and_ttft():
    base = capacity.throughput(Q32, H100, 1, "fp8", 4000, 200, concurrency=16)
    cached = capacity.throughput(Q32, H100, 1, "fp8", 4000, 200, concurrency=16, prefix_cache_hit_rate=0.75)
    assert cached.output_tok_s > 1.2 * base.output_tok_s
    assert cached.ttft_s < 0.5 * base.ttft_s
    assert dict(cached.step_breakdown)["prefill"] < 0.35 * dict(base.step_breakdown)["prefill"]
    for bad in (1.0, -0.1, True):
        with pytest.raises(InputError) as e:
            capacity.throughput(Q32, H100, 1, "fp8", 4000, 200, prefix_cache_hit_rate=bad)
        assert e.value.key == "prefix_cache_hit_rate"
