"""Shared fixtures: every example stack run once per test session under the mock engine."""

from __future__ import annotations

import json

import pytest

from infra import program
from infra.config import spec as spec_mod
from infra.config import stackconfig
from infra.offline import mocks
from infra.placement import place

STACKS = ("dev", "prod", "hybrid", "uneconomic", "private-70b", "fleet", "llama-405b")
CANARY = {  # distinctive secret values: none may ever show up in a recorded input, output, log or manifest
    "breakeven:hfToken": "hf_CANARY_d41d8cd98f00b204e9800998ecf8427e",
    "breakeven:vllmApiKey": "sk-CANARY-9e107d9d372bb6826bd81d3542a419d6",
}


def run_stack(stack: str, overrides: dict | None = None, drop: tuple[str, ...] = ()):
    """Run the program for a stack's config (optionally with values replaced) under the mock engine."""
    cfg = stackconfig.load(stack, secrets=CANARY)
    values = dict(cfg.values)
    for k, v in (overrides or {}).items():
        values[k] = v if isinstance(v, str) else json.dumps(v)
    for k in drop:
        values.pop(k, None)
    run = mocks.run(program.main, values, [k for k in cfg.secret_keys if k in values], project=cfg.project, stack=stack)
    return cfg, run


def load_spec(stack: str, overrides: dict | None = None):
    cfg = stackconfig.load(stack, secrets=CANARY)
    values = {k: ("[secret]" if k in cfg.secret_keys else v) for k, v in cfg.values.items()}
    for k, v in (overrides or {}).items():
        values[k] = v if isinstance(v, str) else json.dumps(v)
    return spec_mod.load(values, project=cfg.project, stack=stack)


def load_placed(stack: str, overrides: dict | None = None):
    """(spec, placement) of a stack: validated, then sized and placed (infra/placement.py), as the program does."""
    spec = load_spec(stack, overrides)
    return spec, place(spec)


def stack_value(stack: str, key: str):
    """A decoded config value of an example stack (to modify it in a test)."""
    return json.loads(stackconfig.load(stack).values[key])


@pytest.fixture(scope="session")
def runs():
    """stack -> (StackConfig, MockRun, StackSpec)."""
    out = {}
    for s in STACKS:
        cfg, run = run_stack(s)
        assert run.error is None, f"{s}: {run.error!r}"
        out[s] = (cfg, run, load_spec(s))
    return out
