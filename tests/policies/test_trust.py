"""Trust comes from the organisation's policy config, not from the stack being judged.

Each claim a stack can make about itself — an exemption, a reserved commitment, its own GPU price, its own
capacity, a price book, overheads below the catalog's, a non-production scope — counts only where the policy
config's `trust` grants it for that stack (or model). Declared without the grant it is a mandatory violation
naming the grant it lacks, and the stack is priced without it; granted, it passes. Everything runs through the
pack as the Pulumi CLI starts it, with the policy config sent as the CLI sends it (each policy configured).
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from cost.pricing.tco import Overheads
from cost.units import format_usd
from policies import pricing, trust
from tests.policies import builders as B

# An 8B model on L4s at 100M tokens/month: far dearer than the equivalent APIs, so any claim that would let it
# through is visible in self-hosting-beats-api.
M = B.M(name="chat-8b", instance_type="g6.xlarge", replicas=1, spares=1, zones=("us-east-1a", "us-east-1b"))


def with_(**changes) -> B.M:
    return B.M(**{**M.__dict__, **changes})


def grant_violations(got: list, key: str) -> list:
    return [v for v in B.by_policy(got, "economics-readable") if v.mandatory and f".{key})" in v.detail]


CLAIMS = {  # name -> (resources making the claim, the grant that allows it, the grant key named)
    "custom-inference exemption": (lambda: B.model_stack(with_(exemptions=("custom-inference",))),
                                   {"exemptions": ["custom-inference"]}, "exemptions"),
    "fine-tuned exemption": (lambda: B.model_stack(with_(exemptions=("fine-tuned",))),
                             {"exemptions": ["fine-tuned"]}, "exemptions"),
    "a 40 ms TTFT target (low-ttft)": (lambda: B.model_stack(with_(ttft_ms=40)), {"exemptions": ["low-ttft"]}, "exemptions"),
    "reserved-1y capacity": (lambda: B.model_stack(with_(capacity_type="reserved-1y")),
                             {"commitments": ["reserved-1y"]}, "commitments"),
    "its own GPU price": (lambda: B.set_economics(B.model_stack(M), "deployment.hourly_usd_per_gpu", 0.05),
                          {"hourlyUsdPerGpu": 0.05}, "hourlyUsdPerGpu"),
    "its own capacity": (lambda: B.set_economics(B.model_stack(M), "deployment.capacity_tokens_per_month", 9e12),
                         {"capacityTokensPerMonth": 9e12}, "capacityTokensPerMonth"),
    "a price book": (lambda: B.model_stack(M, stack={"price_book": "seed-2025"}), {"priceBook": "seed-2025"}, "priceBook"),
    "overheads below the catalog's": (lambda: B.model_stack(M, stack={"overheads": Overheads.none()}),
                                      {"overheads": Overheads.none().to_dict()}, "overheads.mlops_fte"),
}


@pytest.mark.parametrize("claim", CLAIMS)
def test_a_claim_without_a_grant_is_a_violation_naming_the_grant(cli_pack, claim):
    make, grant, key = CLAIMS[claim]
    res = make()
    got = cli_pack.evaluate(res, B.trusting({}))
    (v,) = grant_violations(got, key)[:1]
    assert f"trust.grants.{B.STACK}" in v.detail and "does not grant" in v.detail
    granted = cli_pack.evaluate(res, B.trusting({B.STACK: grant}))
    assert grant_violations(granted, key) == []
    if key.split(".")[0] in trust.MODEL_KEYS:   # a model's own grant counts too (price books and overheads are per stack)
        per_model = cli_pack.evaluate(res, B.trusting({B.STACK: {"models": {M.name: grant}}}))
        assert grant_violations(per_model, key) == []


def test_an_exemption_granted_to_another_stack_does_not_count(cli_pack):
    res = B.model_stack(with_(exemptions=("custom-inference",), tokens_per_month=1e6))
    other = B.trusting({"prod": {"exemptions": ["custom-inference"]}})
    assert B.by_policy(cli_pack.evaluate(res, other), "self-hosting-beats-api")           # judged without it
    mine = B.trusting({B.STACK: {"exemptions": ["custom-inference"]}})
    assert not B.by_policy(cli_pack.evaluate(res, mine), "self-hosting-beats-api")        # nothing can serve it


def test_an_ungranted_commitment_is_priced_on_demand(cli_pack):
    res = B.model_stack(with_(capacity_type="reserved-1y"))
    (v,) = B.by_policy(cli_pack.evaluate(res, B.trusting({})), "self-hosting-beats-api")
    assert "on-demand)" in v.detail and "reserved-1y" not in v.detail.split(":")[0]
    (w,) = B.by_policy(cli_pack.evaluate(res, B.trusting({B.STACK: {"commitments": ["reserved-1y"]}})),
                       "self-hosting-beats-api")
    assert "reserved-1y)" in w.detail.split(":")[0]


def test_the_price_book_is_the_one_the_policy_config_names_never_a_path_from_the_resources(cli_pack, tmp_path):
    book = tmp_path / "cheap.yaml"
    book.write_text(yaml.safe_dump({"gpus": {"L4": {"on-demand": 0.01}}}))
    res = B.model_stack(M, stack={"price_book": str(book)})
    got = cli_pack.evaluate(res, B.trusting({}))
    catalog_priced = format_usd(pricing.build_stack(B.model_stack(M)).models[0].monthly_usd)
    assert grant_violations(got, "priceBook") and f"costs {catalog_priced}/month" in B.by_policy(got, "self-hosting-beats-api")[0].detail


@pytest.mark.parametrize("name", ["prod-ci", "payments-test-eu", "ci", "staging", "testing"])
def test_the_default_production_scope_is_narrow(pack, name):
    res = [{**r, "urn": r["urn"].replace(f"urn:pulumi:{B.STACK}:", f"urn:pulumi:{name}:")}
           for r in B.model_stack(with_(tokens_per_month=1e6), production=False)]
    assert B.by_policy(pack.evaluate(res), "self-hosting-beats-api"), f"{name} escaped the economics check"


def test_a_stack_is_non_production_only_where_the_policy_config_says_so(pack):
    res = [{**r, "urn": r["urn"].replace(f"urn:pulumi:{B.STACK}:", "urn:pulumi:perf-lab:")}
           for r in B.model_stack(with_(tokens_per_month=1e6), production=False)]
    assert B.by_policy(pack.evaluate(res), "self-hosting-beats-api")
    relaxed = B.trusting({"perf-lab": {"production": False}})
    assert not B.by_policy(pack.evaluate(res, relaxed), "self-hosting-beats-api")
    # the stack's own production: true makes it stricter, never looser
    strict = [{**r, "urn": r["urn"].replace(f"urn:pulumi:{B.STACK}:", "urn:pulumi:perf-lab:")}
              for r in B.model_stack(with_(tokens_per_month=1e6), production=True)]
    assert B.by_policy(pack.evaluate(strict, relaxed), "self-hosting-beats-api")


def test_trust_can_be_a_file_the_policy_config_names(pack, tmp_path):
    f = tmp_path / "trust.json"
    f.write_text(json.dumps({"grants": {B.STACK: {"exemptions": ["custom-inference"]}}}))
    res = B.model_stack(with_(exemptions=("custom-inference",), tokens_per_month=1e6))
    config = {p: {"trust": str(f)} for p in B.trusting({})}
    assert not B.by_policy(pack.evaluate(res, config), "self-hosting-beats-api")


@pytest.mark.parametrize("bad, key", [({"grants": {"x": {"exemptions": ["cheap"]}}}, "trust.grants.x.exemptions"),
                                      ({"grants": {"x": {"discount": 1}}}, "trust.grants.x.discount"),
                                      ({"grant": {}}, "trust.grant"),
                                      ("no-such-file.json", "trust")])
def test_a_bad_trust_value_names_the_key(bad, key):
    with pytest.raises(trust.InputError) as e:
        trust.load(bad)
    assert str(e.value).startswith(key)


def test_a_trust_file_granting_twice_is_refused_not_last_wins(tmp_path):
    f = tmp_path / "trust.json"
    f.write_text('{"grants": {"x": {"production": true}}, "grants": {"x": {"production": false}}}')
    with pytest.raises(trust.InputError) as e:
        trust.load(str(f))
    assert str(f) in str(e.value) and "grants" in str(e.value) and "\n" not in str(e.value)


def test_a_bad_trust_value_fails_closed_through_the_pack(pack):
    config = {p: {"trust": {"grants": {B.STACK: {"exemptions": ["cheap"]}}}} for p in B.trusting({})}
    got = B.by_policy(pack.evaluate(B.model_stack(M), config), "self-hosting-beats-api")
    assert got and got[0].mandatory and "trust.grants.test.exemptions" in got[0].detail


# ---------------------------------------------------------------------------------------------
# Engine arguments wherever vLLM reads them: the command line and a --config file
# ---------------------------------------------------------------------------------------------

def _with_config_file(res: list[dict], text: str | None, *, mount: bool = True) -> list[dict]:
    """Move the server's engine arguments into a vLLM --config file mounted from a ConfigMap."""
    out = copy.deepcopy(res)
    d = B.deployment(out)
    pod = d["inputs"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    c["args"] = [a for a in c["args"]] + ["--config", "/etc/vllm/engine.yaml"]
    if mount:
        c["volumeMounts"] = [{"name": "engine", "mountPath": "/etc/vllm"}]
        pod["volumes"] = [{"name": "engine", "configMap": {"name": "chat-8b-engine"}}]
    if text is not None:
        out.append({"type": "kubernetes:core/v1:ConfigMap", "name": "chat-8b-engine", "urn": B.urn("kubernetes:core/v1:ConfigMap", "engine"),
                    "inputs": {"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "chat-8b-engine", "namespace": d["inputs"]["metadata"]["namespace"]},
                               "data": {"engine.yaml": text}}})
    return out


def test_engine_arguments_in_a_config_file_are_read(pack):
    res = B.model_stack(M)
    assert not B.by_policy(pack.evaluate(_with_config_file(res, "max-num-seqs: 256\n")), "economics-readable")
    got = B.by_policy(pack.evaluate(_with_config_file(res, "kv-cache-dtype: fp8\nenable-expert-parallel: false\n")),
                      "economics-readable")
    assert any("--kv-cache-dtype auto but the resources run fp8" in v.detail for v in got), [v.detail for v in got]


def test_the_command_line_overrides_the_config_file_as_in_vllm(pack):
    res = B.model_stack(M)
    # The file says 4096, the command line (which vLLM reads after the file) says 8192, as declared.
    assert not B.by_policy(pack.evaluate(_with_config_file(res, "max-model-len: 4096\n")), "economics-readable")


@pytest.mark.parametrize("text, mount, why", [(None, True, "a ConfigMap among the stack's resources"),
                                               ("max-num-seqs: 256\n", False, "no volume mount"),
                                               ("- not a mapping\n", True, "a YAML mapping")])
def test_a_config_file_the_pack_cannot_read_is_a_violation(pack, text, mount, why):
    got = B.by_policy(pack.evaluate(_with_config_file(B.model_stack(M), text, mount=mount)), "economics-readable")
    assert any(v.mandatory and "--config /etc/vllm/engine.yaml" in v.detail and why in v.detail for v in got), \
        [v.detail for v in got]
