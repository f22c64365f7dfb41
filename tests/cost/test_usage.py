"""Usage files: the measured workload in place of the declared one (estimate --usage)."""

import json

import pytest
import yaml

from breakeven.cli import main
from cost import usage
from cost.errors import InputError
from cost.workload import Workload


def write(tmp_path, doc) -> str:
    p = tmp_path / "usage.yaml"
    p.write_text(yaml.safe_dump(doc))
    return str(p)


GOOD = {"version": 1, "source": "breakeven observe: endpoint http://x, 2 samples over 60 s",
        "measuredAt": "2026-11-29T22:00:00+00:00", "windowSeconds": 60.0, "model": "llama-3.1-8b",
        "workload": {"tokensPerMonth": 2.5e9, "avgInputTokens": 1200, "avgOutputTokens": 300, "requestsInWindow": 40}}


def test_round_trip_keeps_what_was_measured(tmp_path):
    u = usage.from_dict(GOOD)
    u.save(tmp_path / "u.yaml")
    assert usage.load(tmp_path / "u.yaml") == u
    assert "# breakeven usage file" in (tmp_path / "u.yaml").read_text()


def test_apply_replaces_volume_and_shape_but_keeps_the_plan(tmp_path):
    declared = Workload.build(100e6, utilization=0.6, tpot_target_s=0.05)
    w = usage.apply(declared, write(tmp_path, GOOD))
    assert (w.tokens_per_month, w.avg_input_tokens, w.avg_output_tokens) == (2.5e9, 1200, 300)
    assert (w.utilization, w.tpot_target_s) == (0.6, 0.05)
    assert usage.apply(declared, None) is declared


@pytest.mark.parametrize("path,value,key", [
    (("workload", "avgInputTokens"), 0, "usage.workload.avgInputTokens"),
    (("workload", "avgOutputTokens"), 1.5, "usage.workload.avgOutputTokens"),
    (("workload", "tokensPerMonth"), "lots", "usage.workload.tokensPerMonth"),
    (("workload", "tokens"), 5, "usage.workload.tokens"),
    (("windowSeconds",), float("nan"), "usage.windowSeconds"),
    (("version",), 2, "usage.version"),
    (("source",), "", "usage.source"),
    (("windowSeconds",), 0, "usage.windowSeconds"),                       # nothing measured to extrapolate
    (("model",), "", "usage.model"),                                      # an empty model is not "no model"
    (("workload", "avgInputTokens"), 10**17, "usage.workload.avgInputTokens"),
])
def test_bad_values_name_the_key(tmp_path, path, value, key):
    doc = json.loads(json.dumps(GOOD))
    node = doc
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        usage.from_dict(doc)


def test_unreadable_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="usage"):
        usage.load(tmp_path / "nope.yaml")


def test_estimate_prices_the_usage_file_instead_of_the_declared_workload(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    assert main(["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--usage", path, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["workload"]["tokens_per_month"] == 2.5e9
    assert (doc["workload"]["avg_input_tokens"], doc["workload"]["avg_output_tokens"]) == (1200, 300)


def test_estimate_needs_a_volume_or_a_usage_file(capsys):
    assert main(["estimate", "--model", "llama-3.1-8b", "--gpu", "L4"]) == 2
    assert "--tokens-per-month" in capsys.readouterr().err


def test_estimate_with_a_factors_file_shows_both(tmp_path, capsys):
    from cost.physics.factors import published

    slow = published().replace(per_seq_overhead_s=0.004, source="test: slow engine", scope={"model": "llama-3.1-8b", "gpu": "L4"})
    slow.save(tmp_path / "f.yaml")
    args = ["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "1B"]
    assert main(args + ["--factors", str(tmp_path / "f.yaml"), "--format", "json"]) == 0
    both = json.loads(capsys.readouterr().out)["capacity_comparison"]
    assert both["measured"]["output_tok_s_per_replica"] < both["published"]["output_tok_s_per_replica"]
    assert both["measured"]["scope"] == {"model": "llama-3.1-8b", "gpu": "L4"}
    assert main(args + ["--factors", str(tmp_path / "f.yaml")]) == 0
    out = capsys.readouterr().out
    assert "published fit" in out and "measured factors" in out



@pytest.mark.parametrize("argv", [
    ["estimate", "--model", "llama-3.1-8b", "--gpu", "L4"],
    ["optimize", "--model", "llama-3.1-8b"],
    ["curve", "--model", "llama-3.1-8b"],
])
def test_every_workload_command_takes_the_usage_file(tmp_path, argv):
    """estimate, optimize and curve share the workload flags: --usage replaces volume and request size."""
    from breakeven.cli import build_parser
    from breakeven.workload_flags import workload_from

    args = build_parser().parse_args(argv + ["--usage", write(tmp_path, GOOD), "--utilization", "0.5"])
    w = workload_from(args)
    assert (w.tokens_per_month, w.avg_input_tokens, w.avg_output_tokens, w.utilization) == (2.5e9, 1200, 300, 0.5)


def test_optimize_runs_on_a_usage_file(tmp_path, capsys):
    assert main(["optimize", "--model", "llama-3.1-8b", "--usage", write(tmp_path, GOOD), "--format", "json"]) == 0
    w = json.loads(capsys.readouterr().out)["workload"]
    assert (w["tokens_per_month"], w["avg_input_tokens"], w["avg_output_tokens"]) == (2.5e9, 1200, 300)


@pytest.mark.parametrize("command", [
    ["estimate", "--gpu", "L4"], ["optimize", "--top", "1"], ["curve", "--from", "100M", "--to", "1B", "--points", "2"]])
def test_a_usage_file_measured_on_another_model_is_refused(tmp_path, capsys, command):
    path = write(tmp_path, GOOD)   # measured on llama-3.1-8b
    argv = command[:1] + ["--model", "llama-3.1-70b", "--usage", path] + command[1:] + ["--format", "json"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"usage: got '{path}'; allowed: a usage file measured on llama-3.1-70b" in err
    assert "measured on llama-3.1-8b" in err
    # the same model under its Hugging Face name is the same model
    ok = command[:1] + ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--usage", path] + command[1:] + ["--format", "json"]
    assert main(ok) == 0
