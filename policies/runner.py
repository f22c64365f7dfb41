"""Drive the breakeven policy pack the way the Pulumi CLI does: over the Analyzer gRPC service.

The CLI starts a Python pack as a plugin process: its `pulumi-analyzer-policy-python` shim runs
`<virtualenv>/bin/python -u -m pulumi.policy <engine> .` in the pack directory (the virtualenv from
PulumiPolicy.yaml's runtime options), with PULUMI_STACK / PULUMI_PROJECT / PULUMI_DRY_RUN /
PULUMI_CONFIG in its environment. It reads the port the pack prints, then calls Handshake (optional),
ConfigureStack, GetAnalyzerInfo, Configure (the policy config: every policy's schema defaults,
overridden by the user's `--policy-pack-config` file, validated against the schemas), Analyze for
each resource and AnalyzeStack with all of them. This module does the same, in one of two modes:

- "subprocess": the pack exactly as the CLI starts it (a fresh process, ~0.45 s to start);
- "inprocess": the SDK's own analyzer servicer built from the same policies, served on a loopback
  port inside this process and reached through a real gRPC channel (no process start; the
  default, used by `breakeven preview`).

`evaluate(resources, config)` returns the violations; `gate(plan)` renders them for the offline
preview and gives its exit code (1 when a mandatory policy fails).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2 as pb
from pulumi.runtime.proto import analyzer_pb2_grpc

from cost.catalog import strictload
from cost.errors import InputError

PACK_DIR = Path(__file__).resolve().parent
EXAMPLE_CONFIG = PACK_DIR / "config.example.json"


def default_config() -> Path:
    """The policy config the offline preview sends: $BREAKEVEN_POLICY_CONFIG, else policies/config.example.json
    (which grants what the example stacks need)."""
    return Path(os.environ.get("BREAKEVEN_POLICY_CONFIG") or EXAMPLE_CONFIG)
LEVELS = ("advisory", "mandatory", "remediate", "disabled")
_LEVEL_TO_PB = {"advisory": pb.ADVISORY, "mandatory": pb.MANDATORY, "remediate": pb.REMEDIATE, "disabled": pb.DISABLED}
_PB_TO_LEVEL = {v: k for k, v in _LEVEL_TO_PB.items()}
ENGINE_ADDRESS = "127.0.0.1:0"  # the pack's runtime logs go to stderr; no engine service is needed to analyze
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Violation:
    """One diagnostic the pack returned: which policy, how enforced, what it says, about which resource."""

    policy: str
    level: str          # advisory | mandatory (remediate is reported as mandatory, as the CLI does)
    message: str        # the policy's description, a newline, then the specific message
    urn: str            # "" for a stack-wide violation
    description: str
    pack: str
    version: str

    @property
    def mandatory(self) -> bool:
        return self.level in ("mandatory", "remediate")

    @property
    def detail(self) -> str:
        """The message without the policy description the SDK prefixes."""
        head = self.description + "\n"
        return self.message[len(head):] if self.message.startswith(head) else self.message

    def to_dict(self) -> dict:
        return {"policy": self.policy, "level": self.level, "urn": self.urn, "message": self.detail,
                "description": self.description, "pack": self.pack, "version": self.version}


class PolicyConfigError(InputError):
    """A policy config the pack's schemas reject (what the CLI refuses before analyzing)."""


# -------------------------------------------------------------------------------------------------
# Policy config, as the CLI reconciles it
# -------------------------------------------------------------------------------------------------

def load_policy_config(source: str | Path | Mapping | None) -> dict:
    """A `--policy-pack-config` file (JSON) or mapping: {policy: level | {enforcementLevel?, prop: value}}."""
    if source is None:
        return {}
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as e:
            raise PolicyConfigError("policy-pack-config", str(source), "a readable JSON file", e.strerror or str(e)) from None
        if not text.strip():
            return {}
        try:
            raw = strictload.json_text(text, str(source))
        except json.JSONDecodeError as e:
            raise PolicyConfigError("policy-pack-config", str(source), "a JSON file", str(e)) from None
    if not isinstance(raw, Mapping):
        raise PolicyConfigError("policy-pack-config", raw, "a JSON object keyed by policy name")
    out: dict[str, dict] = {}
    for name, v in raw.items():
        if isinstance(v, str):
            if v not in LEVELS:
                raise PolicyConfigError(f"{name}", v, ", ".join(LEVELS))
            out[name] = {"enforcementLevel": v}
        elif isinstance(v, Mapping):
            lvl = v.get("enforcementLevel")
            if lvl is not None and lvl not in LEVELS:
                raise PolicyConfigError(f"{name}.enforcementLevel", lvl, ", ".join(LEVELS))
            out[name] = dict(v)
        else:
            raise PolicyConfigError(name, v, "an enforcement level or an object")
    return out


