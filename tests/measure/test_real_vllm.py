"""observe and calibrate against a real vLLM server, driven by real requests.

observe: the token counts it reports equal what the responses' `usage` fields add up to.
calibrate: the factors file it writes predicts throughput within what its load generator measured.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import yaml
from vllmserver import MODEL_DIR

from breakeven.cli import main
from cost.physics.factors import load as load_factors
from measure import fit
from measure.observe import watch
from measure.sources import EndpointSource

pytestmark = pytest.mark.vllm  # the real vLLM server (vllm_server, which tests/conftest.py also marks helm)

MODEL = "smollm2-135m-instruct"
PROMPTS = ["The capital of France is", "Write one word about the sea:", "Count from one to five: one,"]


def _complete(server: dict, prompt: str, max_tokens: int) -> dict:
    r = httpx.post(f"{server['base']}/v1/completions", timeout=120,
                   headers={"Authorization": f"Bearer {server['api_key']}"},
                   json={"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
    assert r.status_code == 200, r.text
    return r.json()["usage"]


def test_observed_tokens_equal_the_responses_usage(vllm_server):
    usages = []

    def traffic_during_window(seconds: float) -> None:    # the window is exactly this traffic
        for i, p in enumerate(PROMPTS):
            usages.append(_complete(vllm_server, p, 5 + i))

    obs = watch(EndpointSource([vllm_server["base"]]), window_s=1, samples=2, sleep=traffic_during_window)
    assert obs.input_tokens == sum(u["prompt_tokens"] for u in usages)
    assert obs.output_tokens == sum(u["completion_tokens"] for u in usages)
    assert obs.requests == len(PROMPTS)
    assert obs.resets == ()
    assert obs.input_tokens_per_s == pytest.approx(obs.input_tokens / obs.window_s)


def test_observe_command_reports_and_writes_the_usage_file(vllm_server, tmp_path, capsys):
    usages = []

    def traffic() -> None:
        time.sleep(1.0)                                    # after the first scrape
        for p in PROMPTS:
            usages.append(_complete(vllm_server, p, 4))

    t = threading.Thread(target=traffic)
    t.start()
    usage_file = tmp_path / "usage.yaml"
    code = main(["observe", "--endpoint", vllm_server["base"], "--window", "30s", "--samples", "3",
                 "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "100M",
                 "--write-usage", str(usage_file), "--format", "json"])
    t.join()
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["input_tokens"] == sum(u["prompt_tokens"] for u in usages)
    assert doc["output_tokens"] == sum(u["completion_tokens"] for u in usages)
    assert doc["resets"] == [] and doc["samples"] == 3
    assert doc["tokens_per_month"] == pytest.approx(
        (doc["input_tokens"] + doc["output_tokens"]) / doc["window_s"] * 730 * 3600)
    assert 0 < doc["utilization"] < 0.01                  # a CPU trickle against an L4's modelled capacity
    assert doc["verdict"]["choice"] in ("api", "self-host", "hybrid")
    assert doc["economics"]["verdict_changes"] in (True, False)
    written = yaml.safe_load(usage_file.read_text())
    assert written["workload"]["avgOutputTokens"] == 4
    assert written["workload"]["tokensPerMonth"] == pytest.approx(doc["tokens_per_month"])
    # estimate prices the measured workload from that file
    assert main(["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--usage", str(usage_file), "--format", "json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert est["workload"]["tokens_per_month"] == pytest.approx(doc["tokens_per_month"])


def test_calibrate_writes_factors_that_predict_what_it_measured(vllm_server, tmp_path, capsys, monkeypatch):
    device = tmp_path / "cpu.yaml"
    # Figures of the order this shared CPU delivers to one vLLM process; the fit corrects them within the
    # factors' physical ranges (calibrate refuses a fit pinned at a range's end, as nominal 0.2 TFLOPS made it).
    device.write_text("id: test-cpu\nmemory_gib: 4\nhbm_gb_s: 10\nbf16_tflops: 0.02\n")
    out = tmp_path / "factors.yaml"
    monkeypatch.setenv("VLLM_API_KEY", vllm_server["api_key"])
    code = main(["calibrate", "--endpoint", vllm_server["base"], "--model", str(MODEL_DIR), "--served-model-name", MODEL,
                 "--gpu", str(device), "--max-num-seqs", "16", "--concurrency", "1,2,4", "--requests-per-worker", "2",
                 "--prompt-tokens", "32", "--max-tokens", "12", "--out", str(out), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc["problems"]
    assert doc["usable"] and doc["factors_file"] == str(out)
    levels = doc["sweep"]["levels"]
    assert [lv["concurrency"] for lv in levels] == [1, 2, 4]
    for lv in levels:   # ignore_eos: every answer is max_tokens long, as the server's usage says
        assert lv["errors"] == 0 and lv["output_tokens"] == lv["requests"] * 12
        assert lv["ttft_s"]["p50"] > 0 and lv["tpot_s"]["p50"] > 0
    factors = load_factors(out)
    assert factors.scope["model"] and factors.scope["gpu"] == "test-cpu" and factors.scope["tp"] == 1
    target = fit.Target(fit.model_from(str(MODEL_DIR)), fit.device_from(str(device)), max_num_seqs=16)
    measured = [lv["output_tok_s"] for lv in levels]
    for row, m in zip(fit.rows(_sweep(doc), target), measured, strict=True):
        predicted = target.predict(row, factors)[0]
        assert 0.7 * m <= predicted <= 1.3 * m, (row.concurrency, predicted, m)
    assert max(target.predict(r, factors)[0] for r in fit.rows(_sweep(doc), target)) <= 1.3 * max(measured)


def _sweep(doc: dict):
    from measure.loadgen import Level, Sweep

    s = doc["sweep"]
    levels = [Level(lv["concurrency"], lv["wall_s"], lv["requests"], lv["errors"], lv["prompt_tokens"],
                    lv["output_tokens"], lv["output_tok_s"], lv["ttft_s"], lv["tpot_s"]) for lv in s["levels"]]
    return Sweep(s["endpoint"], s["model"], s["prompt_tokens"], s["max_tokens"], levels)
