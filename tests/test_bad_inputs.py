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
from cost.catalog import strictload
from infra.config.stackconfig import ROOT
from infra.offline import mocks, preview

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
    (["--gpu-memory-utilization", "1.2"], "--gpu-memory-utilization"),
    (["--gpu-memory-utilization", "0.05"], "--gpu-memory-utilization"),
    (["--gpu-memory-utilization", "nan"], "--gpu-memory-utilization"),
    (["--gpu-memory-utilization", "90%"], "--gpu-memory-utilization"),
    (["--clouds", "azure"], "--clouds"),
    (["--clouds", ","], "--clouds"),
    (["--weights-source", "nfs"], "--weights-source"),
    (["--weights-source", "s3", "--hourly-usd", "2"], "--weights-source"),     # per GPU-hour: no EKS node to cache on
    (["--weights-source", "s3", "--factors", "factors.yaml"], "--weights-source"),
    (["--weights-source", "s3", "--model", "mistral-7b", "--precision", "fp8"], "--weights-source"),  # no fp8 checkpoint
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
    (["optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "1B", "--clouds", "aws,azure"], "--clouds"),
    (["curve", "--model", "llama-3.1-8b", "--clouds", "all,lambda"], "--clouds"),
])
def test_other_commands_refuse_bad_flags(capsys, argv, key):
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2 and key in err and "Traceback" not in err + out


