"""The real program under the mock engine: what it registers for every example stack."""

from __future__ import annotations

import json
import re

import pytest

from cost.economics import Economics
from cost.errors import InputError
from infra import pricing
from infra.program import ConfigError
from infra.spec import GPU_POOL_LABEL, P
from tests.infra.conftest import CANARY, STACKS, run_stack, stack_value

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CHART = "kubernetes:helm.sh/v4:Chart"


def of_type(run, type_):
    return [r for r in run.resources if r.type == type_]


def gpu_node_groups(run, model_name):
    return [r for r in of_type(run, NODE_GROUP) if (r.inputs.get("labels") or {}).get(GPU_POOL_LABEL) == model_name]


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_node_groups_match_the_spec(runs, stack):
    _, run, spec = runs[stack]
    for m in spec.models:
        groups = gpu_node_groups(run, m.name)
        assert len(groups) == len(m.pools)
        assert sum(g.inputs["scalingConfig"]["desiredSize"] for g in groups) == m.plan.units == m.nodes
        for g, pool in zip(sorted(groups, key=lambda g: g.name), sorted(m.pools, key=lambda p: p.suffix)):
            i = g.inputs
            assert i["amiType"] == spec.cluster.gpu_ami_type and "NVIDIA" in i["amiType"]
            assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in i["taints"]
            assert i["instanceTypes"] == [m.instance_type]
            assert i["capacityType"] == ("SPOT" if m.capacity_type == "spot" else "ON_DEMAND")
            sc = i["scalingConfig"]
            assert sc["desiredSize"] == sc["minSize"] == pool.nodes and sc["maxSize"] == pool.nodes + 1
            assert len(i["subnetIds"]) == len(pool.zones)
            assert all("private" in s for s in i["subnetIds"])          # GPU nodes in private subnets
            assert i["diskSize"] >= m.weights_gib
            assert i["nodeGroupName"] == pool.node_group and len(pool.node_group) <= 63


@pytest.mark.parametrize("stack", STACKS)
def test_every_node_group_name_is_unique_and_within_the_eks_limit(runs, stack):
    _, run, _ = runs[stack]
    names = [r.inputs["nodeGroupName"] for r in of_type(run, NODE_GROUP)]
    assert len(names) == len(set(names)) and all(len(n) <= 63 for n in names)


def test_redundancy_spreads_node_groups_over_distinct_zones(runs):
    _, run, spec = runs["uneconomic"]
    groups = gpu_node_groups(run, spec.models[0].name)
    subnets = [g.inputs["subnetIds"][0] for g in groups]
    assert len(groups) == 3 and len(set(subnets)) == 3


def test_system_node_group_is_small_and_untainted(runs):
    _, run, spec = runs["prod"]
    system = [r for r in of_type(run, NODE_GROUP) if (r.inputs.get("labels") or {}).get("breakeven.dev/pool") == "system"]
    assert len(system) == 1
    i = system[0].inputs
    assert "taints" not in i and i["amiType"] == "AL2023_x86_64_STANDARD"
    assert i["scalingConfig"]["desiredSize"] == spec.cluster.system_nodes


@pytest.mark.parametrize("stack", STACKS)
def test_chart_values_carry_model_parallelism_gpus_and_replicas(runs, stack):
    _, run, spec = runs[stack]
    charts = {c.inputs["name"]: c for c in of_type(run, CHART)}
    assert set(charts) == {m.name for m in spec.models}
    for m in spec.models:
        c = charts[m.name].inputs
        v = c["values"]
        assert c["chart"] == "./charts/vllm" and c["namespace"] == spec.namespace
        assert v["model"]["source"] == m.hf and v["model"]["name"] == m.model
        assert v["parallelism"] == {"tensor": m.tensor_parallel, "pipeline": 1}
        assert v["gpu"]["gpusPerNode"] == m.plan.gpus_per_instance
        assert v["gpu"]["gpusPerNode"] % m.tensor_parallel == 0
        assert v["replicaCount"] == m.replicas + m.spares
        assert v["gpu"]["nodeSelector"] == {GPU_POOL_LABEL: m.name}
        assert Economics.from_json(v["economics"]).deployment == m.deployment
        # the pool label the chart selects on is the one the node groups carry
        assert gpu_node_groups(run, v["gpu"]["nodeSelector"][GPU_POOL_LABEL])
        # secrets by name only
        assert v["secrets"]["huggingFace"]["secretName"] == "hf-token"
        assert v["secrets"]["apiKey"]["secretName"] == "vllm-api-key"


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_value_in_any_input_output_or_log(runs, stack):
    _, run, _ = runs[stack]
    blob = json.dumps([r.inputs for r in run.resources]) + json.dumps(run.outputs) + json.dumps(run.logs)
    for value in CANARY.values():
        assert value not in blob
    secrets = of_type(run, "kubernetes:core/v1:Secret")
    assert {s.inputs["metadata"]["name"] for s in secrets} == {"hf-token", "vllm-api-key"}
    assert all(s.inputs["stringData"] == "[secret]" for s in secrets)
    assert run.outputs["kubeconfig"] == "[secret]"


@pytest.mark.parametrize("stack", STACKS)
def test_exported_cost_equals_pricing_the_spec(runs, stack):
    _, run, spec = runs[stack]
    assert run.outputs["cost"] == json.loads(json.dumps(pricing.price(spec).to_dict()))
    report = next(m for s, m in run.logs if s == "info" and m.startswith("breakeven cost report"))
    assert f"${run.outputs['cost']['monthly_usd']:,.2f}" in report


