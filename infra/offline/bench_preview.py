"""Benchmark the offline preview: wall seconds of `breakeven preview --stack S --format json`.

    python -m infra.offline.bench_preview                 # every example stack
    python -m infra.offline.bench_preview --stack prod --runs 3
    python -m infra.offline.bench_preview --in-process    # `timings.total`, first and again, in this process
    python -m infra.offline.bench_preview --phases --runs 3   # seconds per phase of each fresh process (best run)
    python -m infra.offline.bench_preview --imports --stack prod   # import milliseconds per package (-X importtime)
    python -m infra.offline.bench_preview --sdk-floor --stack prod --runs 3   # importing only the SDK modules it used

Each run is a fresh process (interpreter start, imports, the program under the mock engine, helm, the policy pack), as a
user runs it. Prints one line per stack (the best wall time, `timings.total` and process time of its runs) and exits 1
if the largest stack (the one registering the most resources) takes longer than the budget (5 s) in its best run.

--in-process previews each stack twice in this one process instead, as `breakeven preview` times itself
(`timings.total`, policies included): the first stack's first run pays what a fresh process pays once (the provider
SDKs' imports, the catalogs, the policy pack's server); each second run shows the rest (docs/performance.md).
--phases prints, per stack, the JSON's `timings` of the fresh process's best run (by `timings.total`), what lies
outside `timings.total` (wall minus total: interpreter start, the CLI's own imports, writing the JSON, exit) and the
process time the child used. --imports runs one fresh preview under `python -X importtime` and sums the import time of
each package's modules (their own time, not their children's): the provider SDKs by service. --sdk-floor imports, in
a fresh process, exactly the Pulumi SDK modules (pulumi, pulumi_aws, pulumi_kubernetes, pulumi_policy) that one
preview of the stack imported, and nothing of ours: what no change to this project can go below.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

from infra.config import stackconfig

BUDGET_S = 5.0
OURS = ("breakeven", "cost", "infra", "policies")
SDK = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_policy")
SDK_SERVICES = ("pulumi_aws", "pulumi_kubernetes")   # packages whose import time is shown per service (ec2, core, ...)
PHASES = ("config", "imports", "program", "helm", "policies", "total")


@dataclass
class FreshRun:
    """One `breakeven preview --stack S --format json` in a fresh process."""

    wall: float            # seconds, interpreter start to exit
    cpu: float             # the child's process time (user + system), seconds
    timings: dict[str, float]   # the JSON's `timings`
    resources: int
    stderr: str


def fresh_preview(stack: str, *python_flags: str) -> FreshRun:
    """One preview in a fresh process, as a user runs it (python_flags: e.g. "-X", "importtime")."""
    before = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *python_flags, "-m", "breakeven", "preview", "--stack", stack,
                           "--format", "json"], capture_output=True, text=True, cwd=stackconfig.ROOT)
    wall = time.perf_counter() - t0
    after = os.times()
    # exit 1 with a full JSON report is a completed preview whose policies failed (e.g. `uneconomic`)
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"preview of {stack} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}") from None
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return FreshRun(wall, cpu, doc["timings"], len(doc["resources"]), proc.stderr)


def package_of(module: str) -> str:
    """The row a module's import time is summed in: its top-level package, or the SDK's service (pulumi_aws.ec2)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in SDK_SERVICES and len(parts) > 1 else parts[0]


def _importtime_rows(importtime_log: str) -> list[tuple[int, str]]:
    """(own microseconds, module) of each line `python -X importtime` wrote to stderr, in import order."""
    rows = []
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _, name = line[len("import time:"):].split("|")
            rows.append((int(self_us), name.strip()))
    return rows


def imported(importtime_log: str) -> list[str]:
    """The modules `python -X importtime`'s stderr lists, in import order."""
    return [name for _, name in _importtime_rows(importtime_log)]


