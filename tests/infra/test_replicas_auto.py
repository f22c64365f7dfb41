"""A stack model with `replicas: auto` runs as many replicas as carry its workload, sized like `estimate`: the
spec only validates (replicas stay None), the placement (infra/placement.py) sizes them once."""

import ast
import copy
import subprocess
import sys
from pathlib import Path

import pytest

from cost.economics import Economics
from cost.errors import InputError
from cost.estimate import estimate
from infra.config.spec import P
from tests.infra.conftest import load_placed, load_spec, run_stack, stack_value

ROOT = Path(__file__).resolve().parents[2]


def _prod_with(**changes):
    models = copy.deepcopy(stack_value("prod", "breakeven:models"))
    models[0].update(changes)
    return models


def test_auto_replicas_carry_the_workload_and_price_like_estimate():
    models = _prod_with(replicas="auto")
    models[0]["workload"] = {**models[0]["workload"], "tokensPerMonth": "20B"}
    spec, placement = load_placed("prod", {"breakeven:models": models})
    m, placed = spec.models[0], placement.models[0]
    assert m.replicas is None and m.deployment.replicas is None   # the spec leaves "auto" unsized
    fixed = load_placed("prod")[1].models[0]
    assert placed.replicas > fixed.replicas
    e = estimate(m.deployment, m.workload)                         # estimate sizes an auto deployment itself
    assert placed.replicas == placed.deployment.replicas == e.deployment.replicas and e.carries_share == 1.0
    assert placed.nodes == placed.plan.units and sum(p.nodes for p in placed.pools) == placed.plan.units
    assert estimate(placed.deployment, m.workload).verdict.choice != "undersized"
    assert placement.to_dict()["models"][0]["replicas"] == placed.replicas


def test_the_program_deploys_and_annotates_the_sized_replicas():
    """The chart's replica count, its economics annotation and the node groups' tags all carry the placement's count."""
    models = _prod_with(replicas="auto")
    models[0]["workload"] = {**models[0]["workload"], "tokensPerMonth": "20B"}
    models[0]["redundancy"] = {**models[0].get("redundancy", {}), "acceptZoneLossShare": 0.5}   # production: a zone's loss
    _, run = run_stack("prod", {"breakeven:models": models})
    assert run.error is None, run.error
    placed = load_placed("prod", {"breakeven:models": models})[1].models[0]
    [chart] = [r for r in run.resources if r.type == "kubernetes:helm.sh/v4:Chart" and r.inputs["chart"] == "./charts/vllm"]
    assert chart.inputs["values"]["replicaCount"] == placed.total_replicas
    assert Economics.from_json(chart.inputs["values"]["economics"]).deployment.replicas == placed.replicas > 1
    groups = [r for r in run.resources if r.type == "aws:eks/nodeGroup:NodeGroup" and r.name.startswith("gpu-")]
    assert {Economics.from_tags(g.inputs["tags"]).deployment.replicas for g in groups} == {placed.replicas}
    assert sum(g.inputs["scalingConfig"]["desiredSize"] for g in groups) == placed.nodes
    assert run.outputs["spec"]["models"][0]["replicas"] == placed.replicas


def test_the_spec_does_not_size_replicas():
    """infra/config/spec.py imports no sizing (not even inside a function), and loading an auto stack loads none."""
    tree = ast.parse((ROOT / "infra" / "config" / "spec.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "cost.physics.sizing" not in imported and "cost.estimate" not in imported
    script = ("import json, sys\nfrom infra.config import spec, stackconfig\ncfg = stackconfig.load('prod')\n"
              "values = {k: ('[secret]' if k in cfg.secret_keys else v) for k, v in cfg.values.items()}\n"
              "models = json.loads(values['breakeven:models'])\nmodels[0]['replicas'] = 'auto'\n"
              "values['breakeven:models'] = json.dumps(models)\n"
              "assert spec.load(values, project=cfg.project, stack='prod').models[0].replicas is None\n"
              "print('cost.physics.sizing' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("value", ["many", 0, 1.5])
def test_replicas_other_than_a_count_or_auto_are_refused(value):
    with pytest.raises(InputError) as info:
        load_spec("prod", {"breakeven:models": _prod_with(replicas=value)})
    assert info.value.key == f"{P}models[0].replicas"
