"""observe and calibrate against a local server that answers something other than what the kit expects.

Every case: exit 2, one line naming the flag, the URL and what came back (its first bytes), no traceback, no
hang, nothing printed on stdout and no usage or factors file written.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

import pytest

from breakeven import cli
from cost.catalog import strictload
from tests.localserver import serving

HTML = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>\n"
PROM_VECTOR = '{"status": "success", "data": {"resultType": "vector", "result": [%s]}}'


@pytest.fixture
def server() -> Iterator[tuple[str, dict]]:
    """A server on 127.0.0.1 answering each path with the (status, content type, body) set in `answers`."""
    answers: dict[str, tuple[int, str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if self.command == "POST":
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
            path = unquote(self.path.split("?")[0])      # the kubernetes client percent-encodes pod:port
            status, ctype, body = answers.get(path, (404, "text/plain", b"not found"))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *a):
            pass

    with serving(Handler) as url:
        yield url, answers


def _refused(capsys, argv: list[str], written) -> str:
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and "Traceback" not in err and not written.exists()
    assert err.startswith("breakeven: error: ") and err.count("\n") == 1, err
    return err


METRICS_CASES = {  # id -> (status, body, what the line shows of it)
    "html page": (200, HTML, "<!DOCTYPE html>"),
    "garbage": (200, "garbage \x00 here\n", "garbage"),
    "json": (200, '{"status": "ok"}\n', '{"status": "ok"}'),
    "nan counter": (200, "vllm:prompt_tokens_total NaN\n", "vllm:prompt_tokens_total"),
    "negative counter": (200, "vllm:generation_tokens_total -5\n", "vllm:generation_tokens_total"),
    "http 502 with an html page": (502, HTML, "HTTP 502: '<!DOCTYPE html>"),
    "5 MiB": (200, "#" * (5 * 2**20), f"at most {strictload.MAX_BYTES:,} bytes"),
}


@pytest.mark.parametrize("case", METRICS_CASES)
def test_observe_endpoint_that_is_not_vllm_metrics(capsys, tmp_path, server, case):
    url, answers = server
    status, body, shown = METRICS_CASES[case]
    answers["/metrics"] = (status, "text/plain", body.encode())
    written = tmp_path / "usage.yaml"
    err = _refused(capsys, ["observe", "--endpoint", url, "--window", "1s", "--write-usage", str(written)], written)
    assert f"--endpoint: got '{url}" in err and shown in err


PROMETHEUS_CASES = {
    "html page": (200, HTML, "<!DOCTYPE html>"),
    "not json": (200, "garbage", "garbage"),
    "a json list": (200, "[1, 2]", "[1, 2]"),
    "no data": (200, '{"status": "success"}', '{"status": "success"}'),
    "value not a number": (200, PROM_VECTOR % '{"metric": {}, "value": [1, "lots"]}', "lots"),
    "value NaN": (200, PROM_VECTOR % '{"metric": {}, "value": [1, "NaN"]}', "NaN"),
    "value missing": (200, PROM_VECTOR % '{"metric": {}}', '{"metric": {}}'),
    "repeated key": (200, '{"status": "success", "status": "error"}', "repeated key 'status'"),
    "status error": (200, '{"status": "error", "error": "parse error at char 5"}', "parse error at char 5"),
}


@pytest.mark.parametrize("case", PROMETHEUS_CASES)
def test_observe_prometheus_that_answers_something_else(capsys, tmp_path, server, case):
    url, answers = server
    status, body, shown = PROMETHEUS_CASES[case]
    answers["/api/v1/query"] = (status, "application/json", body.encode())
    written = tmp_path / "usage.yaml"
    err = _refused(capsys, ["observe", "--prometheus", url, "--window", "5m", "--write-usage", str(written)], written)
    assert f"--prometheus: got '{url}/api/v1/query'" in err and shown in err


CALIBRATE_CASES = {
    "html page": (200, "text/html", HTML, "it began '<!DOCTYPE html>'"),
    "chunk not json": (200, "text/event-stream", "data: {bad json\n\n", "not JSON: '{bad json'"),
    "chunk a list": (200, "text/event-stream", "data: [1, 2]\n\n", "without a choices list: '[1, 2]'"),
    "usage not a number": (200, "text/event-stream",
                           'data: {"choices": [], "usage": {"prompt_tokens": "lots", "completion_tokens": 2}}\n\n',
                           "usage.prompt_tokens is 'lots'"),
    "http 502 with an html page": (502, "text/html", HTML, "HTTP 502: '<!DOCTYPE html>"),
}


@pytest.mark.parametrize("case", CALIBRATE_CASES)
def test_calibrate_endpoint_that_is_not_a_completion_stream(capsys, tmp_path, server, case):
    url, answers = server
    status, ctype, body, shown = CALIBRATE_CASES[case]
    answers["/v1/completions"] = (status, ctype, body.encode())
    written = tmp_path / "factors.yaml"
    argv = ["calibrate", "--endpoint", url, "--model", "llama-3.1-8b", "--gpu", "L4", "--concurrency", "1",
            "--requests-per-worker", "1", "--prompt-tokens", "8", "--max-tokens", "2", "--format", "json",
            "--out", str(written)]
    err = _refused(capsys, argv, written)
    assert f"--endpoint: got '{url}'" in err and shown in err


POD_LIST = {"kind": "PodList", "apiVersion": "v1", "items": [{
    "metadata": {"name": "vllm-0", "namespace": "llm", "labels": {"app": "vllm"}},
    "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai", "ports": [{"name": "http", "containerPort": 8000}]}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}]}
KUBE_CASES = {  # id -> (pod list answer, /metrics answer through the pod proxy, the key named, what the line shows)
    "pod list is an html page": ((200, "text/html", HTML), None, "namespace: got 'llm'", "<!DOCTYPE html>"),
    "pod list is not json": ((200, "application/json", "garbage"), None, "namespace: got 'llm'", "Expecting value"),
    "pod list of another shape": ((200, "application/json", '{"items": "none"}'), None, "namespace: got 'llm'",
                                  "validation error for V1Pod"),
    "metrics through the proxy are an html page": ((200, "application/json", None), (200, "text/html", HTML),
                                                   "selector: got 'llm/vllm-0'", "<!DOCTYPE html>"),
}


@pytest.mark.parametrize("case", KUBE_CASES)
def test_kubernetes_api_server_that_answers_something_else(server, case):
    """The official client against a loopback API server: what it cannot read is one InputError, never a traceback."""
    import json

    from kubernetes import client

    from cost.errors import InputError
    from measure.sources import KubeSource

    url, answers = server
    (status, ctype, listing), proxied, key, shown = KUBE_CASES[case]
    answers["/api/v1/namespaces/llm/pods"] = (status, ctype, (listing or json.dumps(POD_LIST)).encode())
    if proxied:
        answers["/api/v1/namespaces/llm/pods/vllm-0:8000/proxy/metrics"] = (proxied[0], proxied[1], proxied[2].encode())
    api = client.CoreV1Api(client.ApiClient(client.Configuration(host=url)))
    with pytest.raises(InputError) as err:
        KubeSource("llm", "app=vllm", api=api).scrape()
    assert str(err.value).startswith(key) and shown in str(err.value) and "\n" not in str(err.value)
