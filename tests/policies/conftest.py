"""Shared fixtures: the pack started once per test session, the two ways the CLI path allows."""

from __future__ import annotations

import pytest

from policies import runner


@pytest.fixture(scope="session")
def cli_pack():
    """The pack as the Pulumi CLI starts it: `python -u -m pulumi.policy <engine> .` in policies/, over gRPC."""
    with runner.Session("subprocess", stack="test") as s:
        yield s


@pytest.fixture(scope="session")
def pack():
    """The SDK's analyzer servicer with the same policies, in-process behind a loopback gRPC port."""
    with runner.Session("inprocess", stack="test") as s:
        yield s