def import_times(importtime_log: str) -> dict[str, tuple[float, int]]:
    """Package -> (milliseconds of its modules' own import time, modules) from `python -X importtime`'s stderr,
    largest first."""
    us: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for self_us, name in _importtime_rows(importtime_log):
        us[package_of(name)] += self_us
        count[package_of(name)] += 1
    return {p: (us[p] / 1000, count[p]) for p, _ in us.most_common()}


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
    parser.add_argument("--phases", action="store_true",
                        help="seconds per phase (the JSON's timings) of each stack's best fresh run, with process time")
    parser.add_argument("--imports", action="store_true",
                        help="milliseconds of import time per package in one fresh preview (python -X importtime)")
    parser.add_argument("--sdk-floor", action="store_true",
                        help="seconds to import only the Pulumi SDK modules one preview of the stack imported")
    args = parser.parse_args(argv)
    stacks = args.stack or stackconfig.stacks()
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not args.in_process:
        print("note: PYTHONDONTWRITEBYTECODE is set, so each fresh process compiles this project's modules again "
              "(+0.3-0.4 s of process time); set PYTHONPYCACHEPREFIX instead to keep bytecode out of the tree",
              file=sys.stderr)
    if args.phases:
        print_phases(stacks, max(1, args.runs))
        return 0
    if args.imports:
        print_imports(stacks[0])
        return 0
    if args.sdk_floor:
        print_sdk_floor(stacks[0], max(1, args.runs))
        return 0
    if args.in_process:
        for s in stacks:
            (first, first_cpu), (again, again_cpu) = time_in_process(s)
            print(f"{s:<14} timings.total first {first:5.2f} s ({first_cpu:.2f} s process time), "
                  f"again {again:5.2f} s ({again_cpu:.2f} s)")
        return 0
    results = {}
    for s in stacks:
        runs = [fresh_preview(s) for _ in range(max(1, args.runs))]
        times, count = [r.wall for r in runs], runs[0].resources
        results[s] = (min(times), count)
        print(f"{s:<14} {count:>4} resources  {min(times):6.2f} s  (timings.total {min(r.timings['total'] for r in runs):.2f} s, "
              f"{min(r.cpu for r in runs):.2f} s process time)"
              + (f"  (runs: {', '.join(f'{x:.2f}' for x in times)})" if len(times) > 1 else ""))
    largest = max(results, key=lambda s: results[s][1])
    best, count = results[largest]
    verdict = "within" if best <= BUDGET_S else "OVER"
    print(f"largest stack: {largest} ({count} resources): {best:.2f} s, {verdict} the {BUDGET_S:g} s budget")
    return 0 if best <= BUDGET_S else 1


def print_phases(stacks: list[str], runs: int) -> None:
    """Per stack, the best of `runs` fresh previews by `timings.total`: its phases, what lies outside them, wall and process time."""
    print(f"{'stack':<14} " + " ".join(f"{p:>8}" for p in PHASES) + f" {'outside':>8} {'wall':>6} {'process':>8}")
    for s in stacks:
        best = min((fresh_preview(s) for _ in range(runs)), key=lambda r: r.timings["total"])
        outside = best.wall - best.timings["total"]
        print(f"{s:<14} " + " ".join(f"{best.timings.get(p, 0):8.3f}" for p in PHASES)
              + f" {outside:8.3f} {best.wall:6.2f} {best.cpu:8.2f}")


def print_imports(stack: str) -> None:
    """Import milliseconds per package in one fresh preview of `stack`; ours marked, the SDK by service."""
    run = fresh_preview(stack, "-X", "importtime")
    times = import_times(run.stderr)
    total = sum(ms for ms, _ in times.values())
    ours = sum(ms for p, (ms, _) in times.items() if p in OURS)
    print(f"{stack}: {total:.0f} ms importing {sum(n for _, n in times.values())} modules (python -X importtime, "
          f"which adds its own overhead), {ours:.0f} ms of it ours; wall {run.wall:.2f} s, timings.total "
          f"{run.timings['total']:.2f} s")
    for package, (ms, n) in times.items():
        if ms >= 5:
            print(f"{ms:8.1f} ms {n:5d} modules  {package}" + ("  (ours)" if package in OURS else ""))


def print_sdk_floor(stack: str, runs: int) -> None:
    """The best of `runs` fresh processes that import only the SDK modules one preview of `stack` imported."""
    modules = [m for m in imported(fresh_preview(stack, "-X", "importtime").stderr) if m.split(".")[0] in SDK]
    script = "import gc, importlib, sys\nif sys.argv[1] == 'paused':\n    gc.disable()\nfor m in sys.argv[2:]:\n    importlib.import_module(m)"
    for gc_mode, how in (("default", "the cyclic GC as Python sets it"), ("paused", "the cyclic GC paused, as the preview imports them")):
        best_wall = best_cpu = float("inf")
        for _ in range(runs):
            before = os.times()
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", script, gc_mode, *modules], check=True)
            best_wall = min(best_wall, time.perf_counter() - t0)
            after = os.times()
            best_cpu = min(best_cpu, (after.children_user - before.children_user) + (after.children_system - before.children_system))
        print(f"{stack}: importing the {len(modules)} SDK modules its preview imports, nothing of ours, {how}: "
              f"{best_wall:.2f} s wall, {best_cpu:.2f} s process time (best of {runs}, interpreter start included)")


if __name__ == "__main__":
    sys.exit(main())
