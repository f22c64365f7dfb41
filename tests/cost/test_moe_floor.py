"""The MoE kernels from published vLLM kernel benchmarks (issue 22): the small-batch step floor, applied per MoE
layer, and the expert GEMMs' streaming rate by the per-GPU expert width (part moen)."""

import dataclasses

import pytest

from cost import catalog
from cost.errors import InputError
from cost.physics import capacity, moe_floor
from cost.physics.factors import published


def test_each_benchmark_line_reproduces_its_own_streaming_points():
    """floor + streamed bytes / rate reproduces every streaming point of the benchmark within 6 % (the worst residual
    is 5.1 %), and the floor is the fixed part: above zero, below the batch-1 time."""
    for b in moe_floor.benchmarks():
        floor, rate = b.line()
        assert len(b.streaming_points()) >= 2
        for bytes_, seconds in b.streaming_points():
            assert floor + bytes_ / rate == pytest.approx(seconds, rel=0.06)
        assert 0 < b.floor_s() < b.points[0][1] * 1e-6


def test_points_read_from_l2_or_touching_every_expert_set_no_rate():
    """sglang's H200 run of Qwen3-235B at TP 8: batches 1 and 2 touch 19 and 37 MB of experts, inside the 50 MB L2 the
    benchmark replays them from; vLLM's H100 Qwen3-30B fp8 run touches over 95 % of the experts from batch 48 on."""
    h200 = next(b for b in moe_floor.benchmarks() if b.catalog_gpu == "H200")
    assert h200.expert_bytes(2) < h200.l2_bytes < h200.expert_bytes(4)
    assert [x for x, _ in h200.streaming_points()] == [h200.expert_bytes(b) for b in (4, 8, 16, 24, 32)]
    h100 = next(b for b in moe_floor.benchmarks() if b.catalog_gpu == "H100" and b.n == 768)
    assert max(x for x, _ in h100.streaming_points()) == h100.expert_bytes(32)
    assert all(b.compute_s(batch) < b.expert_bytes(batch) / (catalog.gpu(b.catalog_gpu).hbm_gb_s * 1e9)
               for b in moe_floor.benchmarks() for batch, _ in b.points if b.touched_share(batch) <= 0.95)


def test_expert_streaming_efficiency_falls_with_the_per_gpu_width():
    """0.53 of datasheet at N=192 (Qwen3-235B at TP 8), 0.81 at N=768 (three GPUs' mean), 0.93 at N=7168 (Mixtral at
    TP 2); each width reproduces its benchmarks' mean, and outside the measured widths the nearest holds."""
    eff = moe_floor.expert_streaming_efficiency
    by_n: dict[int, list[float]] = {}
    for b in moe_floor.benchmarks():
        by_n.setdefault(b.n, []).append(b.streaming_efficiency())
    for n, effs in by_n.items():
        assert eff(n) == pytest.approx(sum(effs) / len(effs), rel=1e-12)
    assert eff(192) == pytest.approx(0.528, abs=0.005) and eff(7168) == pytest.approx(0.928, abs=0.005)
    assert eff(96) == eff(192) < eff(256) < eff(360) < eff(768) < eff(1536) < eff(2880) < eff(7168) == eff(20000)


