"""The first preview in a process imports the program, its components and the provider SDKs in the `imports` phase,
and moves what they made out of the cyclic collector's reach (docs/performance.md: the SDKs' objects were walked by
every full collection and again at exit)."""

from __future__ import annotations

import json
import subprocess
import sys

from infra.config.stackconfig import ROOT

SCRIPT = """
import gc, json, sys
from infra.offline import preview
gc.collect()
before = gc.get_freeze_count()
preview.import_program()
print(json.dumps({"frozen": gc.get_freeze_count() - before, "enabled": gc.isenabled(),
                  "modules": sorted(m for m in sys.modules if m.startswith(("infra.components.", "pulumi_aws.ec2.vpc")))}))
"""


def test_the_program_components_and_sdks_are_imported_once_then_frozen_and_the_collector_left_on():
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", SCRIPT], capture_output=True, text=True, cwd=ROOT,
                          check=True)
    got = json.loads(proc.stdout)
    folder = ROOT / "infra" / "components"
    components = sorted([f"infra.components.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"]
                        + [f"infra.components.{p.parent.name}" for p in folder.glob("*/__init__.py")])
    assert set(components) <= set(got["modules"]), set(components) - set(got["modules"])
    assert "pulumi_aws.ec2.vpc" in got["modules"]
    assert got["frozen"] > 100_000   # the SDKs' modules, classes and functions: ~230,000 objects
    assert got["enabled"] is True
