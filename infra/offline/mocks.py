"""Run the real program under the Pulumi SDK's mock engine and record what it registers.

Used by the offline preview and the tests. The program runs exactly as under `pulumi preview`;
only the engine is replaced: resources are recorded instead of created, and the mock returns
plausible outputs (ids, ARNs, the cluster endpoint and OIDC issuer) so dependent inputs resolve.

Two departures from the SDK's default mock monitor:
- resource references are turned off (a component passed as an input can otherwise hang it), and
- each registration records its parent, so the preview can show the component tree.
Secret inputs arrive wrapped by the SDK's serializer; they are recorded as "[secret]" and never
stored in clear.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

SECRET = "[secret]"
_ACCOUNT = "123456789012"


def redact(value: Any) -> Any:
    """A copy with every wrapped secret replaced by "[secret]" and whole floats made ints."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    inputs: dict
    dependencies: dict[str, list[str]] = field(default_factory=dict)  # input name -> URNs it came from

    def to_dict(self) -> dict:
        d = {"type": self.type, "name": self.name, "inputs": self.inputs}
        if self.parent:
            d["parent"] = self.parent
        if self.dependencies:
            d["propertyDependencies"] = self.dependencies
        return d


class RecordingMocks(_mocks.Mocks):
    """Fake but plausible outputs per resource type; no provider function is called by the program."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.region = region
        self.calls: list[tuple[str, dict]] = []

    def call(self, args: _mocks.MockCallArgs):
        """The invokes the program makes (infra/config/zones.py), answered from infra/data/zones.yaml."""
        from infra.config.zones import catalog

        self.calls.append((args.token, dict(args.args)))
        region = catalog()["regions"].get(args.args.get("region") or self.region)
        if region is None:
            raise ValueError(f"infra/data/zones.yaml has no offline answers for region {args.args.get('region')!r}")
        names = region["zone_names"]
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"id": self.region, "names": list(names), "zoneIds": list(names.values()), "groupNames": []}
        if args.token == "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings":
            itype = next(f["values"][0] for f in args.args.get("filters", []) if f["name"] == "instance-type")
            zones = region["offerings"].get(itype, sorted(names.values()))  # unread types: every zone (zones.yaml)
            return {"id": self.region, "locations": list(zones), "locationTypes": ["availability-zone-id"] * len(zones),
                    "instanceTypes": [itype] * len(zones)}
        raise NotImplementedError(f"the mock engine has no answer for invoke {args.token}")

    def new_resource(self, args: _mocks.MockResourceArgs):
        t, name, inputs = args.typ, args.name, dict(args.inputs)
        rid = f"{name}-id"
        out: dict[str, Any] = {}
        if t.startswith("aws:"):
            service = t.split(":")[1].split("/")[0]
            region = "" if service == "iam" else self.region
            out["arn"] = f"arn:aws:{service}:{region}:{_ACCOUNT}:{name}"
        if t == "aws:eks/cluster:Cluster":
            cname = inputs.get("name", name)
            out.update({
                "name": cname,
                "endpoint": f"https://{cname.upper()}.gr7.{self.region}.eks.amazonaws.com",
                "certificateAuthority": {"data": "bW9jay1jYQ=="},
                "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{cname}-cluster"},
                "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/MOCK{cname.upper()}"}]}],
            })
        elif t == "aws:iam/role:Role":
            out["name"] = inputs.get("name", f"{name}-role")
        elif t == "aws:kms/key:Key":
            out["keyId"] = f"{name}-key-id"
        elif t == "aws:ec2/launchTemplate:LaunchTemplate":
            out["latestVersion"] = 1
        elif t == "aws:eks/nodeGroup:NodeGroup":
            out["nodeGroupName"] = inputs.get("nodeGroupName", name)
        return rid, {**inputs, **out}


class RecordingMonitor(_mocks.MockMonitor):
    """MockMonitor that records parents and registration order, and never sends resource references."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.registered: list[Registered] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object)
        args = _mocks.MockResourceArgs(typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
                                       resource_id=request.importId, custom=request.custom or False)
        id_, state = self.mocks.new_resource(args)
        obj_proto = _sync_await(rpc.serialize_properties(state, {}))
        with self._lock:
            self.resources[urn] = _mocks.MockMonitor.ResourceRegistration(urn, id_, state)
            parent = request.parent if request.parent and "::pulumi:pulumi:Stack::" not in request.parent else None
            deps = {k: sorted(v.urns) for k, v in request.propertyDependencies.items() if v.urns}
            self.registered.append(Registered(request.type, request.name, urn, parent, bool(request.custom), redact(inputs),
                                              deps))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_, object=obj_proto)

    def SupportsFeature(self, request):
        has = request.id not in ("outputValues", "resourceReferences")
        return type("SupportsFeatureResponse", (object,), {"hasSupport": has})

    def GetDeploymentInfo(self, request):
        info = super().GetDeploymentInfo(request)
        features = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_RESOURCE_REFERENCES]
        return resource_pb2.DeploymentInfo(supportedFeatures=features)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname.lower(), record.getMessage()))


@dataclass
class MockRun:
    """What one run of the program under mocks registered, exported and logged."""

    resources: list[Registered]
    outputs: dict
    logs: list[tuple[str, str]]
    error: BaseException | None = None
    secret_outputs: list[str] = field(default_factory=list)
    calls: list[tuple[str, dict]] = field(default_factory=list)   # invokes: (token, args)


def run(program, config: dict[str, str], secret_keys: list[str], *, project: str, stack: str,
        region: str = "us-east-1", preview: bool = True) -> MockRun:
    """Run `program()` under the mock engine with the given raw config (as the engine would pass it).
    preview=False runs it as the update phase of `pulumi up` (pulumi.runtime.is_dry_run() is false)."""
    import pulumi
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func

    settings.ROOT.set(None)  # a fresh root Stack each run: no exports carried over
    mocks = RecordingMocks(region)
    monitor = RecordingMonitor(mocks)
    logger = logging.Logger(f"breakeven.mock.{project}.{stack}", logging.INFO)   # the SDK's debug lines are dropped unbuilt
    handler = _ListHandler()
    logger.addHandler(handler)
    _mocks.set_mocks(mocks, project=project, stack=stack, preview=preview, logger=logger, monitor=monitor)
    runtime_config.set_all_config(dict(config), list(secret_keys))

    outputs: dict = {}
    secret_outputs: list[str] = []

    async def body() -> None:
        program()
        root = settings.get_root_resource()
        for name, value in dict(getattr(root, "outputs", {})).items():
            out = pulumi.Output.from_input(value)
            resolved = await out.future(with_unknowns=True)
            if await out.is_secret():
                secret_outputs.append(name)
                resolved = SECRET
            outputs[name] = redact(resolved)

    error: BaseException | None = None
    try:
        _sync_await(run_pulumi_func(body))
    except Exception as e:  # noqa: BLE001 - reported to the caller with what was registered
        error = e
    finally:
        runtime_config.set_all_config({}, [])
    return MockRun(list(monitor.registered), outputs, handler.records, error, secret_outputs, list(mocks.calls))
