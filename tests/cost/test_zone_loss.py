"""Production survives a zone: what losing the fullest zone leaves, and optimize --production returns
only configurations that keep the declared volume."""

from __future__ import annotations

import pytest

from cost.decide.optimize import Constraints, optimize
from cost.deployment import Deployment
from cost.estimate import estimate
from cost.pricing.nodes import plan_nodes, replicas_after_zone_loss, zone_spread
from cost.report_model import estimate_document
from cost.workload import Workload


@pytest.mark.parametrize("units,zones,spread", [(3, 2, [2, 1]), (4, 3, [2, 1, 1]), (2, 2, [1, 1]), (1, 1, [1])])
def test_units_spread_as_the_program_places_node_groups(units, zones, spread):
    assert zone_spread(units, zones) == spread


@pytest.mark.parametrize("instance,tp,replicas,spares,zones,left", [
    ("p4de.24xlarge", 4, 2, 2, 2, 2),   # prod: two replicas per node, one node per zone: a zone takes two
    ("p4de.24xlarge", 4, 2, 1, 2, 1),   # 2+1 packs onto 2 nodes: a zone takes a node of two replicas
    ("g6e.xlarge", 1, 2, 1, 2, 1),      # 2+1 over 2 zones: the fuller zone holds two
    ("g6e.xlarge", 1, 2, 1, 3, 2),      # 2+1 over 3 zones: one each
    ("g6e.xlarge", 1, 1, 0, 1, 0),      # one zone: nothing is left
])
def test_replicas_left_after_losing_the_fullest_zone(instance, tp, replicas, spares, zones, left):
    d = Deployment.build(model="llama-3.1-8b" if tp == 1 else "llama-3.3-70b", instance_type=instance,
                         gpus_per_replica=tp, replicas=replicas, redundancy=spares, zones=zones)
    assert replicas_after_zone_loss(plan_nodes(d), d.total_replicas, zones) == left


def test_the_share_is_the_survivors_capacity_over_the_declared_volume():
    # 8B tokens/month (3B until the tensor-parallel physics of 2026-12-06 doubled a 4x A100 replica's capacity to
    # ~5.5B/month, when one survivor carried all of 3B): two replicas carry it, the one a zone loss leaves does not
    w = Workload.build(8e9, avg_input_tokens=800, avg_output_tokens=300, tpot_target_s=0.05, ttft_target_s=0.8)
    d = Deployment.build(model="llama-3.3-70b", instance_type="p4de.24xlarge", gpus_per_replica=4, replicas=2,
                         redundancy=1, zones=2)
    e = estimate(d, w)
    per_replica = e.full_capacity_tokens_per_month / 2
    assert e.zone_loss_capacity_share == pytest.approx(min(1, per_replica / 8e9))
    assert 0 < e.zone_loss_capacity_share < 1
    assert estimate_document(e)["self_hosted"]["zone_loss_capacity_share"] == round(e.zone_loss_capacity_share, 4)


@pytest.mark.parametrize("zones,redundancy", [(2, 0), (2, 1), (3, 1)])
def test_optimize_production_returns_only_configurations_that_survive_a_zone(zones, redundancy):
    w = Workload.build(3e9, avg_input_tokens=800, avg_output_tokens=300, tpot_target_s=0.05)
    found = optimize("llama-3.1-8b", w, Constraints(production=True, zones=zones, redundancy=redundancy), top=20)
    assert found
    for c in found:
        assert c.estimate.zone_loss_capacity_share >= 1
        assert c.to_dict()["zone_loss_capacity_share"] >= 1 and c.to_dict()["zones"] == zones
        lost = max(zone_spread(c.estimate.plan.units, zones)) * c.replicas_per_instance
        assert c.deployment.redundancy >= min(lost, c.deployment.total_replicas)
    # without production, the cheapest keeps nothing when its only zone goes
    assert optimize("llama-3.1-8b", w, top=1)[0].to_dict()["zone_loss_capacity_share"] == 0
