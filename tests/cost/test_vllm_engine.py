"""Which vLLM the capacity model describes: asynchronous scheduling by engine version, and the deployed engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cost import catalog
from cost.errors import InputError
from cost.physics import calibration, capacity, vllm_engine
from cost.physics.factors import published

ROOT = Path(__file__).resolve().parents[2]
L8, H100 = catalog.model("llama-3.1-8b"), catalog.gpu("H100")


@pytest.mark.parametrize(("version", "on"), [
    ("0.13.0", False), ("0.14.0", True), ("0.15.1 (vllm/vllm-openai:v0.15.1)", True), ("0.32.0", True),
    ("~0.12 (Dec 2025; before PR #29708)", False), ("~0.19.1 (the post's 'after' build)", True),
    ("0.6.0 (num-scheduler-steps 10)", False), ("0.10.2", False),
    ("main 2026-06 (vLLM PR #43232 review build)", True), ("main 2025-08", False), ("unknown", False),
])
def test_async_scheduling_is_on_by_default_from_vllm_0_14(version, on):
    assert vllm_engine.async_scheduling_by_default(version) is on


def test_the_default_estimate_is_for_the_engine_the_chart_deploys():
    chart = yaml.safe_load((ROOT / "charts/vllm/Chart.yaml").read_text(encoding="utf-8"))
    assert chart["appVersion"] == "v" + vllm_engine.DEPLOYED_VLLM_VERSION
    assert vllm_engine.DEPLOYED_ASYNC_SCHEDULING is True
    default = capacity.throughput(L8, H100, 1, "bf16", 600, 400, concurrency=256)
    overlapped = capacity.throughput(L8, H100, 1, "bf16", 600, 400, concurrency=256, async_scheduling=True)
    serial = capacity.throughput(L8, H100, 1, "bf16", 600, 400, concurrency=256, async_scheduling=False)
    assert default == overlapped
    assert default.output_tok_s > serial.output_tok_s


def test_an_asynchronous_step_hides_the_scheduler_and_the_overlapping_share_of_the_per_sequence_time():
    f = published()
    serial = capacity.decode_step(L8, H100, 1, "bf16", 256, 1000, async_scheduling=False)
    gpu = sum(v for k, v in serial.items() if k != "scheduler/cpu")
    sched, front = f.step_overhead_s, 256 * f.per_seq_overhead_s
    assert serial["scheduler/cpu"] == pytest.approx(sched + front)            # the sum, as fitted on synchronous runs
    for share in (0.0, 0.5, 1.0):
        g = f.replace(async_per_seq_overlap=share)
        step = capacity.decode_step(L8, H100, 1, "bf16", 256, 1000, g, async_scheduling=True)
        assert sum(step.values()) == pytest.approx((1 - share) * front + max(gpu, sched + share * front))
    # a CPU-bound step (many short sequences on a small model) lasts its CPU time when all of it overlaps
    full = f.replace(async_per_seq_overlap=1.0)
    busy = capacity.decode_step(L8, H100, 1, "bf16", 1024, 10, full, async_scheduling=False)
    busy_gpu = sum(v for k, v in busy.items() if k != "scheduler/cpu")
    assert busy["scheduler/cpu"] > busy_gpu
    assert sum(capacity.decode_step(L8, H100, 1, "bf16", 1024, 10, full, async_scheduling=True).values()) \
        == pytest.approx(busy["scheduler/cpu"])


def test_measurement_rows_say_whether_their_server_scheduled_asynchronously():
    rows = calibration.measurements()
    flagged = [r for r in rows if "--async-scheduling" in r.source and "no --async-scheduling" not in r.notes]
    assert flagged and all(r.async_scheduling for r in flagged)             # the server command says so
    by_version = [r for r in rows if r.engine_version.startswith("0.15.1")]
    assert by_version and all(r.async_scheduling for r in by_version)    # InferenceX's 0.15.1: the default
    assert not any(r.async_scheduling for r in rows if r.engine_version.startswith(("0.11.0", "0.9.2"))
                   and "--async-scheduling" not in r.source)


def test_a_bad_async_scheduling_value_names_the_column():
    with pytest.raises(InputError) as e:
        calibration._async_scheduling("yes", "vllm", "0.15.1", "validation.csv")
    assert "validation.csv.async_scheduling" in str(e.value) and "yes" in str(e.value)
    assert calibration._async_scheduling("off", "vllm", "0.15.1", "x") is False
    assert calibration._async_scheduling("", "tensorrt-llm", "0.17", "x") is vllm_engine.DEPLOYED_ASYNC_SCHEDULING
