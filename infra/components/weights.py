"""The node-local weights cache on the cluster (cost/physics/weights_cache.py decides where): the GPU nodes' user
data that prepares the directory, and the chart's `modelCache` values that mount it.

AL2023 EKS nodes read user data as a MIME multi-part document: a `NodeConfig` part for nodeadm (EKS merges
its own cluster settings in) and shell-script parts cloud-init runs after nodeadm has configured the node
(AWS EKS user guide, "Amazon EC2 user data" for AL2023 / nodeadm). With instance store, the NodeConfig asks
nodeadm to assemble the NVMe volumes into RAID0 at /mnt/k8s-disks/0 (`spec.instance.localStorage.strategy:
RAID0`); the script creates the cache directory owned by the chart's pod user (runAsUser/runAsGroup 1000),
so the chart mounts it as a hostPath of type Directory and every pod on the node shares one copy.
"""

from __future__ import annotations

import base64

from cost.physics.weights_cache import WeightsCache, node_cache_gib, plan_cache
from infra.config.spec import ClusterSpec
from infra.placement import ModelPlacement

POD_UID = 1000   # charts/vllm values.yaml podSecurityContext.runAsUser / runAsGroup
BOUNDARY = "BREAKEVEN-USER-DATA"


def model_cache(cluster: ClusterSpec, p: ModelPlacement) -> WeightsCache:
    """Where one of the model's GPU nodes keeps its replicas' weights (an existing cluster's nodes are not
    the program's to prepare: an emptyDir there)."""
    needed = node_cache_gib(p.model.weights_gib, p.plan.replicas_per_instance)
    if cluster.existing is not None:
        return WeightsCache("emptyDir", "", 0.0, needed, "an existing cluster: its nodes are not prepared by this program")
    return plan_cache(p.model.instance_type, cluster.gpu_ami_type, needed)


def user_data(cache: WeightsCache) -> str | None:
    """The GPU launch template's user data (base64 MIME multi-part), or None when nothing is prepared."""
    if not cache.persistent:
        return None
    parts = []
    if cache.medium == "instance-store":
        parts.append(("application/node.eks.aws",
                      "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  instance:\n"
                      "    localStorage:\n      strategy: RAID0\n"))
    parts.append(("text/x-shellscript",
                  "#!/bin/bash\nset -euo pipefail\n"
                  f"install -d -m 0750 -o {POD_UID} -g {POD_UID} {cache.path}\n"))
    body = "MIME-Version: 1.0\n" + f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\n\n'
    for content_type, text in parts:
        body += f"--{BOUNDARY}\nContent-Type: {content_type}\n\n{text}\n"
    body += f"--{BOUNDARY}--\n"
    return base64.b64encode(body.encode()).decode()


def cache_values(cache: WeightsCache, cache_gib: int) -> dict:
    """The chart's `modelCache` for this cache: a hostPath shared by the node's pods, or an emptyDir."""
    if cache.persistent:
        return {"type": "hostPath", "mountPath": "/models", "hostPath": {"path": cache.path}}
    return {"type": "emptyDir", "mountPath": "/models", "emptyDir": {"sizeLimit": f"{cache_gib}Gi"}}
