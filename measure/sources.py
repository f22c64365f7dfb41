"""Where vLLM's metrics come from: endpoint URLs, a deployment's pods (Kubernetes API server pod
proxy, with the official `kubernetes` client), or a Prometheus server (PromQL `increase`)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx

from cost.catalog import strictload
from cost.errors import InputError
from measure.metrics import Scrape, merge, parse

DEFAULT_PORT = 8000          # vLLM's --port default and the chart's server.port
HTTP_PORT_NAME = "http"      # the chart's container port name
WORKER_ROLE = ("breakeven.dev/role", "worker")   # LeaderWorkerSet workers serve no API and no /metrics


RESPONSE_SECONDS = 60.0      # the longest one answer may take to arrive in full (a trickling server stops here)


def _get(client: httpx.Client, url: str, key: str, **params: Any) -> str:
    """The body of a 200 answer, at most strictload.MAX_BYTES and RESPONSE_SECONDS; else an InputError naming
    `key`, the URL and the first bytes of what came back."""
    deadline = time.monotonic() + RESPONSE_SECONDS
    body = b""
    try:
        with client.stream("GET", url, params=params or None) as r:
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > strictload.MAX_BYTES or time.monotonic() > deadline:
                    raise InputError(key, url, f"an answer of at most {strictload.MAX_BYTES:,} bytes within "
                                     f"{RESPONSE_SECONDS:.0f} s", f"it sent {len(body):,} bytes: {strictload.first_bytes(body)!r}")
            status, encoding = r.status_code, r.encoding or "utf-8"
    except httpx.HTTPError as e:
        raise InputError(key, url, "a reachable URL", f"{type(e).__name__}: {e}") from None
    text = body.decode(encoding, errors="replace")
    if status != 200:
        raise InputError(key, url, "a URL that answers 200", f"HTTP {status}: {strictload.first_bytes(text, 200)!r}")
    return text


class EndpointSource:
    """Scrapes `<base URL>/metrics` of each endpoint (a vLLM server, or a Service in front of one)."""

    def __init__(self, urls: list[str], client: httpx.Client | None = None):
        for u in urls:
            if not u.startswith(("http://", "https://")):
                raise InputError("endpoint", u, "an http:// or https:// base URL of a vLLM server")
        self.urls = [u.rstrip("/") for u in urls]
        self.client = client or httpx.Client(timeout=10.0)

    def describe(self) -> str:
        return "endpoint " + ", ".join(self.urls)

    def scrape(self) -> Scrape:
        at = time.time()
        return Scrape(at, merge([parse(_get(self.client, f"{u}/metrics", "endpoint"), u) for u in self.urls]))


# --- Kubernetes ---------------------------------------------------------------------------------
def _ready(pod: Any) -> bool:
    conds = (pod.status.conditions or []) if pod.status else []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


def select_pods(pods: list[Any]) -> list[Any]:
    """The pods that serve metrics: Running, Ready, not being deleted, not LeaderWorkerSet workers.
    Sorted by name. Takes the client's V1Pod objects."""
    out = []
    for p in pods:
        labels = p.metadata.labels or {}
        if labels.get(WORKER_ROLE[0]) == WORKER_ROLE[1] or p.metadata.deletion_timestamp is not None:
            continue
        if p.status is None or p.status.phase != "Running" or not _ready(p):
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.metadata.name)


def metrics_port(pod: Any, default: int = DEFAULT_PORT) -> int:
    """The container port named `http` (the chart's), else `default`."""
    for c in pod.spec.containers or []:
        for port in c.ports or []:
            if port.name == HTTP_PORT_NAME:
                return int(port.container_port)
    return default


def proxy_path(namespace: str, pod: str, port: int, path: str = "metrics") -> str:
    """The API server's pod-proxy path for a pod's port (what the client requests)."""
    return f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/{path}"


class KubeSource:
    """Finds a deployment's pods by label selector and scrapes each through the API server's pod proxy."""

    def __init__(self, namespace: str, selector: str, api: Any = None, port: int | None = None):
        if not selector or not selector.strip():
            raise InputError("selector", selector, "a Kubernetes label selector such as app.kubernetes.io/name=vllm")
        self.namespace, self.selector, self.port = namespace, selector, port
        if api is None:
            from kubernetes import client, config

            try:
                config.load_incluster_config()
            except config.ConfigException:
                try:
                    config.load_kube_config()
                except (config.ConfigException, OSError) as e:
                    raise InputError("namespace", namespace, "a cluster reachable with your kubeconfig or in-cluster",
                                     f"no Kubernetes configuration: {e}") from None
            api = client.CoreV1Api()
        self.api = api

    def describe(self) -> str:
        return f"pods {self.selector} in namespace {self.namespace} (API server pod proxy)"

    def _host(self) -> str:
        """The API server's URL, as the client's configuration names it."""
        config = getattr(getattr(self.api, "api_client", None), "configuration", None)
        return str(getattr(config, "host", "the API server"))

    def pods(self) -> list[Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            items = self.api.list_namespaced_pod(self.namespace, label_selector=self.selector).items
        except ApiException as e:
            raise InputError("namespace", self.namespace, "a namespace you may list pods in",
                             f"HTTP {e.status}: {e.reason}") from None
        except ValueError as e:   # the client could not read the answer as a pod list (JSON or its schema)
            raise InputError("namespace", self.namespace, "a Kubernetes API server that answers a pod list",
                             f"{self._host()} answered something else: {' '.join(str(e).split())[:200]}") from None
        pods = select_pods(items)
        if not pods:
            raise InputError("selector", self.selector, "a selector matching Running, Ready vLLM pods",
                             f"{len(items)} pod(s) matched in {self.namespace}, none ready")
        return pods

    def scrape(self) -> Scrape:
        from kubernetes.client.exceptions import ApiException

        at = time.time()
        parts = []
        for pod in self.pods():
            name = pod.metadata.name
            port = self.port or metrics_port(pod)
            try:
                text = self.api.connect_get_namespaced_pod_proxy_with_path(f"{name}:{port}", self.namespace, "metrics")
            except ApiException as e:
                raise InputError("selector", self.selector, "pods whose /metrics the API server can proxy",
                                 f"{proxy_path(self.namespace, name, port)}: HTTP {e.status}: {e.reason}") from None
            parts.append(parse(text, f"{self.namespace}/{name}", "selector"))
        return Scrape(at, merge(parts))


# --- Prometheus -------------------------------------------------------------------------------------
def _sample(series: Any) -> float | None:
    """The value of one instant-vector series ({"metric": {...}, "value": [time, "12.5"]}): finite and >= 0
    (every query breakeven sends sums counters' increases or gauges); None when it is not one."""
    value = series.get("value") if isinstance(series, dict) else None
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[1], str):
        return None
    try:
        number = float(value[1])
    except ValueError:
        return None
    return number if math.isfinite(number) and 0 <= number <= strictload.MAX_MAGNITUDE else None


