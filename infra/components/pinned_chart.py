"""A namespace of its own and a remote Helm chart pinned by version, installed into it (the LeaderWorkerSet
controller, the monitoring stack)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes.core.v1 as core
import pulumi_kubernetes.helm.v4 as helm

# The labels on every Kubernetes object breakeven creates.
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "breakeven"}


def namespaced_chart(parent: pulumi.Resource, name: str, *, namespace: str, chart: str, version: str, release: str,
                     values: dict[str, Any] | None = None, provider: pulumi.ProviderResource | None = None) -> helm.Chart:
    """Namespace `namespace` (labelled as breakeven's) and `chart` at `version` released as `release` in it,
    both children of `parent`; the chart waits for the namespace."""
    ns = core.Namespace(f"{name}-namespace", metadata={"name": namespace, "labels": MANAGED_BY},
                        opts=pulumi.ResourceOptions(parent=parent, provider=provider))
    return helm.Chart(f"{name}-chart", chart=chart, version=version, name=release, namespace=namespace, values=values,
                      opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[ns]))
