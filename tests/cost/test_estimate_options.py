"""`breakeven estimate` options for today's models: KV-cache dtype, expert parallelism, prefix cache,
multi-node replicas and the validity warning."""

from __future__ import annotations

import json

import pytest

from breakeven.cli import main


def _json(capsys, *args: str) -> dict:
    assert main(["estimate", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_fp8_kv_cache_doubles_the_kv_capacity(capsys):
    base = ["--model", "qwen3-32b", "--gpu", "H100", "--precision", "fp8", "--tokens-per-month", "1B"]
    auto = _json(capsys, *base)["self_hosted"]["memory"]
    fp8 = _json(capsys, *base, "--kv-cache-dtype", "fp8")["self_hosted"]["memory"]
    assert fp8["kv_cache_dtype"] == "fp8" and fp8["kv_bytes_per_token"] * 2 == auto["kv_bytes_per_token"]
    assert fp8["kv_capacity_tokens"] > 1.9 * auto["kv_capacity_tokens"]


def test_prefix_cache_raises_capacity_for_long_prompts(capsys):
    base = ["--model", "llama-3.1-8b", "--gpu", "L40S", "--tokens-per-month", "1B",
            "--avg-input-tokens", "6000", "--avg-output-tokens", "300"]
    cold = _json(capsys, *base)["self_hosted"]
    warm = _json(capsys, *base, "--prefix-cache-hit-rate", "0.8")["self_hosted"]
    assert warm["capacity_tokens_per_month"] > 1.3 * cold["capacity_tokens_per_month"]
    assert warm["ttft_s"] < cold["ttft_s"]


def test_deepseek_on_h100_is_a_two_node_replica_priced_as_two_instances(capsys):
    out = _json(capsys, "--model", "deepseek-v3", "--gpu", "H100", "--gpus", "16", "--precision", "fp8",
                "--tokens-per-month", "20B", "--replicas", "1")
    assert out["self_hosted"]["memory"]["nodes_per_replica"] == 2
    assert out["deployment"]["nodes"] == 2 and out["deployment"]["instance_type"] == "p5.48xlarge"
    assert any("2-node" in w for w in out["self_hosted"]["validity_warnings"])


def test_estimate_for_each_new_model_on_a_sensible_gpu_set(capsys):
    for args in (["gpt-oss-20b", "L4", "1", "mxfp4"], ["gpt-oss-120b", "H100", "1", "mxfp4"],
                 ["qwen3-8b", "L4", "1", "bf16"], ["qwen3-32b", "L40S", "1", "fp8"],
                 ["qwen3-30b-a3b", "L40S", "1", "fp8"], ["qwen3-235b-a22b", "H200", "4", "fp8"],
                 ["llama-4-scout", "H100", "2", "fp8"], ["llama-4-maverick", "H200", "8", "fp8"],
                 ["deepseek-v3", "H200", "8", "fp8"]):
        model, gpu, n, prec = args
        out = _json(capsys, "--model", model, "--gpu", gpu, "--gpus", n, "--precision", prec, "--tokens-per-month", "5B")
        sh = out["self_hosted"]
        assert sh["output_tok_s_per_replica"] > 0 and sh["monthly_usd"] > 0, model
        assert [a for a in out["apis"] if a["tier"] == "equivalent"], model


@pytest.mark.parametrize("args,needle", [
    (["--kv-cache-dtype", "int8"], "--kv-cache-dtype"),
    (["--prefix-cache-hit-rate", "1.5"], "--prefix-cache-hit-rate"),
    (["--precision", "mxfp4"], "precision"),
])
def test_bad_options_exit_2_naming_the_flag(capsys, args, needle):
    rc = main(["estimate", "--model", "qwen3-8b", "--gpu", "L40S", "--tokens-per-month", "1B", *args])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err


def test_the_json_report_states_the_serving_choices_it_was_priced_with(capsys):
    out = _json(capsys, "--model", "qwen3-30b-a3b", "--gpu", "L40S", "--gpus", "2", "--kv-cache-dtype", "fp8",
                "--expert-parallel", "--prefix-cache-hit-rate", "0.5", "--tokens-per-month", "1B")
    assert (out["deployment"]["kv_cache_dtype"], out["deployment"]["expert_parallel"]) == ("fp8", True)
    assert out["workload"]["prefix_cache_hit_rate"] == 0.5


# One B200 streams more of llama-3.1-8b's short prompts and long answers than one vLLM API-server process
# can (capacity.API_SERVER_TOKENS_S): the front end, not the GPU, caps the replica.
FRONT_END_BOUND = ["--model", "llama-3.1-8b", "--gpu", "B200", "--tokens-per-month", "1B",
                   "--avg-input-tokens", "200", "--avg-output-tokens", "800"]


def test_api_servers_reach_the_capacity_model_and_the_report(capsys):
    from cost.physics.capacity import API_SERVER_TOKENS_S

    one = _json(capsys, *FRONT_END_BOUND)
    assert one["self_hosted"]["limited_by"] == "api-server" and one["deployment"]["api_servers"] == 1
    assert one["self_hosted"]["output_tok_s_per_replica"] == API_SERVER_TOKENS_S
    two = _json(capsys, *FRONT_END_BOUND, "--api-servers", "2")
    assert two["deployment"]["api_servers"] == 2 and two["self_hosted"]["limited_by"] != "api-server"
    assert two["self_hosted"]["output_tok_s_per_replica"] > one["self_hosted"]["output_tok_s_per_replica"]


def test_a_replica_capped_by_its_api_servers_names_the_key_that_raises_it(capsys):
    assert main(["estimate", *FRONT_END_BOUND]) == 0
    out = capsys.readouterr().out
    assert "limited by api-server" in out
    hint = [line for line in out.splitlines() if "apiServerCount" in line]
    assert len(hint) == 1 and "--api-servers" in hint[0] and "10,000 output tok/s" in hint[0], hint
    assert main(["estimate", *FRONT_END_BOUND, "--api-servers", "2"]) == 0
    assert "apiServerCount" not in capsys.readouterr().out


@pytest.mark.parametrize("value", ["0", "-1", "two", "true", "1.5", "65"])
def test_bad_api_server_counts_exit_2_naming_the_flag_the_value_and_the_range(capsys, value):
    try:
        rc = main(["estimate", *FRONT_END_BOUND, f"--api-servers={value}"])
    except SystemExit as e:   # argparse refuses what is not a whole number before the command runs
        rc = e.code
    out, err = capsys.readouterr()
    assert rc == 2 and out == "", err
    assert "--api-servers" in err and value in err and "a whole number, from 1 to 64" in err and "Traceback" not in err


def test_gpu_memory_utilization_flag_buys_kv_cache_in_estimate_optimize_and_curve(capsys):
    """A run made at --gpu-memory-utilization 0.95 is reproduced at 0.95: more KV cache, more sequences admitted."""
    base = ["--model", "llama-3.1-70b", "--gpu", "H100", "--gpus", "2", "--tokens-per-month", "10B",
            "--avg-input-tokens", "2000", "--avg-output-tokens", "1000", "--replicas", "1"]
    at_90 = _json(capsys, *base)
    at_95 = _json(capsys, *base, "--gpu-memory-utilization", "0.95")
    assert at_95["deployment"]["gpu_memory_utilization"] == 0.95 and at_90["deployment"]["gpu_memory_utilization"] == 0.9
    m90, m95 = at_90["self_hosted"]["memory"], at_95["self_hosted"]["memory"]
    assert m95["usable_gb"] == pytest.approx(m90["usable_gb"] * 0.95 / 0.9)
    extra_gib = m95["usable_gb"] - m90["usable_gb"]     # all of it goes to the KV cache
    assert (m95["kv_capacity_tokens"] - m90["kv_capacity_tokens"]) * m90["kv_bytes_per_token"] / 2**30 == pytest.approx(extra_gib, abs=0.01)
    assert at_95["self_hosted"]["max_concurrency"] > at_90["self_hosted"]["max_concurrency"]

    from cost.decide.optimize import Constraints, optimize
    from cost.workload import Workload
    w = Workload.build(10e9, avg_input_tokens=2000, avg_output_tokens=1000)
    tight = dict(gpus=("H100",), precisions=("bf16",), pricings=("on-demand",))
    for gmu in (0.9, 0.95):
        assert main(["optimize", "--model", "llama-3.1-70b", "--tokens-per-month", "10B", "--avg-input-tokens", "2000",
                     "--avg-output-tokens", "1000", "--gpu", "H100", "--precision", "bf16", "--pricing", "on-demand",
                     "--gpu-memory-utilization", str(gmu), "--top", "1", "--format", "json"]) == 0
        got = json.loads(capsys.readouterr().out)["configurations"][0]
        want = optimize("llama-3.1-70b", w, Constraints(**tight, gpu_memory_utilization=gmu), top=1)[0]
        assert got["monthly_usd"] == pytest.approx(want.monthly_usd, abs=0.01)
    assert main(["curve", "--model", "llama-3.1-70b", "--gpu", "H100", "--precision", "bf16", "--pricing", "on-demand",
                 "--from", "1B", "--to", "3B", "--points", "2", "--gpu-memory-utilization", "0.95", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["constraints"]["gpu_memory_utilization"] == 0.95


def test_max_concurrency_is_what_vllm_logs_and_sustained_concurrency_what_the_traffic_gets(capsys):
    """max_concurrency: vLLM's start-up log line, the KV cache over one max-model-length request. sustained_concurrency:
    what the scheduler keeps running when blocks are allocated as tokens are generated - more than the log line
    for output-heavy traffic, since a running sequence holds its prompt plus the output so far, not its final length."""
    out = _json(capsys, "--model", "llama-3.1-8b", "--gpu", "H100", "--tokens-per-month", "50B", "--avg-input-tokens", "500",
                "--avg-output-tokens", "2000", "--max-model-len", "8192", "--max-num-seqs", "1024", "--replicas", "1")
    sh = out["self_hosted"]
    assert sh["max_concurrency"] == pytest.approx(sh["memory"]["kv_capacity_tokens"] / 8192, abs=0.01)
    assert sh["max_concurrency"] < sh["sustained_concurrency"] <= 1024


def test_fixed_length_traffic_sustains_about_half_the_output_more():
    from cost import catalog
    from cost.physics import capacity
    model, gpu = catalog.model("llama-3.1-8b"), catalog.gpu("H100")
    t = capacity.throughput(model, gpu, 1, "bf16", 1000, 2000, max_num_seqs=4096, length_cv=0)
    kv = capacity.memory_fit(model, gpu, 1, "bf16", 3000, max_num_seqs=4096).kv_capacity_tokens
    assert t.limited_by == "kv-cache"
    assert kv / 3000 * 1.2 < t.max_concurrency <= kv / (1000 + 2000 / 2)   # more than final lengths allow, at most the mean held
