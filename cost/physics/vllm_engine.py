"""Which vLLM the capacity model describes: engine behaviour that changed between versions, read from vLLM's source.

Two behaviours: asynchronous scheduling (below) and V0's single-step engine (`v0_single_step`, at the end).

Asynchronous scheduling. With it the engine core schedules step n+1, and the worker prepares its
inputs and launches it, while the GPU still runs step n; step n's sampled tokens come back on a side stream and the
scheduler updates from them after step n+1 is launched (vLLM 0.32: vllm/v1/engine/core.py
`EngineCore.step_with_batch_queue`, a queue of two batches, `VllmConfig.max_concurrent_batches`;
vllm/v1/core/sched/async_scheduler.py `AsyncScheduler`, which schedules against placeholder output tokens;
vllm/v1/worker/gpu_model_runner.py `AsyncGPUModelRunnerOutput`, the non-blocking device-to-host copy). The CPU work of
a step then hides behind the GPU work of the one before, and a step lasts as long as the longer of the two.

* Introduced as the opt-in, experimental `--async-scheduling` by vLLM pull request #19970 ("Implement Async
  Scheduling", 2025-06; the gpustack performance lab ran it on 0.10.2 and 0.11.0).
* On by default since v0.14.0 (pull request #27614; the v0.14.0 release notes, 2026-01: "Async scheduling is now enabled
  by default ... Excludes some not-yet-supported configurations: pipeline parallel, CPU backend, non-MTP/Eagle spec
  decoding"). vLLM 0.32 turns it on unless the model is a pooling model, speculative decoding is of another kind than
  EAGLE/MTP/n-gram/draft model, the executor does not support it, or pipeline parallelism runs on the V1 model runner
  (vllm/config/vllm.py `VllmConfig.__post_init__`, the `async_scheduling is None` branch; the V2 model runner, the
  default, overlaps with pipeline parallelism too).
* What stays serial even with it: structured-output requests whose grammar needs the previous step's token (the
  engine defers their sampling, `scheduler_output.pending_structured_output_tokens`), which the capacity model does
  not price.
* Not taken from the rows: which runs had it is read from each run's server command or, where it states none, its
  engine version's default (the `async_scheduling` column of the measurement files).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cost.catalog import strictload
from cost.errors import InputError

# The engine the deployments run: the image charts/vllm pins (Chart.yaml appVersion; tests/cost/test_vllm_engine.py
# holds the two equal). The default estimate is for this engine.
DEPLOYED_VLLM_VERSION = "0.32.0"

ASYNC_SCHEDULING_DEFAULT_SINCE = (0, 14)        # vLLM v0.14.0, pull request #27614
ASYNC_SCHEDULING_DEFAULT_SINCE_MONTH = "2026-01"   # the v0.14.0 release: a `main YYYY-MM` build from then on has it

_VERSION = re.compile(r"(\d+)\.(\d+)")
_MAIN_BUILD = re.compile(r"^main (\d{4}-\d{2})")


def async_scheduling_by_default(engine_version: str) -> bool:
    """Whether a vLLM of this version schedules asynchronously unless told otherwise.

    engine_version: as the measurement files write it ("0.15.1", "~0.12 (Dec 2025; ...)", "main 2026-06 (...)").
    A version it cannot read ("unknown") counts as without: the slower, synchronous step."""
    text = engine_version.strip().lstrip("~")
    main = _MAIN_BUILD.match(text)
    if main:
        return main.group(1) >= ASYNC_SCHEDULING_DEFAULT_SINCE_MONTH
    found = _VERSION.match(text)
    if not found:
        return False
    return (int(found.group(1)), int(found.group(2))) >= ASYNC_SCHEDULING_DEFAULT_SINCE


# What `cost.physics.capacity.throughput` assumes unless told otherwise: the deployed engine's default.
DEPLOYED_ASYNC_SCHEDULING = async_scheduling_by_default(DEPLOYED_VLLM_VERSION)


# --- V0's single-step engine --------------------------------------------------------------------------------------
# vLLM's V0 engine ran the scheduler, the next step's input preparation and the blocking copy of the sampled tokens on
# the CPU between two GPU steps, in series with them, unless multi-step scheduling (`--num-scheduler-steps N`, PR
# #7000, v0.6.0) did that once per N steps. Single-step was V0's default throughout; the V1 engine became the default
# in v0.8.0 (pull request #13726, VLLM_USE_V1=1 by default; vLLM v0.8.0 release, 2025-03) and has no such flag. How
# much CPU time that is, and from which publications: cost/data/vllm-engines.yaml.
MULTI_STEP_SINCE = (0, 6)     # vLLM v0.6.0, pull request #7000
ENGINES_DATA = Path(__file__).resolve().parents[1] / "data" / "vllm-engines.yaml"
_SCHEDULER_STEPS = re.compile(r"num-scheduler-steps (\d+)")


def v0_single_step(engine_version: str) -> bool:
    """Whether a vLLM of this version string ran V0's single-step engine.

    A string that states `num-scheduler-steps N` (the measurement files' way to say what the run set) is single-step
    for N = 1 and multi-step otherwise. One that states none is single-step before v0.6.0 (V0 had no other scheduler)
    and is not assumed so from v0.6.0 on: multi-step was the setting vLLM's own v0.6.0 benchmarks ran
    (`--num-scheduler-steps 10`), and from v0.8.0 the engine is V1. A `main YYYY-MM` build (all of them V1 era) and a
    version it cannot read ("unknown") count as the engine the capacity model was fitted on."""
    stated = _SCHEDULER_STEPS.search(engine_version)
    if stated:
        return int(stated.group(1)) == 1
    found = _VERSION.match(engine_version.strip().lstrip("~"))
    if not found:
        return False
    return (int(found.group(1)), int(found.group(2))) < MULTI_STEP_SINCE


@dataclass(frozen=True)
class SingleStepCpu:
    """The CPU time a V0 single-step engine step adds in series with the GPU (sourced priors, not fitted):
    `step_s` per step plus `per_seq_s` per running sequence."""

    step_s: float
    per_seq_s: float
    figures: dict[str, float]   # the published figures they are derived from (vllm-engines.yaml)

    def seconds(self, running: float) -> float:
        """CPU seconds in series per step with `running` sequences in the batch."""
        return self.step_s + self.per_seq_s * running


@cache
def single_step_cpu() -> SingleStepCpu:
    """V0 single-step's per-step CPU time, read from cost/data/vllm-engines.yaml."""
    doc: Any = strictload.load_yaml(ENGINES_DATA, "vllm-engines", "vLLM engines YAML file")
    where = "vllm-engines.v0_single_step"
    try:
        v0 = doc["v0_single_step"]
        cpu = SingleStepCpu(step_s=float(v0["step_s"]), per_seq_s=float(v0["per_seq_s"]),
                            figures={str(k): float(v) for k, v in v0["figures"].items()})
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise InputError(where, str(e), "step_s, per_seq_s (seconds) and figures (name: number)") from e
    for key, value in (("step_s", cpu.step_s), ("per_seq_s", cpu.per_seq_s)):
        if not 0.0 <= value < 0.1:
            raise InputError(f"{where}.{key}", value, "seconds, at least 0 and below 0.1")
    return cpu
