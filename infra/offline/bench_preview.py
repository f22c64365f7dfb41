"""Benchmark the offline preview: wall seconds of `breakeven preview --stack S --format json`.

    python -m infra.offline.bench_preview                 # every example stack
    python -m infra.offline.bench_preview --stack prod --runs 3

Each run is a fresh process (interpreter start, imports, the program under the mock engine, helm,
the policy pack), as a user runs it. Prints one line per stack and exits 1 if the largest stack (the one registering
the most resources) takes longer than the budget (5 s) in its best run.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.offline.bench_preview", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", action="append", help="stack(s) to time (default: every example stack)")
    parser.add_argument("--runs", type=int, default=1, help="runs per stack; the best is reported")
    args = parser.parse_args(argv)
    stacks = args.stack or stackconfig.stacks()
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
