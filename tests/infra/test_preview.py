"""The offline preview: the program under mocks plus the real helm rendering of charts/vllm."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest

from cost.errors import InputError
from infra import preview
from infra.spec import GPU_POOL_LABEL, P
from tests.infra.conftest import CANARY, STACKS, stack_value

WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")


@pytest.fixture(scope="module")
def plans():
    return {s: preview.plan(s, secrets=CANARY) for s in STACKS}


def _gpu_limit(container: dict) -> int:
    res = container.get("resources") or {}
    return int((res.get("limits") or res.get("requests") or {}).get("nvidia.com/gpu", 0))


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_workloads_match_the_spec(plans, stack):
    p = plans[stack]
    charts = {r["inputs"]["name"]: r for r in p.of_type(preview.CHART_TYPE)}
    for m in p.spec.models:
        chart = charts[m.name]
        children = [r for r in p.resources if r.get("parent") == chart["urn"]]
        assert children, f"chart {m.name} rendered nothing"
        assert all(r["name"].startswith(chart["name"] + ":") for r in children)
        workloads = [r for r in children if r["type"] in WORKLOADS]
        assert len(workloads) == 1
        obj = workloads[0]["inputs"]
        assert obj["metadata"]["name"] == m.k8s_name   # the spec checks these names are unique
        assert obj["spec"]["replicas"] == m.replicas + m.spares
        pod = obj["spec"]["template"]["spec"]
        gpus = [_gpu_limit(c) for c in pod["containers"] if _gpu_limit(c)]
        assert gpus == [m.tensor_parallel]
        assert pod["nodeSelector"][GPU_POOL_LABEL] == m.name
        assert any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", []))
        text = json.dumps(obj)
        assert m.hf in text and str(m.max_model_len) in text
        # the chart is given secret names only
        assert "hf-token" in text and "vllm-api-key" in text


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_value_anywhere_in_the_preview(plans, stack, capsys):
    p = plans[stack]
    blob = json.dumps(p.to_dict(), default=str) + "".join(p.manifests.values()) + preview.render(p, "table")
    for value in CANARY.values():
        assert value not in blob


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


def test_exported_cost_is_in_the_plan_and_the_report(plans):
    for s, p in plans.items():
        assert p.cost["monthly_usd"] > 0
        assert f"${p.cost['monthly_usd']:,.2f}" in preview.render(p, "table")


def test_json_format_prints_resources_and_the_cost_report(capsys):
    assert preview.main("prod", "json") == 0   # prod passes the policy pack
    out = json.loads(capsys.readouterr().out)
    types = {r["type"] for r in out["resources"]}
    assert {"aws:eks/nodeGroup:NodeGroup", "aws:eks/cluster:Cluster", preview.CHART_TYPE, "kubernetes:apps/v1:Deployment"} <= types
    assert out["cost"]["models"][0]["verdict"]["choice"] in ("api", "self-host", "hybrid")
    assert out["spec"]["models"][0]["name"] == "chat-70b"
    assert out["timings"]["total"] > 0


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


