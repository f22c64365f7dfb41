"""Resources as the policy pack sees them: normalised, with unknown-during-preview values kept visible.

Generic reading of what a preview registers (no pricing): resource dicts or `PolicyResource`s ->
`Res`; path lookups that raise `Unknown` on the engine's unknown sentinels; the pod templates of any
pod-running kind; container command lines as vLLM parses them; Kubernetes scheduling (node
selectors, required node affinity, taints and tolerations) against node labels.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
)

from cost.errors import InputError

POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "LeaderWorkerSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
ZONE_KEY = "topology.kubernetes.io/zone"
UNKNOWNS = frozenset({UNKNOWN_BOOLEAN_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, UNKNOWN_ARRAY_VALUE,
                      UNKNOWN_ASSET_VALUE, UNKNOWN_ARCHIVE_VALUE, UNKNOWN_OBJECT_VALUE})


class Unknown(Exception):
    """A value the preview cannot know yet (an output of a resource not created)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in UNKNOWNS


@dataclass
class Res:
    """One resource as the pack sees it: type token, name, URN and plain properties.

    Unknown values stay in `props` as the engine's sentinels; `get` raises `Unknown` on them.
    deps: property name -> URNs of the resources the property's value came from.
    """

    type: str
    name: str
    urn: str
    props: dict
    parent: str = ""
    deps: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        if self.type.startswith("kubernetes:"):
            kind = self.props.get("kind")
            return kind if isinstance(kind, str) and not is_unknown(kind) else self.type.rsplit(":", 1)[-1]
        return self.type.rsplit(":", 1)[-1]


def plain(value: Any) -> Any:
    """Unwrap the policy SDK's unknown-checking proxies into dicts and lists (sentinels kept)."""
    if type(value).__name__ in ("_DictProxy", "_ListProxy"):
        value = value["__target"]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def get(obj: Any, *path: Any, default: Any = None, where: str = "") -> Any:
    """obj[path...], `default` when absent; raises Unknown when a step is unknown during preview."""
    cur = obj
    walked = [where] if where else []
    for step in path:
        if is_unknown(cur):
            raise Unknown(".".join(walked))
        if isinstance(step, int):
            if not isinstance(cur, list) or step >= len(cur):
                return default
        elif not isinstance(cur, Mapping) or step not in cur:
            return default
        cur = cur[step]
        walked.append(str(step))
    if is_unknown(cur):
        raise Unknown(".".join(walked))
    return default if cur is None else cur


def make_urn(type_: str, name: str, stack: str = "stack", project: str = "breakeven") -> str:
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def normalize(resources: Sequence[Any], stack: str = "stack", project: str = "breakeven") -> list[Res]:
    """Resource dicts (the offline preview's plan) or PolicyResources -> `Res`."""
    out = []
    for r in resources:
        if isinstance(r, Res):
            out.append(r)
        elif isinstance(r, Mapping):
            type_, name = str(r.get("type", "")), str(r.get("name", ""))
            props = r.get("inputs", r.get("props", r.get("properties"))) or {}
            deps = r.get("propertyDependencies") or r.get("property_dependencies") or {}
            out.append(Res(type_, name, str(r.get("urn") or make_urn(type_, name, stack, project)), plain(props),
                           str(r.get("parent") or ""), {k: list(v) for k, v in dict(deps).items()}))
        else:  # pulumi_policy.PolicyResource
            deps = {k: [d.urn for d in v] for k, v in (getattr(r, "property_dependencies", None) or {}).items()}
            parent = getattr(r, "parent", None)
            out.append(Res(r.resource_type, r.name, r.urn, plain(r.props), parent.urn if parent is not None else "", deps))
    return out


def fingerprint(resources: list[Res]) -> str:
    doc = [(r.type, r.urn, r.props, r.deps) for r in resources]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def stack_name(resources: list[Res]) -> str:
    """The stack the engine is previewing: the stack segment of the resources' URNs, else PULUMI_STACK."""
    names = {r.urn.split("::")[0].split(":")[-1] for r in resources if r.urn.startswith("urn:pulumi:")}
    if len(names) == 1:
        return names.pop()
    return os.environ.get("PULUMI_STACK", "")


def whole(value: Any, what: str) -> int:
    """A whole number read from a resource; an unknown raises Unknown, anything else unreadable InputError."""
    if is_unknown(value):
        raise Unknown(what)
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(what, value, "a whole number") from None
    if isinstance(value, bool) or not math.isfinite(f) or f != int(f) or f < 0:
        raise InputError(what, value, "a whole number")
    return int(f)


