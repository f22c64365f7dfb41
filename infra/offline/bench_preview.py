"""Benchmark the offline preview: wall seconds of `breakeven preview --stack S --format json`.

    python -m infra.offline.bench_preview                 # every example stack
    python -m infra.offline.bench_preview --stack prod --runs 3
    python -m infra.offline.bench_preview --in-process    # `timings.total`, first and again, in this process

Each run is a fresh process (interpreter start, imports, the program under the mock engine, helm,
the policy pack), as a user runs it. Prints one line per stack and exits 1 if the largest stack (the one registering
the most resources) takes longer than the budget (5 s) in its best run. --in-process previews each stack twice in
this one process instead, as `breakeven preview` times itself (`timings.total`, policies included): the first stack's
first run pays what a fresh process pays once (the provider SDKs' imports, the catalogs, the policy pack's server);
each second run shows the rest (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from infra.config import stackconfig

BUDGET_S = 5.0


def time_preview(stack: str) -> tuple[float, int]:
    """(wall seconds, planned resources) of one preview in a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "breakeven", "preview", "--stack", stack, "--format", "json"],
                          capture_output=True, text=True, cwd=stackconfig.ROOT)
    elapsed = time.perf_counter() - t0
    # exit 1 with a full JSON report is a completed preview whose policies failed (e.g. `uneconomic`)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"preview of {stack} failed ({proc.returncode}): {proc.stderr.strip()}") from None
    return elapsed, len(doc["resources"])


def time_in_process(stack: str) -> list[tuple[float, float]]:
    """(timings.total, process seconds) of two previews of a stack in this process: the first, then again."""
    from infra.offline import preview

    out = []
    for _ in range(2):
        t0 = time.process_time()
        p = preview.plan(stack)
        preview.run_policies(p)
        out.append((p.timings["total"], time.process_time() - t0))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.bench_preview", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", help="stack(s) to time (default: every example stack)")
    parser.add_argument("--runs", type=int, default=1, help="runs per stack; the best is reported")
    parser.add_argument("--in-process", action="store_true",
                        help="preview each stack twice in this process; print timings.total of the first and the second")
    args = parser.parse_args(argv)
    stacks = args.stack or stackconfig.stacks()
    if args.in_process:
        for s in stacks:
            (first, first_cpu), (again, again_cpu) = time_in_process(s)
            print(f"{s:<14} timings.total first {first:5.2f} s ({first_cpu:.2f} s process time), "
                  f"again {again:5.2f} s ({again_cpu:.2f} s)")
        return 0
    results = {}
    for s in stacks:
        times, count = [], 0
        for _ in range(max(1, args.runs)):
            t, count = time_preview(s)
            times.append(t)
        results[s] = (min(times), count)
        print(f"{s:<14} {count:>4} resources  {min(times):6.2f} s" + (f"  (runs: {', '.join(f'{x:.2f}' for x in times)})"
                                                                       if len(times) > 1 else ""))
    largest = max(results, key=lambda s: results[s][1])
    best, count = results[largest]
    verdict = "within" if best <= BUDGET_S else "OVER"
    print(f"largest stack: {largest} ({count} resources): {best:.2f} s, {verdict} the {BUDGET_S:g} s budget")
    return 0 if best <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
