"""GPU node groups: plain `aws.eks.NodeGroup`s sized from the placement, so pricing and policies can see them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws.ec2 as ec2
import pulumi_aws.eks as eks

from cost.economics import Economics
from cost.pricing.platform import RootVolume
from infra.components import efa
from infra.config.spec import GPU_POOL_LABEL
from infra.placement import ZonePool

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}


@dataclass
class GpuNodePoolArgs:
    model_name: str
    """The model whose replicas the nodes carry: the `breakeven.dev/gpu-pool` label the chart selects on."""
    model_id: str
    """Its catalog id (the `breakeven.dev/model` label)."""
    pools: tuple[ZonePool, ...]
    """One node group per pool: its zones, node count and EKS name (infra/placement.py)."""
    instance_type: str
    capacity_type: str
    """The stack's capacity type (a label): on-demand, spot, reserved-1y or reserved-3y."""
    eks_capacity_type: str
    """What EKS launches: ON_DEMAND, SPOT or CAPACITY_BLOCK (infra.config.spec.ModelSpec.eks_capacity_type)."""
    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_by_zone: Mapping[str, pulumi.Input[str]]
    """Private subnet of each zone."""
    ami_type: str
    """An NVIDIA EKS AMI type (AL2023_x86_64_NVIDIA or BOTTLEROCKET_x86_64_NVIDIA)."""
    kubernetes_version: str
    root_volume: RootVolume
    """Node root volume (gp3): size for the model caches and the vLLM image, throughput and IOPS to
    write the weights in time (cost.pricing.platform.root_volume)."""
    cluster_label: str
    tags: dict[str, str]
    economics: Economics
    """The model's economics, written on each node group as tags (`Economics.to_tags`): the policy pack
    prices the GPU spend from them on a first deploy, before the chart's workloads exist."""
    user_data: str | None = None
    """Base64 user data that prepares the node's weights cache (infra/components/weights.py); None: none."""
    security_group_id: pulumi.Input[str] | None = None
    """The EKS cluster security group: carried by the EFA interfaces of a multi-node replica's nodes
    (infra/components/efa.py); None: no EFA interfaces."""
    efa_interfaces: int = 0
    """EFA interfaces per node (infra.components.efa.efa_interfaces): a multi-node replica on an EFA instance."""
    capacity_reservation_id: str | None = None
    """The On-Demand Capacity Reservation or Capacity Block the nodes launch into; None: none."""
    capacity_block: bool = False
    """The reservation is a Capacity Block (launched with market type capacity-block)."""


class GpuNodePool(pulumi.ComponentResource):
    """One node group per zone the model spreads over (one spanning all zones when it does not spread and no
    replica spans nodes; a multi-node replica on EFA instances also gets a cluster placement group per zone).

    Every node is tainted `nvidia.com/gpu=true:NoSchedule` so that only pods tolerating it (vLLM, the
    device plugin) land there, and labelled `breakeven.dev/gpu-pool=<model name>`, which the chart
    selects on. Sizes are fixed at the planned count (min = desired = max): the maximum is what the
    economics pay for, since the policy pack prices every node group at its maximum. A managed node
    group's rolling update surges on its own: its scale-up phase raises the Auto Scaling group's maximum
    and desired size for the update (https://docs.aws.amazon.com/eks/latest/userguide/managed-node-update-behavior.html).
    """

    node_groups: list[eks.NodeGroup]
    launch_template: ec2.LaunchTemplate
    """The launch template the node groups share (the first zone's, where each zone has its own)."""
    placement_groups: dict[str, ec2.PlacementGroup]
    """Cluster placement group of each zone, by zone name: only for a multi-node replica on EFA instances."""

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:nodepools:GpuNodePool", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.placement_groups = {}
        templates: dict[str, ec2.LaunchTemplate] = {}
        if efa.cluster_placement(args.efa_interfaces, args.capacity_reservation_id):
            # One cluster placement group and one launch template naming it per zone: a cluster placement group
            # lives in one Availability Zone, and each zone's node group holds whole groups (infra/placement.py).
            for pool in args.pools:
                [zone] = pool.zones
                self.placement_groups[zone] = ec2.PlacementGroup(
                    f"{name}-pg-{pool.suffix}", name=pool.node_group, strategy="cluster",  # named as its node group
                    tags={**args.tags, "breakeven.dev/zone": zone, "breakeven.dev/model": args.model_name}, opts=child)
                templates[pool.suffix] = gpu_launch_template(f"{name}-lt-{pool.suffix}", args, child,
                                                             placement_group=self.placement_groups[zone].name)
            self.launch_template = templates[args.pools[0].suffix]
        else:
            self.launch_template = gpu_launch_template(f"{name}-lt", args, child)
        self.node_groups = []
        for pool in args.pools:
            nodes = pool.nodes
            template = templates.get(pool.suffix, self.launch_template)
            self.node_groups.append(eks.NodeGroup(
                f"{name}-{pool.suffix}",
                cluster_name=args.cluster_name,
                node_group_name=pool.node_group,  # unique and within EKS's limit: checked by the placement
                node_role_arn=args.node_role_arn,
                subnet_ids=[args.subnet_by_zone[z] for z in pool.zones],
                instance_types=[args.instance_type],
                capacity_type=args.eks_capacity_type,
                ami_type=args.ami_type,
                version=args.kubernetes_version,
                # The disk lives in the launch template (EKS refuses disk_size together with one).
                launch_template=eks.NodeGroupLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)),
                scaling_config=eks.NodeGroupScalingConfigArgs(desired_size=nodes, min_size=nodes, max_size=nodes),
                # One node at a time: its pods are the PDB's budget (maxUnavailable = pods per node).
                update_config=eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                taints=[eks.NodeGroupTaintArgs(**GPU_TAINT)],
                labels={
                    GPU_POOL_LABEL: args.model_name,
                    "breakeven.dev/model": args.model_id,
                    "breakeven.dev/capacity-type": args.capacity_type,
                    "nvidia.com/gpu.present": "true",
                },
                tags={**args.tags, **args.economics.to_tags(), "breakeven.dev/zones": " ".join(pool.zones)},
                opts=pulumi.ResourceOptions(parent=self),
            ))
        self.register_outputs({"nodeGroups": [ng.node_group_name for ng in self.node_groups]})


