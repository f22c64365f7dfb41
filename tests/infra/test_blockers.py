"""Refuse before billing: what a real `pulumi up` would fail on or not serve is listed by the preview
and refused by the program outside preview, before any resource exists (infra/config/blockers.py)."""

from __future__ import annotations

import json

import pytest

from infra import program
from infra.config import stackconfig
from infra.config.blockers import documentation_cidrs, is_placeholder_repo
from infra.config.spec import P
from infra.offline import mocks, preview
from tests.infra.conftest import CANARY, STACKS, run_stack, stack_value

CIDR = f"{P}cluster.endpoint.publicAccessCidrs[0]"
TOKEN, API_KEY = f"{P}hfToken", f"{P}vllmApiKey"
# What each example leaves to the operator: its egress CIDR, the secrets, and prod's own weights repository.
EXPECTED = {
    "dev": {CIDR, TOKEN},                                        # gated Llama; not production: no key needed
    "prod": {CIDR, f"{P}models[0].source", TOKEN, API_KEY},      # your-org/... fine-tune, private
    "fleet": {CIDR, TOKEN, API_KEY},
    "hybrid": {CIDR, TOKEN, API_KEY},
    "uneconomic": {CIDR, TOKEN, API_KEY},
    "private-70b": {CIDR, TOKEN, API_KEY},
    "llama-405b": {CIDR, TOKEN, API_KEY},                        # gated Llama 3.1 405B, production
}
REAL_CIDR = ["198.18.7.0/24"]   # a benchmarking range, not a documentation one: stands for the operator's egress


def _run(stack: str, overrides: dict | None = None, secrets: dict | None = None, preview_mode: bool = True):
    """The program for a stack as `breakeven preview` loads it: secrets only where given."""
    cfg = stackconfig.load(stack, secrets=secrets)
    values = dict(cfg.values)
    values.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (overrides or {}).items()})
    return mocks.run(program.main, values, list(cfg.secret_keys), project=cfg.project, stack=stack, preview=preview_mode)


def _operator_settings(stack: str) -> dict:
    """What the operator sets before `pulumi up`: a real CIDR and, for prod, the real weights repository."""
    cluster = stack_value(stack, f"{P}cluster")
    cluster["endpoint"]["publicAccessCidrs"] = REAL_CIDR
    out: dict = {f"{P}cluster": cluster}
    if stack == "prod":
        models = stack_value(stack, f"{P}models")
        models[0]["source"] = "acme-support/llama-3.3-70b-support-ft"
        out[f"{P}models"] = models
    return out


@pytest.mark.parametrize("stack", STACKS)
def test_each_example_previews_and_lists_exactly_what_it_leaves_to_the_operator(stack):
    run = _run(stack)
    assert run.error is None, run.error
    found = run.outputs["blockers"]
    assert {b["key"] for b in found} == EXPECTED[stack]
    for b in found:   # each names its key and the command that sets it
        assert "pulumi config set" in b["message"] and f"'{b['key']}'" in b["message"] and f"--stack {stack}" in b["message"]
        secret = b["key"] in (TOKEN, API_KEY)
        assert ("--secret" in b["message"]) == secret


@pytest.mark.parametrize("stack", STACKS)
def test_once_the_operator_sets_them_nothing_blocks_and_the_update_registers_resources(stack):
    run = _run(stack, _operator_settings(stack), secrets=CANARY, preview_mode=False)
    assert run.error is None, run.error
    assert run.outputs["blockers"] == [] and run.resources


@pytest.mark.parametrize("stack", STACKS)
def test_outside_preview_a_blocked_stack_is_refused_before_any_resource(stack):
    run = _run(stack, preview_mode=False)
    assert isinstance(run.error, program.Blocked)
    assert {b.key for b in run.error.blockers} == EXPECTED[stack]
    assert run.resources == []
    assert "nothing was created" in str(run.error)


@pytest.mark.helm
def test_the_preview_json_table_and_comment_carry_the_blockers():
    p = preview.plan("dev")
    doc = json.loads(preview.render(p, "json"))
    assert [set(b) for b in doc["blockers"]] == [{"key", "message"}] * 2
    assert {b["key"] for b in doc["blockers"]} == EXPECTED["dev"]
    table = preview.render(p, "table")
    assert "Blockers (2)" in table and f"- {CIDR}: 203.0.113.0/24 is a documentation range" in table
    assert f"- `{CIDR}`: 203.0.113.0/24 is a documentation range" in preview.markdown_details(p)   # the PR comment


def test_gated_weights_need_the_token_and_public_weights_do_not():
    models = stack_value("dev", f"{P}models")
    models[0]["model"] = "qwen2.5-7b"   # Qwen/Qwen2.5-7B-Instruct: not gated
    run = _run("dev", {f"{P}models": models, **_operator_settings("dev")})
    assert run.error is None and run.outputs["blockers"] == []


def test_a_production_model_nobody_may_call_is_a_blocker():
    run = _run("fleet", {f"{P}access": {}, **_operator_settings("fleet")}, secrets=CANARY)
    assert [b["key"] for b in run.outputs["blockers"]] == [f"{P}access.clientNamespaces"]
    run = _run("fleet", {f"{P}access": {"loadBalancer": "internal"}, **_operator_settings("fleet")}, secrets=CANARY)
    assert run.outputs["blockers"] == []


def test_a_zone_that_does_not_sell_the_gpu_is_listed_in_preview_and_refused_outside_it():
    settings = _operator_settings("prod")
    settings[f"{P}cluster"]["zones"] = ["us-east-1c", "us-east-1d", "us-east-1a"]   # p4de: only use1-az4/az6
    run = _run("prod", settings, secrets=CANARY)
    assert run.error is None
    (b,) = run.outputs["blockers"]
    assert b["key"] == f"{P}models[0].instanceType" and "p4de.24xlarge is not sold in us-east-1c (use1-az1)" in b["message"]
    run = _run("prod", settings, secrets=CANARY, preview_mode=False)
    assert isinstance(run.error, program.Blocked) and run.resources == []


def test_documentation_ranges_and_placeholder_owners():
    assert documentation_cidrs(["192.0.2.0/24", "10.0.0.0/8", "198.51.100.7/32", "203.0.113.0/25",
                                "2001:db8::/48", "203.0.112.0/23"]) == [0, 2, 3, 4]
    assert all(is_placeholder_repo(r) for r in ("your-org/x", "YOUR_ORG/x", "my-org/x", "example/x", "<org>/<repo>"))
    assert not any(is_placeholder_repo(r) for r in ("acme/x", "meta-llama/Llama-3.1-8B-Instruct", "s3://your-org/x",
                                                    "/models/x", "yourcompany-ml/x"))


def test_a_production_stack_missing_its_api_key_is_refused_outside_preview():
    run = run_stack("prod", _operator_settings("prod"), drop=(API_KEY,))
    assert run[1].error is None and [b["key"] for b in run[1].outputs["blockers"]] == [API_KEY]
