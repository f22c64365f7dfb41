"""The real program under the mock engine: what it registers for every example stack."""

from __future__ import annotations

import json
import re

import pytest

from cost.economics import Economics
from cost.errors import InputError
from cost.pricing.platform import prices
from cost.report_model import fleet_document
from infra import pricing
from infra.config.spec import GPU_POOL_LABEL, P
from infra.placement import node_disk_needed_gib, place, weights_on_instance_store
from infra.program import ConfigError
from tests.infra.conftest import CANARY, STACKS, run_stack, stack_value

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CHART = "kubernetes:helm.sh/v4:Chart"


def of_type(run, type_):
    return [r for r in run.resources if r.type == type_]


def vllm_charts(run) -> list:
    """The vLLM chart releases (not the LeaderWorkerSet controller's chart)."""
    return [c for c in of_type(run, CHART) if c.inputs["chart"] == "./charts/vllm"]


def gpu_node_groups(run, model_name):
    return [r for r in of_type(run, NODE_GROUP) if (r.inputs.get("labels") or {}).get(GPU_POOL_LABEL) == model_name]


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_node_groups_match_the_spec(runs, stack):
    _, run, spec = runs[stack]
    for m in place(spec).models:
        groups = gpu_node_groups(run, m.model.name)
        assert len(groups) == len(m.pools)
        assert sum(g.inputs["scalingConfig"]["desiredSize"] for g in groups) == m.plan.units == m.nodes
        for g, pool in zip(sorted(groups, key=lambda g: g.name), sorted(m.pools, key=lambda p: p.suffix), strict=True):
            i = g.inputs
            assert i["amiType"] == spec.cluster.gpu_ami_type and "NVIDIA" in i["amiType"]
            assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in i["taints"]
            assert i["instanceTypes"] == [m.model.instance_type]
            assert i["capacityType"] == ("SPOT" if m.model.capacity_type == "spot" else "ON_DEMAND")
            sc = i["scalingConfig"]
            assert sc["desiredSize"] == sc["minSize"] == pool.nodes and sc["maxSize"] == pool.nodes
            assert len(i["subnetIds"]) == len(pool.zones)
            assert all("private" in s for s in i["subnetIds"])          # GPU nodes in private subnets
            assert "diskSize" not in i                                  # EKS refuses it beside a launch template
            assert i["launchTemplate"]["version"] == "1"
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
    charts = {c.inputs["name"]: c for c in vllm_charts(run)}
    assert set(charts) == {m.name for m in spec.models}
    for p in place(spec).models:
        m = p.model
        c = charts[m.name].inputs
        v = c["values"]
        assert c["chart"] == "./charts/vllm" and c["namespace"] == spec.namespace
        assert v["model"]["source"] == m.hf and v["model"]["name"] == m.model
        # tensor inside a node, pipeline across the nodes of a multi-node replica
        par = v["parallelism"]
        assert par["tensor"] * par["pipeline"] == m.gpus_per_replica and par["pipeline"] == p.plan.instances_per_replica
        assert v["gpu"]["gpusPerNode"] == p.plan.gpus_per_instance
        assert v["gpu"]["gpusPerNode"] % par["tensor"] == 0
        assert v["replicaCount"] == p.replicas + m.spares
        assert v["gpu"]["nodeSelector"] == {GPU_POOL_LABEL: m.name}
        assert Economics.from_json(v["economics"]).deployment == p.deployment   # the placement's: replicas sized
        # the engine flags the chart renders are the ones the deployment was priced with
        assert (v["engine"]["kvCacheDtype"], v["engine"]["expertParallel"]) == (m.deployment.kv_cache_dtype,
                                                                                 m.deployment.expert_parallel)
        assert v["engine"]["apiServerCount"] == m.deployment.api_servers
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
    assert run.outputs["cost"] == json.loads(json.dumps(fleet_document(pricing.price(place(spec)))))
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
    assert len({s.inputs["availabilityZoneId"] for s in subnets}) == len(spec.cluster.zones) >= 2
    assert len(of_type(run, "kubernetes:apps/v1:DaemonSet")) == 1      # AL2023 NVIDIA AMI: device plugin installed
    assert len(of_type(run, "aws:ec2/natGateway:NatGateway")) == 3
    assert len(of_type(runs["dev"][1], "aws:ec2/natGateway:NatGateway")) == 1