ONE_LINE_CASES = [  # (argv, the line the user reads: flag, value and what is allowed; never argparse's usage text)
    (["estimate"], "--model: got nothing; allowed: a value (required; see --help)"),
    (["estimate", "--model"], "--model: got nothing; allowed: one argument"),
    (BASE + ["--format", "yaml"], "--format: got 'yaml'; allowed: table, json, markdown"),
    (BASE + ["--gpus", "two"], "--gpus: got 'two'; allowed: a whole number"),
    (BASE + ["--bogus"], "arguments: got '--bogus'; allowed: the flags `--help` lists"),
    (["bogus"], "command: got 'bogus'; allowed: estimate, calibration"),
    ([], "command: got nothing; allowed: a value (required"),
    (["calibrate"], "--endpoint, --model, --gpu: got nothing"),
    (BASE[:-2], "--tokens-per-month: got nothing; allowed: a monthly volume"),   # a missing value is not None
    (["observe", "--endpoint", "http://127.0.0.1:9", "--samples", "many"], "--samples: got 'many'; allowed: a whole number"),
    # an empty value is never zero, "no filter" or the default
    (BASE[:-1] + [""], "--tokens-per-month: got ''; allowed: a non-empty value"),
    (BASE + ["--providers", ""], "--providers: got ''; allowed: a non-empty value"),
    (BASE + ["--instance", ""], "--instance: got ''; allowed: a non-empty value"),
    (BASE + ["--pricing", " "], "--pricing: got ' '; allowed: a non-empty value"),
    (BASE + ["--reserved-discount", ""], "--reserved-discount: got ''; allowed: a non-empty value"),
    (BASE + ["--spot-price", ""], "--spot-price: got ''; allowed: a non-empty value"),
    (["optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "1B", "--gpu", ""], "--gpu: got ''"),
    # a zero is never the default: vLLM's max_num_seqs 0 is refused, not taken as 256
    (BASE + ["--max-num-seqs", "0"], "--max-num-seqs: got 0; allowed: a whole number, from 1 to 65536"),
    (["optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "1B", "--max-num-seqs", "0"], "--max-num-seqs: got 0"),
    (["curve", "--model", "llama-3.1-8b", "--gpu", "L4", "--max-num-seqs", "0"], "--max-num-seqs: got 0"),
    # a provider no API offer carries would leave nothing to compare with (and flip the verdict to self-host)
    (BASE + ["--providers", "aws,nosuch"], "--providers: got 'nosuch'; allowed: comma-separated provider ids: "),
    (BASE + ["--providers", "aws,"], "--providers: got ''; allowed: comma-separated provider ids: "),
    # finite but beyond any quantity breakeven reads: refused where it enters, so nothing overflows later
    (BASE + ["--fte", "1e308"], "--fte: got '1e308'; allowed: a non-negative number, at most 1e+18"),
    (BASE + ["--usd-per-fte-month", "1e300"], "--usd-per-fte-month: got '1e300'"),
    (BASE + ["--monitoring-usd=-1e300"], "--monitoring-usd: got '-1e300'"),
    (BASE + ["--hourly-usd", "1e19"], "--hourly-usd: got '1e19'"),
    (BASE + ["--max-num-seqs", "9" * 30], "--max-num-seqs: got '999999999999999999999999999999'"),
    (["optimize", "--model", "llama-3.1-8b", "--tokens-per-month", "1B", "--top", "1e308"], "--top: got '1e308'"),
    (["curve", "--model", "llama-3.1-8b", "--fte", "1e308"], "--fte: got '1e308'"),
    (["calibrate", "--endpoint", "http://127.0.0.1:9", "--model", "llama-3.1-8b", "--gpu", "L4", "--requests-per-worker",
      "9" * 30], "--requests-per-worker: got '999999999999999999999999999999'"),
]


@pytest.mark.parametrize("argv,line", ONE_LINE_CASES, ids=[" ".join(a) for a, _ in ONE_LINE_CASES])
def test_cli_errors_are_one_line_naming_flag_value_and_what_is_allowed(capsys, argv, line):
    assert line in _one_line_refusal(capsys, argv)


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
_PROD_TEXT = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
# 9 keys, each a list of 9 aliases of the one before: 9**9 (387 million) nodes once expanded
ALIAS_BOMB = "x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 9))


def _indented(text: str, prefix: str) -> str:
    return "".join(prefix + line + "\n" for line in text.splitlines())


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
    ("weights-source-gcs", _model(weights={"source": "gcs"}), f"{P}models[0].weights.source"),
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
    ("commitment-on-demand", _model(capacityType="on-demand", commitment={"kind": "savings-plan", "hourlyUsd": 40,
                                                                         "recordedIn": "arn:aws:savingsplans::1:sp/x"}),
     f"{P}models[0].commitment"),
    ("commitment-too-small", _model(commitment={"kind": "savings-plan", "hourlyUsd": 1, "recordedIn": "sp-1"}),
     f"{P}models[0].commitment.hourlyUsd"),
    ("commitment-kind", _model(commitment={"kind": "prepaid", "hourlyUsd": 40, "recordedIn": "sp-1"}),
     f"{P}models[0].commitment.kind"),
    ("commitment-nan", _model(commitment={"kind": "savings-plan", "hourlyUsd": "nan", "recordedIn": "sp-1"}),
     f"{P}models[0].commitment.hourlyUsd"),
    ("zone-loss-uncovered", _model(redundancy={"spares": 1, "zones": 2}), f"{P}models[0].redundancy.spares"),
    ("zone-loss-share-2", _model(redundancy={"spares": 2, "zones": 2, "acceptZoneLossShare": 2}),
     f"{P}models[0].redundancy.acceptZoneLossShare"),
    ("private-cidr-word", _set(f"{P}cluster.endpoint.privateAccessCidrs", ["the vpn"]),
     f"{P}cluster.endpoint.privateAccessCidrs[0]"),
    ("plaintext-hf-token", _set(f"{P}hfToken", "hf_abcdefghijklmnopqrstuvwxyz0123456789"), f"{P}hfToken"),
    ("yaml-syntax", "config:\n  breakeven:models: [\n", "stacks/Pulumi.bad.yaml"),
    ("empty-file", "", "stacks/Pulumi.bad.yaml"),
    ("repeated-production", _PROD_TEXT.replace("  breakeven:production: true\n",
                                               "  breakeven:production: true\n  breakeven:production: false\n"),
     "stacks/Pulumi.bad.yaml: config.breakeven:production"),
    ("repeated-budget", _PROD_TEXT.replace("    budgetUsdPerMonth: 55000\n",
                                           "    budgetUsdPerMonth: 55000\n    budgetUsdPerMonth: 450\n"),
     "stacks/Pulumi.bad.yaml: config.breakeven:pricing.budgetUsdPerMonth"),
    ("alias-bomb", _PROD_TEXT + _indented(ALIAS_BOMB, "  breakeven:"), "nodes (aliases expanded)"),
    ("nesting-1e5", _PROD_TEXT + "  breakeven:deep: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested levels"),
    ("budget-1e300", _PROD_TEXT.replace("budgetUsdPerMonth: 55000", "budgetUsdPerMonth: 1.0e+300"),
     "config.breakeven:pricing.budgetUsdPerMonth"),
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


# --- every YAML/JSON file kind: one strict reader (cost/catalog/strictload.py) --------------------------------

BAD_YAML = {  # id -> (file content, what the message names besides the file)
    "repeated-key": ("name: a\nname: b\n", "name: got 'repeated key (first at line 1)'"),
    "alias-bomb": (ALIAS_BOMB, "nodes (aliases expanded)"),
    "nesting-1e5": ("[" * 100_000 + "]" * 100_000, "deeper than 64 levels"),
    "nan": ("x: .nan\n", "x: got '.nan'"),
    "1e300": ("x: 1.0e+300\n", "x: got '1.0e+300'"),
    "5000-digits": ("x: " + "9" * 5000 + "\n", "x: got '9999"),
    "two-documents": ("a: 1\n---\nb: 2\n", "one YAML document"),
    "syntax": ("a: [\n", "YAML syntax error at line 2"),
    "not-utf8": (b"a: \xff\xfe\n", "UTF-8"),
    "over-4-MiB": ("#" * (strictload.MAX_BYTES + 1), "at most 4,194,304 bytes"),
}
BAD_JSON = {
    "repeated-key": ('{"a": 1, "a": 2}', "repeated key 'a'"),
    "nan": ('{"a": NaN}', "a: got nan; allowed: a finite number"),
    "1e400": ('{"a": 1e400}', "a: got inf; allowed: a finite number"),
    "nesting-1e5": ("[" * 100_000 + "]" * 100_000, "deeper than 64 levels"),
    "html": ("<html><body>502 Bad Gateway</body></html>", "<html><body>502"),
    "not-utf8": (b'{"a": "\xff"}', "UTF-8"),
    "over-4-MiB": ("[" + "0," * (strictload.MAX_BYTES // 2) + "0]", "at most 4,194,304 bytes"),
}
NOWHERE = "http://127.0.0.1:9"     # nothing listens there: each file is refused before any request
CAL_ARGS = ["calibrate", "--endpoint", NOWHERE, "--model", "llama-3.1-8b", "--gpu", "L4"]
FILE_KINDS = {  # file kind -> (argv with FILE where the path goes, the reader)
    "price book": (BASE + ["--price-book", "FILE"], BAD_YAML),
    "usage file": (BASE + ["--usage", "FILE"], BAD_YAML),
    "factors file": (BASE + ["--factors", "FILE"], BAD_YAML),
    "device file": (CAL_ARGS[:-1] + ["FILE"], BAD_YAML),
    "config.json": (CAL_ARGS[:4] + ["FILE"] + CAL_ARGS[5:], BAD_JSON),
    "preview baseline": (["preview", "--stack", "dev", "--compare-to", "FILE"], BAD_JSON),
}
FILE_CASES = [(kind, case) for kind, (_, cases) in FILE_KINDS.items() for case in cases]


def _one_line_refusal(capsys, argv: list[str]) -> str:
    """Run the CLI; assert exit 2, one error line on stderr, no traceback, nothing on stdout. The line."""
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, err
    assert out == "" and "Traceback" not in err
    first, *rest = err.splitlines()
    assert first.startswith(("breakeven: error: ", "error: ")), err
    assert rest in ([], [PREVIEW_NOTE]), err       # the preview adds its one fixed note
    return first


PREVIEW_NOTE = "nothing was registered: fix the value above and run the preview again"


@pytest.mark.parametrize("kind,case", FILE_CASES, ids=[f"{k}-{c}" for k, c in FILE_CASES])
def test_every_file_kind_is_read_strictly(capsys, tmp_path, kind, case):
    argv, cases = FILE_KINDS[kind]
    content, named = cases[case]
    path = tmp_path / ("config.json" if kind == "config.json" else "input")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    written = tmp_path / "out.yaml"
    extra = ["--out", str(written)] if argv[0] == "calibrate" else []
    err = _one_line_refusal(capsys, [str(path) if a == "FILE" else a for a in argv] + extra)
    assert str(path) in err and named in err
    assert not written.exists()


@pytest.mark.parametrize("case", [c for c, (text, _) in BAD_JSON.items() if isinstance(text, str)])
def test_the_economics_annotation_and_the_policy_config_are_read_strictly(tmp_path, case):
    from cost.economics import ANNOTATION, Economics
    from cost.errors import InputError
    from policies import runner

    text, named = BAD_JSON[case]
    with pytest.raises(InputError) as err:
        Economics.from_json(text)
    assert str(err.value).startswith(ANNOTATION) and named in str(err.value) and "\n" not in str(err.value)
    path = tmp_path / "policy-config.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        runner.load_policy_config(path)
    assert str(err.value).startswith(str(path)) and named in str(err.value) and "\n" not in str(err.value)


def test_a_missing_policy_config_file_is_one_line_naming_it(tmp_path):
    from cost.errors import InputError
    from policies import runner

    missing = tmp_path / "nowhere.json"
    with pytest.raises(InputError) as err:
        runner.load_policy_config(missing)
    assert str(err.value).startswith("policy-pack-config") and str(missing) in str(err.value) and "\n" not in str(err.value)


def test_a_repeated_price_in_a_price_book_is_refused(capsys, tmp_path):
    """A real book with one price written twice: the last would win silently in a plain YAML reader."""
    text = (ROOT / "cost" / "data" / "pricebooks" / "seed-2025.yaml").read_text()
    line = "    input_usd_per_mtok: 3.00\n"
    path = tmp_path / "book.yaml"
    path.write_text(text.replace(line, line + "    input_usd_per_mtok: 0.30\n", 1))
    err = _one_line_refusal(capsys, BASE + ["--price-book", str(path)])
    assert f"{path}: apis[0].input_usd_per_mtok: got 'repeated key (first at line" in err


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
    from infra.offline.helmrender import HelmNotFound, helm_binary

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
    assert len(ONE_LINE_CASES) + len(FILE_CASES) >= 80
