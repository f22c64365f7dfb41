"""Fixtures for the charts/vllm tests.

Everything here drives the real `helm` binary (v4, installed by
scripts/install-helm.sh into .tools/bin; one on PATH is preferred) and parses what it
prints; nothing is mocked. `helm template` needs no cluster.
"""

from __future__ import annotations

from typing import Any

import pytest
from chartkit import VALUES_FILES, HelmError, find_helm, helm_scalar, in_ci, renderer, template_cached


@pytest.fixture(scope="session")
def helm() -> str:
    path = find_helm()
    if path is None:
        msg = "helm 4 not found on PATH or in .tools/bin (run: bash scripts/install-helm.sh)"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def render(helm):
    """render(values='prod', set={...}, set_string={...}) -> Rendered (cached)."""
    return renderer(helm)


@pytest.fixture(scope="session")
def render_error(helm):
    """render_error(...) -> stderr of a `helm template` that must fail."""

    def _render_error(values: str | None = None, set: dict[str, Any] | None = None,
                      set_string: dict[str, str] | None = None) -> str:
        files = () if values is None else (str(VALUES_FILES.get(values, values)),)
        sets = tuple(sorted((k, helm_scalar(v)) for k, v in (set or {}).items()))
        string_sets = tuple(sorted((set_string or {}).items()))
        try:
            out = template_cached(helm, files, sets, string_sets)
        except HelmError as e:
            return e.stderr
        raise AssertionError(f"helm template succeeded but should have failed:\n{out[:2000]}")

    return _render_error