def test_private_endpoint_comes_in_two_phases(runs):
    """Phase 1 (the example as is): public endpoint restricted to a CIDR, private on. Phase 2 (publicAccess
    false) only with endpoint.phase 2; without it the program refuses before registering anything."""
    _, run, _ = runs["private-70b"]
    (cluster,) = of_type(run, "aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is True
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    assert cluster.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    phase1 = stack_value("private-70b", f"{P}cluster")
    phase1["endpoint"] = {"publicAccess": False, "privateAccess": True}
    _, refused = run_stack("private-70b", {f"{P}cluster": phase1})
    assert isinstance(refused.error, ConfigError) and refused.error.key == f"{P}cluster.endpoint.publicAccess"
    assert refused.resources == []
    phase1["endpoint"]["phase"] = 2
    _, phase2 = run_stack("private-70b", {f"{P}cluster": phase1})
    assert phase2.error is None
    (cluster,) = of_type(phase2, "aws:eks/cluster:Cluster")
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
    assert len(vllm_charts(run)) == 1 and run.outputs["cost"]["monthly_usd"] > 0


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


def test_missing_secret_in_production_is_a_blocker_the_update_refuses():
    _, run = run_stack("prod", drop=(f"{P}vllmApiKey",))
    assert run.error is None and f"{P}vllmApiKey" in {b["key"] for b in run.outputs["blockers"]}


LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


@pytest.mark.parametrize("stack", STACKS)
def test_gpu_nodes_boot_from_a_launch_template_that_locks_imds_and_sizes_the_disk(runs, stack):
    _, run, spec = runs[stack]
    templates = {r.urn: r for r in of_type(run, LAUNCH_TEMPLATE)}
    for m in place(spec).models:
        groups = gpu_node_groups(run, m.model.name)
        lt_urns = {u for g in groups for u in g.dependencies.get("launchTemplate", [])}
        # One template per model; one per zone where each zone has its own placement group (test_placement.py).
        assert len(lt_urns) == (len(m.pools) if any(t.type.endswith("PlacementGroup") for t in run.resources) else 1), lt_urns
        lt = templates[sorted(lt_urns)[0]].inputs
        # IMDSv2 only, one hop: a pod (one hop further) cannot read the node role's credentials.
        assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                         "httpPutResponseHopLimit": 1}
        (bdm,) = lt["blockDeviceMappings"]
        ebs = bdm["ebs"]
        assert bdm["deviceName"] == ("/dev/xvdb" if "BOTTLEROCKET" in spec.cluster.gpu_ami_type else "/dev/xvda")
        assert ebs["volumeType"] == "gp3" and ebs["encrypted"] == "true"
        assert ebs["volumeSize"] == m.disk_gib(spec.pricing.overheads) >= node_disk_needed_gib(m, spec.cluster.gpu_ami_type)
        # The node's weights are written within the stated window, within gp3's limits (none are written to
        # gp3 when the node keeps them on NVMe instance store: infra/components/weights.py).
        on_nvme = weights_on_instance_store(m, spec.cluster.gpu_ami_type)
        node_weights_mib = 0 if on_nvme else m.plan.replicas_per_instance * m.model.weights_gib * 1024
        assert 125 <= ebs["throughput"] <= 1000 and ebs["iops"] >= max(3000, 4 * ebs["throughput"])
        assert ebs["throughput"] == 1000 or ebs["throughput"] * 600 >= node_weights_mib
        assert "imageId" not in lt and "instanceType" not in lt                 # EKS keeps managing the AMI


@pytest.mark.parametrize("stack", STACKS)
def test_node_group_updates_go_one_node_at_a_time_and_the_pdb_lets_that_node_drain(runs, stack):
    _, run, spec = runs[stack]
    charts = {c.inputs["name"]: c.inputs["values"] for c in vllm_charts(run)}
    for p in place(spec).models:
        for g in gpu_node_groups(run, p.model.name):
            assert g.inputs["updateConfig"] == {"maxUnavailable": 1}
        assert charts[p.model.name]["availability"]["podsPerNode"] == p.plan.replicas_per_instance


