"""The EKS cluster: IAM roles, KMS secrets encryption, a restricted endpoint, OIDC, add-ons, system nodes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.ec2 as ec2
import pulumi_aws.eks as eks
import pulumi_aws.iam as iam
import pulumi_aws.kms as kms
import pulumi_aws.vpc as vpc
import pulumi_kubernetes as k8s

from cost.pricing.platform import prices as platform_prices
from infra.components.nodepools import imds_v2_hop_1
from infra.config.spec import ClusterSpec

SYSTEM_POOL_LABEL = "breakeven.dev/pool"
SYSTEM_DISK_GIB = platform_prices()["assumed"]["system_node_disk_gib"]   # the disk cost/pricing/platform.py prices
NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
# vpc-cni enforces Kubernetes NetworkPolicy (its eBPF agent); without this the policies the chart
# renders are accepted by the API server and enforced by nothing.
VPC_CNI_CONFIG = {"enableNetworkPolicy": "true"}


def assume_role(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def irsa_trust(oidc_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    """Trust policy letting one Kubernetes service account assume a role through the cluster's OIDC provider."""
    host = issuer_url.removeprefix("https://")
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": oidc_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                       f"{host}:aud": "sts.amazonaws.com"}}}]})


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str, region: str, profile: str | None = None,
               role_arn: str | None = None) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no static credentials in state), as the
    stack's AWS identity: its `aws:profile` (--profile, and AWS_PROFILE for the CLI) and the role of its
    `aws:assumeRole` (--role-arn), so the Kubernetes provider acts as the account that created the cluster."""
    args = ["eks", "get-token", "--cluster-name", cluster_name, "--region", region]
    if role_arn:
        args += ["--role-arn", role_arn]
    if profile:
        args += ["--profile", profile]
    user: dict = {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws", "args": args}
    if profile:
        user["env"] = [{"name": "AWS_PROFILE", "value": profile}]
    return json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": cluster_name,
        "clusters": [{"name": cluster_name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "users": [{"name": cluster_name, "user": {"exec": user}}],
    })


@dataclass
class EksClusterArgs:
    cluster: ClusterSpec
    """Name, Kubernetes version, endpoint access, system node group."""
    private_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets of the nodes (and the control plane's network interfaces)."""
    public_subnet_ids: Sequence[pulumi.Input[str]]
    """Subnets for internet-facing load balancers."""
    tags: dict[str, str]
    aws_profile: str | None = None
    """The stack's `aws:profile`: the kubeconfig authenticates with it."""
    aws_role_arn: str | None = None
    """The role of the stack's `aws:assumeRole`: the kubeconfig assumes it."""


