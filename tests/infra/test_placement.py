"""A multi-node replica's nodes in one zone and one cluster placement group (EFA instances), whole groups
spread across zones; nothing of the kind for stacks whose replicas fit one node."""

from __future__ import annotations

from infra.placement import place
from tests.infra.conftest import run_stack, stack_value

P = "breakeven:"
STACK = "llama-405b"
PG, LT, NG, SUBNET = ("aws:ec2/placementGroup:PlacementGroup", "aws:ec2/launchTemplate:LaunchTemplate",
                      "aws:eks/nodeGroup:NodeGroup", "aws:ec2/subnet:Subnet")


def _of(run, t):
    return [r for r in run.resources if r.type == t]


def _placement(run) -> dict[str, tuple[str, str | None]]:
    """GPU node group name -> (the zones of its subnets, joined by a space; the placement group its launch
    template names)."""
    zone_name = {z["zoneId"]: name for name, z in run.outputs["zones"].items()}
    zone_of = {f"{s.name}-id": zone_name[s.inputs["availabilityZoneId"]] for s in _of(run, SUBNET)}
    template = {f"{t.name}-id": t for t in _of(run, LT)}
    out = {}
    for g in _of(run, NG):
        if not g.name.startswith("gpu-"):
            continue
        zone = " ".join(sorted({zone_of[s] for s in g.inputs["subnetIds"]}))
        lt = template[g.inputs["launchTemplate"]["id"]]
        out[g.inputs["nodeGroupName"]] = (zone, (lt.inputs.get("placement") or {}).get("groupName"))
    return out


def test_each_zone_of_the_two_node_example_has_a_cluster_placement_group_its_launch_template_names(runs):
    _, run, spec = runs[STACK]
    groups = {g.inputs["name"]: g for g in _of(run, PG)}
    assert len(groups) == 2 and {g.inputs["strategy"] for g in groups.values()} == {"cluster"}
    placed = _placement(run)
    # Each node group (one whole replica of 2 nodes) sits in one zone, in the placement group of that zone...
    assert set(placed) == {p.node_group for p in place(spec).models[0].pools} == set(groups)
    for node_group, (zone, group) in placed.items():
        assert group == node_group and groups[group].inputs["tags"]["breakeven.dev/zone"] == zone
    # ...and the two replicas sit in two different zones (a zone outage leaves one serving).
    assert len({zone for zone, _ in placed.values()}) == 2


def test_the_efa_interfaces_and_the_placement_group_share_the_launch_template(runs):
    _, run, _ = runs[STACK]
    for t in _of(run, LT):
        if t.inputs.get("placement"):
            assert {i["interfaceType"] for i in t.inputs["networkInterfaces"]} == {"efa", "efa-only"}


def test_single_node_stacks_get_no_placement_group(runs):
    for stack in ("dev", "prod", "private-70b", "fleet"):
        _, run, _ = runs[stack]
        assert not _of(run, PG), stack
        assert all(group is None for _, group in _placement(run).values()), stack


def test_a_multi_node_model_in_one_zone_keeps_its_nodes_in_that_zone():
    """Without spreading, a multi-node model's node group still takes one zone's subnet, not the cluster's
    three: an Auto Scaling group cannot combine several zones with a cluster placement group."""
    value = stack_value(STACK, f"{P}models")
    value[0]["redundancy"] = {"spares": 1, "zones": 1, "acceptZoneLossShare": 0}
    _, run = run_stack(STACK, {f"{P}models": value})
    assert run.error is None, run.error
    [(zone, group)] = _placement(run).values()
    [pg] = _of(run, PG)
    assert zone == "us-east-1a" and group == pg.inputs["name"] and pg.inputs["tags"]["breakeven.dev/zone"] == zone
    [ng] = [g for g in _of(run, NG) if g.name.startswith("gpu-")]
    assert ng.inputs["scalingConfig"]["desiredSize"] == 4


def test_nodes_launched_into_a_capacity_reservation_get_no_placement_group_of_ours():
    value = stack_value(STACK, f"{P}models")
    value[0]["capacityReservationId"] = "cr-0123456789abcdef0"
    _, run = run_stack(STACK, {f"{P}models": value})
    assert run.error is None, run.error
    assert not _of(run, PG)
    assert all(group is None for _, group in _placement(run).values())
