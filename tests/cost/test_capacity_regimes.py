"""Issue 22's physics for each regime: paged KV admission with growth and preemption, and weight-only int4
GEMMs whose cost depends on the batch (vLLM's Marlin kernel)."""

from __future__ import annotations

import itertools
import math

import pytest

from cost import catalog
from cost.physics import capacity
from cost.physics.factors import published

L8 = catalog.model("llama-3.1-8b")
Q32 = catalog.model("qwen3-32b")
H100 = catalog.gpu("H100")
A100 = catalog.gpu("A100-80GB")


# --- paged KV admission: the pool runs full, growth preempts ------------------------------------------------------
def test_sustained_concurrency_rises_with_the_output_share_of_a_fixed_length():
    """Blocks are allocated as tokens are generated, so of two workloads with the same final length the one that
    generates more of it holds less KV on average and runs more sequences at once."""
    sustained = [capacity.throughput(L8, A100, 1, "bf16", 8000 - out, out, length_cv=0).max_concurrency
                 for out in (500, 2000, 4000, 7000)]
    assert sustained == sorted(sustained) and sustained[0] < sustained[-1] < capacity.DEFAULT_MAX_NUM_SEQS
    fit = capacity.memory_fit(L8, A100, 1, "bf16", 8000)
    # never fewer than the final lengths would allow, which is what a worst-case admission would run
    assert sustained[0] >= fit.kv_capacity_tokens // 8000


def test_sustained_concurrency_never_exceeds_max_num_seqs():
    for seqs in (8, 64, 256, 1024):
        t = capacity.throughput(L8, H100, 1, "bf16", 200, 2000, length_cv=0, max_num_seqs=seqs)
        assert t.max_concurrency <= seqs


def test_the_pool_runs_full():
    """vLLM admits while the prompt's blocks are free (watermark 0) and preempts when growth finds none, so the
    engine holds as many sequences as the whole KV pool carries at their average held length."""
    assert published().kv_admission_fill == 1.0
    t = capacity.throughput(L8, A100, 1, "bf16", 4000, 1000, length_cv=0)
    fit = capacity.memory_fit(L8, A100, 1, "bf16", 5000)
    held = 4000 + 1000 / 2 + capacity.KV_BLOCK_TOKENS / 2
    assert t.limited_by == "kv-cache" and t.max_concurrency == int(fit.kv_capacity_tokens // held)


def test_preemption_recompute_is_what_completions_leave_short():
    r = capacity.preemption_recompute_tokens
    # few requests finish per step: nearly every step's growth comes from preempting, up to what it generates
    assert 0 < r(200, 1000, 4) <= 1000
    # it falls as more requests finish per step, and with longer prompts (more room left by admission)
    assert r(200, 200, 400) < r(200, 200, 100) < r(200, 200, 20)
    assert r(4000, 200, 20) < r(200, 200, 20)
    # ten requests finish every step and free far more than the step's growth: next to nothing to recompute
    assert r(200, 200, 2000) < 0.001 * 200


def test_only_a_full_pool_pays_the_recompute():
    """Below its KV limit (a closed loop with fewer clients) the engine never preempts; at the limit the step
    carries the recomputed tokens as prefill, so throughput per sequence is lower."""
    full = capacity.throughput(Q32, H100, 1, "bf16", 1000, 1000, length_cv=0)
    assert full.limited_by == "kv-cache"
    below = capacity.throughput(Q32, H100, 1, "bf16", 1000, 1000, length_cv=0, concurrency=full.max_concurrency - 1)
    assert below.limited_by == "requested"
    assert dict(full.step_breakdown)["prefill"] > dict(below.step_breakdown)["prefill"] * 1.2


# --- weight-only int4: Marlin streams its weights once per 64 tokens of a step ---------------------------------
def _linear_s(precision: str, batch: int) -> float:
    return capacity.decode_step(Q32, A100, 1, precision, batch, 500)["weights/gemm"]


def test_int4_costs_its_bytes_at_small_batch_and_converges_to_16_bit_at_large_batch():
    """Near-free dequantization while bandwidth-bound (a quarter of the bf16 step's weight time at batch 1), the
    16-bit GEMM once compute-bound: the int4 / bf16 ratio rises with the batch towards 1, never above it."""
    ratios = [_linear_s("int4-awq", b) / _linear_s("bf16", b) for b in (1, 16, 64, 128, 256, 512)]
    assert ratios[0] < 0.32
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(ratios))
    assert 0.9 <= ratios[-1] <= 1.0 + 1e-9


def test_int4_weights_are_streamed_again_for_every_64_tokens():
    """vLLM's marlin_mm runs a batch above 64 rows as slices of 64, each a pass over the whole 4-bit weight matrix:
    while bandwidth-bound, 65 tokens take about two passes where 64 take one."""
    c = capacity._config(Q32, catalog.gpu("H200"), 1, "int4-awq", published())
    assert c.sliced_bytes > 0
    one, two = (capacity._weights_s(c, 1e9, t, 1) for t in (64, 65))
    assert two - one == pytest.approx(c.sliced_bytes / c.hbm_bytes_s)
    assert capacity._config(Q32, A100, 1, "bf16", published()).sliced_bytes == 0
    mixtral = catalog.model("mixtral-8x7b")     # MoE int4 runs Marlin's MoE kernel: not sliced here
    assert capacity._config(mixtral, A100, 2, "int4-awq", published()).sliced_bytes == 0
    assert math.isclose(published().int4_gemm_efficiency, 1.0)
