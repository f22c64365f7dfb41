"""Where a GPU node keeps the model weights, so a restarted pod on the same node does not download them again.

- An instance with NVMe instance store (cost/data/instance-hardware.yaml) on an AL2023 node: the volumes
  are assembled into one RAID0 array mounted at /mnt/k8s-disks/0 (nodeadm's `localStorage` strategy
  RAID0, AWS EKS AL2023 NodeConfig API), and the weights live in a directory on it. It costs nothing
  beyond the instance (instance store is included in the hourly price) and survives pod restarts, not
  the node (instance store is wiped when the instance stops or is replaced).
- Otherwise: a directory on the node's gp3 volume, which the report already prices (`Model storage`,
  sized from the checkpoint catalog through breakeven:pricing.overheads.storageGibPerNode).
- Bottlerocket nodes run no user scripts to prepare a host directory: the cache stays an emptyDir there
  (re-downloaded by every new pod), and the report says so.

A replaced node (upgrade, repair, spot reclaim) starts empty and downloads the weights again through
the NAT gateways: that is the path the startup window must allow for, and the platform bill prices it
(`NAT data processed`, node_restarts_per_month in cost/data/platform.yaml).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cost.catalog.instance_hardware import hardware

RAID_MOUNT = "/mnt/k8s-disks/0"
NVME_CACHE_PATH = f"{RAID_MOUNT}/breakeven-models"
ROOT_CACHE_PATH = "/var/lib/breakeven/models"
# The vLLM chart's startup window: baseSeconds + secondsPerGiB x weights (charts/vllm/values.yaml,
# probes.startup): a download from Hugging Face at ~68 MiB/s (15 s/GiB) plus load and warm-up.
STARTUP_BASE_S = 240
DOWNLOAD_S_PER_GIB = 15


def pod_cache_gib(weights_gib: int) -> int:
    """Model cache of one pod: the weights plus 10 % and 5 GiB (what vLLM writes beside the checkpoint)."""
    return math.ceil(weights_gib * 1.1) + 5


def node_cache_gib(weights_gib: int, replicas_per_instance: int) -> int:
    """Cache one GPU node needs for the replicas packed on it."""
    return replicas_per_instance * pod_cache_gib(weights_gib)


@dataclass(frozen=True)
class WeightsCache:
    medium: str            # instance-store | ebs | emptyDir
    path: str              # host directory ("" for an emptyDir)
    capacity_gib: float    # what the medium holds
    needed_gib: int        # the caches of the replicas packed on one node
    source: str            # where the capacity comes from and what it costs

    @property
    def persistent(self) -> bool:
        """Survives a pod restart on the same node."""
        return self.medium != "emptyDir"

    def to_dict(self) -> dict:
        return {"medium": self.medium, "path": self.path, "capacity_gib": self.capacity_gib,
                "needed_gib_per_node": self.needed_gib, "persistent": self.persistent, "source": self.source}


def plan_cache(instance_type: str, ami_type: str, needed_gib: int) -> WeightsCache:
    """The node-local cache of one GPU node that needs `needed_gib` for its replicas' weights."""
    if ami_type.startswith("BOTTLEROCKET"):
        return WeightsCache("emptyDir", "", 0.0, needed_gib,
                            "Bottlerocket runs no user-data scripts: no host directory is prepared")
    hw = hardware(instance_type)
    if hw.store_gib >= needed_gib:
        return WeightsCache("instance-store", NVME_CACHE_PATH, round(hw.store_gib, 1), needed_gib,
                            f"{hw.store_volumes} x {hw.store_gb_each} GB NVMe instance store in RAID0, included in the "
                            f"{instance_type} price; {hw.source}")
    return WeightsCache("ebs", ROOT_CACHE_PATH, float(needed_gib), needed_gib,
                        "the node's gp3 volume, priced as Model storage")


def cold_start_s(weights_gib: int) -> int:
    """A pod on a new node: download the weights, load them, warm up (the chart's startup window)."""
    return STARTUP_BASE_S + math.ceil(DOWNLOAD_S_PER_GIB * weights_gib)
