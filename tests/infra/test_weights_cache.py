"""The weights cache a restarted pod reuses: rendered volumes, the node user data that prepares them,
and the report line that says where they live and what a replaced node costs."""

from __future__ import annotations

import base64

import pytest

from cost.physics.weights_cache import NVME_CACHE_PATH, ROOT_CACHE_PATH, plan_cache
from infra.offline import helmrender
from infra.placement import place
from tests.infra.conftest import run_stack, stack_value

P = "breakeven:"


def _vllm_chart(run):
    [chart] = [r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs["chart"] == "./charts/vllm"]
    return chart


def _rendered_volume(run, spec) -> dict:
    m = spec.models[0]
    r = helmrender.render("chart", "charts/vllm", m.name, spec.namespace, _vllm_chart(run).inputs["values"],
                          spec.cluster.kubernetes_version)
    workload = next(o for o in r.objects if o["kind"] in ("Deployment", "LeaderWorkerSet"))
    spec_ = (workload["spec"]["template"] if workload["kind"] == "Deployment"
             else workload["spec"]["leaderWorkerTemplate"]["workerTemplate"])["spec"]
    return next(v for v in spec_["volumes"] if v["name"] == "model-cache")


def _user_data(run, model: str) -> str:
    # One template per model, or one per zone (each with its placement group): the same user data in each.
    lts = [r for r in run.resources if r.type == "aws:ec2/launchTemplate:LaunchTemplate"
           and r.name in (f"gpu-{model}-lt", *(f"gpu-{model}-lt-{p}" for p in "abcdef"))]
    assert lts and len({lt.inputs.get("userData") for lt in lts}) == 1
    lt = lts[0]
    return base64.b64decode(lt.inputs["userData"]).decode() if lt.inputs.get("userData") else ""


@pytest.mark.helm
@pytest.mark.parametrize("stack", ["prod", "llama-405b"])
def test_instance_store_holds_the_weights_on_a_raid0_array_every_pod_of_the_node_reuses(runs, stack):
    _, run, spec = runs[stack]
    p = place(spec).models[0]
    m = p.model
    assert _rendered_volume(run, spec) == {"name": "model-cache", "hostPath": {"path": NVME_CACHE_PATH, "type": "Directory"}}
    text = _user_data(run, m.name)
    assert "kind: NodeConfig" in text and "strategy: RAID0" in text
    assert f"install -d -m 0750 -o 1000 -g 1000 {NVME_CACHE_PATH}" in text   # the chart's pod user owns it
    report = next(x for s, x in run.logs if s == "info" and x.startswith("breakeven cost report"))
    assert f"Weights cache, {m.name}: {p.plan.replicas_per_instance * m.cache_gib:,} GiB per node in instance-store NVMe" in report
    assert "a restarted pod on the same node reuses them" in report


@pytest.mark.helm
def test_without_instance_store_the_cache_is_a_directory_on_the_priced_gp3_volume(runs):
    _, run, spec = runs["dev"]   # g6.xlarge: EBS only
    assert _rendered_volume(run, spec) == {"name": "model-cache", "hostPath": {"path": ROOT_CACHE_PATH, "type": "Directory"}}
    text = _user_data(run, spec.models[0].name)
    assert "NodeConfig" not in text and f"install -d -m 0750 -o 1000 -g 1000 {ROOT_CACHE_PATH}" in text
    placed = place(spec).models[0]
    assert placed.disk_gib(spec.pricing.overheads) >= placed.disk_needed_gib


def test_bottlerocket_and_existing_clusters_keep_an_emptydir_and_the_report_says_so():
    cluster = {**stack_value("dev", f"{P}cluster"), "gpuAmiType": "BOTTLEROCKET_x86_64_NVIDIA"}
    _, run = run_stack("dev", {f"{P}cluster": cluster})
    assert run.error is None
    assert "emptyDir" in _vllm_chart(run).inputs["values"]["modelCache"]["type"]
    assert not _user_data(run, "chat-8b")
    report = next(x for s, x in run.logs if s == "info" and x.startswith("breakeven cost report"))
    assert "an emptyDir: every new pod downloads them again" in report
    _, run = run_stack("dev", {f"{P}cluster": {"existing": {"kubeconfig": "~/.kube/config", "context": "gpu"}}})
    assert _vllm_chart(run).inputs["values"]["modelCache"]["type"] == "emptyDir"


def test_an_instance_store_too_small_for_the_caches_falls_back_to_gp3():
    assert plan_cache("p4d.24xlarge", "AL2023_x86_64_NVIDIA", 7000).medium == "instance-store"
    assert plan_cache("p4d.24xlarge", "AL2023_x86_64_NVIDIA", 8000).medium == "ebs"   # 8 x 1000 GB = 7,451 GiB
