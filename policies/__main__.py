"""Builds the breakeven policy pack. The Pulumi CLI runs this file (through `python -m pulumi.policy`)
and talks to the pack over the Analyzer gRPC service; the rules live in `policies/rules.py`."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # the repo root: `cost` and `policies`

from pulumi_policy import PolicyPack  # noqa: E402

from policies.rules import PACK  # noqa: E402

PolicyPack(**PACK)
