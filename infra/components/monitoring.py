"""The monitoring the report prices (`Monitoring` line, breakeven:pricing.overheads.monitoringUsdPerMonth):
Prometheus scraping every vLLM pod's /metrics and Grafana showing the chart's dashboard.

Deployed from the prometheus-community kube-prometheus-stack chart, pinned by version, into the namespace the
vLLM NetworkPolicy admits scrapers from (`breakeven:access.metricsNamespaces`, default `monitoring`). The
chart's CRDs (PodMonitor, ServiceMonitor) come with it; the vLLM chart then renders a PodMonitor per model,
and Grafana's sidecar loads the `grafana_dashboard: "1"` ConfigMap the vLLM chart ships (its cost figures
are set by the program). `breakeven observe --prometheus` reads the same Prometheus (docs/deploying.md, "Monitoring").
A stack that prices no monitoring (monitoringUsdPerMonth: 0) deploys none.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.helm.v4 as helm

from infra.components.pinned_chart import namespaced_chart

MONITORING_CHART = "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack"
MONITORING_CHART_VERSION = "79.12.0"
MONITORING_NAMESPACE = "monitoring"
MONITORING_FULLNAME = "breakeven-monitoring"   # Prometheus answers at svc/breakeven-monitoring-prometheus:9090
PROMETHEUS_RETENTION = "15d"


def monitoring_values() -> dict:
    """kube-prometheus-stack values: Prometheus selects PodMonitors from every namespace (not only its own
    release's), Grafana's sidecar loads labelled dashboards from every namespace, no control-plane
    scrapers EKS does not expose (etcd, scheduler, controller manager, kube-proxy metrics on localhost)."""
    return {
        "fullnameOverride": MONITORING_FULLNAME,
        "prometheus": {"prometheusSpec": {
            "podMonitorSelectorNilUsesHelmValues": False,
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "retention": PROMETHEUS_RETENTION,
        }},
        "grafana": {"sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1",
                                               "searchNamespace": "ALL"}}},
        "kubeEtcd": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeProxy": {"enabled": False},
    }


class Monitoring(pulumi.ComponentResource):
    """Namespace `monitoring` and the pinned kube-prometheus-stack chart (Prometheus, Grafana, the operator)."""

    chart: helm.Chart

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:monitoring:Monitoring", name, None, opts)
        provider = opts.provider if opts else None
        self.chart = namespaced_chart(self, name, namespace=MONITORING_NAMESPACE, chart=MONITORING_CHART, version=MONITORING_CHART_VERSION, release="monitoring",
                                      values=monitoring_values(), provider=provider)
        self.register_outputs({"chart": MONITORING_CHART, "version": MONITORING_CHART_VERSION,
                               "namespace": MONITORING_NAMESPACE})
