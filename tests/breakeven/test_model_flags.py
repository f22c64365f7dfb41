"""`estimate`'s deployment flags come from cost.deployment.DeploymentFields, and the workload flags every search
shares from cost.workload.WorkloadFields: each flag's help is the field's description, and a bad value is refused
naming the flag, the value and the field's own words."""

from __future__ import annotations

import pytest

from breakeven import cli
from breakeven.workload_flags import FLAG
from cost import pydantic_errors
from cost.deployment import DeploymentFields
from cost.workload import WorkloadFields

BASE = ["estimate", "--model", "llama-3.1-8b", "--gpu", "L4", "--tokens-per-month", "100M"]


def _actions(command: str = "estimate") -> dict[str, object]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {a.dest: a for a in sub.choices[command]._actions}


FIELDS = ([(DeploymentFields, name) for name in (*cli.DEPLOYMENT_FLAGS, "max_num_seqs")]
          + [(WorkloadFields, name) for name in ("input_share", "avg_input_tokens", "avg_output_tokens", "utilization",
                                                  "prefix_cache_hit_rate")])


@pytest.mark.parametrize("model,name", FIELDS, ids=[n for _, n in FIELDS])
def test_each_model_flag_is_the_fields_flag_with_its_description(model, name):
    action = _actions()[name]
    field = model.model_fields[name]
    assert action.option_strings == [pydantic_errors.flag(model, name)] == [FLAG[name]]
    assert action.help == field.description and field.description


@pytest.mark.parametrize("command", ["optimize", "curve"])
def test_the_searches_share_the_workload_flags(command):
    actions = _actions(command)
    for model, name in FIELDS[-5:]:
        assert actions[name].option_strings == [pydantic_errors.flag(model, name)]


@pytest.mark.parametrize("argv,line", [
    (["--gpus", "two"], "--gpus: got 'two'; allowed: a whole number, from 1 to 64"),
    (["--api-servers", "0"], "--api-servers: got 0; allowed: a whole number, from 1 to 64"),
    (["--capacity-tokens-per-month", "lots"], "--capacity-tokens-per-month: got 'lots'; allowed: a positive token volume"),
    (["--hourly-usd", "0"], "--hourly-usd: got 0.0; allowed: a positive price per GPU-hour in USD, at most 1000"),
    (["--max-model-len", "8"], "--max-model-len: got 8; allowed: a whole number of tokens, from 16 to 131072"),
    (["--instance", "g9.huge"], "--instance: got 'g9.huge'; allowed: "),
    (["--utilization", "1.5"], "--utilization: got 1.5; allowed: a fraction in (0, 1]"),
    (["--avg-input-tokens", "0", "--avg-output-tokens", "400"], "--avg-input-tokens: got 0; allowed: a whole number of tokens"),
    (["--prefix-cache-hit-rate", "half"], "--prefix-cache-hit-rate: got 'half'; allowed: a fraction in [0, 1)"),
])
def test_a_bad_deployment_flag_names_the_flag_the_value_and_the_fields_words(capsys, argv, line):
    try:
        code = cli.main(BASE + argv)
    except SystemExit as e:     # argparse refuses what is not a number before the command runs
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and line in err, err


def test_a_capacity_override_takes_the_token_notation(capsys):
    assert cli.main(BASE + ["--capacity-tokens-per-month", "750M", "--replicas", "1", "--format", "json"]) == 0
    assert '"capacity_tokens_per_month": 750000000' in capsys.readouterr().out