def reconcile(info: pb.AnalyzerInfo, given: Mapping[str, Mapping]) -> dict[str, tuple[str, dict]]:
    """Every policy's (enforcement level, properties): schema defaults, then `all`, then per-policy values.

    Validates each policy's properties against its schema (with `enforcementLevel` injected), as the
    CLI does, and refuses unknown policy names. The pack's own defaults need no validation, so the
    default path skips importing jsonschema (~90 ms).
    """
    policies = {p.name: p for p in info.policies}
    unknown = [k for k in given if k != "all" and k not in policies]
    if unknown:
        raise PolicyConfigError(unknown[0], given[unknown[0]], "a policy of this pack: " + ", ".join(sorted(policies)) + ", or all")
    result: dict[str, tuple[str, dict]] = {}
    for name, p in policies.items():
        schema = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
        props = {k: v["default"] for k, v in schema.items() if isinstance(v, Mapping) and "default" in v}
        level = _PB_TO_LEVEL[p.enforcementLevel]
        if "all" in given and given["all"].get("enforcementLevel"):
            level = given["all"]["enforcementLevel"]
        mine = dict(given.get(name, {}))
        level = mine.pop("enforcementLevel", None) or level
        props.update(mine)
        full = {"type": "object", "properties": {**schema, "enforcementLevel": {"type": "string", "enum": list(LEVELS)}},
                "additionalProperties": False}
        if p.configSchema.required:
            full["required"] = list(p.configSchema.required)
        if name not in given and "all" not in given:
            result[name] = (level, props)
            continue
        import jsonschema

        errors = sorted(jsonschema.Draft7Validator(full).iter_errors(props), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            where = ".".join(str(x) for x in e.path) or "(root)"
            raise PolicyConfigError(f"{name}.{where}", e.instance, e.message)
        result[name] = (level, props)
    return result


# -------------------------------------------------------------------------------------------------
# Resources -> the analyzer's protobuf messages
# -------------------------------------------------------------------------------------------------

def _jsonable(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items() if not str(k).startswith("__")}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _struct(props: Mapping) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(_jsonable(props))
    return s


def _resource_fields(r: Any, stack: str, project: str) -> dict:
    from policies.resources import make_urn

    if not isinstance(r, Mapping):
        raise TypeError(f"resources are dicts {{type, name, inputs, ...}}, got {type(r).__name__}")
    type_, name = str(r.get("type", "")), str(r.get("name", ""))
    props = r.get("inputs", r.get("props", r.get("properties"))) or {}
    deps = r.get("propertyDependencies") or r.get("property_dependencies") or {}
    return dict(type=type_, name=name, urn=str(r.get("urn") or make_urn(type_, name, stack, project)),
                properties=_struct(props), parent=str(r.get("parent") or ""),
                dependencies=[str(d) for d in r.get("dependencies") or []],
                propertyDependencies={k: pb.AnalyzerPropertyDependencies(urns=[str(u) for u in v]) for k, v in deps.items()})


# -------------------------------------------------------------------------------------------------
# Starting the pack
# -------------------------------------------------------------------------------------------------

class _Pack:
    """A running pack: its gRPC stub and how to stop it."""

    def __init__(self, mode: str, stack: str, project: str, stack_config: Mapping | None) -> None:
        self.mode = mode
        self.proc: subprocess.Popen | None = None
        self.server: grpc.Server | None = None
        if mode == "subprocess":
            port = self._start_process(stack, project, stack_config)
        elif mode == "inprocess":
            port = self._start_inprocess()
        else:
            raise ValueError(f"mode: got {mode!r}; allowed: subprocess, inprocess")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                             options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
        grpc.channel_ready_future(self.channel).result(timeout=START_TIMEOUT_S)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _start_process(self, stack: str, project: str, stack_config: Mapping | None) -> int:
        env = dict(os.environ)
        env.update({"PULUMI_PROJECT": project, "PULUMI_STACK": stack, "PULUMI_DRY_RUN": "true",
                    "PULUMI_ORGANIZATION": "organization", "PYTHONUNBUFFERED": "1"})
        if stack_config:
            env["PULUMI_CONFIG"] = json.dumps({k: v if isinstance(v, str) else json.dumps(v) for k, v in stack_config.items()})
        python, venv_bin = pack_python()
        if venv_bin:
            env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
            env.pop("PYTHONHOME", None)
        self.proc = subprocess.Popen([python, "-u", "-m", "pulumi.policy", ENGINE_ADDRESS, "."], cwd=PACK_DIR,
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdout is not None and self.proc.stderr is not None   # both PIPE
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline, line = time.monotonic() + START_TIMEOUT_S, b""
        while not line.endswith(b"\n"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else "timed out"
                self.close()
                raise RuntimeError(f"the policy pack did not start: {err.strip()[-2000:]}")
            if sel.select(timeout=0.05):
                chunk = os.read(self.proc.stdout.fileno(), 64)
                if not chunk:
                    continue
                line += chunk
        sel.close()
        return int(line.split(b"\n", 1)[0].strip())

    def _start_inprocess(self) -> int:
        from pulumi_policy.policy import _GRPC_CHANNEL_OPTIONS, _PolicyAnalyzerServicer

        from policies.rules import PACK

        # What PolicyPack.__init__ does, without its serve-forever loop: the SDK's own servicer.
        servicer = _PolicyAnalyzerServicer(PACK["name"], "0.0.1", PACK["policies"], PACK["enforcement_level"],
                                           PACK.get("initial_config"), PACK.get("description"), PACK.get("display_name"),
                                           PACK.get("readme"), PACK.get("provider"), PACK.get("tags"), PACK.get("repository"))
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
        analyzer_pb2_grpc.add_AnalyzerServicer_to_server(servicer, self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return port

    def close(self) -> None:
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        if self.server is not None:
            self.server.stop(0)
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            for f in (self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()


def _policy_project() -> dict:
    return yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8")) or {}


def pack_python() -> tuple[str, str]:
    """The interpreter the CLI's `pulumi-analyzer-policy-python` shim would run: `<virtualenv>/bin/python`
    for the `virtualenv` runtime option (relative to the pack directory), else this interpreter.
    Returns (python, the virtualenv's bin directory or "")."""
    runtime = _policy_project().get("runtime")
    venv = (runtime.get("options") or {}).get("virtualenv") if isinstance(runtime, Mapping) else None
    if venv:
        path = (PACK_DIR / str(venv).rstrip("/")).resolve()
        if (path / "bin" / "python").is_file():
            return str(path / "bin" / "python"), str(path / "bin")
    return sys.executable, ""


def pack_version() -> str:
    """The version the CLI reports: PulumiPolicy.yaml's, over the SDK's placeholder."""
    return str(_policy_project().get("version") or "0.0.1")


class Session:
    """One started pack, reusable for several analyses (`with Session() as s: s.evaluate(...)`)."""

    def __init__(self, mode: str = "inprocess", *, stack: str = "stack", project: str = "breakeven",
                 stack_config: Mapping | None = None) -> None:
        self.stack, self.project = stack, project
        self._pack = _Pack(mode, stack, project, stack_config)
        self._lock = threading.Lock()
        try:
            self._start(stack, project)
        except BaseException:
            self._pack.close()
            raise

    def _start(self, stack: str, project: str) -> None:
        stub = self._pack.stub
        # Handshake and ConfigureStack, tolerating UNIMPLEMENTED as the CLI does (the Python SDK has no Handshake).
        for call, req in ((stub.Handshake, pb.AnalyzerHandshakeRequest(engine_address=ENGINE_ADDRESS,
                                                                        root_directory=str(PACK_DIR),
                                                                        program_directory=str(PACK_DIR))),
                          (stub.ConfigureStack, pb.AnalyzerStackConfigureRequest(stack=stack, project=project,
                                                                                 organization="organization",
                                                                                 dry_run=True))):
            try:
                call(req)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                    raise
        self.info: pb.AnalyzerInfo = stub.GetAnalyzerInfo(empty_pb2.Empty())
        self.version = pack_version()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._pack.close()

    def policies(self) -> dict[str, str]:
        """Policy name -> default enforcement level, as the pack reports them."""
        return {p.name: _PB_TO_LEVEL[p.enforcementLevel] for p in self.info.policies}

    def configure(self, config: str | Path | Mapping | None) -> dict[str, tuple[str, dict]]:
        reconciled = reconcile(self.info, load_policy_config(config))
        req = pb.ConfigureAnalyzerRequest()
        for name, (level, props) in reconciled.items():
            pc = pb.PolicyConfig(enforcementLevel=_LEVEL_TO_PB[level])
            pc.properties.update(_jsonable(props))
            req.policyConfig[name].CopyFrom(pc)
        self._pack.stub.Configure(req)
        return reconciled

    def evaluate(self, resources: Sequence[Mapping], config: str | Path | Mapping | None = None, *,
                 stack: str | None = None) -> list[Violation]:
        """Configure the pack, then Analyze each resource and AnalyzeStack them all. `stack` names the stack in
        the URNs made for resources that carry none (the helm-rendered objects of the offline preview)."""
        with self._lock:
            self.configure(config)
            fields = [_resource_fields(r, stack or self.stack, self.project) for r in resources]
            stub, diags = self._pack.stub, []
            for f in fields:
                resp = stub.Analyze(pb.AnalyzeRequest(type=f["type"], properties=f["properties"], urn=f["urn"],
                                                      name=f["name"], options=pb.AnalyzerResourceOptions(parent=f["parent"])))
                diags += [(d, f["urn"]) for d in resp.diagnostics]
            resp = stub.AnalyzeStack(pb.AnalyzeStackRequest(resources=[
                pb.AnalyzerResource(type=f["type"], properties=f["properties"], urn=f["urn"], name=f["name"],
                                    parent=f["parent"], dependencies=f["dependencies"],
                                    propertyDependencies=f["propertyDependencies"],
                                    options=pb.AnalyzerResourceOptions(parent=f["parent"]))
                for f in fields]))
            diags += [(d, d.urn) for d in resp.diagnostics]
        # A resource policy's violation is about the resource analyzed (the SDK leaves its urn empty).
        return [Violation(d.policyName, _PB_TO_LEVEL[d.enforcementLevel], d.message, d.urn or urn, d.description,
                          d.policyPackName, self.version) for d, urn in diags]


# -------------------------------------------------------------------------------------------------
# The two entry points
# -------------------------------------------------------------------------------------------------

_SHARED: dict[str, Session] = {}
_SHARED_LOCK = threading.Lock()


def _shared_session() -> Session:
    """One in-process pack per process, started on first use."""
    with _SHARED_LOCK:
        s = _SHARED.get("inprocess")
        if s is None:
            s = _SHARED["inprocess"] = Session("inprocess")
        return s


def evaluate(resources: Sequence[Mapping], config: str | Path | Mapping | None = None, *, mode: str = "inprocess",
             stack: str | None = None, stack_config: Mapping | None = None) -> list[Violation]:
    """Run the pack over `resources` (dicts {type, name, inputs, urn?, parent?, propertyDependencies?}).

    config: a policy config (file path or mapping, as `--policy-pack-config` takes); None: the defaults.
    mode: "inprocess" (a shared in-process pack over loopback gRPC) or "subprocess" (a fresh pack process,
    as the CLI starts it). stack: the stack name (in made-up URNs; PULUMI_STACK in subprocess mode).
    """
    if mode == "inprocess" and stack_config is None:
        return _shared_session().evaluate(resources, config, stack=stack)
    with Session(mode, stack=stack or "stack", stack_config=stack_config) as s:
        return s.evaluate(resources, config)


def render(violations: Sequence[Violation], *, fmt: str = "table") -> str:
    """Violations for people (table) or machines (json)."""
    mandatory = [v for v in violations if v.mandatory]
    advisory = [v for v in violations if not v.mandatory]
    if fmt == "json":
        return json.dumps({"mandatory": len(mandatory), "advisory": len(advisory), "passed": not mandatory,
                           "violations": [v.to_dict() for v in mandatory + advisory]}, indent=2)
    pack = f"{violations[0].pack}@v{violations[0].version}" if violations else f"breakeven@v{pack_version()}"
    lines = [f"Policies ({pack}): "
             + ("no violations" if not violations else f"{len(mandatory)} mandatory, {len(advisory)} advisory violation(s)")]
    for v in mandatory + advisory:
        where = v.urn.rsplit("::", 2)[-2:] if v.urn else None
        subject = f"  [{where[0]} {where[1]}]" if where and len(where) == 2 else ""
        lines.append(f"  {v.level:9} {v.policy}{subject}")
        for text in v.detail.splitlines():
            lines.append(f"            {text}")
    lines.append("Result: " + ("FAILED, a mandatory policy is violated" if mandatory else "passed"))
    return "\n".join(lines)


def gate(plan: Any, config: str | Path | Mapping | None = None, *, fmt: str = "table",
         mode: str = "inprocess") -> tuple[str, int]:
    """For `breakeven preview`: run the pack over the plan's resources; (report text, exit code).

    plan: anything with `.resources` (a list of resource dicts) — `infra.offline.preview.plan(stack)` — or the list
    itself. Exit code 1 when a mandatory policy is violated, else 0.
    """
    resources = plan.resources if hasattr(plan, "resources") else plan
    violations = evaluate(resources, config, mode=mode, stack=getattr(plan, "stack", None))
    return render(violations, fmt=fmt), (1 if any(v.mandatory for v in violations) else 0)
