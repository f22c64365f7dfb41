"""`breakeven preview`: the stack's planned resources and cost report, offline.

Loads Pulumi.yaml defaults and stacks/Pulumi.<stack>.yaml (placeholders for the secrets it sets), runs the real
program (`infra.program.main`) under the Pulumi SDK's mock engine, renders every Helm chart the
program declares with the real helm binary and the same values (as the Kubernetes provider would),
and prints the resources followed by the cost report.

What it does not do: talk to AWS or Kubernetes (no credentials, no refresh, no diff against state),
run provider-side validation (AWS API checks, Kubernetes admission), or decrypt `secure:` values.
"""

from __future__ import annotations

import gc
import importlib
import json
import pkgutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cost.errors import InputError
from infra.config import stackconfig
from infra.config.stackconfig import ROOT

if TYPE_CHECKING:
    from infra.config.spec import StackSpec
    from infra.placement import Placement

FORMATS = ("table", "json", "markdown")
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"


@dataclass
class Plan:
    """Everything the preview knows about a stack.

    resources: every registered resource as {type, name, inputs, parent?}, in registration order,
      followed (after each chart) by the chart's helm-rendered Kubernetes objects, registered the
      way the Kubernetes provider registers them: type `kubernetes:<group>/<version>:<Kind>`,
      name `<chart>:<namespace>/<name>`, inputs = the manifest, parent = the chart.
    cost: the program's exported `cost` (cost.report_model.fleet_document).
    outputs: every stack output (secret outputs shown as "[secret]").
    placement: the validated spec and its models as placed (infra/placement.py; `spec` reads it); manifests: chart
      resource name -> helm's rendered text, in resource order (not in the order the parallel helm runs finish, so
      that the JSON is the same on every run).
    logs: (severity, message) the program logged; timings: seconds per phase.
    """

    stack: str
    project: str
    resources: list[dict]
    cost: dict
    outputs: dict
    placement: Placement
    manifests: dict[str, str]
    logs: list[tuple[str, str]]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def spec(self) -> StackSpec:
        """The validated spec (the placement holds it)."""
        return self.placement.spec

    @property
    def report(self) -> str:
        """The cost report the program logged (pulumi.log.info)."""
        return next((m for s, m in self.logs if s == "info" and m.startswith("breakeven cost report")), "")

    @property
    def blockers(self) -> list[dict]:
        """What a real `pulumi up` would fail on or not serve ({key, message}; infra/config/blockers.py)."""
        return list(self.outputs.get("blockers") or [])

    def of_type(self, type_: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == type_]

    def to_dict(self) -> dict:
        return {
            "stack": self.stack, "project": self.project, "offline": True,
            "blockers": self.blockers, "resources": self.resources, "cost": self.cost,
            "outputs": {k: v for k, v in self.outputs.items() if k != "cost"},
            "spec": self.placement.to_dict(),
            "manifests": self.manifests,
            "logs": [{"severity": s, "message": m} for s, m in self.logs],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


class PreviewError(RuntimeError):
    """The program failed for a reason other than a bad config value."""


def plan(stack: str, *, root: Path = ROOT, secrets: dict[str, str] | None = None,
         overrides: dict[str, object] | None = None) -> Plan:
    """Run the stack's program offline. Raises InputError (a bad config value; nothing registered),
    helmrender.HelmNotFound / HelmFailed, or PreviewError.

    secrets: values to use instead of the random placeholders (`breakeven:hfToken` -> value).
    overrides: config values to replace (`breakeven:models` -> a list, as it would read in YAML),
      to preview a variant of an example stack.
    """
    t0 = time.perf_counter()
    cfg = stackconfig.load(stack, root, secrets)
    if overrides:
        cfg = cfg.with_values(overrides)
    t_cfg = time.perf_counter()

    prog = import_program()
    from infra.config import spec as spec_mod
    from infra.offline import helmrender, mocks
    from infra.placement import place

    t_imp = time.perf_counter()
    region = cfg.values.get("aws:region", "us-east-1")
    run = mocks.run(prog.main, cfg.values, list(cfg.secret_keys), project=cfg.project, stack=stack, region=region)
    t_run = time.perf_counter()
    if run.error is not None:
        if isinstance(run.error, InputError):
            if run.resources:  # the contract: a bad value registers nothing
                raise PreviewError(f"{run.error} (but {len(run.resources)} resources were registered first)") from run.error
            raise run.error
        raise PreviewError(f"the program failed: {type(run.error).__name__}: {run.error}") from run.error
    spec = spec_mod.load({k: ("[secret]" if k in cfg.secret_keys else v) for k, v in cfg.values.items()},
                         project=cfg.project, stack=stack)
    placement = place(spec, spec_mod.price_book(spec))

    # Charts fetched from a registry (the pinned LeaderWorkerSet controller, oci://..., a repo chart) cannot be pulled
    # offline: they stay one Chart resource with its chart reference and version; the project's own
    # charts are rendered with helm.
    charts = [r for r in run.resources if r.type == CHART_TYPE and "://" not in str(r.inputs.get("chart", ""))
              and not r.inputs.get("repositoryOpts")]
    jobs = [{"resource": r.name, "chart": r.inputs["chart"], "release": r.inputs.get("name", r.name),
             "namespace": r.inputs.get("namespace", "default"), "values": r.inputs.get("values", {})} for r in charts]
    rendered = {x.chart_resource: x for x in helmrender.render_all(jobs, spec.cluster.kubernetes_version, root)}
    t_helm = time.perf_counter()

    resources: list[dict] = []
    ordered = tree_order(run.resources)
    for r in ordered:
        resources.append(r.to_dict() | {"urn": r.urn})
        if r.name in rendered:
            out = rendered[r.name]
            for obj in out.objects:
                resources.append({"type": helmrender.resource_type(obj), "name": helmrender.resource_name(r.name, obj, out.namespace),
                                  "inputs": obj, "parent": r.urn})
    timings = {"config": t_cfg - t0, "imports": t_imp - t_cfg, "program": t_run - t_imp, "helm": t_helm - t_run,
               "total": time.perf_counter() - t0}
    return Plan(stack, cfg.project, resources, run.outputs.get("cost", {}), run.outputs, placement,
                {r.name: rendered[r.name].text for r in ordered if r.name in rendered}, run.logs, timings)


def import_program() -> ModuleType:
    """The program, imported with every component module (and so the provider SDKs they use) the first time.

    The cyclic garbage collector is paused while they import, and what they made (modules, classes, functions,
    alive for the whole process) is then moved out of its reach with `gc.freeze()`: otherwise each of the ~5 full
    collections in a preview walks the SDKs' ~230,000 objects again (~85 ms each), and so does the interpreter's
    exit (~0.9 s of process time; docs/performance.md)."""
    if "infra.program" in sys.modules:
        return sys.modules["infra.program"]
    enabled = gc.isenabled()
    gc.disable()
    try:
        from infra import components, program

        for module in pkgutil.iter_modules(components.__path__):
            importlib.import_module(f"{components.__name__}.{module.name}")
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    return program


_ROOT_RANK = ("pulumi:providers:", "breakeven:network:", "breakeven:cluster:", "breakeven:nodepools:", "breakeven:serving:")


def tree_order(registered: list) -> list:
    """Resources in a stable order (registration order varies with async scheduling): each component
    followed by its children; top-level resources by concern (providers, network, cluster, GPU pools,
    serving), siblings by type then name."""
    children: dict[str | None, list] = {}
    urns = {r.urn for r in registered}
    for r in registered:
        children.setdefault(r.parent if r.parent in urns else None, []).append(r)

    def rank(r) -> tuple:
        top = next((i for i, prefix in enumerate(_ROOT_RANK) if r.type.startswith(prefix)), len(_ROOT_RANK))
        return (top, r.type, r.name)

    out: list = []

    def walk(parent: str | None) -> None:
        for r in sorted(children.get(parent, []), key=rank):
            out.append(r)
            walk(r.urn)

    walk(None)
    return out


# ---------------------------------------------------------------------------------------------
# Presentation
# ---------------------------------------------------------------------------------------------

def _gpu_requests(pod_spec: dict) -> int:
    total = 0
    for c in pod_spec.get("containers", []):
        res = c.get("resources") or {}
        for part in ("limits", "requests"):
            if "nvidia.com/gpu" in (res.get(part) or {}):
                total += int(res[part]["nvidia.com/gpu"])
                break
    return total


def key_inputs(r: dict) -> str:
    """The few inputs that matter for cost and capacity, per resource type."""
    t, i = r["type"], r.get("inputs") or {}
    if t == "aws:eks/nodeGroup:NodeGroup":
        sc = i.get("scalingConfig", {})
        taints = ",".join(f"{x['key']}={x.get('value', '')}:{x['effect']}" for x in i.get("taints", []))
        pool = (i.get("labels") or {}).get("breakeven.dev/gpu-pool") or (i.get("labels") or {}).get("breakeven.dev/pool", "")
        return (f"{','.join(i.get('instanceTypes', []))} x{sc.get('desiredSize')} (min {sc.get('minSize')}, max {sc.get('maxSize')}) "
                f"{i.get('capacityType', '')} {i.get('amiType', '')} disk {i.get('diskSize', '')}GiB"
                + (f" taint {taints}" if taints else "") + (f" pool={pool}" if pool else ""))
    if t == "aws:eks/cluster:Cluster":
        vc = i.get("vpcConfig", {})
        enc = "secrets->KMS" if i.get("encryptionConfig") else "no encryption"
        return (f"k8s {i.get('version')} public={vc.get('endpointPublicAccess')} {','.join(vc.get('publicAccessCidrs') or [])} "
                f"private={vc.get('endpointPrivateAccess')} {enc}")
    if t == "aws:ec2/vpc:Vpc":
        return i.get("cidrBlock", "")
    if t == "aws:ec2/subnet:Subnet":
        return f"{i.get('availabilityZone', '')} {i.get('cidrBlock', '')}"
    if t == "aws:eks/addon:Addon":
        return i.get("addonName", "")
    if t == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
        return i.get("policyArn", "").rsplit("/", 1)[-1]
    if t == CHART_TYPE:
        v = i.get("values", {})
        engine = v.get("engine", {})
        return (f"{i.get('chart')} release={i.get('name')} replicas={v.get('replicaCount')} model={v.get('model', {}).get('source')} "
                f"tp={v.get('parallelism', {}).get('tensor')}"
                + (f" kv-cache={engine['kvCacheDtype']}" if engine.get("kvCacheDtype", "auto") != "auto" else "")
                + (" expert-parallel" if engine.get("expertParallel") else "")
                + (f" api-servers={engine['apiServerCount']}" if engine.get("apiServerCount", 1) > 1 else ""))
    if t in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"):
        spec = i.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        gpus = _gpu_requests(pod)
        images = ",".join(c.get("image", "") for c in pod.get("containers", []))
        rep = "" if t.endswith("DaemonSet") else f"replicas={spec.get('replicas')} "
        sel = pod.get("nodeSelector") or {}
        return rep + (f"nvidia.com/gpu={gpus}/pod " if gpus else "") + images + (f" nodeSelector={sel}" if sel else "")
    if t == "kubernetes:core/v1:Secret":
        data = i.get("stringData", i.get("data"))
        keys = "[secret]" if not isinstance(data, dict) else ",".join(sorted(data))
        return f"type={i.get('type', '')} data={keys}"
    if t == "kubernetes:policy/v1:PodDisruptionBudget":
        s = i.get("spec", {})
        return " ".join(f"{k}={s[k]}" for k in ("minAvailable", "maxUnavailable") if k in s)
    if t == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
        s = i.get("spec", {})
        return f"min={s.get('minReplicas')} max={s.get('maxReplicas')}"
    return ""


def _name(r: dict) -> str:
    return r["name"]


def resources_grid(p: Plan, markdown: bool) -> str:
    """The planned resources: type, name and key inputs (in markdown, names as code and no `|` in the inputs)."""
    from cost.report import grid

    if markdown:
        return grid(["Type", "Name", "Key inputs"],
                    [[f"`{r['type']}`", f"`{_name(r)}`", key_inputs(r).replace("|", "/")] for r in p.resources], markdown)
    return grid(["TYPE", "NAME", "KEY INPUTS"], [[r["type"], _name(r), key_inputs(r)] for r in p.resources], markdown)


def render_table(p: Plan) -> str:
    """Resources, the cost report and warnings, for people."""
    heading = f"breakeven preview - stack {p.stack}"
    note = ("Offline: the real program ran under the Pulumi SDK mock engine and every chart was rendered with helm; "
            "nothing was created and no cloud API was called.")
    out = [heading, "=" * len(heading), note, "", f"Planned resources ({len(p.resources)})", "",
           resources_grid(p, markdown=False), "", p.report or "(no cost report logged)"]
    out += _blockers(p) + _warnings(p, markdown=False) + ["", _timings(p)]
    return "\n".join(out)


def _blockers(p: Plan) -> list[str]:
    """What the operator must set before a real `pulumi up` (the program refuses the stack until then)."""
    if not p.blockers:
        return []
    head = f"Blockers ({len(p.blockers)}): a real `pulumi up` refuses this stack until each is set"
    return ["", head + ":", ""] + [f"- {b['key']}: {b['message']}" for b in p.blockers]


def _warnings(p: Plan, markdown: bool) -> list[str]:
    warnings = [m for s, m in p.logs if s in ("warning", "error") and not m.startswith("breakeven: blocker:")]
    return (["", "**Warnings**" if markdown else "Warnings:", ""] + [f"- {w}" for w in warnings]) if warnings else []


def _timings(p: Plan) -> str:
    t = p.timings
    return (f"Preview took {t.get('total', 0):.2f} s (config {t.get('config', 0):.2f}, imports {t.get('imports', 0):.2f}, "
            f"program {t.get('program', 0):.2f}, helm {t.get('helm', 0):.2f}"
            + (f", policies {t['policies']:.2f}" if "policies" in t else "") + ").")


def markdown_details(p: Plan) -> str:
    """What the pull-request comment folds away: the cost report in full and every planned resource."""
    blockers = ([f"### Blockers ({len(p.blockers)}): a real `pulumi up` refuses this stack until each is set", ""]
                + [f"- `{b['key']}`: {b['message']}" for b in p.blockers] + [""]) if p.blockers else []
    out = [*blockers, "### Cost report", "", _markdown_cost(p), "", f"### Planned resources ({len(p.resources)})", "",
           "Offline: the real program ran under the Pulumi SDK mock engine and every chart was rendered with helm; "
           "nothing was created and no cloud API was called.", "", resources_grid(p, markdown=True)]
    out += _warnings(p, markdown=True)
    return "\n".join(out)


def _markdown_cost(p: Plan) -> str:
    """The cost report in markdown: the program logs it as a table, so price the same spec again
    and check that it is the figure the program exported."""
    from cost import report as cost_report
    from cost.report_model import fleet_document
    from infra import pricing

    fleet = pricing.price(p.placement)
    if fleet_document(fleet) != p.cost:
        raise PreviewError("the exported cost differs from pricing the spec again")
    return ("\n" + cost_report.render(fleet, "markdown")).replace("\n## ", "\n#### ")[1:]  # under the details' headings


def document(p: Plan, violations: list | None = None, comparison: dict | None = None) -> dict:
    """The preview for machines: the plan, the policy results and the comparison with a baseline."""
    doc = p.to_dict()
    if violations is not None:
        from policies.runner import render as render_policies

        doc["policies"] = json.loads(render_policies(violations, fmt="json"))
    if comparison is not None:
        doc["comparison"] = comparison
    return doc


def render(p: Plan, fmt: str, violations: list | None = None, comparison: dict | None = None) -> str:
    """The preview as a table for people, a pull-request comment (markdown) or strict JSON."""
    from infra.offline import preview_comment, preview_compare

    if fmt == "json":
        from cost.report_model import report_json

        return report_json(document(p, violations, comparison))
    if fmt == "markdown":
        return preview_comment.comment(document(p, violations, comparison), comparison, markdown_details(p))
    out = render_table(p)
    if violations is not None:
        from policies.runner import render as render_policies

        out += "\n\n" + render_policies(violations, fmt="table")
    if comparison is not None:
        out += "\n\n" + preview_compare.render(comparison)
    return out


def usage_overrides(stack: str, usage_files: dict[str, str], root: Path = ROOT) -> dict[str, object]:
    """`breakeven:models` with each named model's workload replaced by a measured usage file
    (`breakeven observe --write-usage`); InputError naming the model or the file's key."""
    from cost import usage

    cfg = stackconfig.load(stack, root)
    models = json.loads(cfg.values.get("breakeven:models", "[]"))
    names = [m.get("name") for m in models if isinstance(m, dict)]
    for name, path in usage_files.items():
        if name not in names:
            raise InputError("usage", f"{name}={path}", "MODEL=FILE with MODEL one of " + ", ".join(map(str, names)))
        m = models[names.index(name)]
        measured = usage.for_model(usage.load(path), m.get("model"), f"{name}={path}").to_dict()["workload"]
        declared = {k: v for k, v in (m.get("workload") or {}).items() if k not in ("inputShare", "tokensPerMonth")}
        m["workload"] = declared | {k: measured[k] for k in ("tokensPerMonth", "avgInputTokens", "avgOutputTokens")}
    return {"breakeven:models": models}


def main(stack: str, fmt: str = "table", compare_to: str | None = None, fail_on_increase: float | None = None,
         root: Path = ROOT, usage_files: dict[str, str] | None = None, show: Callable[[str], None] = print) -> int:
    """Print the offline preview of a stack. 0: shown and passed; 1: a mandatory policy failed, the
    monthly cost rose past --fail-on-increase, or the program failed; 2: a bad input (nothing run).

    usage_files: model name -> usage file (breakeven observe --write-usage); that model is priced on
    the measured workload. show: prints the table for people (the command line passes its terminal
    printer, `breakeven.term.show`, which colours it where the terminal supports it); JSON and markdown are
    printed plain."""
    from infra.offline import preview_compare
    from infra.offline.helmrender import HelmFailed, HelmNotFound

    try:
        if fmt not in FORMATS:
            raise InputError("--format", fmt, ", ".join(FORMATS))
        if fail_on_increase is not None and (compare_to is None or fail_on_increase != fail_on_increase or fail_on_increase < 0):
            raise InputError("--fail-on-increase", fail_on_increase, "a percentage of at least 0, with --compare-to")
        baseline = preview_compare.load(compare_to) if compare_to is not None else None
        overrides = usage_overrides(stack, usage_files, root) if usage_files else None
        p = plan(stack, root=root, overrides=overrides)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        print("nothing was registered: fix the value above and run the preview again", file=sys.stderr)
        return 2
    except (HelmNotFound, HelmFailed, PreviewError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    violations, code = run_policies(p)  # first, so the timings printed below include it
    comparison = None if baseline is None else preview_compare.compare(baseline, document(p, violations))
    text = render(p, fmt, violations, comparison)
    if fmt == "table":
        show(text)
    else:
        print(text)
    if comparison is not None and fail_on_increase is not None and preview_compare.exceeds(comparison, fail_on_increase):
        print(f"error: {preview_compare.headline(comparison)}, more than --fail-on-increase {fail_on_increase:g}%",
              file=sys.stderr)
        code = 1
    return code


def run_policies(p: Plan) -> tuple[list | None, int]:
    """The policy pack (policies/) over the plan's resources, as CI runs it: (violations, exit code:
    1 when a mandatory policy is violated). (None, 0) where the pack is not installed."""
    try:
        from policies.runner import default_config, evaluate
    except ImportError:
        return None, 0
    t0 = time.perf_counter()
    violations = evaluate(p.resources, default_config(), mode="inprocess", stack=p.stack)
    p.timings["policies"] = time.perf_counter() - t0
    p.timings["total"] += p.timings["policies"]
    return violations, (1 if any(v.mandatory for v in violations) else 0)
