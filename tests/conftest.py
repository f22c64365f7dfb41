"""Markers for tests that need a real component beyond the venv (declared in pyproject.toml).

`make check` runs `-m "not helm and not vllm and not nginx"`; `make test` runs everything. A test is
marked here when it asks for a fixture that starts the component, and by hand (`@pytest.mark.helm`,
module `pytestmark`) when its body runs it, e.g. the offline preview, which renders every chart with helm.
"""

from __future__ import annotations

import pytest

# fixture -> the markers of what it starts (tests/charts/conftest.py, tests/measure/conftest.py,
# tests/test_bad_inputs.py)
FIXTURE_MARKERS: dict[str, tuple[str, ...]] = {
    "helm": ("helm",),
    "helm_bin": ("helm",),
    "render": ("helm",),
    "render_error": ("helm",),
    "vllm_server": ("helm", "vllm"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())  # the closure: fixtures used through other fixtures count
        for marker in sorted({m for f in names for m in FIXTURE_MARKERS.get(f, ())}):
            item.add_marker(marker)
