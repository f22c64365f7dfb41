"""Reachable and callable: every example names its callers, the rendered NetworkPolicy admits each of
them on the port the Service sends API traffic to, and the private endpoint is open on 443."""

from __future__ import annotations

import json

import pytest

from infra.components import cluster
from infra.config.spec import P
from infra.offline import preview
from tests.infra.conftest import CANARY, STACKS, run_stack, stack_value

SG_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


@pytest.fixture(scope="module")
def plans():
    return {s: preview.plan(s, secrets=CANARY) for s in STACKS}


def _objects(p, kind: str, release: str) -> list[dict]:
    charts = {r["inputs"]["name"]: r["urn"] for r in p.of_type(preview.CHART_TYPE)}
    return [r["inputs"] for r in p.resources if r.get("parent") == charts[release] and r["inputs"].get("kind") == kind]


def _admits(policy: dict, port: str, peer: dict) -> bool:
    """Whether an ingress rule of the policy lets `peer` (a namespace name or a source IP) reach `port`."""
    for rule in policy["spec"]["ingress"]:
        if not any(p.get("port") == port for p in rule.get("ports", [])):
            continue
        for src in rule.get("from", []):
            ns = (src.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            if "namespace" in peer and ns == peer["namespace"] and "podSelector" not in src:
                return True
            if "cidr" in peer and (src.get("ipBlock") or {}).get("cidr") == peer["cidr"]:
                return True
    return False


@pytest.mark.helm
@pytest.mark.parametrize("stack", STACKS)
def test_every_example_has_callers_and_the_network_policy_admits_each_on_the_api_port(plans, stack):
    p = plans[stack]
    a = p.spec.access
    assert a.client_namespaces or a.internal_load_balancer, f"{stack}: nobody may call the models"
    for m in p.spec.models:
        (policy,) = _objects(p, "NetworkPolicy", m.name)
        services = _objects(p, "Service", m.name)
        api_ports = {port["targetPort"] for s in services for port in s["spec"]["ports"] if port["name"] == "http"}
        assert len(api_ports) == 1, api_ports       # the port the Service sends API traffic to
        port = api_ports.pop()
        for ns in a.client_namespaces:
            assert _admits(policy, port, {"namespace": ns}), (stack, m.name, ns)
        if a.internal_load_balancer:
            assert _admits(policy, port, {"cidr": p.spec.cluster.vpc_cidr}), (stack, m.name)
        assert not _admits(policy, port, {"namespace": "default"})   # and nobody else


@pytest.mark.parametrize("stack", STACKS)
def test_the_private_endpoint_is_open_on_443_to_the_vpc_by_default(runs, stack):
    _, run, spec = runs[stack]
    rules = [r.inputs for r in run.resources if r.type == SG_RULE]
    if not spec.cluster.endpoint.private_access:
        assert rules == []
        return
    assert [(r["cidrIpv4"], r["fromPort"], r["toPort"], r["ipProtocol"]) for r in rules] == [
        (spec.cluster.vpc_cidr, 443, 443, "tcp")]
    assert all(r["securityGroupId"].startswith("sg-") for r in rules)     # the cluster security group EKS made


def test_phase_2_private_endpoint_admits_the_named_networks_on_443():
    c = stack_value("private-70b", f"{P}cluster")
    c["endpoint"] = {"publicAccess": False, "privateAccess": True, "phase": 2,
                     "privateAccessCidrs": ["10.0.0.0/16", "172.20.0.0/16", "fd00:1::/64"]}
    _, run = run_stack("private-70b", {f"{P}cluster": c})
    assert run.error is None, run.error
    rules = [r.inputs for r in run.resources if r.type == SG_RULE]
    # one rule per network; the three wait on the same cluster output, so they may register in any order
    assert sorted(r.get("cidrIpv4") or r.get("cidrIpv6") for r in rules) == ["10.0.0.0/16", "172.20.0.0/16", "fd00:1::/64"]
    eks = next(r.inputs for r in run.resources if r.type == "aws:eks/cluster:Cluster")
    assert eks["vpcConfig"]["endpointPublicAccess"] is False and eks["vpcConfig"]["endpointPrivateAccess"] is True


def test_a_documentation_range_for_the_private_endpoint_is_a_blocker():
    c = stack_value("private-70b", f"{P}cluster")
    c["endpoint"]["privateAccessCidrs"] = ["192.0.2.0/24"]
    _, run = run_stack("private-70b", {f"{P}cluster": c})
    assert f"{P}cluster.endpoint.privateAccessCidrs[0]" in {b["key"] for b in run.outputs["blockers"]}


def test_the_kubeconfig_and_the_aws_provider_use_the_stacks_profile_and_role():
    role = "arn:aws:iam::123456789012:role/deployer"
    _, run = run_stack("dev", {"aws:profile": "ml-prod", "aws:assumeRoles": [{"roleArn": role}]})
    assert run.error is None, run.error
    provider = next(r.inputs for r in run.resources if r.type == "pulumi:providers:aws")
    roles = provider["assumeRoles"]   # the provider's inputs carry nested objects as JSON text
    assert provider["profile"] == "ml-prod" and (json.loads(roles) if isinstance(roles, str) else roles)[0]["roleArn"] == role
    user = json.loads(cluster.kubeconfig("c", "https://x", "Y2E=", "us-east-1", "ml-prod", role))["users"][0]["user"]["exec"]
    assert user["args"][-4:] == ["--role-arn", role, "--profile", "ml-prod"]
    assert user["env"] == [{"name": "AWS_PROFILE", "value": "ml-prod"}]
    plain = json.loads(cluster.kubeconfig("c", "https://x", "Y2E=", "us-east-1"))["users"][0]["user"]["exec"]
    assert "--profile" not in plain["args"] and "env" not in plain
