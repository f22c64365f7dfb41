"""The Grafana dashboard shipped with the chart: a labelled ConfigMap behind a values flag."""

from __future__ import annotations

import json
import re

from measure import metrics

ECON = {"metrics.grafanaDashboard.enabled": True, "metrics.grafanaDashboard.hourlyCostUsd": 2,
        "metrics.grafanaDashboard.capacityTokensPerSecond": 1500, "metrics.grafanaDashboard.apiUsdPerMtok": 1}


def _dashboards(rendered) -> list[dict]:
    return [o for o in rendered.of_kind("ConfigMap") if o["metadata"]["name"].endswith("-dashboard")]


def test_off_by_default(render):
    assert _dashboards(render()) == []


def test_configmap_carries_the_sidecar_label_and_the_deployments_economics(render):
    (cm,) = _dashboards(render(set=ECON, set_string={"metrics.grafanaDashboard.apiName": "novita"}))
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = cm["data"].values()
    dash = json.loads(text)
    assert not re.search(r"__[A-Z_]+__", text), "a placeholder was left unreplaced"
    var = {v["name"]: v for v in dash["templating"]["list"]}
    assert var["hourly_cost_usd"]["query"] == "2" and var["capacity_tokens_per_s"]["query"] == "1500"
    assert var["api_usd_per_mtok"]["query"] == "1" and var["api_name"]["query"] == "novita"
    titles = " | ".join(p["title"] for p in dash["panels"])
    for what in ("Tokens per second", "queue", "KV cache", "$ per 1M tokens", "Utilization"):
        assert what in titles


def test_every_query_reads_metrics_vllm_exposes(render):
    (cm,) = _dashboards(render(set=ECON))
    dash = json.loads(next(iter(cm["data"].values())))
    exposed = set(metrics.COUNTERS + metrics.GAUGES + metrics.KV_USAGE)
    used = set()
    for panel in dash["panels"]:
        for t in panel["targets"]:
            used |= set(re.findall(r"vllm:[a-z_]+", t["expr"]))
    assert used and used <= exposed, used - exposed


def test_schema_refuses_a_non_numeric_cost(render_error):
    err = render_error(set={"metrics.grafanaDashboard.enabled": True}, set_string={"metrics.grafanaDashboard.hourlyCostUsd": "lots"})
    assert "hourlyCostUsd" in err


def test_configmap_is_a_valid_kubernetes_object(render):
    import kubernetes_validate
    from chartkit import KUBE_VERSION

    (cm,) = _dashboards(render(set=ECON))
    kubernetes_validate.validate(cm, KUBE_VERSION, strict=True)