def test_a_moe_step_streams_the_same_expert_bytes_slower_at_small_width():
    """Qwen3-235B and a twin with four times the experts, each a quarter as wide (the same expert bytes, the same
    share touched per token) on one H200 at TP 4: the narrow twin's decode step reads the experts at its width's lower
    rate, by the ratio of the benchmarks' efficiencies at the two widths."""
    wide = catalog.model("qwen3-235b-a22b")
    narrow = dataclasses.replace(wide, experts=wide.experts * 4, experts_per_token=wide.experts_per_token * 4,
                                 moe_intermediate_size=wide.moe_intermediate_size // 4)
    assert narrow.expert_params_b == pytest.approx(wide.expert_params_b)
    gpu, f = catalog.gpu("H200"), published()
    times = {m.moe_intermediate_size: capacity.decode_step(m, gpu, 4, "fp8", 8, 1000)["weights/gemm"] for m in (wide, narrow)}
    assert times[384] > times[1536] * 1.05
    c_wide, c_narrow = (capacity._config(m, gpu, 4, "fp8", f) for m in (wide, narrow))
    eff = moe_floor.expert_streaming_efficiency      # at TP 4 each GPU holds 384 and 96 wide
    assert c_narrow.expert_read_scale / c_wide.expert_read_scale == pytest.approx(eff(384) / eff(96))


def test_tensor_parallel_shards_narrow_the_experts_and_expert_parallel_keeps_them_whole():
    """Qwen3-235B's 1536-wide experts: whole on one GPU or under expert parallelism, 192 wide per GPU at TP 8; a dense
    model streams at the dense rate."""
    model, gpu, f = catalog.model("qwen3-235b-a22b"), catalog.gpu("H100"), published()
    for tp, ep, width in ((1, False, 1536), (8, False, 192), (8, True, 1536)):
        c = capacity._config(model, gpu, tp, "bf16", f, "auto", ep)
        assert c.expert_read_scale == pytest.approx(moe_floor.expert_stream_slowdown(width))
    assert moe_floor.expert_stream_slowdown(192) == pytest.approx(1.76, abs=0.01)    # Qwen3-235B at TP 8
    assert capacity._config(catalog.model("llama-3.1-8b"), gpu, 1, "bf16", f).expert_read_scale == 1.0


def test_the_h100_benchmarks_of_different_shapes_and_dtypes_agree_on_the_floor():
    """Mixtral bf16 at TP 2 (2 of 8 experts, 176 MB each) and Qwen3-30B-A3B fp8 (8 of 128, 4.7 MB each) on the same
    H100: the fixed part is a property of the kernel chain on the GPU, not of the shape (32.5 and 34.8 us)."""
    h100 = [b.floor_s() for b in moe_floor.benchmarks() if b.catalog_gpu == "H100"]
    assert len(h100) == 2
    assert h100[0] == pytest.approx(h100[1], rel=0.1)


def test_ampere_pays_more_per_moe_layer_than_newer_generations():
    ampere, hopper, blackwell = (moe_floor.layer_floor_s(g) for g in ("A100-80GB", "H100", "B200"))
    assert ampere is not None and hopper is not None and blackwell is not None
    assert ampere > 1.5 * hopper and hopper > blackwell
    assert moe_floor.layer_floor_s("A100-40GB") == ampere and moe_floor.layer_floor_s("H200") == hopper


def test_a_moe_decode_step_pays_the_floor_once_per_moe_layer():
    model, f = catalog.model("gpt-oss-120b"), published()
    for gpu_id in ("A100-80GB", "H100"):
        gpu = catalog.gpu(gpu_id)
        kernels = capacity.decode_step(model, gpu, 1, "mxfp4", 1, 1000)["layer kernels"]
        expected = f.layer_overhead_s * model.layers + moe_floor.layer_floor_s(gpu_id) * model.moe_layers
        assert kernels == pytest.approx(expected, rel=1e-9)


def test_a_generation_without_a_benchmark_keeps_the_prior_and_dense_models_pay_nothing():
    model, f = catalog.model("gpt-oss-20b"), published()
    assert moe_floor.generation("L40S") == "ada" and moe_floor.layer_floor_s("L40S") is None
    kernels = capacity.decode_step(model, catalog.gpu("L40S"), 1, "mxfp4", 1, 1000)["layer kernels"]
    assert kernels == pytest.approx(f.layer_overhead_s * model.layers + f.moe_layer_overhead_s * model.moe_layers)
    dense = catalog.model("llama-3.1-8b")
    step = capacity.decode_step(dense, catalog.gpu("A100-80GB"), 1, "bf16", 1, 1000)["layer kernels"]
    assert step == pytest.approx(f.layer_overhead_s * dense.layers)


def test_every_catalog_gpu_has_a_generation():
    assert {g for g in catalog.gpus()} <= {g for g in catalog.gpus() if moe_floor.generation(g)}


def test_a_benchmark_whose_time_does_not_grow_with_its_bytes_is_refused():
    bad = {"generation": "hopper", "gpu": "x", "catalog_gpu": "H100", "l2_mb": 50, "block_m": 64, "kernel": "triton",
           "source": "test",
           "shape": {"experts": 8, "top_k": 2, "hidden": 4096, "n": 7168, "weight_bytes": 2},
           "points": [{"batch": 1, "us": 500.0}, {"batch": 32, "us": 400.0}]}
    with pytest.raises(InputError) as e:
        moe_floor._benchmark(bad, 0)
    assert "moe-kernels.benchmarks[0].points" in str(e.value)


def test_a_benchmark_with_too_few_points_streaming_from_hbm_is_refused():
    """Batches 1 and 2 of a small shape read their experts from L2: no streaming rate can be read from them."""
    cached = {"generation": "hopper", "gpu": "x", "catalog_gpu": "H200", "l2_mb": 50, "block_m": 64, "kernel": "triton",
              "source": "test", "shape": {"experts": 128, "top_k": 8, "hidden": 4096, "n": 192, "weight_bytes": 1},
              "points": [{"batch": 1, "us": 31.7}, {"batch": 2, "us": 36.56}]}
    with pytest.raises(InputError) as e:
        moe_floor._benchmark(cached, 3)
    assert "moe-kernels.benchmarks[3].points" in str(e.value) and "l2_mb" in str(e.value)