@dataclass(frozen=True)
class PromWindow:
    """What a Prometheus server says about a window: counter increases, resets and gauge stats."""

    increases: dict[str, float]
    resets: dict[str, int]
    gauges: dict[str, dict[str, float]]
    queries: tuple[str, ...]


class PrometheusSource:
    """Asks a Prometheus server for `increase()` / `resets()` of vLLM's counters over the window."""

    def __init__(self, url: str, match: str = "", client: httpx.Client | None = None):
        if not url.startswith(("http://", "https://")):
            raise InputError("prometheus", url, "an http:// or https:// URL of a Prometheus server")
        self.url, self.match = url.rstrip("/"), match
        self.client = client or httpx.Client(timeout=30.0)

    def describe(self) -> str:
        return f"prometheus {self.url}" + (f" {{{self.match}}}" if self.match else "")

    def query(self, promql: str, at: float) -> list[float]:
        """The sample values of an instant query's vector result (one per series)."""
        url = f"{self.url}/api/v1/query"
        text = _get(self.client, url, "prometheus", query=promql, time=f"{at:.3f}")
        try:
            doc = strictload.json_text(text, url, "prometheus")
        except InputError as e:
            raise InputError("prometheus", url, "the JSON of a Prometheus HTTP API", e.detail or str(e)) from None
        if not isinstance(doc, dict) or doc.get("status") != "success":
            error = doc.get("error") if isinstance(doc, dict) else None
            raise InputError("prometheus", url, "a Prometheus HTTP API that answers status success",
                             f"{promql}: {error or strictload.first_bytes(text)!r}")
        result = doc["data"].get("result") if isinstance(doc.get("data"), dict) else None
        allowed = 'an instant vector: data.result = [{"metric": {...}, "value": [time, "number"]}]'
        if not isinstance(result, list):
            raise InputError("prometheus", url, allowed, f"{promql}: it answered {strictload.first_bytes(text)!r}")
        values = [_sample(r) for r in result]
        if None in values:
            bad = json.dumps(result[values.index(None)])
            raise InputError("prometheus", url, allowed + ", each number finite and >= 0",
                             f"{promql}: a series is {strictload.first_bytes(bad)!r}")
        return [v for v in values if v is not None]

    def window(self, counters: tuple[str, ...], gauges: tuple[str, ...], kv: tuple[str, ...],
               window_s: float, at: float) -> PromWindow:
        rng = f"{round(window_s)}s"
        sel = f"{{{self.match}}}" if self.match else ""
        queries, inc, res, g = [], {}, {}, {}
        for m in counters:
            q = f"sum(increase({m}{sel}[{rng}]))"
            queries.append(q)
            r = self.query(q, at)
            if not r:
                raise InputError("metric", m, "a metric the Prometheus server has for the selection",
                                 f"no series for {m}{sel} in the last {rng}")
            inc[m] = r[0]
            q = f"sum(resets({m}{sel}[{rng}]))"
            queries.append(q)
            r = self.query(q, at)
            res[m] = int(r[0]) if r else 0
        def over_window(m: str, agg: str) -> dict[str, float] | None:
            stats = {}
            for fn, key in (("avg", "mean"), ("max", "max")):
                q = f"{fn}_over_time({agg}({m}{sel})[{rng}:])"
                queries.append(q)
                r = self.query(q, at)
                if not r:
                    return None
                stats[key] = r[0]
            return stats

        for m in gauges:
            stats = over_window(m, "sum")
            if stats is None:
                raise InputError("metric", m, "a metric the Prometheus server has for the selection",
                                 f"no series for {m}{sel} in the last {rng}")
            g[m] = stats
        for m in kv:                      # the current name first, then the older one
            stats = over_window(m, "avg")
            if stats is not None:
                g[m] = stats
                break
        else:
            raise InputError("metric", kv[0], "a metric the Prometheus server has for the selection",
                             f"no series for {kv[0]} (or {', '.join(kv[1:])}){sel} in the last {rng}")
        return PromWindow(inc, res, g, tuple(queries))
