"""Where a resource carries a credential as a plain value instead of a Kubernetes Secret reference.

Used by the pack's `secrets-via-references` policy on every resource it is shown: env values,
command-line literals (`--api-key` in any spelling vLLM reads), chart values and other properties.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from policies import resources

# Names are matched word by word (snake_case, kebab-case and camelCase words), so HF_TOKEN, VLLM_API_KEY,
# hfToken and apiKey match while TOKENIZERS_PARALLELISM and maxTokens do not.
SECRET_NAME = (r"(?i)(^|[_.-])(hf[_-]?token|token|api[_-]?key|apikey|secret|secret[_-]?key|passw(or)?d|credentials?"
               r"|private[_-]?key|access[_-]?key)([_.-]|$)")
CREDENTIAL_VALUE = r"(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_\-]{20,}|AKIA[0-9A-Z]{16}|gsk_[A-Za-z0-9]{20,})"
REFERENCE_KEYS = {"name", "key", "secretname", "existingsecret", "secretkey", "secretkeyref", "secretref", "valuefrom",
                  "keyref", "optional", "required", "enabled", "mountpath", "path", "resourcename"}
REFERENCE_PARTS = {"secretkeyref", "secretref", "valuefrom", "existingsecret", "secretname"}


def _words(key: str) -> str:
    """camelCase -> camel_Case, so the name pattern sees word boundaries."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key)


def _walk(value: Any, path: str = ""):
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def secret_findings(r: resources.Res, name_re: str = SECRET_NAME, value_re: str = CREDENTIAL_VALUE) -> list[str]:
    """Where a resource carries a credential as a plain value instead of a Secret reference.

    Kubernetes Secrets are where credentials belong, and provider configurations take them as Pulumi
    secrets (which the policy SDK unwraps, so they cannot be told from plain values): both are skipped.
    """
    if (r.type.startswith("kubernetes:") and r.kind == "Secret") or r.type.startswith("pulumi:providers:"):
        return []
    names, values = re.compile(name_re), re.compile(value_re)
    found: list[str] = []
    if r.type.startswith("kubernetes:") and r.kind in resources.POD_TEMPLATE_KINDS:
        for _, t in resources.pod_templates(r):
            spec = t.get("spec") or {}
            for group in ("initContainers", "containers"):
                for c in spec.get(group) or []:
                    cname = c.get("name", "?")
                    for env in c.get("env") or []:
                        n, v = str(env.get("name", "")), env.get("value")
                        if v in (None, "") or env.get("valueFrom"):
                            continue
                        if names.search(_words(n)) or (isinstance(v, str) and values.search(v)):
                            found.append(f"container {cname} sets env {n} to a plain value; use "
                                         "valueFrom.secretKeyRef (a Kubernetes Secret)")
                    argv = [a for a in (c.get("command") or []) + (c.get("args") or []) if isinstance(a, str)]
                    tokens = [x for a in argv for x in a.split()]
                    for i, a in enumerate(tokens):
                        flag, _, inline = a.partition("=")
                        if re.fullmatch(r"--(api-key|hf-token|token)", flag):
                            val = inline or (tokens[i + 1] if i + 1 < len(tokens) else "")
                            if val and not re.fullmatch(r"\$\(?[A-Za-z_][A-Za-z0-9_]*\)?|\$\{[A-Za-z_][A-Za-z0-9_]*\}", val):
                                found.append(f"container {cname} passes {flag} a literal on its command line; pass an "
                                             "environment variable set from a Secret, e.g. $(VLLM_API_KEY)")
                        elif values.search(a):
                            found.append(f"container {cname} has a credential in its command line")
        return found
    for path, v in _walk(r.props):
        if not isinstance(v, str) or not v or resources.is_unknown(v):
            continue
        parts = [p for p in re.split(r"[.\[\]]", path) if p and not p.isdigit()]
        if values.search(v):
            found.append(f"{path} holds a credential as a plain value")
        elif (r.type.startswith("kubernetes:") and parts and names.search(_words(parts[-1]))
              and parts[-1].lower() not in REFERENCE_KEYS and not REFERENCE_PARTS & {p.lower() for p in parts}):
            found.append(f"{path} is a credential-named key with a plain value; reference a Kubernetes Secret instead")
    return found
