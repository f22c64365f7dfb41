"""The offline preview: the program under mocks plus the real helm rendering of charts/vllm."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from cost.errors import InputError
from infra.config.spec import GPU_POOL_LABEL, P
from infra.offline import preview
from tests.infra.conftest import CANARY, STACKS, stack_value

WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet",
             "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet")


@pytest.fixture(scope="module")
def plans():
    return {s: preview.plan(s, secrets=CANARY) for s in STACKS}


def _gpu_limit(container: dict) -> int:
    res = container.get("resources") or {}
    return int((res.get("limits") or res.get("requests") or {}).get("nvidia.com/gpu", 0))


@pytest.mark.helm
@pytest.mark.parametrize("stack", STACKS)
def test_rendered_workloads_match_the_spec(plans, stack):
    p = plans[stack]
    charts = {r["inputs"]["name"]: r for r in p.of_type(preview.CHART_TYPE)}
    for placed in p.placement.models:
        m = placed.model
        chart = charts[m.name]
        children = [r for r in p.resources if r.get("parent") == chart["urn"]]
        assert children, f"chart {m.name} rendered nothing"
        assert all(r["name"].startswith(chart["name"] + ":") for r in children)
        workloads = [r for r in children if r["type"] in WORKLOADS]
        assert len(workloads) == 1
        obj = workloads[0]["inputs"]
        assert obj["metadata"]["name"] == m.k8s_name   # the spec checks these names are unique
        assert obj["spec"]["replicas"] == placed.replicas + m.spares
        if "leaderWorkerTemplate" in obj["spec"]:   # a multi-node replica: leader + workers, one node each
            lwt = obj["spec"]["leaderWorkerTemplate"]
            assert lwt["size"] == placed.plan.instances_per_replica
            pods = [lwt["leaderTemplate"]["spec"], lwt["workerTemplate"]["spec"]]
        else:
            pods = [obj["spec"]["template"]["spec"]]
        for pod in pods:
            gpus = [_gpu_limit(c) for c in pod["containers"] if _gpu_limit(c)]
            assert gpus == [m.gpus_per_replica // placed.plan.instances_per_replica]
            assert pod["nodeSelector"][GPU_POOL_LABEL] == m.name
            assert any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", []))
        pod = pods[0]
        text = json.dumps(obj)
        assert m.hf in text and str(m.max_model_len) in text
        # the server runs the KV cache dtype and expert parallelism the model was priced with
        args = next(c for c in pod["containers"] if c["name"] == "vllm")["args"]
        assert ("--kv-cache-dtype=fp8" in args) == (m.deployment.kv_cache_dtype == "fp8")
        assert ("--enable-expert-parallel" in args) == m.deployment.expert_parallel
        assert ("--api-server-count" in " ".join(args)) == (m.deployment.api_servers > 1)
        # the chart is given secret names only
        assert "hf-token" in text and "vllm-api-key" in text


@pytest.mark.helm
def test_the_fleet_preview_shows_and_prices_the_fp8_kv_cache(plans):
    table = preview.render(plans["fleet"], "table")
    assert "release=analyst-72b" in table and "kv-cache=fp8" in table
    assert "(fp8 KV cache)" in table      # the analyst's memory line: priced with it


@pytest.mark.helm
@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_value_anywhere_in_the_preview(plans, stack, capsys):
    p = plans[stack]
    blob = json.dumps(p.to_dict(), default=str) + "".join(p.manifests.values()) + preview.render(p, "table")
    for value in CANARY.values():
        assert value not in blob


@pytest.mark.helm
def test_every_kubernetes_object_validates_against_the_official_schemas(plans):
    checked = 0
    for p in plans.values():
        version = p.spec.cluster.kubernetes_version
        for r in p.resources:
            if not r["type"].startswith("kubernetes:") or r["type"] == preview.CHART_TYPE:
                continue
            obj = dict(r["inputs"])
            if obj.get("stringData") == "[secret]":
                obj["stringData"] = {"redacted": "x"}
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                continue  # CRDs (e.g. ServiceMonitor) have no official schema
            checked += 1
    assert checked >= 5 * len(plans)


@pytest.mark.helm
def test_exported_cost_is_in_the_plan_and_the_report(plans):
    for p in plans.values():
        assert p.cost["monthly_usd"] > 0
        assert f"${p.cost['monthly_usd']:,.2f}" in preview.render(p, "table")


@pytest.mark.helm
def test_json_format_prints_resources_and_the_cost_report(capsys):
    assert preview.main("prod", "json") == 0   # prod passes the policy pack
    out = json.loads(capsys.readouterr().out)
    types = {r["type"] for r in out["resources"]}
    assert {"aws:eks/nodeGroup:NodeGroup", "aws:eks/cluster:Cluster", preview.CHART_TYPE, "kubernetes:apps/v1:Deployment"} <= types
    assert out["cost"]["models"][0]["verdict"]["choice"] in ("api", "self-host", "hybrid")
    assert out["spec"]["models"][0]["name"] == "chat-70b"
    assert out["timings"]["total"] > 0


@pytest.mark.helm
@pytest.mark.parametrize("fmt,needle", [("table", "Planned resources"), ("markdown", "| Type | Name | Key inputs |")])
def test_table_and_markdown(fmt, needle, capsys):
    assert preview.main("dev", fmt) == 0
    out = capsys.readouterr().out
    assert needle in out and "aws:eks/nodeGroup:NodeGroup" in out


def test_unknown_stack_and_bad_config_exit_2(capsys):
    assert preview.main("no-such-stack", "table") == 2
    assert "--stack: got 'no-such-stack'" in capsys.readouterr().err
    models = stack_value("prod", f"{P}models")
    models[0]["replicas"] = 0
    with pytest.raises(InputError) as info:
        preview.plan("prod", overrides={f"{P}models": models})
    assert info.value.key == f"{P}models[0].replicas"


@pytest.mark.helm
def test_pulumi_waits_as_long_as_a_70b_rollout_takes(plans):
    """prod: 4 pods of 132 GiB of weights (~8 min each to start from the S3 copy), replaced one at a time. Pulumi's
    default 10-minute await would fail `pulumi up`; the rendered objects carry the real window."""
    p = plans["prod"]
    by_kind = {r["inputs"]["kind"]: r["inputs"] for r in p.resources
               if isinstance(r.get("inputs"), dict) and r["inputs"].get("kind") in ("Deployment", "Service")}
    d, svc = by_kind["Deployment"], by_kind["Service"]
    c = d["spec"]["template"]["spec"]["containers"][0]
    window = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    assert window >= 240 + 2 * 132   # a replaced node streams the S3 copy at 2 s/GiB (cost/physics/weights_source.py)
    wait = int(d["metadata"]["annotations"]["pulumi.com/timeoutSeconds"])
    assert wait >= d["spec"]["replicas"] * window > 600
    assert int(svc["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]) == wait


@pytest.mark.helm
def test_prod_preview_renders_the_pdb_network_policy_and_path_allow_list(plans):
    """What the cluster would receive for prod: a PDB that lets one whole node (2 pods) drain, a
    NetworkPolicy admitting only `apps` on the API port and `monitoring` on the metrics port, and vLLM
    behind the proxy on 127.0.0.1."""
    objs = {r["inputs"]["kind"]: r["inputs"] for r in plans["prod"].resources
            if isinstance(r.get("inputs"), dict) and r["inputs"].get("kind")
            in ("PodDisruptionBudget", "NetworkPolicy", "ConfigMap", "Deployment")}
    assert objs["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 2
    api, scrape = objs["NetworkPolicy"]["spec"]["ingress"][:2]
    names = lambda rule: {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]  # noqa: E731
                          for p in rule["from"] if "namespaceSelector" in p}
    assert names(api) == {"apps"} and api["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert names(scrape) == {"monitoring"} and scrape["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert "location /v1/" in objs["ConfigMap"]["data"]["nginx.conf"]
    vllm, proxy = objs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert vllm["command"] == ["vllm", "serve"] and "--host=127.0.0.1" in vllm["args"]
    assert proxy["name"] == "proxy" and {p["name"] for p in proxy["ports"]} == {"http", "metrics"}


def test_the_chart_line_and_the_comparison_name_more_api_servers_only():
    from infra.offline.preview_compare import _configuration

    def chart(engine):
        return preview.key_inputs({"type": preview.CHART_TYPE, "inputs": {"chart": "./charts/vllm", "name": "m",
                                                                          "values": {"engine": engine}}})
    assert "api-servers" not in chart({"apiServerCount": 1}) and "api-servers" not in chart({})
    assert chart({"apiServerCount": 4}).endswith(" api-servers=4")
    assert "API servers" not in _configuration({"deployment": {"api_servers": 1}})
    assert _configuration({"deployment": {"api_servers": 4}}).endswith(", 4 API servers")