def test_verdicts_of_the_examples(runs):
    verdict = {s: [m["verdict"]["choice"] for m in runs[s][1].outputs["cost"]["models"]] for s in STACKS}
    assert verdict["uneconomic"] == ["api"]
    # private data is compared with the API inside your own AWS account (Bedrock), which is far cheaper here
    private = runs["private-70b"][1].outputs["cost"]["models"][0]["verdict"]
    assert verdict["private-70b"] == ["api"] and private["cheapest_api"].startswith("aws:")
    assert verdict["prod"] == ["self-host"]        # fine-tuned weights
    assert verdict["dev"] == ["api"]
    u, p = runs["uneconomic"][1].outputs["cost"], runs["private-70b"][1].outputs["cost"]
    assert u["monthly_usd"] == p["monthly_usd"]
    assert runs["hybrid"][1].outputs["cost"]["routing"]["tiers"][0]["kind"] == "self-hosted"


def test_cluster_is_production_grade(runs):
    _, run, spec = runs["prod"]
    (cluster,) = of_type(run, "aws:eks/cluster:Cluster")
    i = cluster.inputs
    assert i["encryptionConfig"]["resources"] == ["secrets"] and i["encryptionConfig"]["provider"]["keyArn"]
    assert i["vpcConfig"]["publicAccessCidrs"] == list(spec.cluster.endpoint.public_access_cidrs)
    assert i["vpcConfig"]["endpointPrivateAccess"] is True
    (key,) = of_type(run, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert len(of_type(run, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")) == 1
    assert len(of_type(run, "aws:ec2/natGateway:NatGateway")) == len(spec.cluster.zones)
    subnets = of_type(run, "aws:ec2/subnet:Subnet")
    assert len({s.inputs["availabilityZone"] for s in subnets}) == len(spec.cluster.zones) >= 2
    assert len(of_type(run, "kubernetes:apps/v1:DaemonSet")) == 1      # AL2023 NVIDIA AMI: device plugin installed
    assert len(of_type(run, "aws:ec2/natGateway:NatGateway")) == 3
    assert len(of_type(runs["dev"][1], "aws:ec2/natGateway:NatGateway")) == 1


def test_private_endpoint_stack_has_no_public_access(runs):
    _, run, _ = runs["private-70b"]
    (cluster,) = of_type(run, "aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in cluster.inputs["vpcConfig"]


def test_bottlerocket_needs_no_device_plugin():
    cluster = {**stack_value("dev", f"{P}cluster"), "gpuAmiType": "BOTTLEROCKET_x86_64_NVIDIA"}
    _, run = run_stack("dev", {f"{P}cluster": cluster})
    assert run.error is None
    assert not of_type(run, "kubernetes:apps/v1:DaemonSet")
    assert gpu_node_groups(run, "chat-8b")[0].inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"


def test_existing_cluster_deploys_only_the_serving_layer():
    _, run = run_stack("dev", {f"{P}cluster": {"existing": {"kubeconfig": "~/.kube/config", "context": "gpu-cluster"}}})
    assert run.error is None
    assert not [r for r in run.resources if r.type.startswith("aws:") or r.type == "pulumi:providers:aws"]
    (provider,) = of_type(run, "pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "gpu-cluster"
    assert len(of_type(run, CHART)) == 1 and run.outputs["cost"]["monthly_usd"] > 0


BAD = [
    ("unknown model", "prod", lambda m: m[0].update(model="llama-9-1t"), f"{P}models[0].model"),
    ("replicas 0", "prod", lambda m: m[0].update(replicas=0), f"{P}models[0].replicas"),
    ("cannot fit", "dev", lambda m: m[0].update(model="llama-3.1-70b"), f"{P}models[0].tensorParallel"),
    ("zones", "uneconomic", lambda m: m[0].update(redundancy={"spares": 1, "zones": 4}), f"{P}models[0].redundancy.zones"),
    ("malformed volume", "dev", lambda m: m[0]["workload"].update(tokensPerMonth="20 million"),
     f"{P}models[0].workload.tokensPerMonth"),
]


@pytest.mark.parametrize("label,stack,change,key", BAD, ids=[b[0] for b in BAD])
def test_bad_spec_stops_the_program_before_any_resource(label, stack, change, key):
    models = stack_value(stack, f"{P}models")
    change(models)
    _, run = run_stack(stack, {f"{P}models": models})
    assert isinstance(run.error, ConfigError) and isinstance(run.error, InputError)
    assert run.error.key == key
    assert str(run.error).startswith(f"{key}: got ")
    assert run.resources == []


def test_missing_secret_in_production_stops_the_program():
    _, run = run_stack("prod", drop=(f"{P}vllmApiKey",))
    assert isinstance(run.error, ConfigError) and run.error.key == f"{P}vllmApiKey"
    assert run.resources == []


# AWS tag limits (EKS and EC2 user guides, "Tagging your resources"): at most 50 tags per resource,
# keys up to 128 and values up to 256 characters of letters, digits, spaces and + - = . _ : / @.
AWS_TAG_CHARS = re.compile(r"^[\w .:/=+\-@]*$")


@pytest.mark.parametrize("stack", STACKS)
def test_node_group_economics_tags_decode_and_fit_aws_tag_limits(runs, stack):
    _, run, spec = runs[stack]
    default_tags = {"breakeven.dev/project", "breakeven.dev/stack", "breakeven.dev/cluster"}   # the provider's
    for m in spec.models:
        for ng in gpu_node_groups(run, m.name):
            tags = ng.inputs["tags"]
            assert len(set(tags) | default_tags) <= 50
            assert all(len(k) <= 128 and AWS_TAG_CHARS.match(k) for k in tags), tags
            assert all(len(v) <= 256 and AWS_TAG_CHARS.match(v) for v in tags.values()), tags
            e = Economics.from_tags(tags)
            assert (e.deployment, e.workload) == (m.deployment, m.workload)
