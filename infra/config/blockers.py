"""What would make a real `pulumi up` fail or not serve, found from the stack file and the catalogs.

A blocker is valid config that cannot work against a real account: a documentation CIDR where the
operator's network belongs, a placeholder weights repository, gated weights without a Hugging Face
token, a production model that no client may call, a zone that does not sell the instance type.
`breakeven preview` (and `pulumi preview`) lists them, so the example stacks still preview; the
program refuses them outside preview, before any resource is created (infra/program.py).

Pure Python (no Pulumi import), like infra/config/spec.py.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from infra.config.spec import P, StackSpec

# Address blocks reserved for documentation: no real network sends from them.
DOCUMENTATION_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",   # RFC 5737 (TEST-NET-1, -2, -3)
    "2001:db8::/32",                                       # RFC 3849
    "3fff::/20",                                           # RFC 9637
))
# Repository owners that stand for "put yours here" (Hugging Face has no such organisations of weights).
PLACEHOLDER_OWNER = re.compile(r"^(your|my|example)([-_]?(org|organi[sz]ation|company|team|user(name)?|name|account))?$",
                               re.IGNORECASE)


@dataclass(frozen=True)
class Blocker:
    """One thing the operator must set before a real `pulumi up`: the stack key and what to do."""

    key: str
    message: str

    def to_dict(self) -> dict:
        return {"key": self.key, "message": self.message}

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def set_command(key: str, value: str, stack: str, secret: bool = False) -> str:
    """The `pulumi config set` line that sets `key` (a config path such as breakeven:models[0].source)."""
    path = " --path" if "." in key.partition(":")[2] or "[" in key else ""
    return f"pulumi config set{' --secret' if secret else ''}{path} '{key}' {value} --stack {stack}"


def documentation_cidrs(cidrs: tuple[str, ...] | list[str]) -> list[int]:
    """Indexes of the blocks that lie inside a documentation range."""
    out = []
    for j, c in enumerate(cidrs):
        net = ipaddress.ip_network(c, strict=False)
        if any(net.version == d.version and net.subnet_of(d) for d in DOCUMENTATION_NETWORKS):  # type: ignore[arg-type]
            out.append(j)
    return out


def is_placeholder_repo(repo: str) -> bool:
    """A Hugging Face repo id whose owner is a placeholder (`your-org/...`) or that holds `<...>`."""
    if "<" in repo or ">" in repo:
        return True
    owner, sep, _ = repo.partition("/")
    return bool(sep) and not repo.startswith(("s3://", "/")) and bool(PLACEHOLDER_OWNER.match(owner))


def find(spec: StackSpec) -> list[Blocker]:
    """Every blocker of a spec, in config order (zone offerings are checked by the program: they need AWS)."""
    out: list[Blocker] = []
    c, stack = spec.cluster, spec.stack
    if c.existing is None:
        ep = c.endpoint
        key = f"{P}cluster.endpoint.publicAccessCidrs"
        for j in documentation_cidrs(ep.public_access_cidrs) if ep.public_access else ():
            out.append(Blocker(f"{key}[{j}]", (
                f"{ep.public_access_cidrs[j]} is a documentation range: `pulumi up` would create the VPC, NAT gateways "
                f"and cluster, then fail at the first Kubernetes call. Set the CIDR of the network that runs pulumi: "
                + set_command(f"{key}[{j}]", "<your-egress-cidr>", stack))))
        key = f"{P}cluster.endpoint.privateAccessCidrs"
        for j in documentation_cidrs(ep.private_access_cidrs):
            out.append(Blocker(f"{key}[{j}]", (
                f"{ep.private_access_cidrs[j]} is a documentation range: no caller inside the VPC or a peered network "
                "has it. Set the CIDR allowed to reach the private endpoint on 443 (or remove the key: the VPC): "
                + set_command(f"{key}[{j}]", "<cidr>", stack))))
    token_set = "hfToken" in spec.secrets_present
    for m in spec.models:
        if m.own_source and is_placeholder_repo(m.hf):
            out.append(Blocker(f"{m.key}.source", (
                f"{m.hf} is a placeholder: the pods would fail to download weights at start. Name your repository: "
                + set_command(f"{m.key}.source", "<org>/<repo>", stack))))
        if (m.gated or m.own_source) and not token_set:
            why = (f"{m.hf} is gated on Hugging Face (cost/data/checkpoints.yaml `gated:`)" if m.gated
                   else f"{m.hf} is the stack's own repository (a fine-tune: private)")
            out.append(Blocker(f"{P}hfToken", (
                f"{m.name}: {why}; without a token of an account that may read it vLLM gets 401 and the pod "
                "crash-loops. Set it: " + set_command(f"{P}hfToken", "<hugging-face-token>", stack, secret=True))))
    if spec.production and "vllmApiKey" not in spec.secrets_present:
        out.append(Blocker(f"{P}vllmApiKey", (
            "production stacks do not serve unauthenticated endpoints. Set one: "
            + set_command(f"{P}vllmApiKey", "<api-key>", stack, secret=True))))
    a = spec.access
    if spec.production and not (a.client_namespaces or a.same_namespace or a.internal_load_balancer):
        out.append(Blocker(f"{P}access.clientNamespaces", (
            "no client may call the models: the NetworkPolicy admits only the metrics scrapers. Name the namespaces "
            "whose pods call the API (or access.loadBalancer: internal): "
            + set_command(f"{P}access.clientNamespaces[0]", "<namespace>", stack))))
    return _unique(out)


def _unique(blockers: list[Blocker]) -> list[Blocker]:
    """One blocker per key (two gated models need one token): the first one's message."""
    by_key: dict[str, Blocker] = {}
    for b in blockers:
        by_key.setdefault(b.key, b)
    return list(by_key.values())


def zone_offerings(problems: list[tuple[str, str, str]]) -> list[Blocker]:
    """Blockers for GPU node groups whose zones do not sell their instance type: (model key, type, detail)."""
    return [Blocker(f"{key}.instanceType", f"{itype} is not sold in {detail}. Pick zones that sell it "
                    f"(breakeven:cluster.zones) or another instance type") for key, itype, detail in problems]


def refusal(blockers: list[Blocker]) -> str:
    """The message the program stops with outside preview."""
    lines = "\n".join(f"  - {b}" for b in blockers)
    return (f"{len(blockers)} setting(s) would make `pulumi up` fail or not serve; nothing was created:\n{lines}\n"
            "`breakeven preview` lists them too.")
