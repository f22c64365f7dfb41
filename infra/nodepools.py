"""GPU node groups: plain `aws.eks.NodeGroup`s sized from the spec, so pricing and policies can see them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws.eks as eks

from cost.economics import Economics
from infra.spec import GPU_POOL_LABEL, ModelSpec

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


@dataclass
class GpuNodePoolArgs:
    model: ModelSpec
    """The model whose replicas the nodes carry: instance type, node count per zone, capacity type."""
    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_by_zone: dict[str, pulumi.Input[str]]
    """Private subnet of each zone."""
    ami_type: str
    """An NVIDIA EKS AMI type (AL2023_x86_64_NVIDIA or BOTTLEROCKET_x86_64_NVIDIA)."""
    kubernetes_version: str
    disk_gib: int
    """Node root volume: the model cache (weights) and the vLLM image."""
    cluster_label: str
    tags: dict[str, str]
    economics: Economics
    """The model's economics, written on each node group as tags (`Economics.to_tags`): the policy pack
    prices the GPU spend from them on a first deploy, before the chart's workloads exist."""


class GpuNodePool(pulumi.ComponentResource):
    """One node group per zone the model spreads over (one spanning all zones when it does not spread).

    Every node is tainted `nvidia.com/gpu=true:NoSchedule` so that only pods tolerating it (vLLM, the
    device plugin) land there, and labelled `breakeven.dev/gpu-pool=<model name>`, which the chart
    selects on. Sizes are fixed at the planned count (min = desired), with one node of headroom for
    a manual scale-up; the managed node group's rolling update surges on its own.
    """

    node_groups: list[eks.NodeGroup]

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:nodepools:GpuNodePool", name, None, opts)
        m = args.model
        self.node_groups = []
        for pool in m.pools:
            nodes = pool.nodes
            self.node_groups.append(eks.NodeGroup(
                f"{name}-{pool.suffix}",
                cluster_name=args.cluster_name,
                node_group_name=pool.node_group,  # unique and within EKS's limit: checked by the spec
                node_role_arn=args.node_role_arn,
                subnet_ids=[args.subnet_by_zone[z] for z in pool.zones],
                instance_types=[m.instance_type],
                capacity_type=m.eks_capacity_type,
                ami_type=args.ami_type,
                version=args.kubernetes_version,
                disk_size=args.disk_gib,
                scaling_config=eks.NodeGroupScalingConfigArgs(desired_size=nodes, min_size=nodes, max_size=nodes + 1),
                update_config=eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                taints=[eks.NodeGroupTaintArgs(**GPU_TAINT)],
                labels={
                    GPU_POOL_LABEL: m.pool_label,
                    "breakeven.dev/model": m.model,
                    "breakeven.dev/capacity-type": m.capacity_type,
                    "nvidia.com/gpu.present": "true",
                },
                tags={**args.tags, **args.economics.to_tags(), "breakeven.dev/zones": " ".join(pool.zones)},
                opts=pulumi.ResourceOptions(parent=self),
            ))
        self.register_outputs({"nodeGroups": [ng.node_group_name for ng in self.node_groups]})
