"""The example stacks through the pack as the CLI runs it: dev and prod pass, uneconomic fails,
private-70b fails although it claims private data (Bedrock in your own account serves it for less) —
and the pack's figures are the preview's.

Three sources of resources:
- `plan`: `infra.offline.preview.plan(stack).resources`, what the offline preview registers (the real program
  under the mock engine, the real chart rendered by helm); skipped where the preview cannot run;
- `helm`: the stack's node groups as the program registers them and the real chart rendered by helm
  with the program's values;
- `spec`: the same stack built from its validated spec in the shape of the chart's values contract.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import subprocess
import sys

import pytest

from cost.report_model import fleet_document
from cost.units import format_usd
from policies import pricing, runner, trust
from tests.policies import builders as B

EXAMPLE_TRUST = trust.load("trust.example.json")   # what policies/config.example.json grants

STACKS = ("dev", "prod", "hybrid", "uneconomic", "private-70b", "fleet")


@functools.cache
def _plan(stack: str):
    from infra.offline import helmrender, preview

    try:
        return preview.plan(stack)
    except (helmrender.HelmNotFound, helmrender.HelmFailed) as e:
        return e


def _unavailable(e: Exception) -> None:
    """Skip only when helm is absent on a developer machine; a chart that does not render fails, and so
    does a missing helm in CI."""
    from infra.offline import helmrender

    if isinstance(e, helmrender.HelmNotFound) and not os.environ.get("CI"):
        pytest.skip(f"helm is not installed here: {str(e)[:160]}")
    pytest.fail(f"the chart did not render: {str(e)[:2000]}")


def plan_or_skip(stack: str):
    p = _plan(stack)
    if isinstance(p, Exception):
        _unavailable(p)
    return p


def _preview_cost(stack: str) -> dict:
    from infra import pricing as infra_pricing

    return fleet_document(infra_pricing.price(B.placed_of(stack)[1]))


@functools.cache
def _helm(stack: str):
    from infra.offline import helmrender

    try:
        return B.spec_stack(stack, helm=True)
    except (helmrender.HelmNotFound, helmrender.HelmFailed) as e:
        return e


def helm_or_skip(stack: str) -> list[dict]:
    r = _helm(stack)
    if isinstance(r, Exception):
        _unavailable(r)
    return copy.deepcopy(r)


SOURCES = {"spec": B.spec_stack, "helm": helm_or_skip, "plan": lambda s: plan_or_skip(s).resources}


# ---------------------------------------------------------------------------------------------
# The pack's figures are the preview's
# ---------------------------------------------------------------------------------------------

def _by_name(figures: dict) -> dict:
    """The figures with their models in name order (the pack sees workloads in registration order)."""
    return {**figures, "models": sorted(figures["models"], key=lambda m: m["deployment"]["name"])}


@pytest.mark.helm
@pytest.mark.parametrize("source", ["spec", "helm"])
@pytest.mark.parametrize("stack", STACKS)
def test_pack_figures_equal_the_preview_for_every_example_stack(stack, source):
    stack_view = pricing.build_stack(SOURCES[source](stack), trust=EXAMPLE_TRUST)
    assert [p.message for p in stack_view.all_problems] == []
    assert _by_name(stack_view.figures()) == _by_name(_preview_cost(stack))


@pytest.mark.helm
@pytest.mark.parametrize("stack", STACKS)
def test_pack_figures_equal_the_exported_cost_of_the_offline_preview(stack):
    p = plan_or_skip(stack)
    stack_view = pricing.build_stack(p.resources, stack=p.stack, trust=EXAMPLE_TRUST)
    assert [x.message for x in stack_view.all_problems] == []
    got, want = (_by_name(x) for x in (stack_view.figures(), p.cost))
    assert got["monthly_usd"] == want["monthly_usd"]
    for g, w in zip(got["models"], want["models"], strict=True):
        assert g["self_hosted"]["monthly_usd"] == w["self_hosted"]["monthly_usd"]
        assert g["self_hosted"]["capacity_tokens_per_month"] == w["self_hosted"]["capacity_tokens_per_month"]
        assert g["apis"] == w["apis"] and g["breakeven"] == w["breakeven"] and g["verdict"] == w["verdict"]
    assert got == want


# ---------------------------------------------------------------------------------------------
# Outcomes through the CLI-started pack (python -m pulumi.policy, gRPC)
# ---------------------------------------------------------------------------------------------

@pytest.mark.helm
@pytest.mark.parametrize("source", SOURCES)
def test_dev_passes_with_advisories_allowed(cli_pack, source):
    v = cli_pack.evaluate(SOURCES[source]("dev"), runner.EXAMPLE_CONFIG, stack="dev")
    assert B.mandatory(v) == []
    assert {x.policy for x in v} <= {"utilization-floor", "right-sized-gpus"}
    assert B.by_policy(v, "utilization-floor")  # 20M tokens/month on a GPU that serves ~2B


@pytest.mark.helm
@pytest.mark.parametrize("source", SOURCES)
def test_prod_passes(cli_pack, source):
    v = cli_pack.evaluate(SOURCES[source]("prod"), runner.EXAMPLE_CONFIG, stack="prod")
    assert [(x.policy, x.detail) for x in B.mandatory(v)] == []


@pytest.mark.helm
@pytest.mark.parametrize("source", SOURCES)
def test_uneconomic_fails_with_both_monthly_figures(cli_pack, source):
    resources = SOURCES[source]("uneconomic")
    v = cli_pack.evaluate(resources, runner.EXAMPLE_CONFIG, stack="uneconomic")
    (econ,) = B.by_policy(v, "self-hosting-beats-api")
    assert econ.mandatory and [x.policy for x in B.mandatory(v)] == ["self-hosting-beats-api"]
    cost = _preview_cost("uneconomic")["models"][0]
    assert format_usd(cost["self_hosted"]["monthly_usd"]) in econ.detail          # $141,873.44
    assert format_usd(cost["verdict"]["cheapest_api_monthly_usd"]) in econ.detail  # the cheapest equivalent API
    assert cost["verdict"]["cheapest_api"] in econ.detail
    assert re.search(r"Breakeven with .* tokens/month", econ.detail)
    assert "To pass:" in econ.detail


@pytest.mark.helm
@pytest.mark.parametrize("source", SOURCES)
def test_private_70b_is_compared_with_the_apis_inside_your_own_account(cli_pack, source):
    resources = SOURCES[source]("private-70b")
    (v,) = B.mandatory(cli_pack.evaluate(resources, runner.EXAMPLE_CONFIG, stack="private-70b"))
    assert v.policy == "self-hosting-beats-api" and "aws:" in v.detail and "inside your own cloud account" in v.detail
    # without the exemption it is compared with every equivalent API: the uneconomic stack's failure
    stripped = B.set_economics(resources, "deployment.exemptions.private_data", False, name="chat-70b")
    (w,) = [x for x in B.mandatory(cli_pack.evaluate(stripped, runner.EXAMPLE_CONFIG, stack="private-70b")) if x.policy == "self-hosting-beats-api"]
    assert "equivalent APIs" in w.detail


def test_uneconomic_and_private_70b_are_priced_the_same():
    a, b = (pricing.build_stack(B.spec_stack(s), trust=EXAMPLE_TRUST) for s in ("uneconomic", "private-70b"))
    assert a.monthly_usd == b.monthly_usd and a.models[0].exemptions == [] and b.models[0].exemptions == ["private-data"]


# ---------------------------------------------------------------------------------------------
# The offline preview command
# ---------------------------------------------------------------------------------------------

def _preview(stack: str) -> subprocess.CompletedProcess:
    plan_or_skip(stack)
    return subprocess.run([sys.executable, "-m", "breakeven", "preview", "--stack", stack], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.helm
def test_breakeven_preview_fails_the_uneconomic_stack():
    r = _preview("uneconomic")
    assert r.returncode == 1
    policies = r.stdout[r.stdout.index("Policies (breakeven@"):]
    monthly = format_usd(_preview_cost("uneconomic")["models"][0]["self_hosted"]["monthly_usd"])
    assert "mandatory self-hosting-beats-api" in policies and f"self-hosting costs {monthly}/month" in policies
    assert "Result: FAILED" in policies


@pytest.mark.helm
def test_breakeven_preview_passes_prod():
    r = _preview("prod")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Policies (breakeven@" in r.stdout and "Result: passed" in r.stdout
