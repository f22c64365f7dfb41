"""The capacity model: memory fit, KV cache, batching and latency targets."""

from __future__ import annotations

import pytest

from cost import catalog
from cost.errors import InputError
from cost.physics import capacity
from cost.physics.factors import published

L70 = catalog.model("llama-3.1-70b")
L8 = catalog.model("llama-3.1-8b")
A100 = catalog.gpu("A100-80GB")
A100_40 = catalog.gpu("A100-40GB")
H100 = catalog.gpu("H100")


def test_kv_bytes_per_token_llama_70b_bf16():
    assert capacity.kv_bytes_per_token(L70) == 2 * 80 * 8 * 128 * 2 == 327_680
    assert capacity.memory_fit(L70, A100, 2, "bf16", 8192).kv_bytes_per_token == 327_680
    # fp8 weights keep a 16-bit KV cache (vLLM's --kv-cache-dtype auto)
    assert capacity.memory_fit(L70, H100, 2, "fp8", 8192).kv_bytes_per_token == 327_680
    assert capacity.kv_bytes_per_token(L8) == 2 * 32 * 8 * 128 * 2 == 131_072


def test_weights_by_precision():
    bf16 = capacity.weight_bytes(L70, "bf16")
    assert bf16 == pytest.approx(70.55e9 * 2)
    fp8 = capacity.weight_bytes(L70, "fp8")
    awq = capacity.weight_bytes(L70, "int4-awq")
    # quantized checkpoints keep embeddings and LM head in 16-bit, and AWQ carries group scales
    assert 70.55e9 < fp8 < 0.55 * bf16
    assert 70.55e9 * 0.5 * 1.039 < awq < 0.3 * bf16


def test_70b_bf16_does_not_fit_one_a100_and_the_error_names_what_does():
    fit = capacity.memory_fit(L70, A100, 1, "bf16", 8192)
    assert not fit.fits
    assert fit.shortfall_gb > 55          # 131 GiB of weights into 72 GiB usable
    with pytest.raises(InputError) as err:
        capacity.require_fit(L70, A100, 1, "bf16", 8192)
    e = err.value
    assert e.key == "gpus"
    assert e.value == "1x A100-80GB"
    assert "2x A100-80GB" in e.allowed
    assert "GB short" in e.detail
    assert f"{fit.shortfall_gb:.1f} GB short" in str(e)
    # quantized alternatives are offered too: int4 fits one A100-80GB; fp8 (68 GiB of weights) leaves too little
    # of the 72 GiB for the runtime, the sampler warm-up and one 8K sequence, so it needs two
    fp8_options = e.allowed.split("fp8: ")[1].split(";")[0]
    assert "int4-awq: 1x A100-80GB" in e.allowed and "2x A100-80GB" in fp8_options


def test_require_fit_key_is_configurable():
    with pytest.raises(InputError) as err:
        capacity.require_fit(L70, A100, 1, "bf16", 4096, key="models[0].gpus")
    assert err.value.key == "models[0].gpus"


def test_70b_bf16_fits_two_a100s_but_holds_tens_not_hundreds_of_requests():
    fit = capacity.require_fit(L70, A100, 2, "bf16", 8192)
    assert fit.fits and fit.shortfall_gb == 0
    assert fit.usable_gb == pytest.approx(2 * 80 * 0.9)
    assert fit.weights_gb == pytest.approx(70.55e9 * 2 / 2**30)
    # ~9 GiB of KV left: ~29k tokens, i.e. three 8k-token sequences
    assert 20_000 < fit.kv_capacity_tokens < 40_000
    assert fit.kv_capacity_tokens % capacity.KV_BLOCK_TOKENS == 0
    assert 2 <= fit.max_sequences_at_context <= 4
    # The seeds claim ~200-400 concurrent requests on 2x A100-80GB. At 600 in / 400 out the KV cache
    # holds ~26-36 of them (with / without the length tail of real traffic).
    real = capacity.throughput(L70, A100, 2, "bf16", 600, 400)
    fixed = capacity.throughput(L70, A100, 2, "bf16", 600, 400, length_cv=0)
    assert real.limited_by == fixed.limited_by == "kv-cache"
    assert 15 <= real.max_concurrency < fixed.max_concurrency <= 60
    assert fixed.max_concurrency < 200


