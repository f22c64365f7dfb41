"""Pod discovery with the official kubernetes client.

No Kubernetes API server can run on this machine, so pod selection is tested on the client's own
model objects (V1Pod, V1PodList, ...), and the requests the real client sends (pod list with a
label selector, then GET through the API server's pod proxy) are checked against a loopback HTTP
listener that records each path and answers the client's JSON / metrics text.
"""

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlparse

import pytest
from kubernetes import client

from cost.errors import InputError
from measure.sources import KubeSource, metrics_port, proxy_path, select_pods
from tests.localserver import serving
from tests.measure.test_counters import exposition


def pod(name, phase="Running", ready=True, port=8000, role=None, deleting=False):
    labels = {"app.kubernetes.io/name": "vllm"} | ({"breakeven.dev/role": role} if role else {})
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace="llm", labels=labels,
                                     deletion_timestamp="2026-11-29T00:00:00Z" if deleting else None),
        spec=client.V1PodSpec(containers=[client.V1Container(
            name="vllm", image="vllm/vllm-openai", ports=[client.V1ContainerPort(name="http", container_port=port)])]),
        status=client.V1PodStatus(phase=phase, conditions=[
            client.V1PodCondition(type="Ready", status="True" if ready else "False")]),
    )


def test_selection_keeps_running_ready_leaders_only():
    pods = [pod("b-1"), pod("a-0"), pod("pending", phase="Pending", ready=False), pod("unready", ready=False),
            pod("lws-worker", role="worker"), pod("lws-leader", role="leader"), pod("old", deleting=True)]
    assert [p.metadata.name for p in select_pods(pods)] == ["a-0", "b-1", "lws-leader"]


def test_metrics_port_is_the_named_http_port():
    assert metrics_port(pod("a", port=9000)) == 9000
    bare = pod("b")
    bare.spec.containers[0].ports = None
    assert metrics_port(bare) == 8000


def test_proxy_path():
    assert proxy_path("llm", "vllm-0", 8000) == "/api/v1/namespaces/llm/pods/vllm-0:8000/proxy/metrics"


@pytest.fixture
def fake_api_server():
    """A loopback listener answering the two calls the client makes; records every request line."""
    seen = []
    pods = client.V1PodList(items=[pod("vllm-0", port=8000), pod("vllm-1", port=8001), pod("down", ready=False)])
    unready = client.V1PodList(items=[pod("down", ready=False)])
    to_json = lambda x: json.dumps(client.ApiClient().sanitize_for_serialization(x)).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            url = urlparse(self.path)
            if url.path == "/api/v1/namespaces/llm/pods":
                selector = parse_qs(url.query)["labelSelector"][0]
                payload, ctype = to_json(unready if selector == "app=down" else pods), "application/json"
            elif url.path.endswith("/proxy/metrics"):
                payload, ctype = exposition(prompt=10, gen=5).encode(), "text/plain; version=0.0.4"
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *a):
            pass

    with serving(Handler) as url:
        yield client.CoreV1Api(client.ApiClient(client.Configuration(host=url))), seen


def test_real_client_lists_by_selector_and_scrapes_through_the_pod_proxy(fake_api_server):
    api, seen = fake_api_server
    src = KubeSource("llm", "app.kubernetes.io/name=vllm", api=api)
    sc = src.scrape()
    listing = urlparse(seen[0])
    assert listing.path == "/api/v1/namespaces/llm/pods"
    assert parse_qs(listing.query)["labelSelector"] == ["app.kubernetes.io/name=vllm"]
    # the client percent-encodes the ':' of name:port; the API server decodes it
    assert [unquote(p) for p in seen[1:]] == [proxy_path("llm", "vllm-0", 8000), proxy_path("llm", "vllm-1", 8001)]
    series = sc.values["vllm:prompt_tokens_total"]
    assert {s[0] for s in series} == {"llm/vllm-0", "llm/vllm-1"} and sum(series.values()) == 20


def test_no_ready_pod_is_an_error_naming_the_selector(fake_api_server):
    api, _ = fake_api_server
    with pytest.raises(InputError, match=r"selector: got 'app=down'.*1 pod\(s\) matched in llm, none ready"):
        KubeSource("llm", "app=down", api=api).scrape()


def test_bad_selector_is_refused_before_any_call():
    with pytest.raises(InputError, match="selector"):
        KubeSource("llm", "", api=object())
