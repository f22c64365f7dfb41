"""Project and stack config: Pulumi.yaml declares what the spec reads; the offline loader merges like the CLI."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from cost.errors import InputError
from infra import program
from infra.config import stackconfig
from infra.config.spec import CONFIG_KEYS, SECRET_KEYS, decode
from infra.config.stackconfig import ROOT


@pytest.fixture(scope="module")
def project():
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def test_project_file(project):
    assert project["name"] == "breakeven"
    assert project["runtime"]["name"] == "python" and project["stackConfigDir"] == "stacks"
    declared = project["config"]
    assert set(CONFIG_KEYS) <= set(declared)
    for key in SECRET_KEYS:  # required secrets: typed, secret, no default (the CLI refuses a plain default)
        assert declared[key] == {**declared[key], "type": "string", "secret": True} and "default" not in declared[key]
    assert declared["production"]["type"] == "boolean" and isinstance(declared["production"]["default"], bool)
    assert "default" not in declared["models"]  # every stack must say what it serves
    for key, decl in declared.items():
        if ":" not in key:
            assert decl.get("description"), key
        assert not ("default" in decl and "value" in decl), key


def test_stack_files_use_namespaced_keys_and_hold_no_secret():
    for stack in stackconfig.stacks():
        doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
        assert all(":" in k for k in doc["config"])
        assert not set(doc["config"]) & {f"breakeven:{k}" for k in SECRET_KEYS}
        assert (ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text().startswith("#"), "each stack says why it is shaped so"


def test_defaults_merge_under_the_stack_and_unset_secrets_stay_unset():
    cfg = stackconfig.load("dev")
    assert cfg.values["breakeven:namespace"] == "llm"          # Pulumi.yaml default
    assert cfg.values["breakeven:production"] == "false"       # stack value, as the engine passes it
    assert json.loads(cfg.values["breakeven:models"])[0]["name"] == "chat-8b"
    # Declared secret but not set in the stack: unset, so the preview lists what it blocks (infra/config/blockers.py).
    assert cfg.secret_keys == () and "breakeven:hfToken" not in cfg.values
    given = stackconfig.load("dev", secrets={"breakeven:hfToken": "hf_x"})
    assert given.secret_keys == ("breakeven:hfToken",) and given.values["breakeven:hfToken"] == "hf_x"


def test_secure_values_in_a_stack_file_are_never_read(tmp_path):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    doc["config"]["breakeven:hfToken"] = {"secure": "v1:ENCRYPTEDBLOB"}
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump(doc))
    cfg = stackconfig.load("dev", tmp_path)
    assert "breakeven:hfToken" in cfg.secret_keys
    assert cfg.values["breakeven:hfToken"] == cfg.placeholders["breakeven:hfToken"]
    assert "ENCRYPTEDBLOB" not in json.dumps(cfg.values)


def test_program_reads_config_the_way_the_cli_passes_it(monkeypatch):
    """The Python language host passes config in PULUMI_CONFIG and the secret keys beside it."""
    from pulumi.runtime import config as runtime_config

    cfg = stackconfig.load("prod", secrets={"breakeven:hfToken": "x", "breakeven:vllmApiKey": "y"})
    runtime_config.set_all_config({}, [])
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({**cfg.values, "breakeven:hfToken": "hf_real_token_value"}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(list(cfg.secret_keys)))
    raw = program.raw_config()
    assert raw["breakeven:hfToken"] == "[secret]" and "hf_real_token_value" not in json.dumps(raw)
    values, secrets = decode(raw)
    assert secrets == {"hfToken", "vllmApiKey"} and values["models"][0]["name"] == "chat-70b"


def _stack_file(tmp_path, text: str, stack: str = "x"):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir(exist_ok=True)
    (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(text)
    with pytest.raises(InputError) as info:
        stackconfig.load(stack, tmp_path)
    return info.value


@pytest.mark.parametrize("text,allowed", [
    ("", "a stack file with a `config:` mapping"),
    ("# only a comment\n", "a stack file with a `config:` mapping"),
    ("config:\n  breakeven:models: [\n", "a valid YAML document"),
    ("config:\n\tbreakeven:production: true\n", "a valid YAML document"),
    ("- a list\n", "a mapping with a `config:` section"),
    ("config: 3\n", "a mapping of `namespace:key`"),
])
def test_a_broken_stack_file_is_named_not_blamed_on_a_key(tmp_path, text, allowed):
    err = _stack_file(tmp_path, text)
    assert err.key.startswith("stacks/Pulumi.x.yaml") and allowed in err.allowed


def test_a_yaml_syntax_error_gives_the_line(tmp_path):
    err = _stack_file(tmp_path, "config:\n  breakeven:production: true\n  breakeven:models: [\n")
    assert "line 4" in err.value


@pytest.mark.parametrize("key", ["breakeven:hfToken", "breakeven:vllmApiKey"])
def test_a_plaintext_secret_is_refused_with_the_command_to_run_and_never_echoed(tmp_path, key):
    err = _stack_file(tmp_path, f"config:\n  {key}: hf_PLAINTEXTvalue0123456789abcdefgh\n", stack="dev")
    assert err.key == f"stacks/Pulumi.dev.yaml: {key}"
    assert f"pulumi config set --secret {key} <value> --stack dev" in err.allowed
    assert "PLAINTEXT" not in str(err)


def test_a_token_anywhere_in_a_stack_file_is_refused_and_never_echoed(tmp_path):
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    doc["config"]["breakeven:models"][0]["extraArgs"] = ["--hf-token=hf_LEAKEDvalue0123456789abcdefghij"]
    err = _stack_file(tmp_path, yaml.safe_dump(doc), stack="dev")
    assert err.key == "stacks/Pulumi.dev.yaml: breakeven:models" and "LEAKED" not in str(err)