def test_batch_one_decode_is_near_the_hbm_roofline():
    for model, gpu, tp in ((L8, A100_40, 1), (L8, H100, 1), (L70, H100, 4)):
        roof = capacity.hbm_roofline_tok_s(model, gpu, tp, "bf16")
        one = capacity.throughput(model, gpu, tp, "bf16", 1024, 128, concurrency=1, length_cv=0)
        decode_rate = 1 / one.tpot_s
        assert decode_rate < roof
        if tp == 1:   # within 10-35 % of the roofline on one GPU (Qwen3-8B on H100, vLLM 0.11: 133 tok/s = 0.65)
            assert 0.6 <= decode_rate / roof <= 0.9, (gpu.id, decode_rate, roof)
        else:         # tensor parallelism at batch 1 loses more (all-reduces, rank skew)
            assert 0.35 <= decode_rate / roof <= 0.7
    # the roofline streams every weight but the input embedding (128,256 x 4,096, gathered a row per token):
    # the measured 75 tok/s on A100-40GB is 72 % of 103.6
    assert capacity.hbm_roofline_tok_s(L8, A100_40, 1, "bf16") == pytest.approx(1555e9 / ((8.03e9 - 128256 * 4096) * 2))


def test_a_decode_step_streams_every_weight_but_the_input_embedding():
    f = published()
    step = capacity.decode_step(L8, H100, 1, "bf16", 1, 1024)
    streamed = capacity.weight_bytes(L8, "bf16") - L8.vocab_size * L8.hidden_size * 2
    assert step["weights/gemm"] == pytest.approx(streamed / (H100.hbm_gb_s * 1e9 * f.hbm_efficiency))


def test_api_servers_share_the_front_ends_per_sequence_cpu():
    f = published()
    # an engine that schedules synchronously (vLLM < 0.14) waits on all of it: the breakdown shows the whole term
    one, four = (capacity.throughput(L8, H100, 1, "bf16", 600, 400, concurrency=256, api_servers=n, async_scheduling=False)
                 for n in (1, 4))
    cpu = {n: dict(t.step_breakdown)["scheduler/cpu"] for n, t in ((1, one), (4, four))}
    assert cpu[1] == pytest.approx(f.step_overhead_s + 256 * f.per_seq_overhead_s)
    assert cpu[4] == pytest.approx(f.step_overhead_s + 256 * f.per_seq_overhead_s / 4)
    assert four.output_tok_s > one.output_tok_s
    single = [capacity.throughput(L8, H100, 1, "bf16", 600, 400, concurrency=1, api_servers=n).output_tok_s for n in (1, 4)]
    assert single[1] == pytest.approx(single[0], rel=0.01)      # one stream: the front end is not what it waits on


def test_throughput_rises_with_concurrency_but_sublinearly():
    prev = None
    for c in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        t = capacity.throughput(L8, H100, 1, "bf16", 600, 400, concurrency=c)
        assert t.concurrency == c and t.limited_by == "requested"
        if prev is not None:
            assert prev.output_tok_s < t.output_tok_s < 2 * prev.output_tok_s
            assert t.tpot_s > prev.tpot_s       # each user gets slower
        prev = t
    one = capacity.throughput(L8, H100, 1, "bf16", 600, 400, concurrency=1).output_tok_s
    assert prev.output_tok_s < 0.5 * 256 * one   # far from linear at 256 ...
    # ... and far below the plain HBM roofline x batch that calculators report
    assert prev.output_tok_s < 256 * capacity.hbm_roofline_tok_s(L8, H100, 1, "bf16") / 5


def test_requested_concurrency_above_the_cap_is_clamped():
    t = capacity.throughput(L70, A100, 2, "bf16", 600, 400, concurrency=300)
    assert t.concurrency == t.max_concurrency < 300
    assert t.limited_by == "kv-cache"
    big = capacity.throughput(L8, H100, 1, "bf16", 200, 200, length_cv=0)
    assert big.max_concurrency == 256 and big.limited_by == "max-num-seqs"
    more = capacity.throughput(L8, H100, 1, "bf16", 200, 200, length_cv=0, max_num_seqs=1024)
    assert more.max_concurrency > 256 and more.output_tok_s > big.output_tok_s


