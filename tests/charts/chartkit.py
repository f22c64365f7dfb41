"""Helpers for the charts/vllm tests: run the real helm binary, parse what it prints.

Imported by conftest.py and the test modules (a uniquely named module, so it never
collides with other test folders' conftest modules).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "vllm"
CI_VALUES = CHART / "ci"
RELEASE = "rel"
NAMESPACE = "inference"
# Kubernetes version the manifests are rendered for and validated against.
KUBE_VERSION = "1.34.0"

VALUES_FILES = {
    "dev": CI_VALUES / "dev-values.yaml",
    "prod": CI_VALUES / "prod-values.yaml",
    "multinode": CI_VALUES / "multinode-values.yaml",
    "cpu": CI_VALUES / "cpu-values.yaml",
}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def helm_major(path: str) -> int | None:
    try:
        out = subprocess.run([path, "version", "--short"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if out.startswith("v") and out[1:2].isdigit():
        return int(out[1:].split(".", 1)[0])
    return None


def find_helm() -> str | None:
    """helm v4 on PATH, else the repo's own .tools/bin/helm (installed by scripts/install-helm.sh).

    The tests assert on helm 4's messages (its JSON-schema validator), so a helm 3
    on PATH is passed over."""
    candidates = [shutil.which("helm"), str(REPO / ".tools" / "bin" / "helm")]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK) and helm_major(path) == 4:
            return path
    return None


class HelmError(Exception):
    def __init__(self, cmd: list[str], returncode: int, stderr: str):
        super().__init__(f"{' '.join(cmd)} exited {returncode}:\n{stderr}")
        self.returncode = returncode
        self.stderr = stderr


def _set_args(sets: Iterable[tuple[str, str]], flag: str) -> list[str]:
    out: list[str] = []
    for key, value in sets:
        out += [flag, f"{key}={value}"]
    return out


@functools.lru_cache(maxsize=256)
def template_cached(helm_bin: str, files: tuple[str, ...], sets: tuple[tuple[str, str], ...],
              string_sets: tuple[tuple[str, str], ...]) -> str:
    cmd = [helm_bin, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
           "--kube-version", KUBE_VERSION]
    for f in files:
        cmd += ["-f", f]
    cmd += _set_args(sets, "--set-json") + _set_args(string_sets, "--set-string")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise HelmError(cmd, proc.returncode, proc.stderr)
    return proc.stdout


class Rendered:
    """The objects of one `helm template` run, with lookups by kind."""

    def __init__(self, text: str):
        self.text = text
        self.objects: list[dict[str, Any]] = [d for d in yaml.safe_load_all(text) if d]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}: {[o['metadata']['name'] for o in found]}"
        return found[0]

    def kinds(self) -> list[str]:
        return sorted(o["kind"] for o in self.objects)

    @property
    def workload(self) -> dict[str, Any]:
        found = self.of_kind("Deployment") + self.of_kind("LeaderWorkerSet")
        assert len(found) == 1, f"expected one workload, got {[o['kind'] for o in found]}"
        return found[0]

    def pod_templates(self) -> list[dict[str, Any]]:
        """Pod templates of the workload: one for a Deployment, leader + worker for a LWS."""
        w = self.workload
        if w["kind"] == "Deployment":
            return [w["spec"]["template"]]
        lwt = w["spec"]["leaderWorkerTemplate"]
        return [lwt["leaderTemplate"], lwt["workerTemplate"]]

    def serving_template(self) -> dict[str, Any]:
        return self.pod_templates()[0]

    @staticmethod
    def container(template: dict[str, Any], name: str = "vllm") -> dict[str, Any]:
        for c in template["spec"]["containers"]:
            if c["name"] == name:
                return c
        raise AssertionError(f"no container {name!r}")


def helm_scalar(v: Any) -> str:
    """A Python value as JSON for `--set-json`, so numbers stay numbers.

    (`--set key=0.5` would hand the chart the *string* "0.5"; Pulumi and values
    files hand it a number.)"""
    return json.dumps(v)


def renderer(helm_bin: str):
    """render(values='prod', set={...}, set_string={...}) -> Rendered (cached), for one helm binary."""

    def _render(values: str | Iterable[str] | None = None, set: dict[str, Any] | None = None,
                set_string: dict[str, str] | None = None) -> Rendered:
        names = [] if values is None else ([values] if isinstance(values, str) else list(values))
        files = tuple(str(VALUES_FILES.get(n, n)) for n in names)
        sets = tuple(sorted((k, helm_scalar(v)) for k, v in (set or {}).items()))
        string_sets = tuple(sorted((set_string or {}).items()))
        return Rendered(template_cached(helm_bin, files, sets, string_sets))

    return _render
