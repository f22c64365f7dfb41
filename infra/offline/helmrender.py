"""Render a `kubernetes.helm.v4.Chart` with the real helm binary, as the Kubernetes provider would.

The provider renders a v4 Chart like `helm template` (client-side, with the cluster's Kubernetes
version) and registers each object as a Pulumi resource named `<chart resource>:<namespace>/<name>`
(cluster-scoped objects: `<chart resource>:<name>`), typed `kubernetes:<group>/<version>:<Kind>`.
Test hooks (`helm.sh/hook: test...`) are never deployed and are dropped here too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.config.stackconfig import ROOT

# libyaml's safe loader where PyYAML was built with it (the same documents, parsed in C: several times faster on the
# charts' manifests); PyYAML's pure-Python one otherwise
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class HelmNotFound(RuntimeError):
    pass


class HelmFailed(RuntimeError):
    pass


def helm_binary(root: Path = ROOT) -> str:
    """The pinned helm in .tools/bin (scripts/install-helm.sh), else helm on PATH."""
    pinned = root / ".tools" / "bin" / "helm"
    if pinned.is_file() and os.access(pinned, os.X_OK):
        return str(pinned)
    found = shutil.which("helm")
    if found:
        return found
    raise HelmNotFound("helm is not installed: run `bash scripts/install-helm.sh` (installs .tools/bin/helm) "
                       "or put helm v3/v4 on PATH")


@dataclass
class Rendered:
    chart_resource: str       # the Chart's Pulumi resource name
    release: str
    namespace: str
    text: str                 # the manifests as helm printed them
    objects: list[dict]


def resource_type(obj: dict) -> str:
    """`apps/v1` + `Deployment` -> `kubernetes:apps/v1:Deployment`; core `v1` -> `kubernetes:core/v1:...`."""
    api = obj.get("apiVersion", "")
    group, _, version = api.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{obj.get('kind', '')}"


def resource_name(chart_resource: str, obj: dict, namespace: str) -> str:
    meta = obj.get("metadata") or {}
    cluster_scoped = obj.get("kind") in {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass",
                                         "CustomResourceDefinition", "StorageClass", "PersistentVolume"}
    name = meta.get("name", "")
    return f"{chart_resource}:{name}" if cluster_scoped else f"{chart_resource}:{meta.get('namespace') or namespace}/{name}"


def render(chart_resource: str, chart: str, release: str, namespace: str, values: dict, kube_version: str,
           root: Path = ROOT) -> Rendered:
    """`helm template` one chart with these values; returns the objects (test hooks dropped)."""
    helm = helm_binary(root)
    chart_dir = (root / chart).resolve() if not Path(chart).is_absolute() else Path(chart)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="breakeven-values-", delete=False) as fh:
        json.dump(values, fh)
        values_file = fh.name
    try:
        proc = subprocess.run(
            [helm, "template", release, str(chart_dir), "--namespace", namespace, "--kube-version", kube_version,
             "--values", values_file],
            capture_output=True, text=True, timeout=60,
        )
    finally:
        os.unlink(values_file)
    if proc.returncode != 0:
        raise HelmFailed(f"helm template {release} {chart} failed: {proc.stderr.strip()}")
    objects = []
    for doc in yaml.load_all(proc.stdout, Loader=_SAFE_LOADER):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        hook = ((doc.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
        if hook.startswith("test"):
            continue
        objects.append(doc)
    return Rendered(chart_resource, release, namespace, proc.stdout, objects)


def render_all(jobs: list[dict], kube_version: str, root: Path = ROOT) -> list[Rendered]:
    """Render several charts in parallel (each is a helm process)."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(4, len(jobs))) as pool:
        futures = [pool.submit(render, j["resource"], j["chart"], j["release"], j["namespace"], j["values"], kube_version, root)
                   for j in jobs]
        return [f.result() for f in futures]
