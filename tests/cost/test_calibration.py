"""The efficiency factors and their errors against published measurements."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from cost import catalog
from cost.errors import InputError
from cost.physics import calibration, capacity, factors
from cost.physics.factors import published

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "throughput-calibration.csv"
BASE_COLUMNS = ("engine", "engine_version", "model", "precision", "gpu", "gpus", "tp", "input_tokens",
                "output_tokens", "concurrency", "output_tok_s", "source")


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_calibration_csv_is_the_shared_file_plus_columns():
    ours = _rows(calibration.DATA / "calibration.csv")
    assert {r["kind"] for r in ours} == {"fit", "upper-bound"}
    assert all(r["kind"] == ("fit" if r["engine"] == "vllm" else "upper-bound") for r in ours)
    if not SHARED.exists():
        pytest.skip("shared/ not beside the checkout")
    shared = _rows(SHARED)
    # the shared file's rows come first, verbatim; published vLLM runs found later follow them (cost/data/MEASUREMENTS.md)
    assert [tuple(r[c] for c in BASE_COLUMNS) for r in ours[:len(shared)]] == [tuple(r[c] for c in BASE_COLUMNS) for r in shared]
    assert all(r["kind"] == "fit" for r in ours[len(shared):])


def test_every_row_is_predicted_with_its_kind():
    rows = calibration.calibration_rows()
    assert {r.kind for r in rows} == {"fit", "upper-bound", "validation"}
    for r in rows:
        assert r.predicted > 0 and r.measured > 0
        assert r.error == pytest.approx(max(r.predicted / r.measured, r.measured / r.predicted) - 1)
        assert r.source


def test_fit_rows_median_error_at_most_20_percent():
    s = calibration.summary()
    # 53 since gpustack's two --async-scheduling ShareGPT runs of gpt-oss-120b (1x H100, 1x A100) joined their source's
    # fit rows (2026-12-06, issue 22: the files gained an async_scheduling column; MEASUREMENTS.md)
    assert s["fit"]["rows"] == sum(1 for r in _rows(calibration.DATA / "calibration.csv") if r["kind"] == "fit") == 53
    # 15.7 % / 2.08x until the small-batch MoE floor and its refit (2026-12-06, issue 22): 13.6 % / 2.06x; 15.8 % / 2.05x
    # since asynchronous scheduling hides the scheduler's step time on the runs that had it: the two new rows are
    # 1.32x and 1.25x, gpustack's 0.10.2 TP 2 run at concurrency 4 went 1.03x -> 1.13x (that experimental build hid
    # less than 0.5 ms a step), and the refit on 53 rows moved the 51 old rows' median to 15.3 % (MEASUREMENTS.md)
    # 17.9 % / 2.44x since issue 22's part "tp" (2026-12-06): the weight and KV reads of a tp-way shard no longer lose
    # tp_efficiency (each GPU streams its own shard at the full rate; only compute-bound time does), refit on the fit rows.
    # Every held-out TP > 1 regime improves (modelled engines: TP 2 24.7 -> 16.3 %, TP 4 44.1 -> 28.6 %, TP 8 17.3 -> 13.9 %)
    # while the fit's TP 8 MoE rows that the old factor had absorbed read higher: DeepSeek-R1 on 8x H200 2.05x -> 2.43x,
    # Qwen3-235B bf16 on 8x A100 1.05x -> 1.65x (MEASUREMENTS.md, "Tensor-parallel scaling")
    # 17.4 % / 2.44x since attention runs at the 16-bit rate whatever the weights' quantization and MLA prompts run
    # un-absorbed (2026-12-07), refit: Qwen3-235B-FP8's rows read lower, DeepSeek-R1's long-prompt rows higher.
    # 16.4 % / 2.34x since the routed experts stream slower the narrower each GPU's slice (issue 22 part moen, 2026-12-07:
    # published fused-MoE kernel benchmarks, cost/physics/moe_floor.py), refit: the TP 4-8 MoE rows read lower
    # (Qwen3-235B bf16 on 8x A100 1.66x -> 1.24x, on 8x H100 1.32x -> 1.13x; DeepSeek-R1 at concurrency 4 2.44x -> 2.08x)
    assert s["fit"]["median_error"] <= 0.165
    assert s["fit"]["max_error"] <= 1.35     # DeepSeek-R1 (MLA, block fp8) on 8x H200, ShareGPT unbounded: 2.34x


# Held-out rows the model misses by more than 1.5x, each for a reason it does not model (docs/cost-model.md, Calibration;
# the history of each in cost/data/MEASUREMENTS.md). Exactly these: a row that comes inside 1.5x leaves the list.
QWEN25 = "vllm 0.6.3 (offline LLM.generate, batch 1, num-scheduler-steps 1: the V0 default)"
KNOWN_OUTLIERS = {
    # gpt-oss on one A100: attention with sinks needs FlashAttention 3/4 (Hopper on), so on Ampere vLLM runs its Triton
    # attention kernel (0.10.1, 0.11.0 and the pinned 0.32: MEASUREMENTS.md, part sinks); no published rate for it
    # against FlashAttention 2, so the model keeps FA2's (MEASUREMENTS.md, "Attention with sinks without FlashAttention
    # 3", part sinks: the 32K rows would need its prefill at 0.19-0.25 of the modelled rate). Single-stream in the 0.10.1
    # preview image (1.66x: not attention, its decode reads a short KV), and at 32K prompts (1.71x, 1.54x).
    ("gpt-oss-120b", "1x A100-80GB", "vllm 0.10.1 (gptoss image)"),
    ("gpt-oss-120b", "1x A100-80GB", "vllm 0.11.0"),
    ("gpt-oss-20b", "1x A100-80GB", "vllm 0.11.0"),
    # InferenceX, gpt-oss-120b on 8x H100 at 1K/8K and concurrency 64 (1.67x), while the same server at 1K/1K and
    # concurrency 64 reads 0.77x: the run's own output rate falls 30 % from concurrency 32 to 64
    ("gpt-oss-120b", "8x H100", "vllm 0.15.1 (vllm/vllm-openai:v0.15.1)"),
    # (Qwen3-8B bf16 on one A100, ShareGPT unbounded, vLLM 0.9.2, was one at 0.66x: since part moen's refit,
    # per_seq_overhead_s 5.84e-05 -> 5.37e-05, it reads 0.667x, a 49.9 % error, inside 1.5x; part sinks, 2026-12-07)
    # Qwen2.5-72B GPTQ-Int4 on one A100 (2.04x, 2.16x), while the same checkpoint on two A100s reads 1.02-1.07x: not the
    # engine (V0 single-step, modelled since 2026-12-07), no cause found in the source
    ("Qwen2.5-72B-Instruct-GPTQ-Int4", "1x A100-80GB", QWEN25),
}


def test_held_out_validation_rows_meet_the_median_aim_and_name_their_outliers():
    s = calibration.summary()
    # every row of validation.csv is priced (none dropped); 57 until the 2026-12-06 evening search added Qwen2.5's speed
    # benchmark (24 rows: vLLM 0.6.3, batch 1, Qwen2.5-7B and -72B at TP 1-4, bf16 and int4, prompts to 30K tokens;
    # MEASUREMENTS.md, "Data search, 2026-12-06 evening"); 81 until the 2026-12-07 search added source 10 (InferenceX
    # blog: Llama-3.3-70B FP8 with an fp8 KV cache at TP 2 and 4 and gpt-oss-120b at TP 2 on H100; MEASUREMENTS.md,
    # "Data search, 2026-12-07 (issue 22, part data)")
    assert s["validation"]["rows"] == sum(1 for r in _rows(calibration.DATA / "validation.csv")) == 85
    # 9.1 % on the 21 rows held out before 2026-12-06; 11.6 % with the 21 added then (gpustack's 32K-prompt runs and
    # its Qwen3-8B quantization runs; MEASUREMENTS.md); 14.2 % with the 15 added later that day (InferenceX gpt-oss-120b
    # on 2-8x H100, vLLM PR #43232 Qwen3-235B-FP8 with an fp8 KV cache on 4x B200; MEASUREMENTS.md, sources 7 and 8)
    # under the old physics; 13.3 % after issue 22's physics (full KV pool with preemption, dense int4
    # through Marlin) and the refit on the fit rows; 13.2 % after the small-batch MoE floor and its refit (worst
    # 2.21x -> 1.97x); 11.9 % (worst 1.95x) since asynchronous scheduling by engine version (vLLM >= 0.14 hides the
    # scheduler's step time: InferenceX's vLLM 0.15.1 rows at concurrency 4-8 went 0.77-0.88x -> 0.85-1.00x); 16.7 % with
    # Qwen2.5's 24 batch-1 runs (source 9, vLLM 0.6.3; their median 31.8 %); 17.3 % since the tensor-parallel physics
    # (issue 22 part "tp": source 9's Qwen2.5-72B bf16 at TP 4 went 0.74-0.79x -> 1.09-1.23x, level with its 7B at TP 1,
    # 1.13-1.20x, while tp 1 rows moved with the refit); 17.2 % since attention runs at the 16-bit rate whatever the
    # weights' quantization and MLA prompts run un-absorbed (2026-12-07); 9.6 % since V0's single-step engine is modelled
    # from sourced priors (issue 22 part v0: its 27 rows 32 % -> 9.5 %); 9.7 % since the routed experts stream slower the
    # narrower each GPU's slice (part moen: gpt-oss-120b on 8x H200 1.29-1.48x -> 1.22-1.35x, while the same model on 8x
    # H100 under vLLM 0.15.1, predicted below measured already, reads 0.77-0.88x -> 0.73-0.81x at concurrency 32-64).
    # The aim is 8 %; this pins today's figure.
    assert s["validation"]["median_error"] <= 0.0973
    # the error band's floor reads the held-out rows less V0's single-step engine's (Row.v0_single_step, out of every
    # band): 11.9 % when source 9 came; 12.7 % since the tensor-parallel physics and its refit; 12.6 % since the 16-bit
    # attention rate and un-absorbed MLA prompts; 12.8 % since LambdaLabs' three multi-step 0.6.0 runs joined; 10.2 % since
    # the expert streaming rate by the per-GPU width and its refit (part moen, 2026-12-07)
    assert calibration.held_out_median_error() <= 0.1024
    validation = [r for r in calibration.calibration_rows() if r.kind == "validation"]
    assert all(r.engine.startswith("vllm") for r in validation)
    outliers = {(r.model, r.gpu_x_tp, r.engine) for r in validation if r.error > 0.5}
    assert outliers == KNOWN_OUTLIERS, (outliers - KNOWN_OUTLIERS, KNOWN_OUTLIERS - outliers)
    # Qwen2.5-72B GPTQ-Int4 on one A100 at 6K prompts, 2.17x since V0's engine is modelled (2.40x before)
    assert max(r.error for r in validation) <= 1.18


def test_vllm_is_predicted_at_or_below_the_faster_engines():
    s = calibration.summary()
    assert s["upper-bound"]["rows"] == 8
    assert s["upper-bound"]["all_at_or_below"], [
        (r.model, r.gpu_x_tp, r.ratio) for r in calibration.calibration_rows() if r.kind == "upper-bound"]


def test_ramp_down_only_for_finite_unbounded_runs():
    closed = next(r for r in calibration.measurements() if r.num_prompts is None)
    assert calibration.ramp_down_factor(1000.0, 0.01, 256, closed) == 1.0
    finite = next(r for r in calibration.measurements() if r.num_prompts)
    f = calibration.ramp_down_factor(4000.0, 0.012, 256, finite)
    assert 0.8 < f < 1.0


def test_recorded_factors_are_what_the_offline_fit_gives():
    recorded = published()
    fitted = calibration.fit_factors()
    assert published() is recorded and published().values() == recorded.values()   # nothing mutated
    for name in calibration.FITTED:
        assert getattr(fitted, name) == pytest.approx(getattr(recorded, name), rel=0.03), name


def test_factors_are_data_and_physically_bounded():
    f = published()
    assert 0.6 <= f.hbm_efficiency <= 0.95
    assert 0.3 <= f.gemm_mfu <= 0.86
    assert 0.5 <= f.tp_efficiency_per_doubling < 1.0
    assert 0 < f.per_seq_overhead_s < 1e-4


def test_two_factor_sets_in_one_process(tmp_path):
    """A live calibration and the published fit coexist: each prediction uses the value it is given."""
    slow = published().replace(gemm_mfu=0.36, source="test")
    path = tmp_path / "factors.yaml"
    slow.save(path)
    loaded = factors.load(path)
    assert loaded == slow and loaded.source == "test"
    row = next(r for r in calibration.measurements() if r.kind == "fit" and r.requested_concurrency != 1)
    base, _, _ = calibration.predict(row)
    lower, _, _ = calibration.predict(row, loaded)
    assert lower < base
    assert calibration.predict(row)[0] == base


@pytest.mark.parametrize("doc, key", [
    ({"factors": {**published().values(), "gemm_mfu": float("nan")}}, "f.yaml: factors.gemm_mfu"),  # the reader refuses it
    ({"factors": {**published().values(), "gemm_mfu": 7}}, "factors.factors.gemm_mfu"),
    ({"factors": {**published().values(), "bogus": 1}}, "factors.factors.bogus"),
    ({"factors": {"gemm_mfu": 0.5}}, "factors.factors.hbm_efficiency"),
    ([1, 2], "factors"),
])
def test_bad_factors_files_name_the_key(tmp_path, doc, key):
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError) as e:
        factors.load(path)
    assert e.value.key in (key, f"{tmp_path}/{key}")


def test_validity_range_is_derived_from_the_measurement_rows():
    v = calibration.validity()
    rows = [r for r in calibration.measurements() if r.kind in ("fit", "validation")]
    assert v["rows"] == len(rows)
    assert set(v["gpus"]) == {r.gpu for r in rows} and set(v["precisions"]) == {r.precision for r in rows}
    assert v["prompt_tokens"] == [min(r.avg_input_tokens for r in rows), max(r.avg_input_tokens for r in rows)]


def test_validity_warnings_inside_and_outside(monkeypatch):
    inside = calibration.validity_warnings("llama-3.1-8b", "H100", 1, "bf16", 64, 600)
    assert inside == []
    # prompts up to 32,000 tokens are checked since gpustack's 32K runs were held out (2026-12-06)
    assert calibration.validity_warnings("llama-3.1-8b", "H100", 1, "bf16", 64, 30000) == []
    outside = calibration.validity_warnings("llama-4-scout", "L40S", 16, "bf16", 5000, 60000, nodes=2)
    text = " | ".join(outside)
    for needle in ("L40S", "tensor parallel 16", "concurrency 5000", "60,000", "MoE", "2-node"):
        assert needle in text, needle
    # every precision and KV dtype the kit offers has a published run now; a narrower checked range still names them
    narrow = dict(calibration.validity(), precisions=["bf16"], kv_cache_dtypes=["auto"])
    monkeypatch.setattr(calibration, "validity", lambda: narrow)
    text = " | ".join(calibration.validity_warnings("llama-3.1-8b", "H100", 1, "int4-awq", 64, 600, "fp8"))
    for needle in ("int4-awq", "KV cache dtype fp8"):
        assert needle in text, needle


def test_error_by_regime_covers_every_validation_row_once_per_dimension():
    groups = calibration.regimes()
    n = sum(1 for r in calibration.measurements() if r.kind == "validation")
    for dim in ("concurrency", "prompt", "precision", "gpu", "tp", "architecture"):
        assert sum(g["rows"] for g in groups if g["dimension"] == dim) == n, dim
    for g in groups:
        assert 0 <= g["median_error"] <= g["max_error"]


REFUSED = "# refused: "


def test_the_published_run_the_model_refuses_stays_named_until_it_fits():
    """gpustack served Qwen3-32B bf16 on one H100 with 32K-token prompts (vLLM 0.11.0 defaults: max_num_seqs 1024,
    max_model_len 40,960, so vLLM held at least one such request's KV at start-up); the capacity model says one
    32K sequence does not fit. The run stays in validation.csv as a commented row (MEASUREMENTS.md). When the memory
    model admits it, this fails: make it a held-out row."""
    lines = (calibration.DATA / "validation.csv").read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("engine,"))
    refused = [line.removeprefix(REFUSED) for line in lines if line.startswith(REFUSED)]
    assert len(refused) == 1
    r = next(csv.DictReader([header, *refused]))
    assert (r["model_id"], r["gpu"], r["tp"], r["max_num_seqs"], float(r["output_tok_s"])) == ("qwen3-32b", "H100", "1", "1024", 6.64)
    with pytest.raises(InputError, match="short"):
        capacity.throughput(catalog.model(r["model_id"]), catalog.gpu(r["gpu"]), int(r["tp"]), r["precision"],
                            float(r["avg_input_tokens"]), float(r["avg_output_tokens"]),
                            gpu_memory_utilization=float(r["gpu_memory_utilization"]),
                            max_num_seqs=int(r["max_num_seqs"]), length_cv=float(r["length_cv"]))