def root_device(ami_type: str) -> str:
    """The block device that holds kubelet's data (emptyDir caches, images): the root volume on AL2023,
    the data volume on Bottlerocket (its root volume holds only the OS)."""
    return "/dev/xvdb" if ami_type.startswith("BOTTLEROCKET") else "/dev/xvda"


def imds_v2_hop_1() -> ec2.LaunchTemplateMetadataOptionsArgs:
    """IMDSv2 only, one hop: a pod (a hop further than the node) cannot read the node role's credentials
    (EKS Best Practices, "Restrict access to the instance profile assigned to the worker node")."""
    return ec2.LaunchTemplateMetadataOptionsArgs(http_endpoint="enabled", http_tokens="required",
                                                 http_put_response_hop_limit=1)


def gpu_launch_template(name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions,
                        placement_group: pulumi.Input[str] | None = None) -> ec2.LaunchTemplate:
    """The GPU nodes' launch template: IMDSv2 only with a hop limit of 1 (pods cannot reach the node
    role's credentials through IMDS), and an encrypted gp3 volume sized for the weights. No image and
    no instance type: the node group sets those, so EKS keeps managing the NVIDIA AMI. `placement_group`:
    the cluster placement group the nodes launch into (a managed node group takes it from its launch
    template: EKS, "Customize managed nodes with launch templates"); None: none."""
    v = args.root_volume
    return ec2.LaunchTemplate(
        name,
        description=f"breakeven GPU nodes for {args.model_name}",
        update_default_version=True,
        metadata_options=imds_v2_hop_1(),
        block_device_mappings=[ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name=root_device(args.ami_type),
            ebs=ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_size=v.gib, volume_type="gp3", throughput=v.mibps, iops=v.iops,
                encrypted="true", delete_on_termination="true"),
        )],
        tag_specifications=[ec2.LaunchTemplateTagSpecificationArgs(resource_type=t, tags=args.tags)
                            for t in ("instance", "volume")],
        # An On-Demand Capacity Reservation or a Capacity Block (p4/p5): launch into it, nowhere else.
        capacity_reservation_specification=None if args.capacity_reservation_id is None else
        ec2.LaunchTemplateCapacityReservationSpecificationArgs(
            capacity_reservation_target=ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                capacity_reservation_id=args.capacity_reservation_id)),
        instance_market_options=ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
        if args.capacity_block else None,
        user_data=args.user_data,
        placement=None if placement_group is None else ec2.LaunchTemplatePlacementArgs(group_name=placement_group),
        # A multi-node replica on an EFA instance: one EFA interface per network card (infra/components/efa.py).
        network_interfaces=efa.network_interfaces(args.efa_interfaces, args.security_group_id)
        if args.security_group_id is not None and args.efa_interfaces else None,
        opts=opts,
    )
