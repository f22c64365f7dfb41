"""The bad-input corpus: CLI flags, stack files and chart values that must be refused.

Every case asserts what a user relies on: a non-zero exit (2 for bad input), a message that names
the key, no traceback, and nothing registered or written (the CLI prints no report; the offline
preview's mock engine records no resource; helm prints no manifest).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess

import pytest
import yaml

from breakeven import cli
from infra import mocks, preview
from infra.stackconfig import ROOT

# --- CLI flags ---------------------------------------------------------------------------------------

BASE = ["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "100M"]

CLI_CASES = [  # (extra argv, the key the message must name)
    (["--hourly-usd", "nan"], "--hourly-usd"),
    (["--hourly-usd", "inf"], "--hourly-usd"),
    (["--hourly-usd", "-1"], "--hourly-usd"),
    (["--hourly-usd", "1e400"], "--hourly-usd"),
    (["--tokens-per-month", "1e400"], "--tokens-per-month"),
    (["--tokens-per-month", "nan"], "--tokens-per-month"),
    (["--tokens-per-month", "-5M"], "--tokens-per-month"),
    (["--tokens-per-month", "3.2billion"], "--tokens-per-month"),
    (["--gpus", "3"], "--gpus"),                     # 32 attention heads do not split 3 ways
    (["--gpus", "0"], "--gpus"),
    (["--gpus", "1e400"], "--gpus"),
    (["--replicas", "100000000000"], "--replicas"),
    (["--replicas", "0"], "--replicas"),
    (["--redundancy", "-1"], "--redundancy"),
    (["--utilization", "nan"], "--utilization"),
    (["--utilization", "1.5"], "--utilization"),
    (["--utilization", "0"], "--utilization"),
    (["--input-share", "1"], "--input-share"),
    (["--input-share", "nan"], "--input-share"),
    (["--avg-input-tokens", "0", "--avg-output-tokens", "5"], "--avg-input-tokens"),
    (["--avg-input-tokens", "200000", "--avg-output-tokens", "100"], "--avg-input-tokens"),   # past the context
    (["--max-model-len", "1000", "--avg-input-tokens", "900", "--avg-output-tokens", "400"], "--max-model-len"),
    (["--max-model-len", "99999999"], "--max-model-len"),
    (["--ttft-target-ms", "nan"], "--ttft-target-ms"),
    (["--ttft-target-ms", "-5"], "--ttft-target-ms"),
    (["--tpot-target-ms", "inf"], "--tpot-target-ms"),
    (["--concurrency", "0"], "--concurrency"),
    (["--capacity-tokens-per-month", "1e400"], "--capacity-tokens-per-month"),
    (["--model", "llama-9-1t"], "--model"),
    (["--gpu", "TPU-v9"], "--gpu"),
    (["--instance", "z9.huge"], "--instance"),
    (["--precision", "fp4"], "--precision"),
    (["--pricing", "free"], "--pricing"),
    (["--format", "yaml"], "--format"),
    (["--price-book", "no-such-book"], "--price-book"),
    (["--kv-cache-dtype", "fp16"], "--kv-cache-dtype"),
    (["--expert-parallel"], "--expert-parallel"),                # llama-3.1-8b is dense
    (["--prefix-cache-hit-rate", "1"], "--prefix-cache-hit-rate"),
    (["--prefix-cache-hit-rate", "-0.1"], "--prefix-cache-hit-rate"),
    (["--prefix-cache-hit-rate", "half"], "--prefix-cache-hit-rate"),
    (["--api-servers", "0"], "--api-servers"),
    (["--api-servers=-1"], "--api-servers"),
    (["--api-servers", "two"], "--api-servers"),
    (["--api-servers", "true"], "--api-servers"),
    (["--api-servers", "1.5"], "--api-servers"),
    (["--api-servers", "65"], "--api-servers"),
]


@pytest.mark.parametrize("extra,key", CLI_CASES, ids=[" ".join(a) for a, _ in CLI_CASES])
def test_cli_flag_is_refused(capsys, extra, key):
    try:
        code = cli.main(BASE + extra)
    except SystemExit as e:   # argparse refuses a malformed flag before the command runs
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert key in err and "Traceback" not in err + out
    assert out == ""          # nothing printed: no report for a bad input


@pytest.mark.parametrize("argv,key", [
    (["preview", "--stack", "no-such-stack"], "--stack"),
    (["bench", "--seconds", "nan"], "--seconds"),
])
def test_other_commands_refuse_bad_flags(capsys, argv, key):
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2 and key in err and "Traceback" not in err + out


def test_json_reports_are_strict_even_when_a_figure_has_no_finite_value(capsys):
    """0 tokens/month: the price per token served is undefined; JSON says null, never Infinity."""
    assert cli.main(BASE[:-1] + ["0", "--format", "json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert doc["self_hosted"]["usd_per_mtok_at_workload"] is None
    assert cli.main(BASE[:-1] + ["0"]) == 0
    assert "inf" not in capsys.readouterr().out.replace("infrastructure", "")


# --- stack files -------------------------------------------------------------------------------------

P = "breakeven:"


def _prod() -> dict:
    return yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())


def _set(path: str, value):
    """A change to the prod stack: `breakeven:models.0.replicas` -> value (None deletes the key)."""
    def change(doc: dict) -> None:
        node = doc["config"]
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is None:
            node.pop(last)
        else:
            node[last] = value
    return change


def _model(**changes):
    def change(doc: dict) -> None:
        doc["config"][f"{P}models"][0].update(changes)
    return change


def _endpoint_cidrs(*cidrs):
    return _set(f"{P}cluster.endpoint.publicAccessCidrs", list(cidrs))


STACK_CASES = [  # (id, change to the prod stack file or its raw text, key the message names)
    ("replicas-1e11", _model(replicas=100_000_000_000), f"{P}models[0].replicas"),
    ("replicas-word", _model(replicas="eight"), f"{P}models[0].replicas"),
    ("replicas-inf", _model(replicas=float("inf")), f"{P}models[0].replicas"),
    ("tp-3", _model(tensorParallel=3), f"{P}models[0].tensorParallel"),
    ("tp-past-64", _model(tensorParallel=128), f"{P}models[0].tensorParallel"),
    ("tp-12-spans-nodes-unevenly", _model(tensorParallel=12), f"{P}models[0].tensorParallel"),
    # two-node groups (TP 16 on 8-GPU p4de): 1 + 1 groups cannot fill three zones, a group stays in one
    ("multi-node-zones-past-groups", _model(tensorParallel=16, replicas=1, redundancy={"spares": 1, "zones": 3}),
     f"{P}models[0].redundancy.zones"),
    ("namespace-kube-system", _set(f"{P}namespace", "kube-system"), f"{P}namespace"),
    ("namespace-default", _set(f"{P}namespace", "default"), f"{P}namespace"),
    ("region-fake", _set(f"{P}cluster.region", "us-fake-9"), f"{P}cluster.region"),
    ("zone-1z", _set(f"{P}cluster.zones", ["us-east-1a", "us-east-1z"]), f"{P}cluster.zones[1]"),
    ("cidr-00", _endpoint_cidrs("0.0.0.0/00"), f"{P}cluster.endpoint.publicAccessCidrs[0]"),
    ("cidr-halves", _endpoint_cidrs("0.0.0.0/1", "128.0.0.0/1"), f"{P}cluster.endpoint.publicAccessCidrs"),
    ("cidr-v6-all", _endpoint_cidrs("203.0.113.0/24", "::/0"), f"{P}cluster.endpoint.publicAccessCidrs[1]"),
    ("cidr-host-bits", _endpoint_cidrs("203.0.113.7/24"), f"{P}cluster.endpoint.publicAccessCidrs[0]"),
    ("source-newline", _model(source="your-org/model\n--api-key=x"), f"{P}models[0].source"),
    ("api-key-underscore", _model(extraArgs=["--api_key=sk-live"]), f"{P}models[0].extraArgs[0]"),
    ("api-key-upper", _model(extraArgs=["--API-KEY", "x"]), f"{P}models[0].extraArgs[0]"),
    ("api-key-prefix", _model(extraArgs=["--api-k=x"]), f"{P}models[0].extraArgs[0]"),
    ("system-instance", _set(f"{P}cluster.systemNodes.instanceType", "zz.bogus; rm -rf /"),
     f"{P}cluster.systemNodes.instanceType"),
    ("budget-inf", _set(f"{P}pricing.budgetUsdPerMonth", float("inf")), f"{P}pricing.budgetUsdPerMonth"),
    ("budget-nan", _set(f"{P}pricing.budgetUsdPerMonth", float("nan")), f"{P}pricing.budgetUsdPerMonth"),
    ("tokens-1e400", _set(f"{P}models.0.workload.tokensPerMonth", "1e400"), f"{P}models[0].workload.tokensPerMonth"),
    ("gmu-nan", _model(gpuMemoryUtilization=float("nan")), f"{P}models[0].gpuMemoryUtilization"),
    ("redundancy-none-prod", _model(redundancy="none"), f"{P}models[0].redundancy"),
    ("request-past-context", _set(f"{P}models.0.workload",
                                  {"tokensPerMonth": "1B", "avgInputTokens": 140000, "avgOutputTokens": 300}),
     f"{P}models[0].workload.avgInputTokens"),
    ("request-past-max-model-len", _set(f"{P}models.0.workload",
                                        {"tokensPerMonth": "1B", "avgInputTokens": 9000, "avgOutputTokens": 300}),
     f"{P}models[0].maxModelLen"),
    ("node-group-name-too-long", _set(f"{P}cluster.name", "c" * 55), f"{P}models[0].name"),
    ("cluster-name-too-long", _set(f"{P}cluster.name", "c" * 58), f"{P}cluster.name"),
    ("unknown-top-key", _set(f"{P}modles", []), f"{P}modles"),
    ("unknown-model-key", _model(replicaz=2), f"{P}models[0].replicaz"),
    ("k8s-version-float", _set(f"{P}cluster.kubernetesVersion", 1.33), f"{P}cluster.kubernetesVersion"),
    ("vpc-cidr-8", _set(f"{P}cluster.vpcCidr", "10.0.0.0/8"), f"{P}cluster.vpcCidr"),
    ("max-model-len-past-context", _model(maxModelLen=200_000), f"{P}models[0].maxModelLen"),
    ("ops-tax-2", _set(f"{P}pricing.overheads", {"opsTaxShare": 2}), f"{P}pricing.overheads.opsTaxShare"),
    ("models-empty", _set(f"{P}models", []), f"{P}models"),
    ("kv-dtype-int8", _model(kvCacheDtype="int8"), f"{P}models[0].kvCacheDtype"),
    ("kv-dtype-bool", _model(kvCacheDtype=True), f"{P}models[0].kvCacheDtype"),
    ("kv-dtype-in-extra-args", _model(extraArgs=["--kv-cache-dtype=fp8"]), f"{P}models[0].extraArgs[0]"),
    ("expert-parallel-dense", _model(expertParallel=True), f"{P}models[0].expertParallel"),
    ("expert-parallel-one-gpu", _model(model="qwen3-30b-a3b", source=None, precision="bf16", instanceType="g6e.12xlarge",
                                       tensorParallel=1, expertParallel=True), f"{P}models[0].expertParallel"),
    ("expert-parallel-word", _model(expertParallel="yes"), f"{P}models[0].expertParallel"),
    ("expert-parallel-short-flag", _model(extraArgs=["-ep"]), f"{P}models[0].extraArgs[0]"),
    ("expert-parallel-flag-prefix", _model(extraArgs=["--enable-expert"]), f"{P}models[0].extraArgs[0]"),
    ("hit-rate-1", _set(f"{P}models.0.workload.prefixCacheHitRate", 1.0), f"{P}models[0].workload.prefixCacheHitRate"),
    ("hit-rate-negative", _set(f"{P}models.0.workload.prefixCacheHitRate", -0.1),
     f"{P}models[0].workload.prefixCacheHitRate"),
    ("hit-rate-word", _set(f"{P}models.0.workload.prefixCacheHitRate", "half"),
     f"{P}models[0].workload.prefixCacheHitRate"),
    ("api-servers-0", _model(apiServerCount=0), f"{P}models[0].apiServerCount"),
    ("api-servers-negative", _model(apiServerCount=-1), f"{P}models[0].apiServerCount"),
    ("api-servers-word", _model(apiServerCount="two"), f"{P}models[0].apiServerCount"),
    ("api-servers-bool", _model(apiServerCount=True), f"{P}models[0].apiServerCount"),
    ("api-servers-fraction", _model(apiServerCount=1.5), f"{P}models[0].apiServerCount"),
    ("api-servers-65", _model(apiServerCount=65), f"{P}models[0].apiServerCount"),
    ("api-servers-past-the-cores", _model(apiServerCount=40), f"{P}models[0].apiServerCount"),   # 36-core pods
    ("api-servers-in-extra-args", _model(extraArgs=["--api-server-count=4"]), f"{P}models[0].extraArgs[0]"),
    ("api-servers-short-flag", _model(extraArgs=["-asc", "4"]), f"{P}models[0].extraArgs[0]"),
    ("api-servers-flag-prefix", _model(extraArgs=["--api-server=4"]), f"{P}models[0].extraArgs[0]"),
    ("plaintext-hf-token", _set(f"{P}hfToken", "hf_abcdefghijklmnopqrstuvwxyz0123456789"), f"{P}hfToken"),
    ("yaml-syntax", "config:\n  breakeven:models: [\n", "stacks/Pulumi.bad.yaml"),
    ("empty-file", "", "stacks/Pulumi.bad.yaml"),
]


@pytest.fixture
def stack_root(tmp_path):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    return tmp_path


@pytest.fixture
def mock_runs(monkeypatch):
    """Every run of the mock engine, to prove that a refused config registered nothing."""
    runs = []
    real = mocks.run

    def recording(*args, **kwargs):
        run = real(*args, **kwargs)
        runs.append(run)
        return run
    monkeypatch.setattr(mocks, "run", recording)
    return runs


@pytest.mark.parametrize("change,key", [(c, k) for _, c, k in STACK_CASES], ids=[i for i, _, _ in STACK_CASES])
def test_stack_file_is_refused_before_anything_is_registered(capsys, stack_root, mock_runs, change, key):
    if isinstance(change, str):
        text = change
    else:
        doc = copy.deepcopy(_prod())
        change(doc)
        text = yaml.safe_dump(doc, sort_keys=False)
    (stack_root / "stacks" / "Pulumi.bad.yaml").write_text(text)
    code = preview.main("bad", "table", root=stack_root)
    out, err = capsys.readouterr()
    assert code == 2, err
    assert key in err and "Traceback" not in out + err
    assert all(not r.resources for r in mock_runs)     # the program stopped before its first resource
    assert "hf_abcdefghijklmnopqrstuvwxyz" not in out + err


@pytest.mark.parametrize("value", [0, -1, "two", True, 1.5])
def test_a_bad_api_server_count_is_named_with_its_value_and_the_range(capsys, stack_root, mock_runs, value):
    doc = copy.deepcopy(_prod())
    _model(apiServerCount=value)(doc)
    (stack_root / "stacks" / "Pulumi.bad.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert preview.main("bad", "table", root=stack_root) == 2
    err = capsys.readouterr().err
    assert f"{P}models[0].apiServerCount: got {value!r}; allowed: a whole number, from 1 to 64" in err, err
    assert all(not r.resources for r in mock_runs)


# --- chart values ------------------------------------------------------------------------------------

CHART_CASES = [  # (values, the path helm names)
    ({"replicaCount": 0}, "/replicaCount"),
    ({"replicaCount": 100_000_000_000}, "/replicaCount"),
    ({"model": {"source": "org/model --api-key=x"}}, "/model/source"),
    ({"model": {"source": "org/model\n--trust-remote-code"}}, "/model/source"),
    ({"model": {"extraArgs": ["--api_key=x"]}}, "/model/extraArgs/0"),
    ({"model": {"extraArgs": ["--API-KEY", "x"]}}, "/model/extraArgs/0"),
    ({"model": {"extraArgs": ["--config=/etc/vllm.yaml"]}}, "/model/extraArgs/0"),
    ({"model": {"extraArgs": ["--max-num-seqs 4"]}}, "/model/extraArgs/0"),
    ({"model": {"maxModelLen": 0}}, "/model/maxModelLen"),
    ({"engine": {"maxNumSeqs": 1_000_000_000}}, "/engine/maxNumSeqs"),
    ({"engine": {"gpuMemoryUtilization": 1.5}}, "/engine/gpuMemoryUtilization"),
    ({"gpu": {"gpusPerNode": 4}, "parallelism": {"tensor": 3}}, "/parallelism/tensor"),
    ({"rollout": {"maxSurge": 100_000}}, "/rollout/maxSurge"),
    ({"autoscaling": {"maxReplicas": 1_000_000}}, "/autoscaling/maxReplicas"),
    ({"replicas": 2}, "replicas"),
    ({"engine": {"kvCacheDtype": "int8"}}, "/engine/kvCacheDtype"),
    ({"engine": {"expertParallel": "yes"}}, "/engine/expertParallel"),
    ({"engine": {"expertParallel": True}}, "engine.expertParallel=true needs tensor x pipeline >= 2"),
    ({"engine": {"apiServerCount": 0}}, "/engine/apiServerCount"),
    ({"engine": {"apiServerCount": -1}}, "/engine/apiServerCount"),
    ({"engine": {"apiServerCount": "two"}}, "/engine/apiServerCount"),
    ({"engine": {"apiServerCount": True}}, "/engine/apiServerCount"),
    ({"engine": {"apiServerCount": 1.5}}, "/engine/apiServerCount"),
    ({"engine": {"apiServerCount": 65}}, "/engine/apiServerCount"),
    ({"engine": {"apiServerCount": 4}}, "engine.apiServerCount=4 needs resources.requests.cpu of at least 6 cores"),
]


@pytest.fixture(scope="module")
def helm_bin():
    from infra.helmrender import HelmNotFound, helm_binary

    try:
        return helm_binary()
    except HelmNotFound as e:
        if os.environ.get("CI"):
            pytest.fail(str(e))
        pytest.skip(str(e))


@pytest.mark.parametrize("values,path", CHART_CASES, ids=[p for _, p in CHART_CASES])
def test_chart_values_are_refused(tmp_path, helm_bin, values, path):
    f = tmp_path / "values.yaml"
    f.write_text(yaml.safe_dump(values))
    proc = subprocess.run([helm_bin, "template", "rel", str(ROOT / "charts" / "vllm"), "-f", str(f)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert path in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout.strip() == ""      # no manifest rendered


def test_the_corpus_is_large_enough():
    assert len(CLI_CASES) + len(STACK_CASES) + len(CHART_CASES) >= 60