def pod_templates(r: Res) -> list[tuple[str, Mapping[str, Any]]]:
    """(path, pod template) pairs of a Kubernetes object that runs pods."""
    spec = r.props.get("spec")
    if not isinstance(spec, Mapping):
        return []
    if r.kind == "Pod":
        return [("spec", {"metadata": r.props.get("metadata") or {}, "spec": spec})]
    if r.kind == "CronJob":
        t = get(spec, "jobTemplate", "spec", "template", default=None)
        return [("spec.jobTemplate.spec.template", t)] if isinstance(t, Mapping) else []
    if r.kind == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        return [(f"spec.leaderWorkerTemplate.{k}", lwt[k]) for k in ("leaderTemplate", "workerTemplate")
                if isinstance(lwt.get(k), Mapping)]
    t = spec.get("template")
    return [("spec.template", t)] if isinstance(t, Mapping) else []


def arg_value(args: list[str], flag: str) -> str | None:
    """The value of a vLLM flag as vLLM parses it (`--flag v`, `--flag=v`, underscores as dashes; the
    last occurrence wins, as in argparse)."""
    norm = flag.replace("_", "-")
    value = None
    for i, a in enumerate(args):
        name, eq, inline = a.partition("=")
        if name.replace("_", "-") == norm:
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else None)
    return value


def switch(args: list[str], flag: str, *aliases: str) -> bool | None:
    """A vLLM on/off flag as vLLM parses it: `--flag` (or an alias such as `-ep`) turns it on, `--no-flag`
    off, the last occurrence wins; None when it is not given. A shortened spelling argparse would also
    accept (`--enable-expert`) raises InputError: the pack reads flags written in full."""
    on = {flag, *aliases}
    off = "--no-" + flag[2:]
    state = None
    for a in args:
        name = a.partition("=")[0].replace("_", "-") if a.startswith("--") else a.partition("=")[0]
        if name in on:
            state = True
        elif name == off:
            state = False
        elif name.startswith("--") and len(name) > 4 and name != flag and (flag.startswith(name) or off.startswith(name)):
            raise InputError(name, a, f"{flag} or {off} written in full")
    return state


def container_args(pod_spec: Mapping) -> list[str]:
    """The server's command line: every string of the containers' command and args, split on spaces."""
    return [part for c in pod_spec.get("containers") or [] if isinstance(c, Mapping)
            for key in ("command", "args") for a in c.get(key) or [] if isinstance(a, str) for part in a.split()]


def tolerates(pod_spec: Mapping, taint: Mapping) -> bool:
    effect = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}.get(
        str(taint.get("effect")), str(taint.get("effect")))
    if effect == "PreferNoSchedule":
        return True
    for t in pod_spec.get("tolerations") or []:
        if t.get("effect") not in (None, "", effect):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and str(t.get("value", "")) == str(taint.get("value", "")):
            return True
    return False


