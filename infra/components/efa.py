"""EFA for multi-node replicas: the GPU nodes' EFA network interfaces and the device plugin that hands
them to pods.

A replica spanning nodes exchanges activations between its pipeline stages every step. On an instance
with EFA (cost/data/instance-hardware.yaml) its nodes launch with one EFA interface per network card,
as AWS recommends ("Maximize network bandwidth on Amazon EC2 instances with multiple network cards":
the primary interface, network card 0 device 0, carries ENA, here as an EFA-with-ENA interface; every
further card gets an `efa-only` interface at device index 0). An EFA interface's security group must
admit all traffic from itself (AWS, "Get started with EFA and NCCL", step 1): the EKS cluster security
group does (EKS, "View Amazon EKS security group requirements for clusters"), so the interfaces carry it.
The pods request `vpc.amazonaws.com/efa`, which the AWS EFA device plugin advertises (its chart,
pinned). NCCL uses EFA only through libfabric and the aws-ofi-nccl plugin (`libnccl-net.so`) in the serving image:
EFA is not an InfiniBand/RoCE verbs device NCCL's own IB transport drives, and without the plugin NCCL falls back to
its socket transport over the ENA interface (it still serves, slower). The stored vLLM docker/Dockerfile installs
neither libfabric nor aws-ofi-nccl (docs/deploying.md, "What the images hold"), so the stock image takes the socket path.
"""

from __future__ import annotations

import pulumi
import pulumi_aws.ec2 as ec2
import pulumi_kubernetes.helm.v4 as helm

from cost.catalog.instance_hardware import hardware
from cost.pricing.nodes import NodePlan

EFA_RESOURCE = "vpc.amazonaws.com/efa"
EFA_PLUGIN_REPO = "https://aws.github.io/eks-charts"
EFA_PLUGIN_CHART = "aws-efa-k8s-device-plugin"
EFA_PLUGIN_VERSION = "0.5.10"


def efa_interfaces(plan: NodePlan) -> int:
    """EFA interfaces each of the plan's nodes gets: the instance's count for a multi-node replica, else 0
    (a replica inside one node talks over NVLink; EFA would only consume addresses)."""
    if plan.instances_per_replica <= 1 or plan.instance_type is None:
        return 0
    return hardware(plan.instance_type).efa_interfaces


def cluster_placement(interfaces: int, capacity_reservation_id: str | None) -> bool:
    """Whether the model's nodes launch into a cluster placement group (one per zone): a multi-node replica on an
    EFA instance, as AWS recommends for EFA ("Get started with EFA and NCCL": launch the instances into a cluster
    placement group; EC2 "Placement groups": a cluster placement group packs instances close together inside one
    Availability Zone for low latency and high throughput between them). Not when the nodes launch into a named
    Capacity Reservation or Capacity Block: the reservation fixes where they land (docs/deploying.md)."""
    return interfaces > 0 and capacity_reservation_id is None


def network_interfaces(count: int, security_group_id: pulumi.Input[str]) -> list[ec2.LaunchTemplateNetworkInterfaceArgs]:
    """Launch-template interfaces for `count` network cards: card 0 EFA with ENA (the primary interface),
    cards 1..count-1 EFA-only. No subnet: the node group places each node in its zone's subnet."""
    return [ec2.LaunchTemplateNetworkInterfaceArgs(
        network_card_index=card, device_index=0, interface_type="efa" if card == 0 else "efa-only",
        security_groups=[security_group_id], delete_on_termination="true")
        for card in range(count)]


class EfaDevicePlugin(pulumi.ComponentResource):
    """The AWS EFA Kubernetes device plugin (pinned chart), tolerating the GPU nodes' taint."""

    chart: helm.Chart

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:serving:EfaDevicePlugin", name, None, opts)
        provider = opts.provider if opts else None
        self.chart = helm.Chart(
            f"{name}-chart",
            chart=EFA_PLUGIN_CHART,
            version=EFA_PLUGIN_VERSION,
            repository_opts=helm.RepositoryOptsArgs(repo=EFA_PLUGIN_REPO),
            name="aws-efa-k8s-device-plugin",
            namespace="kube-system",
            values={"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.register_outputs({"chart": EFA_PLUGIN_CHART, "version": EFA_PLUGIN_VERSION})
