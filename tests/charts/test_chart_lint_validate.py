"""`helm lint --strict` and `kubernetes-validate --strict` on every ci/ values file.

kubernetes-validate checks each rendered object against the official OpenAPI
schemas of a Kubernetes release, rejecting unknown fields (strict). It has no
schemas for custom resources: LeaderWorkerSet, ServiceMonitor, PodMonitor and KEDA's
ScaledObject are reported as skipped ("Couldn't find schema"), and the test says
so explicitly. The pod templates inside a LeaderWorkerSet are still validated, by
wrapping each in a core/v1 PodTemplate.
"""

from __future__ import annotations

import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from chartkit import CHART, VALUES_FILES
from kubernetes_validate.utils import SchemaNotFoundError

# 1.34: the oldest release this check pins (features used: sleep preStop, minDomains,
# matchLabelKeys); 1.37: the newest schemas the pinned kubernetes-validate ships.
KUBE_VERSIONS = ["1.34.0", "1.37.0"]
CRD_KINDS = {"LeaderWorkerSet", "ServiceMonitor", "PodMonitor", "ScaledObject"}


@pytest.mark.parametrize("values", [None, *VALUES_FILES])
def test_helm_lint_strict(helm, values):
    cmd = [helm, "lint", "--strict", str(CHART)]
    if values:
        cmd += ["-f", str(VALUES_FILES[values])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, proc.stdout


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", list(VALUES_FILES))
def test_kubernetes_validate_strict(render, tmp_path, values, kube_version):
    rendered = render(values)
    manifest = tmp_path / f"{values}.yaml"
    manifest.write_text(rendered.text)
    proc = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", kube_version, str(manifest)],
        capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "ERROR" not in out and "FATAL" not in out, out

    # Every built-in object passed; only custom resources were skipped.
    passed = out.count(" passed for resource ")
    builtin = [o for o in rendered.objects if o["kind"] not in CRD_KINDS]
    assert passed == len(builtin), out
    skipped = {o["kind"] for o in rendered.objects if o["kind"] in CRD_KINDS}
    for kind in skipped:
        assert f"Couldn't find schema for kind {kind}" in out, out


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_leaderworkerset_pod_templates_validate_as_core_pod_templates(render, kube_version):
    rendered = render("multinode")
    lws = rendered.one("LeaderWorkerSet")
    with pytest.raises(SchemaNotFoundError):  # the CRD itself is not in the schemas
        kubernetes_validate.validate(lws, kube_version, strict=True)
    for role, template in zip(("leader", "worker"), rendered.pod_templates(), strict=True):
        wrapper = {"apiVersion": "v1", "kind": "PodTemplate",
                   "metadata": {"name": f"{lws['metadata']['name']}-{role}"}, "template": template}
        kubernetes_validate.validate(wrapper, kube_version, strict=True)


def test_leaderworkerset_required_fields(render):
    """The LWS v1 fields the controller requires (the CRD schema is not available offline)."""
    spec = render("multinode").one("LeaderWorkerSet")["spec"]
    assert isinstance(spec["replicas"], int)
    lwt = spec["leaderWorkerTemplate"]
    assert isinstance(lwt["size"], int) and lwt["size"] >= 2
    assert lwt["restartPolicy"] in ("RecreateGroupOnPodRestart", "None")
    assert spec["startupPolicy"] in ("LeaderCreated", "LeaderReady")
    assert spec["rolloutStrategy"]["type"] == "RollingUpdate"
    for t in (lwt["leaderTemplate"], lwt["workerTemplate"]):
        assert t["spec"]["containers"]


def test_rendered_documents_are_plain_yaml(render):
    for values in VALUES_FILES:
        text = render(values).text
        for doc in yaml.safe_load_all(text):
            if doc:
                assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
