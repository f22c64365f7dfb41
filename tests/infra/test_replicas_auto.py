"""A stack model with `replicas: auto` runs as many replicas as carry its workload, sized like `estimate`."""

import copy

import pytest

from cost.errors import InputError
from cost.estimate import estimate
from infra.config.spec import P
from tests.infra.conftest import load_spec, stack_value


def _prod_with(**changes):
    models = copy.deepcopy(stack_value("prod", "breakeven:models"))
    models[0].update(changes)
    return models


def test_auto_replicas_carry_the_workload_and_price_like_estimate():
    models = _prod_with(replicas="auto")
    models[0]["workload"] = {**models[0]["workload"], "tokensPerMonth": "20B"}
    m = load_spec("prod", {"breakeven:models": models}).models[0]
    fixed = load_spec("prod").models[0]
    assert m.replicas > fixed.replicas
    e = estimate(m.deployment.__class__(**{**m.deployment.__dict__, "replicas": None}), m.workload)
    assert m.replicas == e.deployment.replicas and e.carries_share == 1.0
    assert m.nodes == m.plan.units and sum(p.nodes for p in m.pools) == m.plan.units
    assert estimate(m.deployment, m.workload).verdict.choice != "undersized"


@pytest.mark.parametrize("value", ["many", 0, 1.5])
def test_replicas_other_than_a_count_or_auto_are_refused(value):
    with pytest.raises(InputError) as info:
        load_spec("prod", {"breakeven:models": _prod_with(replicas=value)})
    assert info.value.key == f"{P}models[0].replicas"
