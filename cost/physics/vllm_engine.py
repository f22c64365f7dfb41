"""Which vLLM the capacity model describes: engine behaviour that changed between versions, read from vLLM's source.

One behaviour so far, asynchronous scheduling. With it the engine core schedules step n+1, and the worker prepares its
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