def test_tpot_target_lowers_concurrency():
    free = capacity.throughput(L8, H100, 1, "bf16", 600, 400)
    target = 0.02
    assert free.tpot_s > target
    t = capacity.throughput(L8, H100, 1, "bf16", 600, 400, tpot_target_s=target)
    assert t.limited_by == "tpot-target"
    assert 1 < t.concurrency < free.concurrency
    assert t.tpot_s <= target
    assert capacity.throughput(L8, H100, 1, "bf16", 600, 400, concurrency=t.concurrency + 1).tpot_s > target
    assert t.output_tok_s < free.output_tok_s
    loose = capacity.throughput(L8, H100, 1, "bf16", 600, 400, tpot_target_s=10.0)
    assert loose.concurrency == free.concurrency


def test_unreachable_tpot_target_is_reported():
    t = capacity.throughput(L70, A100, 2, "bf16", 600, 400, tpot_target_s=0.01)
    assert t.concurrency == 1 and t.limited_by == "tpot-target-unmet"
    assert t.tpot_s > 0.01


def test_length_tail_holds_more_kv_per_request():
    fixed = capacity.throughput(L8, A100, 1, "bf16", 500, 1500, length_cv=0)
    tail = capacity.throughput(L8, A100, 1, "bf16", 500, 1500, length_cv=1.0)
    assert tail.kv_context_tokens == pytest.approx(500 + 1500)
    assert fixed.kv_context_tokens == pytest.approx(500 + 750)
    assert tail.max_concurrency < fixed.max_concurrency
    default = capacity.throughput(L8, A100, 1, "bf16", 500, 1500)
    assert default.kv_context_tokens == pytest.approx(500 + 1500 * (1 + published().real_traffic_length_cv**2) / 2)


def test_latency_fields_are_consistent():
    t = capacity.throughput(L8, A100, 1, "bf16", 2000, 200, concurrency=16)
    assert t.tpot_s == t.decode_step_s > 0
    assert t.ttft_s >= t.prefill_s_per_request > 0
    assert sum(v for _, v in t.step_breakdown) == pytest.approx(t.decode_step_s)
    alone = capacity.throughput(L8, A100, 1, "bf16", 2000, 200, concurrency=1)
    assert alone.ttft_s == pytest.approx(alone.prefill_s_per_request)
    assert t.ttft_s > alone.ttft_s          # queued behind the running batch


def test_tensor_parallel_scaling_is_below_linear_and_diminishes():
    # same load (16 requests in flight, which all three hold): each doubling of the GPUs buys less than 2x, and less
    # than the doubling before, since the per-layer kernels and the all-reduces do not shrink with tp
    two, four, eight = (capacity.throughput(L70, H100, tp, "bf16", 600, 400, concurrency=16).output_tok_s for tp in (2, 4, 8))
    assert two < four < eight
    assert four < 2 * two and eight < 2 * four
    assert eight / four < four / two


def test_a_tensor_parallel_shard_streams_at_the_full_rate_and_pays_per_layer_costs():
    # Each GPU streams its own 1/tp of the weights and of the KV from its own HBM, in parallel: at batch 1 a 4-way
    # shard reads in a quarter of one GPU's time (Qwen2.5-72B at TP 4 and Qwen2.5-7B at TP 1, one engine on one GPU,
    # read alike only so: cost/data/MEASUREMENTS.md "Tensor-parallel scaling"); the per-layer kernels stay whole and two
    # all-reduces per layer come on top, at the sourced NVLink latency.
    one, four = (capacity.decode_step(L70, H100, tp, "fp8", 1, 1000) for tp in (1, 4))
    assert four["weights/gemm"] == pytest.approx(one["weights/gemm"] / 4)
    assert four["kv-attention"] == pytest.approx(one["kv-attention"] / 4)
    assert four["layer kernels"] == one["layer kernels"]
    assert one["all-reduce"] == 0
    assert four["all-reduce"] == pytest.approx(2 * L70.layers * published().allreduce_latency_nvlink_s, rel=0.01)


def test_tensor_parallel_efficiency_slows_only_compute_bound_gemms():
    # at 1,024 decode tokens a step the GEMMs are compute-bound: a 2-way shard does half the FLOPs at
    # tp_efficiency_per_doubling of the rate (smaller tiles), so it takes 1 / (2 x that) of one GPU's time
    one, two = (capacity.decode_step(L70, H100, tp, "fp8", 1024, 1000)["weights/gemm"] for tp in (1, 2))
    assert two == pytest.approx(one / (2 * published().tp_efficiency_per_doubling))


