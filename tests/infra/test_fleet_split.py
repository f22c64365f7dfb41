"""The `fleet` example stack: two self-hosted models share the per-stack overheads by GPU spend."""

from __future__ import annotations

import pytest

from infra import pricing
from tests.policies.builders import placed_of

HOURS = 730


@pytest.fixture(scope="module")
def fleet():
    return pricing.price(placed_of("fleet")[1])


def _item(estimate, name: str):
    return next(i for i in estimate.line_items if i.name == name)


def test_staff_and_monitoring_are_paid_once_for_the_stack(fleet):
    staff = sum(_item(e, "MLOps staff").monthly_usd for e in fleet.estimates)
    monitoring = sum(_item(e, "Monitoring").monthly_usd for e in fleet.estimates)
    assert staff == pytest.approx(0.25 * 12_000) and monitoring == pytest.approx(200)


def test_the_split_follows_gpu_spend(fleet):
    spend = {e.deployment.name: e.plan.units * e.plan.unit_usd_hr * HOURS for e in fleet.estimates}
    total = sum(spend.values())
    for e in fleet.estimates:
        share = spend[e.deployment.name] / total
        assert _item(e, "MLOps staff").quantity == pytest.approx(0.25 * share)
        assert _item(e, "Monitoring").quantity == pytest.approx(share)


def test_the_split_is_what_the_report_has_always_shown(fleet):
    """Golden figures: a change to how cost/pricing/fleet.py splits the stack's overheads must fail here."""
    got = {e.deployment.name: (round(_item(e, "MLOps staff").monthly_usd, 2), round(_item(e, "Monitoring").monthly_usd, 2))
           for e in fleet.estimates}
    assert got == {"support-8b": (451.93, 30.13), "analyst-72b": (2548.07, 169.87)}
    assert round(fleet.monthly_usd, 2) == 24015.36
