"""In-process benchmark: full estimates per second on one core, over a grid like an optimizer's."""

from __future__ import annotations

import itertools
import time

from cost import catalog
from cost.deployment import Deployment
from cost.errors import InputError
from cost.estimate import estimate
from cost.workload import Workload


def configurations() -> list[tuple[Deployment, Workload]]:
    """Every model x GPU x count x precision x pricing that fits, with a few workload shapes."""
    out = []
    shapes = [(600, 400), (2000, 300), (200, 800)]
    for mid, gid, n, prec, pricing in itertools.product(
        catalog.models(), ("L4", "L40S", "A100-80GB", "H100", "H200"), (1, 2, 4, 8), ("bf16", "fp8", "int4-awq"),
        ("on-demand", "spot", "reserved-1y"),
    ):
        for i, o in shapes:
            try:
                d = Deployment.build(model=mid, gpu=gid, gpus_per_replica=n, replicas=2, redundancy=1, precision=prec,
                                     pricing=pricing)
                w = Workload.build(2e9, avg_input_tokens=i, avg_output_tokens=o)
                estimate(d, w)
            except InputError:
                continue  # not a valid TP size, does not fit, or no price for that capacity type
            out.append((d, w))
    return out


def run(seconds: float = 2.0) -> str:
    """Run estimates for about `seconds` and report the rate; then the rate with what the JSON adds to each (the
    verdict's reasons and the per-API breakevens, written when first asked for)."""
    configs = configurations()
    rate, done, elapsed = _rate(configs, seconds, written=False)
    rate_written, _, _ = _rate(configs, seconds / 2, written=True)
    return (f"{rate:,.0f} estimates/s (one core, in-process; {done:,} estimates of {len(configs):,} "
            f"distinct fitting configurations in {elapsed:.2f} s); {rate_written:,.0f}/s with the verdict's reasons "
            "and per-API breakevens written, as the JSON report does")


def _rate(configs: list[tuple[Deployment, Workload]], seconds: float, written: bool) -> tuple[float, int, float]:
    """Passes over every configuration for about `seconds`: (estimates per second, estimates, seconds)."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or not done:
        for d, w in configs:
            e = estimate(d, w)
            if written:
                e.verdict.reasons, e.breakeven   # noqa: B018 -- made when first asked for; the JSON asks
        done += len(configs)
    elapsed = time.perf_counter() - start
    return done / elapsed, done, elapsed


def run_optimize(seconds: float = 2.0) -> str:
    """Time `optimize` over the full catalog (every instance, TP size, precision, capacity type) for a few
    models and workloads; report the slowest and the median wall time of one search."""
    from cost.decide.optimize import optimize

    cases = [("llama-3.1-8b", Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)),
             ("llama-3.1-70b", Workload.build(50e9, avg_input_tokens=4500, avg_output_tokens=500)),
             ("llama-3.1-70b", Workload.build(3e9, avg_input_tokens=600, avg_output_tokens=400, tpot_target_s=0.05)),
             ("mixtral-8x7b", Workload.build(5e9, avg_input_tokens=2000, avg_output_tokens=300)),
             ("llama-3.1-405b", Workload.build(2e9, avg_input_tokens=600, avg_output_tokens=400))]
    for model, w in cases:   # warm the catalog and price caches once, as a long-lived process would be
        optimize(model, w, top=10)
    times: list[tuple[float, str, int]] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or not times:
        for model, w in cases:
            t0 = time.perf_counter()
            found = optimize(model, w, top=10)
            times.append((time.perf_counter() - t0, model, len(found)))
    times.sort()
    worst = times[-1]
    return (f"optimize, full catalog, top 10: median {times[len(times) // 2][0] * 1000:,.0f} ms, slowest "
            f"{worst[0] * 1000:,.0f} ms ({worst[1]}) over {len(times)} searches of {len(cases)} model/workload cases "
            f"(one core, in-process; budget 2 s, aim 0.5 s)")