def test_the_bill_is_the_fleet_plus_every_platform_line(runs):
    _, run, spec = runs["prod"]
    b = run.outputs["bill"]
    names = [i["name"] for i in b["platform_line_items"]]
    for needed in ("EKS control plane", "NAT gateways", "NAT data processed", "System nodes", "System node disks",
                   "KMS key", "Control-plane logs ingested", "Control-plane logs stored"):
        assert any(n.startswith(needed) for n in names), (needed, names)
    assert all(i["source"] and i["quantity"] > 0 for i in b["platform_line_items"])
    assert b["fleet_monthly_usd"] == run.outputs["cost"]["monthly_usd"]
    assert b["monthly_usd"] == pytest.approx(b["fleet_monthly_usd"] + b["platform_monthly_usd"], abs=0.01)
    nat = next(i for i in b["platform_line_items"] if i["name"] == "NAT gateways")
    assert nat["quantity"] == 730 * len(spec.cluster.zones)                   # one per zone in production
    assert any("Control-plane logs" in msg and "Whole bill" in msg for _, msg in run.logs)


@pytest.mark.parametrize("stack", STACKS)
def test_network_policy_admits_only_the_listed_callers(runs, stack):
    _, run, spec = runs[stack]
    for c in vllm_charts(run):
        np = c.inputs["values"]["networkPolicy"]
        assert np["enabled"] is True
        assert np["allowedNamespaces"] == list(spec.access.client_namespaces)
        assert np["allowSameNamespace"] is spec.access.same_namespace
        assert np["metricsNamespaces"] == list(spec.access.metrics_namespaces)
    if stack == "prod":
        assert spec.access.client_namespaces == ("apps",)


