"""The small-batch MoE step floor (issue 22): read from published vLLM kernel benchmarks, applied per MoE layer."""

import pytest

from cost import catalog
from cost.errors import InputError
from cost.physics import capacity, moe_floor
from cost.physics.factors import published


def test_each_floor_is_the_fixed_part_of_its_own_benchmark():
    """floor + streamed bytes at one rate reproduces the benchmark's kernel time at both of its batch sizes."""
    for b in moe_floor.benchmarks():
        (b0, t0), (b1, t1) = b.points[0], b.points[-1]
        rate = (b.expert_bytes(b1) - b.expert_bytes(b0)) / ((t1 - t0) * 1e-6)   # bytes/s the kernel streams at
        for batch, us in b.points:
            assert b.floor_s() + b.expert_bytes(batch) / rate == pytest.approx(us * 1e-6, rel=1e-9)
        assert 0 < b.floor_s() < t0 * 1e-6


def test_two_hopper_benchmarks_of_different_shapes_and_dtypes_agree():
    """Mixtral bf16 at TP 2 (2 of 8 experts, 176 MB each) and Qwen3-30B-A3B fp8 (8 of 128, 4.7 MB each) on the same
    H100: the fixed part is a property of the kernel chain on the GPU, not of the shape."""
    hopper = [b.floor_s() for b in moe_floor.benchmarks() if b.generation == "hopper"]
    assert len(hopper) == 2
    assert hopper[0] == pytest.approx(hopper[1], rel=0.05)


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
    bad = {"generation": "hopper", "gpu": "x", "kernel": "triton", "source": "test",
           "shape": {"experts": 8, "top_k": 2, "hidden": 4096, "n": 7168, "weight_bytes": 2},
           "points": [{"batch": 1, "us": 500.0}, {"batch": 32, "us": 400.0}]}
    with pytest.raises(InputError) as e:
        moe_floor._benchmark(bad, 0)
    assert "moe-kernels.benchmarks[0].points" in str(e.value)
