"""Production survives a zone: every example's zone-loss share, and a production stack whose spares do
not cover a zone is refused before any resource unless it accepts less, explicitly."""

from __future__ import annotations

import re

import pytest

from infra.config.spec import P
from infra.placement import place
from infra.pricing import economics
from infra.program import ConfigError
from tests.infra.conftest import STACKS, run_stack, stack_value

EXPECTED = {"dev": 0.0, "prod": 1.0, "fleet": 1.0, "hybrid": 1.0, "uneconomic": 1.0, "private-70b": 1.0, "llama-405b": 1.0}


@pytest.mark.parametrize("stack", STACKS)
def test_each_example_reports_the_share_it_keeps_after_losing_a_zone(runs, stack):
    _, run, spec = runs[stack]
    for p, cost in zip(place(spec).models, run.outputs["cost"]["models"], strict=True):
        assert cost["self_hosted"]["zone_loss_capacity_share"] == EXPECTED[stack], p.model.name
        assert cost["deployment"]["name"] == p.model.name
        # priced over the zones its node groups spread across (one pool spanning the cluster: one zone's worth)
        spread = 1 if [z.suffix for z in p.pools] == ["all"] else len(p.pools)
        assert economics(spec, p).deployment.zones == p.zones == spread


def _prod_spares(spares: int, accept: float | None = None):
    models = stack_value("prod", f"{P}models")
    models[0]["redundancy"] = {"spares": spares, "zones": 2}
    if accept is not None:
        models[0]["redundancy"]["acceptZoneLossShare"] = accept
    return run_stack("prod", {f"{P}models": models})[1]


def test_a_production_stack_whose_spares_do_not_cover_a_zone_is_refused_before_any_resource():
    run = _prod_spares(1)   # 2+1 on p4de (two replicas a node): a zone takes two of the three
    assert isinstance(run.error, ConfigError) and run.error.key == f"{P}models[0].redundancy.spares"
    assert re.search(r"losing a zone leaves \d+% of 6,000,000,000 tokens/month", str(run.error))
    assert "acceptZoneLossShare" in str(run.error)
    assert run.resources == []


def test_accepting_less_explicitly_deploys_and_reports_the_share():
    run = _prod_spares(1, accept=0.6)
    assert run.error is None, run.error
    assert 0.6 <= run.outputs["cost"]["models"][0]["self_hosted"]["zone_loss_capacity_share"] < 1
