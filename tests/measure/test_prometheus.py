"""observe --prometheus: PromQL increase()/resets() over the window, gauges over the window.

No Prometheus server runs here; a loopback listener speaks the HTTP API's /api/v1/query (JSON
vector results, as documented) and records each query, so the PromQL sent and the parsing of the
answers are both checked.
"""

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import pytest

from breakeven.cli import main
from cost.errors import InputError
from measure.observe import from_prometheus
from measure.sources import PrometheusSource
from tests.localserver import serving

ANSWERS = {
    'sum(increase(vllm:prompt_tokens_total{namespace="llm"}[300s]))': 60000,
    'sum(increase(vllm:generation_tokens_total{namespace="llm"}[300s]))': 30000,
    'sum(increase(vllm:request_success_total{namespace="llm"}[300s]))': 100,
    'sum(resets(vllm:prompt_tokens_total{namespace="llm"}[300s]))': 1,
    'sum(resets(vllm:generation_tokens_total{namespace="llm"}[300s]))': 1,
    'sum(resets(vllm:request_success_total{namespace="llm"}[300s]))': 0,
    'avg_over_time(sum(vllm:num_requests_running{namespace="llm"})[300s:])': 12.5,
    'max_over_time(sum(vllm:num_requests_running{namespace="llm"})[300s:])': 30,
    'avg_over_time(sum(vllm:num_requests_waiting{namespace="llm"})[300s:])': 0.5,
    'max_over_time(sum(vllm:num_requests_waiting{namespace="llm"})[300s:])': 4,
    'avg_over_time(avg(vllm:kv_cache_usage_perc{namespace="llm"})[300s:])': 0.42,
    'max_over_time(avg(vllm:kv_cache_usage_perc{namespace="llm"})[300s:])': 0.9,
}


@pytest.fixture
def prometheus():
    seen = []
    answers = dict(ANSWERS)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urlparse(self.path)
            q = parse_qs(url.query)
            seen.append(q["query"][0])
            value = answers.get(q["query"][0])
            result = [] if value is None else [{"metric": {}, "value": [float(q["time"][0]), str(value)]}]
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()
            self.send_response(200 if url.path == "/api/v1/query" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    with serving(Handler) as url:
        yield url, seen, answers


def test_increase_and_resets_from_promql(prometheus):
    url, seen, _ = prometheus
    obs = from_prometheus(PrometheusSource(url, 'namespace="llm"'), 300, at=1_800_000_000)
    assert (obs.input_tokens, obs.output_tokens, obs.requests) == (60000, 30000, 100)
    assert obs.input_tokens_per_s == 200 and obs.output_tokens_per_s == 100
    assert obs.request_size() == (600, 300)
    assert obs.running == {"mean": 12.5, "max": 30} and obs.kv_usage == {"mean": 0.42, "max": 0.9}
    assert {r["metric"] for r in obs.resets} == {"vllm:prompt_tokens_total", "vllm:generation_tokens_total"}
    assert set(seen) == set(ANSWERS)


def test_missing_metric_is_named(prometheus):
    url, _, answers = prometheus
    del answers['sum(increase(vllm:generation_tokens_total{namespace="llm"}[300s]))']
    with pytest.raises(InputError, match="vllm:generation_tokens_total"):
        from_prometheus(PrometheusSource(url, 'namespace="llm"'), 300)


def test_older_kv_gauge_is_asked_for_when_the_current_one_is_absent(prometheus):
    url, _, answers = prometheus
    for fn in ("avg", "max"):
        v = answers.pop(f'{fn}_over_time(avg(vllm:kv_cache_usage_perc{{namespace="llm"}})[300s:])')
        answers[f'{fn}_over_time(avg(vllm:gpu_cache_usage_perc{{namespace="llm"}})[300s:])'] = v
    assert from_prometheus(PrometheusSource(url, 'namespace="llm"'), 300).kv_usage["max"] == 0.9


def test_cli_json_keys(prometheus, capsys):
    url, _, _ = prometheus
    assert main(["observe", "--prometheus", url, "--match", 'namespace="llm"', "--window", "5m",
                 "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "100M", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("input_tokens_per_s", "output_tokens_per_s", "tokens_per_month", "utilization", "resets", "verdict"):
        assert key in doc
    assert doc["tokens_per_month"] == pytest.approx(300 * 730 * 3600)
    assert doc["economics"]["measured_workload"]["avg_input_tokens"] == 600
    e = doc["economics"]
    assert e["verdict_changes"] == (doc["verdict"]["choice"] != e["declared_verdict"]["choice"])


def test_cli_refuses_two_sources_and_bad_windows(capsys):
    assert main(["observe", "--prometheus", "http://p", "--endpoint", "http://e"]) == 2
    assert "exactly one source" in capsys.readouterr().err
    assert main(["observe", "--endpoint", "http://e", "--window", "soon"]) == 2
    assert "window" in capsys.readouterr().err
    assert main(["observe", "--endpoint", "ftp://e"]) == 2
    assert "endpoint" in capsys.readouterr().err


def test_cli_prices_a_stacks_model_against_its_declared_workload(prometheus, capsys):
    url, _, _ = prometheus
    assert main(["observe", "--prometheus", url, "--match", 'namespace="llm"', "--window", "5m",
                 "--stack", "dev", "--model-name", "chat-8b", "--format", "json"]) == 0
    e = json.loads(capsys.readouterr().out)["economics"]
    from infra.config import spec as spec_mod
    from infra.config import stackconfig

    cfg = stackconfig.load("dev")
    spec = spec_mod.load({k: ("[secret]" if k in cfg.secret_keys else v) for k, v in cfg.values.items()},
                         project=cfg.project, stack="dev")
    m = spec.model("chat-8b")
    assert (e["deployment"]["model"], e["deployment"]["gpu"], e["deployment"]["replicas"]) == (
        m.deployment.model, m.deployment.gpu, m.deployment.replicas)
    assert e["declared_verdict"] is not None
    assert main(["observe", "--prometheus", url, "--stack", "dev", "--model-name", "nope"]) == 2
    assert "model-name: got 'nope'; allowed: chat-8b" in capsys.readouterr().err
