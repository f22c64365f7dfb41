"""The bill you will pay: a reserved capacity type is priced at its discount only under a named Savings
Plan or Reserved Instances; otherwise on-demand, with what a commitment would save and must cover."""

from __future__ import annotations

import pytest

from cost import catalog
from cost.deployment import RESERVED
from cost.economics import Economics
from cost.errors import InputError
from infra.config.spec import P
from tests.infra.conftest import STACKS, load_placed, run_stack, stack_value

ARN = "arn:aws:savingsplans::123456789012:savingsplan/3f2c1a9e-5b7d-4c8e-9a6f-1d2e3f4a5b6c"
P4DE = catalog.instance("p4de.24xlarge").on_demand_usd_hr
DISCOUNT_1Y = catalog.assumptions()["reserved_discount"]["reserved-1y"]


def _prod_with(commitment: dict | None, capacity_type: str = "reserved-1y"):
    models = stack_value("prod", f"{P}models")
    models[0]["capacityType"] = capacity_type
    if commitment is not None:
        models[0]["commitment"] = commitment
    return {f"{P}models": models}


def _gpu_items(model_cost: dict) -> list[dict]:
    return [i for i in model_cost["self_hosted"]["line_items"] if "instance-hour" in i["unit"]]


@pytest.mark.parametrize("stack", STACKS)
def test_every_reserved_line_is_backed_by_a_named_commitment_or_priced_on_demand(runs, stack):
    _, run, spec = runs[stack]
    for m, cost in zip(spec.models, run.outputs["cost"]["models"], strict=True):
        d = cost["deployment"]
        assert (d["pricing"] in RESERVED) == (d["commitment"] is not None)
        if m.capacity_type in RESERVED and d["commitment"] is None:
            inst = catalog.instance(m.instance_type)
            assert all(i["unit_usd"] == inst.on_demand_usd_hr for i in _gpu_items(cost))
            assert m.name in run.outputs["commitmentOffers"]


def test_prod_names_no_plan_so_its_gpus_are_priced_on_demand_and_the_report_says_what_a_plan_saves(runs):
    _, run, _ = runs["prod"]
    cost = run.outputs["cost"]["models"][0]
    assert cost["deployment"]["pricing"] == "on-demand" and cost["deployment"]["commitment"] is None
    items = _gpu_items(cost)
    assert sum(i["monthly_usd"] for i in items) == pytest.approx(2 * P4DE * 730, abs=0.02)   # $40,073: what AWS bills
    offer = run.outputs["commitmentOffers"]["chat-70b"]
    assert offer["covers_usd_hr"] == pytest.approx(2 * P4DE, abs=1e-3)
    assert offer["commit_usd_hr"] == pytest.approx(2 * P4DE * (1 - DISCOUNT_1Y), abs=1e-3)
    assert offer["saves_usd_month"] == pytest.approx(2 * P4DE * DISCOUNT_1Y * 730, abs=0.02)
    report = next(m for s, m in run.logs if m.startswith("breakeven cost report"))
    assert "chat-70b: reserved-1y names no commitment, so it is priced on-demand" in report
    assert f"name it in {P}models[0].commitment" in report


def test_a_named_savings_plan_prices_the_discount_and_travels_in_json_and_tags():
    _, run = run_stack("prod", _prod_with({"kind": "savings-plan", "hourlyUsd": 40, "recordedIn": ARN}))
    assert run.error is None, run.error
    cost = run.outputs["cost"]["models"][0]
    assert cost["deployment"]["pricing"] == "reserved-1y"
    assert cost["deployment"]["commitment"] == {"kind": "savings-plan", "hourly_usd": 40.0, "recorded_in": ARN}
    assert all(i["unit_usd"] == pytest.approx(P4DE * (1 - DISCOUNT_1Y)) for i in _gpu_items(cost))
    assert run.outputs["commitmentOffers"] == {}
    report = next(m for s, m in run.logs if m.startswith("breakeven cost report"))
    assert f"reserved-1y priced at its discount under savings-plan {ARN}" in report
    ng = next(r for r in run.resources if r.type == "aws:eks/nodeGroup:NodeGroup" and "taints" in r.inputs)
    assert Economics.from_tags(ng.inputs["tags"]).deployment.commitment.recorded_in == ARN


@pytest.mark.parametrize("commitment,capacity_type,key", [
    ({"kind": "savings-plan", "hourlyUsd": 30, "recordedIn": ARN}, "reserved-1y", f"{P}models[0].commitment.hourlyUsd"),
    ({"kind": "savings-plan", "hourlyUsd": 40, "recordedIn": ARN}, "on-demand", f"{P}models[0].commitment"),
    ({"kind": "upfront", "hourlyUsd": 40, "recordedIn": ARN}, "reserved-1y", f"{P}models[0].commitment.kind"),
    ({"kind": "savings-plan", "hourlyUsd": 40, "recordedIn": "see <wiki>"}, "reserved-1y", f"{P}models[0].commitment.recordedIn"),
    ({"kind": "savings-plan", "hourlyUsd": 40, "recordedIn": "sp-" + "1" * 198}, "reserved-1y",
     f"{P}models[0].commitment.recordedIn"),   # 201 characters: more than an AWS tag value holds
    ({"kind": "savings-plan", "hourlyUsd": 40, "recordedIn": "  "}, "reserved-1y", f"{P}models[0].commitment.recordedIn"),
])
def test_a_commitment_that_cannot_back_the_price_is_refused_naming_the_key(commitment, capacity_type, key):
    with pytest.raises(InputError) as info:
        load_placed("prod", _prod_with(commitment, capacity_type))   # the spec's checks, then the placement's
    assert info.value.key == key


def test_a_commitment_recorded_in_200_characters_is_taken_whole():
    from cost.deployment import Commitment

    recorded = "sp-" + "1" * 197
    assert Commitment.build({"kind": "savings-plan", "hourly_usd": 40.0, "recorded_in": recorded}).recorded_in == recorded