def selects(pod_spec: Mapping, labels: Mapping) -> bool:
    """nodeSelector and required node affinity (In / NotIn / Exists / DoesNotExist) against node labels."""
    if any(str(labels.get(k)) != str(v) for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    terms = get(pod_spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                "nodeSelectorTerms", default=[])
    if not terms:
        return True
    ops = {"In": lambda have, vals: have is not None and str(have) in vals,
           "NotIn": lambda have, vals: have is None or str(have) not in vals,
           "Exists": lambda have, vals: have is not None, "DoesNotExist": lambda have, vals: have is None}
    return any(all(ops.get(e.get("operator"), lambda h, v: False)(labels.get(e.get("key")),
                                                                  [str(x) for x in e.get("values") or []])
                   for e in term.get("matchExpressions") or []) for term in terms)


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Kinds that run no pods of their own (or whose pods the pack reads through POD_TEMPLATE_KINDS).
PODLESS_KINDS = frozenset({"Service", "ConfigMap", "Secret", "PodDisruptionBudget", "ServiceAccount", "Namespace",
                           "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding", "HorizontalPodAutoscaler",
                           "Ingress", "NetworkPolicy", "PersistentVolumeClaim", "StorageClass", "ServiceMonitor",
                           "PodMonitor", "PriorityClass", "LimitRange", "ResourceQuota", "CustomResourceDefinition",
                           "NodePool", "Provisioner", "EC2NodeClass", "NodeClaim", "EndpointSlice", "Endpoints"})


def _mentions_gpu(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(k == "nvidia.com/gpu" or _mentions_gpu(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions_gpu(v) for v in value)
    return False


def opaque_workload(r: Res) -> str | None:
    """Why the pack cannot look into a workload that may run GPU pods, or None: an unexpanded Helm release (its
    objects are never shown), an object of an unknown kind that requests nvidia.com/gpu (an operator's CRD with its
    own pod template), or a Kubernetes object whose kind is unknown during preview."""
    if r.type == HELM_RELEASE:
        return ("a helm.sh/v3 Release renders its chart inside the provider, so the pack never sees its objects "
                "(use helm.sh/v4 Chart, whose objects are registered and priced)")
    if not r.type.startswith("kubernetes:"):
        return None
    if is_unknown(r.props.get("kind")) or is_unknown(r.props.get("spec")):
        return "its kind or spec is unknown during preview"
    if r.kind in POD_TEMPLATE_KINDS or r.kind in PODLESS_KINDS:
        return None
    if _mentions_gpu(r.props.get("spec")):
        return (f"a {r.kind} requests nvidia.com/gpu through a pod template the pack cannot read (an operator's "
                "custom resource): its GPUs cannot be priced")
    return None


def _config_flag(args: list[str]) -> str | None:
    path = None
    for i, a in enumerate(args):
        name, eq, inline = a.partition("=")
        if name == "--config":
            path = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
    return path


def config_file_args(pod_spec: Mapping, configmaps: Mapping[tuple[str, str], Res], namespace: str) -> list[str]:
    """The engine arguments of a vLLM `--config` YAML file, flattened as vLLM flattens them (`key: v` -> `--key v`,
    `true` -> `--key`, `false` -> `--no-key`, lists and mappings as vLLM passes them), read from the ConfigMap
    mounted at the file's path. [] without --config. InputError (Unknown during preview) when the file cannot be
    read from the stack's resources: the pack reads every engine argument or fails."""
    args = container_args(pod_spec)
    path = _config_flag(args)
    if path is None:
        return []
    what = f"--config {path}"
    for c in pod_spec.get("containers") or []:
        for mount in c.get("volumeMounts") or [] if isinstance(c, Mapping) else []:
            root = str(mount.get("mountPath") or "").rstrip("/")
            sub = mount.get("subPath")
            if sub and path == root:
                key = str(sub)
            elif not sub and root and path.startswith(root + "/"):
                key = path[len(root) + 1:]
            else:
                continue
            volume = next((v for v in pod_spec.get("volumes") or [] if v.get("name") == mount.get("name")), None)
            cm = (volume or {}).get("configMap")
            if not isinstance(cm, Mapping):
                raise InputError(what, path, "a file mounted from a ConfigMap of this stack",
                                 f"volume {mount.get('name')} is not a ConfigMap, so the pack cannot read the engine arguments")
            for item in cm.get("items") or []:
                if item.get("path") == key:
                    key = str(item.get("key"))
            res = configmaps.get((namespace, str(cm.get("name"))))
            if res is None:
                raise InputError(what, cm.get("name"), "a ConfigMap among the stack's resources",
                                 "the pack cannot read the engine arguments in a file it is not shown")
            text = get(res.props, "data", key, where=f"ConfigMap {cm.get('name')}.data")
            try:
                doc = yaml.safe_load(text) if isinstance(text, str) else None
            except yaml.YAMLError as e:
                raise InputError(what, key, "a YAML mapping of vLLM arguments", str(e)) from None
            if not isinstance(doc, Mapping):
                raise InputError(what, text, "a YAML mapping of vLLM arguments")
            out: list[str] = []
            for k, v in doc.items():
                if isinstance(v, bool):
                    out.append(f"--{k}" if v else f"--no-{k}")
                elif isinstance(v, list):
                    out += [f"--{k}", *(str(x) for x in v)] if v else []
                elif isinstance(v, Mapping):
                    out += [f"--{k}", json.dumps(v)]
                else:
                    out += [f"--{k}", str(v)]
            return out
    raise InputError(what, path, "a file mounted from a ConfigMap of this stack",
                     "no volume mount of the server's containers holds it, so the pack cannot read its engine arguments")


def engine_args(pod_spec: Mapping, configmaps: Mapping[tuple[str, str], Res], namespace: str) -> list[str]:
    """The server's engine arguments wherever vLLM reads them: the `--config` file's first, then the command line
    (vLLM inserts the file's arguments before the command line's, so the command line wins)."""
    return config_file_args(pod_spec, configmaps, namespace) + container_args(pod_spec)
