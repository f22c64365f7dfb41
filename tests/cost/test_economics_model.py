"""The economics value's one pydantic model: a bad key anywhere in an annotation is one line naming its path,
the value and what is allowed, and the wire text of every example round-trips unchanged."""

from __future__ import annotations

import json

import pytest

from cost.deployment import Deployment
from cost.economics import ANNOTATION, Economics, Routing, StackEconomics
from cost.errors import InputError
from cost.pricing.fleet import Tier
from cost.workload import Workload


def _routed() -> Economics:
    d = Deployment.build(model="llama-3.1-8b", gpu="L4", replicas=2, redundancy=1, name="chat", hourly_usd_per_gpu=2)
    w = Workload.build(1e9, avg_input_tokens=600, avg_output_tokens=400)
    routing = Routing(w, (Tier("a", 0.5, deployment="chat"), Tier("b", 0.5, api="groq:llama-3.1-8b-instant")))
    return Economics(d, w, StackEconomics(stack="s", budget_usd_per_month=5000.0, routing=routing))


def test_the_wire_text_round_trips_unchanged():
    e = _routed()
    text = e.to_json()
    assert Economics.from_json(text).to_json() == text
    assert json.loads(text)["deployment"]["hourly_usd_per_gpu"] == 2   # an int stays an int on the wire


@pytest.mark.parametrize("path,value,key,allowed", [
    (("stack", "budget_usd_per_month"), -5, "stack.budget_usd_per_month", "a positive number of USD"),
    (("stack", "production"), "yes", "stack.production", "true or false"),
    (("stack", "overheads"), {"ops_tax_share": 1.5}, "stack.overheads.ops_tax_share", "a fraction in [0, 1]"),
    (("stack", "overheads"), {"mlops_fte": -1}, "stack.overheads.mlops_fte", "a non-negative number"),
    (("stack", "routing", "tiers"), [], "stack.routing.tiers", "a list of tiers"),
    (("stack", "colour"), "blue", "stack.colour", "a known key"),
    (("deployment", "replicas"), None, "deployment.replicas", "the resolved number of serving replicas"),
    (("deployment", "redundancy"), 2.5, "deployment.redundancy", "a whole number, from 0 to 1000"),
    (("deployment", "hourly_usd_per_gpu"), 0, "deployment.hourly_usd_per_gpu", "a positive price per GPU-hour"),
    (("deployment", "commitment"), {"kind": "lease", "hourly_usd": 1, "recorded_in": "x"},
     "deployment.commitment.kind", "savings-plan, reserved-instances"),
    (("deployment", "commitment"), {"kind": "savings-plan", "hourly_usd": 1, "recorded_in": "see <wiki>"},
     "deployment.commitment.recorded_in", "letters, digits, spaces"),   # what an AWS tag value may hold
    (("workload", "utilization"), float("inf"), "workload.utilization", "a fraction in (0, 1]"),
    (("workload", "input_share"), 0.9, "workload.input_share", "the share the request size implies"),
    (("version",), 2, "version", "1 (the economics version"),
])
def test_a_bad_value_names_its_path(path, value, key, allowed):
    doc = _routed().to_dict()
    node = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(InputError) as err:
        Economics.from_dict(doc)
    assert err.value.key == f"{ANNOTATION}.{key}" and allowed in err.value.allowed, err.value


def test_a_missing_part_is_named():
    doc = _routed().to_dict()
    del doc["workload"]
    with pytest.raises(InputError) as err:
        Economics.from_dict(doc)
    assert err.value.key == f"{ANNOTATION}.workload" and err.value.detail == "required"
