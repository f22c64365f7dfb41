"""The VPC: public and private subnets in every zone; GPU and system nodes live in the private ones."""

from __future__ import annotations

import ipaddress
import warnings
from dataclasses import dataclass

import pulumi

with warnings.catch_warnings():  # loading pulumi_aws.ec2 warns about a deprecated class it defines; not ours
    warnings.simplefilter("ignore", DeprecationWarning)
    import pulumi_aws.ec2 as ec2

    ec2.Vpc  # noqa: B018 - the SDK loads modules lazily: load it here, inside the filter

from infra.config.zones import Zone


@dataclass
class NetworkArgs:
    """What the network needs from the spec's cluster section."""

    cluster_name: str
    """Names the resources and tags the subnets for the cluster's discovery."""
    vpc_cidr: str
    nat_per_zone: bool
    """A NAT gateway in every zone (natGateways: one-per-zone), else one in the first zone."""
    zones: list[Zone]
    """The cluster's zones by zone ID (infra/config/zones.py), in the spec's order."""
    tags: dict[str, str]
    """Tags every resource carries (the AWS provider adds the stack's default tags)."""


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private subnets: the VPC split in eight, one per zone. Public: the last eighth split in eight."""
    net = ipaddress.ip_network(vpc_cidr)
    eighths: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(net.subnets(prefixlen_diff=3))
    private = [str(s) for s in eighths[:zones]]
    public = [str(s) for s in list(eighths[-1].subnets(prefixlen_diff=3))[:zones]]
    return private, public


class Network(pulumi.ComponentResource):
    """VPC across the spec's zones. Private subnets route out through NAT (one per zone in production)."""

    vpc: ec2.Vpc
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_by_zone: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:network:Network", name, None, opts)
        cluster = args.cluster_name
        child = pulumi.ResourceOptions(parent=self)
        cluster_tag = {f"kubernetes.io/cluster/{cluster}": "shared"}

        self.vpc = ec2.Vpc(f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_hostnames=True, enable_dns_support=True,
                           tags={**args.tags, "Name": f"{cluster}-vpc"}, opts=child)
        igw = ec2.InternetGateway(f"{name}-igw", vpc_id=self.vpc.id, tags={**args.tags, "Name": f"{cluster}-igw"}, opts=child)
        public_rt = ec2.RouteTable(f"{name}-public-rt", vpc_id=self.vpc.id,
                                   routes=[ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
                                   tags={**args.tags, "Name": f"{cluster}-public"}, opts=child)

        private_cidrs, public_cidrs = subnet_cidrs(args.vpc_cidr, len(args.zones))
        self.public_subnet_ids, self.private_subnet_ids, self.private_subnet_by_zone = [], [], {}
        self.private_route_table_ids: list = []   # the S3 gateway endpoint's routes (infra/components/weights_s3.py)
        nats: list[ec2.NatGateway] = []
        for i, zone in enumerate(args.zones):
            z = zone.slot[-1]
            public = ec2.Subnet(f"{name}-public-{z}", vpc_id=self.vpc.id, cidr_block=public_cidrs[i],
                                availability_zone_id=zone.zone_id,
                                map_public_ip_on_launch=False,
                                tags={**args.tags, **cluster_tag, "Name": f"{cluster}-public-{z}", "kubernetes.io/role/elb": "1"},
                                opts=child)
            ec2.RouteTableAssociation(f"{name}-public-{z}", subnet_id=public.id, route_table_id=public_rt.id, opts=child)
            self.public_subnet_ids.append(public.id)
            if args.nat_per_zone or i == 0:
                eip = ec2.Eip(f"{name}-nat-{z}", domain="vpc", tags={**args.tags, "Name": f"{cluster}-nat-{z}"}, opts=child)
                nats.append(ec2.NatGateway(f"{name}-nat-{z}", subnet_id=public.id, allocation_id=eip.id,
                                           tags={**args.tags, "Name": f"{cluster}-nat-{z}"},
                                           opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])))
            nat = nats[-1]
            private = ec2.Subnet(f"{name}-private-{z}", vpc_id=self.vpc.id, cidr_block=private_cidrs[i],
                                 availability_zone_id=zone.zone_id,
                                 tags={**args.tags, **cluster_tag, "Name": f"{cluster}-private-{z}",
                                       "kubernetes.io/role/internal-elb": "1"},
                                 opts=child)
            rt = ec2.RouteTable(f"{name}-private-{z}", vpc_id=self.vpc.id,
                                routes=[ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                                tags={**args.tags, "Name": f"{cluster}-private-{z}"}, opts=child)
            ec2.RouteTableAssociation(f"{name}-private-{z}", subnet_id=private.id, route_table_id=rt.id, opts=child)
            self.private_subnet_ids.append(private.id)
            self.private_route_table_ids.append(rt.id)
            self.private_subnet_by_zone[zone.slot] = private.id

        self.register_outputs({"vpcId": self.vpc.id, "privateSubnetIds": self.private_subnet_ids,
                               "publicSubnetIds": self.public_subnet_ids})
