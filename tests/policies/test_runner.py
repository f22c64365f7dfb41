"""The pack over the Analyzer gRPC service, driven the way the Pulumi CLI drives it."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from policies import runner
from policies.rules import POLICIES
from tests.policies import builders as B

EXPECTED = {  # policy -> default enforcement level (the list)
    "self-hosting-beats-api": "mandatory",
    "utilization-floor": "advisory",
    "model-fits-gpus": "mandatory",
    "production-redundancy": "mandatory",
    "spot-needs-on-demand-fallback": "advisory",
    "monthly-budget": "mandatory",
    "secrets-via-references": "mandatory",
    "right-sized-gpus": "advisory",
    "economics-readable": "mandatory",
    "measured-usage": "advisory",
}


def test_analyzer_info_lists_every_policy_with_description_schema_and_level(cli_pack):
    info = cli_pack.info
    assert info.name == "breakeven" and info.supportsConfig
    assert cli_pack.policies() == EXPECTED
    for p in info.policies:
        assert len(p.description) > 40, p.name
        props = runner.json_format.MessageToDict(p.configSchema.properties)
        assert props and all("default" in v and "description" in v for v in props.values()), p.name


def test_the_cli_reads_the_pack_version_from_pulumipolicy_yaml(cli_pack):
    doc = yaml.safe_load((runner.PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert doc["runtime"]["name"] == "python"
    assert cli_pack.version == doc["version"]
    v = cli_pack.evaluate(B.spec_stack("uneconomic"))
    assert {x.version for x in v} == {doc["version"]} and {x.pack for x in v} == {"breakeven"}


def test_subprocess_and_inprocess_packs_give_the_same_violations(cli_pack, pack):
    res = B.spec_stack("uneconomic")
    key = lambda vs: sorted((v.policy, v.level, v.urn, v.message) for v in vs)  # noqa: E731
    assert key(cli_pack.evaluate(res)) == key(pack.evaluate(res))


def test_enforcement_levels_follow_the_policy_config(pack):
    dev = B.spec_stack("dev")
    assert not B.mandatory(pack.evaluate(dev))
    promoted = pack.evaluate(dev, {"utilization-floor": "mandatory"})
    assert [v.level for v in B.by_policy(promoted, "utilization-floor")] == ["mandatory"]

    unecon = B.spec_stack("uneconomic")
    assert B.mandatory(pack.evaluate(unecon))
    assert not B.mandatory(pack.evaluate(unecon, {"all": "advisory"}))
    off = pack.evaluate(unecon, {"self-hosting-beats-api": {"enforcementLevel": "disabled"}})
    assert not B.by_policy(off, "self-hosting-beats-api")
    # the next call without config is back to the defaults (the CLI configures every run)
    assert B.by_policy(pack.evaluate(unecon), "self-hosting-beats-api")


def test_policy_properties_reach_the_policies(pack):
    dev = B.spec_stack("dev")
    assert B.by_policy(pack.evaluate(dev), "utilization-floor")
    assert not B.by_policy(pack.evaluate(dev, {"utilization-floor": {"minUtilization": 0.005}}), "utilization-floor")


def test_a_policy_config_file_as_the_cli_takes_it(pack, tmp_path):
    f = tmp_path / "policy-config.json"
    f.write_text(json.dumps({"all": "mandatory", "right-sized-gpus": {"enforcementLevel": "advisory", "maxPremiumPct": 10}}))
    got = pack.evaluate(B.spec_stack("private-70b"), f)
    levels = {v.policy: v.level for v in got}
    assert levels["utilization-floor"] == "mandatory" and levels["right-sized-gpus"] == "advisory"


@pytest.mark.parametrize("config, key", [
    ({"utilization-floor": {"minUtilization": "high"}}, "utilization-floor.minUtilization"),
    ({"utilization-floor": {"minUtilisation": 0.5}}, "utilization-floor.(root)"),
    ({"no-such-policy": "mandatory"}, "no-such-policy"),
    ({"monthly-budget": "strict"}, "monthly-budget"),
])
def test_a_config_the_schemas_reject_is_refused_before_analysis(pack, config, key):
    with pytest.raises(runner.PolicyConfigError) as err:
        pack.evaluate(B.spec_stack("dev"), config)
    assert err.value.key == key


def test_resource_policy_violations_carry_the_resource_urn(pack):
    res = B.model_stack(B.M(), production=False)
    dep = B.deployment(res)
    dep["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "HF_TOKEN", "value": "hf_x"})
    (v,) = B.by_policy(pack.evaluate(res), "secrets-via-references")
    assert v.urn.endswith("kubernetes:apps/v1:Deployment::chat-8b-chart:llm/chat-8b") and v.mandatory


def test_the_runner_costs_well_under_a_second():
    res = B.spec_stack("prod")
    runner.evaluate(res)  # starts the shared in-process pack
    t = time.perf_counter()
    for _ in range(3):
        runner.evaluate(res)
    assert (time.perf_counter() - t) / 3 < 0.5


def test_gate_renders_the_violations_and_gives_the_exit_code():
    text, code = runner.gate(B.spec_stack("uneconomic"))
    assert code == 1 and "FAILED" in text and "self-hosting-beats-api" in text
    text, code = runner.gate(B.spec_stack("dev"))
    assert code == 0 and "passed" in text and "utilization-floor" in text
    doc = json.loads(runner.gate(type("Plan", (), {"resources": B.spec_stack("uneconomic")})(), fmt="json")[0])
    assert doc["passed"] is False and doc["mandatory"] == 1
    assert doc["violations"][0]["policy"] == "self-hosting-beats-api"


def test_every_policy_is_in_the_pack_once():
    names = [p.name for p in POLICIES]
    assert sorted(names) == sorted(EXPECTED) and len(set(names)) == len(names)


def test_the_example_policy_config_is_valid(pack):
    levels = pack.configure(runner.PACK_DIR / "config.example.json")
    assert levels["monthly-budget"] == ("mandatory", {"maxMonthlyUsd": None, "trust": "trust.example.json"})
