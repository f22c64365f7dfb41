"""The monitoring the report prices is what the program deploys: Prometheus scraping vLLM, Grafana fed."""

from __future__ import annotations

import pytest

from infra.components.monitoring import MONITORING_CHART, MONITORING_CHART_VERSION, MONITORING_NAMESPACE
from infra.offline import helmrender
from tests.infra.conftest import STACKS, run_stack, stack_value

P = "breakeven:"


def _monitoring_charts(run) -> list:
    return [r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs.get("chart") == MONITORING_CHART]


@pytest.mark.parametrize("stack", STACKS)
def test_priced_monitoring_is_deployed_and_scrapes_every_model(runs, stack):
    _, run, spec = runs[stack]
    priced = sum(i["monthly_usd"] for m in run.outputs["cost"]["models"] for i in m["self_hosted"]["line_items"]
                 if i["name"] == "Monitoring")
    assert priced == spec.pricing.overheads.monitoring_usd_per_month > 0
    [chart] = _monitoring_charts(run)
    assert chart.inputs["version"] == MONITORING_CHART_VERSION and chart.inputs["namespace"] == MONITORING_NAMESPACE
    prom = chart.inputs["values"]["prometheus"]["prometheusSpec"]
    assert prom["podMonitorSelectorNilUsesHelmValues"] is False   # PodMonitors of every release, not only its own
    sidecar = chart.inputs["values"]["grafana"]["sidecar"]["dashboards"]
    for c in (r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs["chart"] == "./charts/vllm"):
        v = c.inputs["values"]
        assert v["metrics"]["podMonitor"]["enabled"] is True
        assert MONITORING_NAMESPACE in v["networkPolicy"]["metricsNamespaces"]
        # the dashboard ConfigMap carries the label Grafana's sidecar looks for, in a namespace it searches
        assert sidecar["searchNamespace"] == "ALL" and sidecar["label"] == "grafana_dashboard"
    assert run.outputs["monitoring"]["deployed"] is True
    report = next(m for s, m in run.logs if s == "info" and m.startswith("breakeven cost report"))
    assert f"Monitoring: priced ${priced:,.2f}/month and deployed" in report


@pytest.mark.helm
def test_the_rendered_podmonitor_and_network_policy_let_prometheus_scrape_vllm(runs):
    """The values the program passed to the chart (recorded by the mock engine), rendered with helm."""
    _, run, spec = runs["prod"]
    m = spec.models[0]
    [chart] = [r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs["chart"] == "./charts/vllm"]
    r = helmrender.render("chart", "charts/vllm", m.name, spec.namespace, chart.inputs["values"],
                          spec.cluster.kubernetes_version)
    [pm] = [o for o in r.objects if o["kind"] == "PodMonitor"]
    [endpoint] = pm["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    [np] = [o for o in r.objects if o["kind"] == "NetworkPolicy"]
    scrape = [rule for rule in np["spec"]["ingress"]
              if any(f.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == MONITORING_NAMESPACE
                     for f in rule.get("from", []))]
    assert scrape, np["spec"]["ingress"]
    dash = [o for o in r.objects if o["kind"] == "ConfigMap" and o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert dash


def test_unpriced_monitoring_is_not_deployed_and_the_report_says_so():
    pricing = stack_value("prod", f"{P}pricing")
    pricing.setdefault("overheads", {})["monitoringUsdPerMonth"] = 0
    _, run = run_stack("prod", {f"{P}pricing": pricing})
    assert run.error is None
    assert not _monitoring_charts(run)
    assert run.outputs["monitoring"] == {"deployed": False, "priced_usd_per_month": 0.0}
    for c in (r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart"):
        assert "podMonitor" not in c.inputs["values"].get("metrics", {})
    report = next(m for s, m in run.logs if s == "info" and m.startswith("breakeven cost report"))
    assert "Monitoring: not priced and not deployed" in report