def test_internal_load_balancer_is_an_internal_nlb_admitted_from_the_vpc(runs):
    _, run, spec = runs["private-70b"]
    (chart,) = vllm_charts(run)
    v = chart.inputs["values"]
    assert v["service"]["type"] == "LoadBalancer"
    assert v["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"
    assert v["networkPolicy"]["allowedCidrs"] == [spec.cluster.vpc_cidr]
    assert "service" not in vllm_charts(runs["prod"][1])[0].inputs["values"]


def test_vpc_cni_enforces_network_policies(runs):
    _, run, _ = runs["prod"]
    cni = next(r for r in of_type(run, "aws:eks/addon:Addon") if r.inputs["addonName"] == "vpc-cni")
    assert json.loads(cni.inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_capacity_reservation_and_capacity_block_reach_the_launch_template():
    models = stack_value("prod", f"{P}models")
    models[0].update(capacityReservationId="cr-0123456789abcdef0", capacityBlock=True, capacityType="on-demand")
    _, run = run_stack("prod", {f"{P}models": models})
    assert run.error is None, run.error
    (lt,) = [t for t in of_type(run, LAUNCH_TEMPLATE) if t.inputs["description"].startswith("breakeven GPU nodes")]
    target = lt.inputs["capacityReservationSpecification"]["capacityReservationTarget"]
    assert target == {"capacityReservationId": "cr-0123456789abcdef0"}
    assert lt.inputs["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert all(g.inputs["capacityType"] == "CAPACITY_BLOCK" for g in gpu_node_groups(run, models[0]["name"]))
    models[0].update(capacityType="spot", capacityBlock=False)
    _, refused = run_stack("prod", {f"{P}models": models})
    assert refused.error.key == f"{P}models[0].capacityReservationId" and refused.resources == []


OFFERINGS = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"


def test_subnets_are_placed_by_zone_id_from_the_offerings_call(runs):
    _, run, _ = runs["prod"]
    asked = [a for t, a in run.calls if t == OFFERINGS]
    assert asked and all(a["locationType"] == "availability-zone-id" for a in asked)
    assert {f["values"][0] for a in asked for f in a["filters"]} == {"p4de.24xlarge"}
    # This account's us-east-1a/b are use1-az4/az6: the only two zones that sell p4de (infra/data/zones.yaml).
    assert run.outputs["zones"]["us-east-1a"]["zoneId"] == "use1-az4"
    ids = {s.inputs["availabilityZoneId"] for s in of_type(run, "aws:ec2/subnet:Subnet")}
    assert ids == {z["zoneId"] for z in run.outputs["zones"].values()}


def test_without_named_zones_the_program_picks_zone_ids_that_sell_the_gpus_and_take_eks():
    cluster = stack_value("private-70b", f"{P}cluster")
    cluster.pop("zones")
    _, run = run_stack("private-70b", {f"{P}cluster": cluster})
    assert run.error is None, run.error
    chosen = [z["zoneId"] for z in run.outputs["zones"].values()]
    # p5.48xlarge is sold in use1-az1..az6, but EKS cannot use use1-az3.
    assert chosen == ["use1-az1", "use1-az2", "use1-az4"]


@pytest.mark.parametrize("zones,key", [
    (["us-east-1a", "us-east-1b", "us-east-1e"], f"{P}cluster.zones[2]"),    # us-east-1e is use1-az3: no EKS
])   # a zone that does not sell the GPUs is a blocker: tests/infra/test_blockers.py
def test_a_zone_that_cannot_take_the_cluster_is_refused_before_any_resource(zones, key):
    cluster = stack_value("prod", f"{P}cluster")
    cluster["zones"] = zones
    _, run = run_stack("prod", {f"{P}cluster": cluster})
    assert isinstance(run.error, ConfigError) and run.error.key == key, run.error
    assert run.resources == []


# AWS tag limits (EKS and EC2 user guides, "Tagging your resources"): at most 50 tags per resource,
# keys up to 128 and values up to 256 characters of letters, digits, spaces and + - = . _ : / @.
AWS_TAG_CHARS = re.compile(r"^[\w .:/=+\-@]*$")


@pytest.mark.parametrize("stack", STACKS)
def test_node_group_economics_tags_decode_and_fit_aws_tag_limits(runs, stack):
    _, run, spec = runs[stack]
    default_tags = {"breakeven.dev/project", "breakeven.dev/stack", "breakeven.dev/cluster"}   # the provider's
    for p in place(spec).models:
        for ng in gpu_node_groups(run, p.model.name):
            tags = ng.inputs["tags"]
            assert len(set(tags) | default_tags) <= 50
            assert all(len(k) <= 128 and AWS_TAG_CHARS.match(k) for k in tags), tags
            assert all(len(v) <= 256 and AWS_TAG_CHARS.match(v) for v in tags.values()), tags
            e = Economics.from_tags(tags)
            assert (e.deployment, e.workload) == (p.deployment, p.model.workload)


@pytest.mark.parametrize("stack", STACKS)
def test_the_grafana_dashboard_carries_each_models_cost_figures(runs, stack):
    """$/1M at the current rate against the API needs the hourly cost and the API price the report uses."""
    _, run, _ = runs[stack]
    cost = {m["deployment"]["name"]: m for m in run.outputs["cost"]["models"]}
    for c in vllm_charts(run):
        name = c.inputs["name"]
        d = c.inputs["values"]["metrics"]["grafanaDashboard"]
        assert d["enabled"] and d["hourlyCostUsd"] == pytest.approx(cost[name]["self_hosted"]["monthly_usd"] / 730, abs=1e-3)
        assert d["apiName"] == (cost[name]["verdict"]["cheapest_api"] or "no comparable API")
        assert d["capacityTokensPerSecond"] > 0


@pytest.mark.parametrize("stack", STACKS)
def test_every_node_group_boots_from_a_launch_template_with_imdsv2_at_one_hop(runs, stack):
    """The system nodes too: IMDS at hop 2 would hand the node role's credentials to any pod there."""
    _, run, _ = runs[stack]
    templates = {r.urn: r.inputs for r in of_type(run, LAUNCH_TEMPLATE)}
    groups = of_type(run, NODE_GROUP)
    assert any((g.inputs.get("labels") or {}).get("breakeven.dev/pool") == "system" for g in groups)
    for g in groups:
        (urn,) = g.dependencies["launchTemplate"]
        assert templates[urn]["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                                     "httpPutResponseHopLimit": 1}
        assert "diskSize" not in g.inputs                                   # EKS refuses it beside a template
    system = next(t for t in templates.values() if t["description"].startswith("breakeven system nodes"))
    assert system["blockDeviceMappings"][0]["ebs"]["volumeSize"] == prices()["assumed"]["system_node_disk_gib"]
