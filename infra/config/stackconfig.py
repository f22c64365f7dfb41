"""Read a stack's config the way the Pulumi CLI does, without the CLI: Pulumi.yaml + stacks/Pulumi.<stack>.yaml.

The CLI merges the project's config declarations (`default:` for project keys, `value:` for others)
under the stack file's values and hands the program every value as a string (objects as JSON).
`secure:` values cannot be decrypted here (that needs the stack's secrets provider), so every
secret the stack file sets (a `secure:` value) gets a placeholder, marked secret like the CLI marks it.
A secret Pulumi.yaml declares but the stack does not set stays unset, so the preview lists what it
blocks (infra/config/blockers.py) instead of hiding it behind a placeholder.
"""

from __future__ import annotations

import json
import secrets as _secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cost.catalog import strictload
from cost.errors import InputError
from infra.config.schema import SECRET_KEYS, SECRET_LITERAL

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    path: Path
    values: dict[str, str]          # `ns:key` -> raw string, as the engine passes it
    secret_keys: tuple[str, ...]
    placeholders: dict[str, str]    # secret key -> the placeholder used offline

    def with_values(self, overrides: dict[str, Any]) -> StackConfig:
        """A copy with some values replaced (given as they would read in YAML) or, for None, removed."""
        values = dict(self.values)
        for key, value in overrides.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = _engine_string(value)
        secret_keys = tuple(k for k in self.secret_keys if k in values)
        return StackConfig(self.project, self.stack, self.path, values, secret_keys, self.placeholders)


def _engine_string(value: Any) -> str:
    """How the CLI passes a config value to the program: scalars as text, objects and lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return ("secure" in value and len(value) == 1) or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _replace_secure(value: Any, placeholder: str) -> Any:
    if isinstance(value, dict):
        if "secure" in value and len(value) == 1:
            return placeholder
        return {k: _replace_secure(v, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v, placeholder) for v in value]
    return value


def stacks(root: Path = ROOT) -> list[str]:
    """Stack names with a config file under the project's stackConfigDir."""
    project = _project(root)
    cfg_dir = root / project.get("stackConfigDir", ".")
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in cfg_dir.glob("Pulumi.*.yaml"))


def _project(root: Path) -> dict:
    path = root / "Pulumi.yaml"
    doc = _read_yaml(path, root)
    if not isinstance(doc, dict) or not doc.get("name"):
        raise InputError(str(path.relative_to(root)), None, "a Pulumi project file with a `name:`")
    return doc


def _read_yaml(path: Path, root: Path) -> Any:
    """A YAML file's document, read strictly (cost/catalog/strictload.py); an error names the file and the key, or the
    line and column of a syntax error (never a traceback)."""
    rel = str(path.relative_to(root))
    return strictload.yaml_text(strictload.read_text(path, rel, "stack YAML file"), rel)


def _plaintext_secrets(key: str, value: Any, secret_keys: set[str], rel: str, stack: str) -> None:
    """Refuse a secret written in plain text: a key Pulumi.yaml declares secret without `secure:`, or any
    value that looks like a token. The value is never echoed."""
    if key in secret_keys and not _has_secure(value):
        raise InputError(f"{rel}: {key}", "[plaintext value, not shown]",
                         f"an encrypted value: run `pulumi config set --secret {key} <value> --stack {stack}` "
                         "and delete the plain line from the file",
                         "a secret in plain text would be committed to git")
    for text in _strings(value):
        if SECRET_LITERAL.search(text):
            raise InputError(f"{rel}: {key}", "[a value that looks like a token or access key, not shown]",
                             "no secret literal in a stack file: secrets belong in " + " / ".join(sorted(secret_keys))
                             + f", set with `pulumi config set --secret <key> <value> --stack {stack}`",
                             "a secret in plain text would be committed to git")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k != "secure" for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def load(stack: str, root: Path = ROOT, secrets: dict[str, str] | None = None) -> StackConfig:
    """Merged, engine-shaped config of a stack. `secrets` overrides the placeholder of a secret key."""
    project = _project(root)
    name = project["name"]
    cfg_dir = root / project.get("stackConfigDir", ".")
    path = cfg_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stacks(root)) or "none"
        raise InputError("--stack", stack, f"a stack with a config file in {cfg_dir.relative_to(root)}/ ({known})")
    rel = str(path.relative_to(root))
    doc = _read_yaml(path, root)
    if doc is None:
        raise InputError(rel, None, f"a stack file with a `config:` mapping of {name}:* keys (at least {name}:models)",
                         "the file is empty")
    if not isinstance(doc, dict):
        raise InputError(rel, doc, f"a mapping with a `config:` section of {name}:* keys")
    stack_cfg = doc.get("config")
    if not isinstance(stack_cfg, dict) or not stack_cfg:
        raise InputError(f"{rel}: config", stack_cfg, f"a mapping of `namespace:key` to values (at least {name}:models)")

    values: dict[str, Any] = {}
    secret_keys: set[str] = set()
    declared_secret: set[str] = set()
    for key, decl in (project.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(decl, dict) and ({"type", "default", "value", "description", "secret", "items"} >= set(decl)):
            if decl.get("secret"):
                declared_secret.add(full)
            if "value" in decl:
                values[full] = decl["value"]
            elif "default" in decl:
                values[full] = decl["default"]
        else:  # shorthand: `key: value`
            values[full] = decl

    for key, value in stack_cfg.items():
        if not isinstance(key, str) or ":" not in key:
            raise InputError(f"{rel}: {key}", value, f"a namespaced key such as {name}:{key}")
        _plaintext_secrets(key, value, declared_secret | {f"{name}:{k}" for k in SECRET_KEYS}, rel, stack)
        if _has_secure(value):
            secret_keys.add(key)
        values[key] = value

    placeholders: dict[str, str] = {}
    for key in sorted(secret_keys | declared_secret):
        given = (secrets or {}).get(key)
        if key not in secret_keys and not given:
            continue   # declared but not set in this stack: the program sees it unset (a blocker where it is needed)
        ph = given or f"offline-placeholder-{key.partition(':')[2]}-{_secrets.token_hex(6)}"
        placeholders[key] = ph
        values[key] = _replace_secure(values[key], ph) if key in values and key in secret_keys else ph
        secret_keys.add(key)

    return StackConfig(name, stack, path, {k: _engine_string(v) for k, v in values.items()}, tuple(sorted(secret_keys)),
                       placeholders)
