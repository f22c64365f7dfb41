"""observe and calibrate against a local server that answers something other than what the kit expects.

Every case: exit 2, one line naming the flag, the URL and what came back (its first bytes), no traceback, no
hang, nothing printed on stdout and no usage or factors file written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from breakeven import cli
from cost import strictload

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
            status, ctype, body = answers.get(self.path.split("?")[0], (404, "text/plain", b"not found"))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", answers
    srv.shutdown()
    srv.server_close()


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
