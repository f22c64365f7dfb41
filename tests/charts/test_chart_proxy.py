"""The path allow-list in front of vLLM, run for real: the chart's rendered nginx.conf in nginx.

vLLM's API key guards only /v1 (and /v2, /inference, /cohere); /tokenize, /score, /rerank,
/invocations and others answer anyone. The chart binds vLLM to 127.0.0.1 and puts nginx in front
(templates/proxy-configmap.yaml). This test renders that config, starts the system's nginx with it
(Debian: `apt-get install nginx-light`), puts a recording HTTP server where vLLM would listen, and
checks which requests get through. The only edits to the rendered text: /tmp (an emptyDir in the
pod) becomes a private temporary folder, and the ports are free loopback ports set through values.
"""

from __future__ import annotations

import http.client
import http.server
import shutil
import socket
import subprocess
import threading
import time
from typing import ClassVar

import pytest
from chartkit import in_ci

pytestmark = pytest.mark.nginx  # the rendered nginx.conf in the real nginx

ALLOWED_API = [("GET", "/v1/models"), ("POST", "/v1/completions"), ("POST", "/v1/chat/completions"), ("GET", "/health")]
# Open on vLLM 0.32 without the API key; none may pass the proxy.
UNAUTHENTICATED = ["/tokenize", "/detokenize", "/score", "/rerank", "/invocations", "/pooling", "/classify",
                   "/version", "/load", "/ping", "/metrics", "/server_info", "/reset_prefix_cache", "/v2/rerank"]
TRICKS = ["/v1/../tokenize", "/v1/%2e%2e/tokenize", "//tokenize", "/v1/%2E%2E/score", "/v1/..%2ftokenize"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str]]] = []   # one recorder the server's handler instances share

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        _Recorder.seen.append((self.command, self.path))
        body = b"upstream " + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):  # quiet
        pass


def _request(port: int, method: str, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=b"{}" if method == "POST" else None,
                 headers={"Content-Type": "application/json"} if method == "POST" else {})
    status = conn.getresponse().status
    conn.close()
    return status


@pytest.fixture
def proxy(render, tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if shutil.os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        if in_ci():
            pytest.fail("nginx is not installed (apt-get install nginx-light)")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    api, metrics, upstream = _free_port(), _free_port(), _free_port()
    r = render("prod", set={"server.port": api, "proxy.metricsPort": metrics, "proxy.upstreamPort": upstream})
    conf = next(o for o in r.of_kind("ConfigMap") if o["metadata"]["name"].endswith("-proxy"))["data"]["nginx.conf"]
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "nginx.conf").write_text(conf.replace("/tmp/", f"{tmp_path}/"))

    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", upstream), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "conf" / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", api), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
                pytest.fail(f"nginx did not start with the rendered config:\n{out}")
            time.sleep(0.2)
    yield {"api": api, "metrics": metrics}
    proc.terminate()
    proc.wait(timeout=10)
    server.shutdown()


def test_only_the_api_health_and_metrics_reach_vllm(proxy):
    for method, path in ALLOWED_API:
        assert _request(proxy["api"], method, path) == 200, path
    for path in UNAUTHENTICATED:
        for method in ("GET", "POST"):
            assert _request(proxy["api"], method, path) == 404, (method, path)
    for path in TRICKS:
        assert _request(proxy["api"], "GET", path) in (400, 404), path
    # /metrics only on the metrics port (which the NetworkPolicy opens to scrapers alone), and nothing else there.
    assert _request(proxy["metrics"], "GET", "/metrics") == 200
    assert _request(proxy["metrics"], "GET", "/v1/models") == 404
    assert _request(proxy["metrics"], "GET", "/tokenize") == 404
    # vLLM saw exactly the allowed requests, with their paths unchanged.
    assert sorted(_Recorder.seen) == sorted(ALLOWED_API + [("GET", "/metrics")])
