"""The LeaderWorkerSet controller: installed when a model's replica spans nodes (charts/vllm then renders a
`leaderworkerset.x-k8s.io/v1` LeaderWorkerSet instead of a Deployment, and the API server must know the CRD).

Installed from the project's own Helm chart, pinned by version, as the LWS installation guide gives it
(https://lws.sigs.k8s.io/docs/installation/: `helm install lws oci://registry.k8s.io/lws/charts/lws
--version=<CHART_VERSION> --namespace lws-system --create-namespace`). The chart carries the CRD, the
controller Deployment and its admission webhook (with its own certificate; no cert-manager needed).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes.helm.v4 as helm

from infra.components.pinned_chart import namespaced_chart

LWS_CHART = "oci://registry.k8s.io/lws/charts/lws"
LWS_CHART_VERSION = "0.7.0"   # LeaderWorkerSet v0.7.0: leaderworkerset.x-k8s.io/v1, startupPolicy, LWS_* pod env
LWS_NAMESPACE = "lws-system"


class LwsController(pulumi.ComponentResource):
    """Namespace `lws-system` and the pinned LeaderWorkerSet chart (CRD, controller, webhook)."""

    chart: helm.Chart

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:serving:LwsController", name, None, opts)
        provider = opts.provider if opts else None
        self.chart = namespaced_chart(self, name, namespace=LWS_NAMESPACE, chart=LWS_CHART, version=LWS_CHART_VERSION, release="lws",
                                      provider=provider)
        self.register_outputs({"chart": LWS_CHART, "version": LWS_CHART_VERSION, "namespace": LWS_NAMESPACE})
