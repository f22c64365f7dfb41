"""The rest of the bill: what the cluster around the GPU nodes costs each month.

Every AWS resource the program creates besides the GPU instances and their priced storage (those
are the fleet's line items, cost/pricing/tco.py): the EKS control plane (standard or extended-support rate
from cost/data/eks.yaml), NAT gateways and the data they process, their public IPv4 addresses,
the system node group and its disks, GPU root-volume throughput and IOPS above the gp3 baseline,
the KMS key and the control-plane logs. Unit prices and stated assumptions: cost/data/platform.yaml.
Pure Python, no Pulumi: the program, the preview and the policy pack call the same functions.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import cache

from cost import catalog
from cost.catalog import eks
from cost.errors import InputError
from cost.pricing.tco import LineItem

HOURS = 730.0


@cache
def prices() -> dict:
    return catalog._load("platform.yaml")


@dataclass(frozen=True)
class RootVolume:
    """A GPU node's gp3 root volume: size, and throughput/IOPS to write the node's weights in time."""

    gib: int
    mibps: int
    iops: int


def root_volume(gib: int, weights_bytes_per_node: float) -> RootVolume:
    """gp3 sized to write the node's weights within `assumed.weights_write_seconds`, within gp3's limits
    (125-1000 MiB/s; IOPS at least throughput / 0.25 and 3,000)."""
    p = prices()["ebs_gp3"]
    seconds = prices()["assumed"]["weights_write_seconds"]
    mibps = min(p["max_mibps"], max(p["included_mibps"], math.ceil(weights_bytes_per_node / 2**20 / seconds)))
    iops = max(p["included_iops"], math.ceil(mibps / p["mibps_per_iops"]))
    return RootVolume(int(gib), int(mibps), int(iops))


@dataclass(frozen=True)
class GpuPool:
    """One model's GPU nodes, as the platform bill needs them."""

    name: str
    nodes: int
    volume: RootVolume
    weights_gb_per_node: float      # bytes downloaded per node start, in GB (1e9)


@dataclass(frozen=True)
class Platform:
    """The quantities the stack spec gives for the platform bill."""

    kubernetes_version: str
    nat_gateways: int
    system_instance_type: str
    system_nodes: int
    gpu_pools: tuple[GpuPool, ...] = field(default_factory=tuple)


def bill(q: Platform, on: dt.date, key: str = "cluster") -> list[LineItem]:
    """Monthly line items (quantity x unit price, each with its source) for the platform on a date."""
    p, a = prices(), prices()["assumed"]
    out: list[LineItem] = []

    version = eks.check(q.kubernetes_version, on, f"{key}.kubernetesVersion")
    support = version.support(on)
    cp = p["eks_control_plane"]
    rate = cp["standard_usd_hr"] if support == "standard" else cp["extended_usd_hr"]
    out.append(LineItem(f"EKS control plane (Kubernetes {version.version}, {support} support)", HOURS, "cluster-hours",
                        rate, f"{cp['source']}; support calendar: {version.source}"))

    nat = p["nat_gateway"]
    out.append(LineItem("NAT gateways", q.nat_gateways * HOURS, "gateway-hours", nat["usd_hr"],
                        f"{q.nat_gateways} gateway(s) x {HOURS:g} h; {nat['source']}"))
    out.append(LineItem("NAT public IPv4 addresses", q.nat_gateways * HOURS, "address-hours", p["public_ipv4"]["usd_hr"],
                        p["public_ipv4"]["source"]))
    gb = sum(pool.nodes * a["node_restarts_per_month"] * (pool.weights_gb_per_node + a["image_gb"]) for pool in q.gpu_pools)
    out.append(LineItem("NAT data processed (weights and images)", gb, "GB", nat["usd_per_gb_processed"],
                        f"each GPU node downloads its weights (unless streamed from S3) and a {a['image_gb']} GB image "
                        f"{a['node_restarts_per_month']}x a month (assumed); {nat['source']}"))

    sysp = p["system_instances"]
    if q.system_instance_type not in sysp["usd_hr"]:
        raise InputError(f"{key}.systemNodes.instanceType", q.system_instance_type, ", ".join(sysp["usd_hr"]),
                         "instance types priced in cost/data/platform.yaml")
    out.append(LineItem(f"System nodes ({q.system_instance_type})", q.system_nodes * HOURS, "instance-hours",
                        sysp["usd_hr"][q.system_instance_type], f"{q.system_nodes} node(s) x {HOURS:g} h; {sysp['source']}"))
    ebs = p["ebs_gp3"]
    out.append(LineItem("System node disks (gp3)", q.system_nodes * a["system_node_disk_gib"], "GiB-month",
                        ebs["usd_per_gib_month"], ebs["source"]))
    extra_mibps = sum(pool.nodes * (pool.volume.mibps - ebs["included_mibps"]) for pool in q.gpu_pools)
    extra_iops = sum(pool.nodes * (pool.volume.iops - ebs["included_iops"]) for pool in q.gpu_pools)
    if extra_mibps:
        out.append(LineItem("GPU root volumes: throughput above 125 MiB/s", extra_mibps, "MiB/s-month",
                            ebs["usd_per_mibps_month"], f"sized to write each node's weights in "
                            f"{a['weights_write_seconds']} s; {ebs['source']}"))
    if extra_iops:
        out.append(LineItem("GPU root volumes: IOPS above 3,000", extra_iops, "IOPS-month", ebs["usd_per_iops_month"],
                            f"gp3 needs IOPS >= 4 x MiB/s; {ebs['source']}"))

    kms = p["kms"]
    out.append(LineItem("KMS key (EKS secrets)", 1, "key-months", kms["usd_per_key_month"], kms["source"]))
    out.append(LineItem("KMS requests", a["kms_requests_per_month"] / 10_000, "10k requests", kms["usd_per_10k_requests"],
                        f"{a['kms_requests_per_month']:,} requests/month (assumed); {kms['source']}"))

    logs = p["cloudwatch_logs"]
    ingest = a["control_plane_log_gb_per_month"]
    out.append(LineItem("Control-plane logs ingested", ingest, "GB", logs["ingest_usd_per_gb"],
                        f"{ingest} GB/month (assumed); {logs['source']}"))
    stored = ingest * a["log_retention_days"] / 30
    out.append(LineItem("Control-plane logs stored", stored, "GB-month", logs["store_usd_per_gb_month"],
                        f"{a['log_retention_days']}-day retention; {logs['source']}"))
    return out


def monthly_usd(items: list[LineItem]) -> float:
    return sum(i.monthly_usd for i in items)