def test_moe_reads_only_the_touched_experts_at_small_batch():
    mixtral = catalog.model("mixtral-8x7b")
    one = capacity.throughput(mixtral, A100, 2, "bf16", 200, 200, concurrency=1, length_cv=0)
    dense_equiv = capacity.hbm_roofline_tok_s(mixtral, A100, 2, "bf16") * mixtral.active_params_b / mixtral.params_b
    assert 1 / one.tpot_s > 1.5 * dense_equiv   # far faster than streaming all 46.7B parameters


def test_bad_inputs_name_their_key():
    with pytest.raises(InputError) as err:
        capacity.memory_fit(L8, H100, 1, "int3", 4096)
    assert err.value.key == "precision"
    with pytest.raises(InputError) as err:
        capacity.memory_fit(L8, H100, 0, "bf16", 4096)
    assert err.value.key == "gpus"
    with pytest.raises(InputError) as err:
        capacity.throughput(L8, H100, 1, "bf16", 100, 100, concurrency=0)
    assert err.value.key == "concurrency"
    with pytest.raises(InputError) as err:
        capacity.throughput(L8, H100, 1, "bf16", 100, 100, tpot_target_s=0)
    assert err.value.key == "tpot_target_s"
    with pytest.raises(InputError) as err:   # a context the KV cache cannot hold once
        capacity.throughput(L70, A100, 2, "bf16", 100_000, 1000)
    assert err.value.key == "gpus"


def test_step_token_budget_is_vllms_default_for_the_gpu():
    # vLLM 0.32 vllm/engine/arg_utils.py: OpenAI-server defaults by device memory and name (the chart sets none)
    budget = {g: capacity.max_num_batched_tokens(catalog.gpu(g)) for g in ("B200", "H200", "H100", "A100-80GB", "L40S", "L4")}
    assert budget == {"B200": 16384, "H200": 8192, "H100": 8192, "A100-80GB": 2048, "L40S": 2048, "L4": 2048}
    # the bigger budget reserves more activation memory, so an H100 holds less KV than its 80 GB alone would give
    h100, a100 = (capacity.memory_fit(L8, catalog.gpu(g), 1, "bf16", 4096) for g in ("H100", "A100-80GB"))
    assert h100.kv_capacity_tokens < a100.kv_capacity_tokens


@pytest.mark.parametrize("model_id, precision, tp, logged_gib", [
    ("gpt-oss-20b", "mxfp4", 1, 50.28),   # the two rows SAMPLER_BYTES_PER_LOGIT is read from ...
    ("qwen3-32b", "bf16", 1, 4.45),
    ("qwen3-32b", "bf16", 2, 34.49),      # ... and one it was not: TP 2 keeps full-vocabulary logits per GPU
])
def test_kv_budget_matches_vllms_logged_kv_memory_on_h100(model_id, precision, tp, logged_gib):
    # llm-d/llm-d-benchmark config_explorer/empirical-vllm-memory-results.md @ 0282dcf6: "Available KV cache
    # memory" per GPU, vLLM ~0.11 on H100, --gpu-memory-utilization 0.90, max-model-len 16000, max_num_seqs default 1024
    fit = capacity.memory_fit(catalog.model(model_id), H100, tp, precision, 16000, 0.9, max_num_seqs=1024)
    assert fit.kv_budget_gb / tp == pytest.approx(logged_gib, rel=0.05)


def test_sampler_warm_up_grows_with_max_num_seqs_and_vocabulary():
    small, large = (capacity.memory_fit(L8, H100, 1, "bf16", 4096, max_num_seqs=n) for n in (512, 1024))
    extra = capacity.SAMPLER_BYTES_PER_LOGIT * (1024 - 512) * L8.vocab_size / 2**30
    assert small.kv_budget_gb - large.kv_budget_gb == pytest.approx(extra, rel=0.01)
    # a few sequences' logits are below the forward pass's activations: max_num_seqs stops mattering
    few, fewer = (capacity.memory_fit(L8, H100, 1, "bf16", 4096, max_num_seqs=n) for n in (16, 32))
    assert few.kv_budget_gb == fewer.kv_budget_gb