class EksCluster(pulumi.ComponentResource):
    """An EKS control plane with secrets encrypted by its own KMS key, OIDC for service-account roles,
    the core add-ons and a small on-demand system node group for them."""

    cluster: eks.Cluster
    node_role: iam.Role
    oidc_provider: iam.OpenIdConnectProvider
    system_nodes: eks.NodeGroup
    provider: k8s.Provider
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:cluster:EksCluster", name, None, opts)
        c = args.cluster
        child = pulumi.ResourceOptions(parent=self)

        cluster_role = iam.Role(f"{name}-cluster-role", assume_role_policy=assume_role("eks.amazonaws.com"),
                                tags=args.tags, opts=child)
        cluster_policy = iam.RolePolicyAttachment(f"{name}-cluster-policy", role=cluster_role.name,
                                                  policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy", opts=child)
        key = kms.Key(f"{name}-secrets-key", description=f"EKS secrets envelope encryption for {c.name}",
                      enable_key_rotation=True, deletion_window_in_days=30, tags=args.tags, opts=child)
        kms.Alias(f"{name}-secrets-key", name=f"alias/{c.name}-eks-secrets", target_key_id=key.key_id, opts=child)

        # EKS writes control-plane logs to this group; created first so it has a retention (priced in
        # cost/pricing/platform.py) instead of the never-expiring group EKS would create.
        logs = cloudwatch.LogGroup(f"{name}-logs", name=f"/aws/eks/{c.name}/cluster",
                                   retention_in_days=platform_prices()["assumed"]["log_retention_days"],
                                   tags=args.tags, opts=child)

        self.cluster = eks.Cluster(
            f"{name}-eks",
            name=c.name,
            version=c.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=eks.ClusterVpcConfigArgs(
                subnet_ids=[*args.private_subnet_ids, *args.public_subnet_ids],
                endpoint_private_access=c.endpoint.private_access,
                endpoint_public_access=c.endpoint.public_access,
                public_access_cidrs=list(c.endpoint.public_access_cidrs) if c.endpoint.public_access else None,
            ),
            encryption_config=eks.ClusterEncryptionConfigArgs(
                resources=["secrets"], provider=eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn)),
            access_config=eks.ClusterAccessConfigArgs(authentication_mode="API",
                                                      bootstrap_cluster_creator_admin_permissions=True),
            enabled_cluster_log_types=LOG_TYPES,
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_policy, logs]),
        )
        if c.endpoint.private_access:
            # The private endpoint's network interfaces carry the cluster security group, which admits only
            # itself: callers in the VPC (phase 2 of a private endpoint), a peered network or a VPN need 443
            # opened to them (EKS User Guide, "Cluster API server endpoint": private access from a connected
            # network needs an ingress rule on the cluster security group for port 443).
            sg = self.cluster.vpc_config.apply(lambda v: v.cluster_security_group_id)
            for j, cidr in enumerate(c.endpoint.private_cidrs(c.vpc_cidr)):
                family = {"cidr_ipv6": cidr} if ":" in cidr else {"cidr_ipv4": cidr}
                vpc.SecurityGroupIngressRule(f"{name}-api-443-{j}", security_group_id=sg, ip_protocol="tcp",
                                             from_port=443, to_port=443, description=f"EKS API (private endpoint) from {cidr}",
                                             tags=args.tags, opts=child, **family)
        # an EKS cluster always has an OIDC issuer (EKS User Guide, "Create an IAM OIDC provider for your cluster")
        issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)  # type: ignore[index]
        self.oidc_provider = iam.OpenIdConnectProvider(f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"],
                                                       tags=args.tags, opts=child)

        self.node_role = iam.Role(f"{name}-node-role", assume_role_policy=assume_role("ec2.amazonaws.com"),
                                  tags=args.tags, opts=child)
        node_policies = [
            iam.RolePolicyAttachment(f"{name}-node-{arn.rsplit('/', 1)[-1]}", role=self.node_role.name, policy_arn=arn, opts=child)
            for arn in NODE_POLICIES
        ]

        # Networking add-ons come before any node; the rest need a node to run on.
        early = [eks.Addon(f"{name}-{addon}", cluster_name=self.cluster.name, addon_name=addon,
                           configuration_values=json.dumps(VPC_CNI_CONFIG) if addon == "vpc-cni" else None,
                           resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE", opts=child)
                 for addon in ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")]
        # Every node group boots from a launch template that locks IMDS (the GPU pools' in infra/components/nodepools.py);
        # the disk moves into it, since EKS refuses diskSize beside a launch template.
        system_lt = ec2.LaunchTemplate(
            f"{name}-system-lt", description=f"breakeven system nodes for {c.name}", update_default_version=True,
            metadata_options=imds_v2_hop_1(),
            block_device_mappings=[ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda", ebs=ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=SYSTEM_DISK_GIB, volume_type="gp3", encrypted="true", delete_on_termination="true"))],
            tag_specifications=[ec2.LaunchTemplateTagSpecificationArgs(resource_type=t, tags=args.tags)
                                for t in ("instance", "volume")],
            opts=child)
        self.system_nodes = eks.NodeGroup(
            f"{name}-system",
            cluster_name=self.cluster.name,
            node_group_name=f"{c.name}-system",
            node_role_arn=self.node_role.arn,
            subnet_ids=args.private_subnet_ids,
            instance_types=[c.system_instance_type],
            capacity_type="ON_DEMAND",
            ami_type="AL2023_x86_64_STANDARD",
            launch_template=eks.NodeGroupLaunchTemplateArgs(id=system_lt.id, version=system_lt.latest_version.apply(str)),
            scaling_config=eks.NodeGroupScalingConfigArgs(desired_size=c.system_nodes, min_size=c.system_nodes,
                                                          max_size=c.system_nodes + 1),
            update_config=eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={SYSTEM_POOL_LABEL: "system"},
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*node_policies, *early]),
        )
        ebs_role = iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=pulumi.Output.all(self.oidc_provider.arn, issuer).apply(
                lambda a: irsa_trust(a[0], a[1], "kube-system", "ebs-csi-controller-sa")),
            tags=args.tags, opts=child)
        ebs_policy = iam.RolePolicyAttachment(f"{name}-ebs-csi-policy", role=ebs_role.name,
                                              policy_arn="arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
                                              opts=child)
        after_nodes = pulumi.ResourceOptions(parent=self, depends_on=[self.system_nodes])
        eks.Addon(f"{name}-coredns", cluster_name=self.cluster.name, addon_name="coredns",
                  resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE", opts=after_nodes)
        eks.Addon(f"{name}-aws-ebs-csi-driver", cluster_name=self.cluster.name, addon_name="aws-ebs-csi-driver",
                  service_account_role_arn=ebs_role.arn, resolve_conflicts_on_create="OVERWRITE",
                  resolve_conflicts_on_update="OVERWRITE",
                  opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_nodes, ebs_policy]))

        self.kubeconfig = pulumi.Output.all(self.cluster.name, self.cluster.endpoint,
                                            self.cluster.certificate_authority.apply(lambda ca: ca.data)).apply(
            lambda a: kubeconfig(a[0], a[1], a[2], c.region, args.aws_profile, args.aws_role_arn))
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, enable_server_side_apply=True,
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_nodes]))
        self.register_outputs({"clusterName": self.cluster.name, "endpoint": self.cluster.endpoint,
                               "oidcProviderArn": self.oidc_provider.arn})
