"""`breakeven up`: the deploy path runs the offline check and then `pulumi up` with the policy pack."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat

import pytest
import yaml

from breakeven import up
from breakeven.cli import main
from infra.config.stackconfig import ROOT


def _project(tmp_path, stack: str):
    """A copy of the project whose stack file has what the operator sets: a real CIDR and the secrets."""
    tmp_path.mkdir(exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "charts", tmp_path / "charts")
    (tmp_path / "stacks").mkdir()
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    doc["config"]["breakeven:cluster"]["endpoint"]["publicAccessCidrs"] = ["198.18.7.0/24"]
    doc["config"]["breakeven:hfToken"] = {"secure": "v1:ENCRYPTED"}
    doc["config"]["breakeven:vllmApiKey"] = {"secure": "v1:ENCRYPTED"}
    (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def _fake_pulumi(tmp_path, monkeypatch):
    """A `pulumi` on PATH that records how it was called."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "pulumi"
    record = tmp_path / "argv.json"
    exe.write_text(f"#!/bin/sh\npython3 -c 'import json,os,sys; json.dump([sys.argv[1:], os.getcwd()], "
                   f"open(\"{record}\", \"w\"))' \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return record


def _args(stack: str, **kw) -> argparse.Namespace:
    return argparse.Namespace(stack=stack, policy_pack_config=kw.get("config"), yes=kw.get("yes", False),
                              dry_run=kw.get("dry_run", False))


@pytest.mark.helm
def test_an_example_stack_is_refused_before_pulumi_runs(tmp_path, monkeypatch, capsys):
    record = _fake_pulumi(tmp_path, monkeypatch)
    assert main(["up", "--stack", "dev"]) == 1
    err = capsys.readouterr().err
    assert "refusing `pulumi up` of dev" in err and "breakeven:cluster.endpoint.publicAccessCidrs[0]" in err
    assert "breakeven:hfToken" in err and not record.exists()


@pytest.mark.helm
def test_once_set_it_runs_pulumi_up_with_the_policy_pack_and_its_config(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path / "project", "prod")
    record = _fake_pulumi(tmp_path, monkeypatch)
    config = ROOT / "policies" / "config.example.json"   # grants prod its fine-tuned exemption (trust.example.json)
    models = yaml.safe_load((root / "stacks" / "Pulumi.prod.yaml").read_text())
    models["config"]["breakeven:models"][0]["source"] = "acme-support/llama-3.3-70b-support-ft"
    (root / "stacks" / "Pulumi.prod.yaml").write_text(yaml.safe_dump(models))
    assert up.run(_args("prod", config=str(config), yes=True), root) == 0
    argv, cwd = json.loads(record.read_text())
    assert argv == ["up", "--stack", "prod", "--policy-pack", "policies", "--policy-pack-config", str(config), "--yes"]
    assert cwd == str(root)


@pytest.mark.helm
def test_a_mandatory_policy_violation_refuses_the_stack(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path / "project", "uneconomic")
    record = _fake_pulumi(tmp_path, monkeypatch)
    assert up.run(_args("uneconomic"), root) == 1
    assert "(mandatory)" in capsys.readouterr().err and not record.exists()


@pytest.mark.helm
def test_the_organisations_policy_config_is_the_one_checked(tmp_path, monkeypatch, capsys):
    """prod's on-demand bill (no Savings Plan named) is over a $45,000 budget the organisation's config sets."""
    root = _project(tmp_path / "project", "prod")
    doc = yaml.safe_load((root / "stacks" / "Pulumi.prod.yaml").read_text())
    doc["config"]["breakeven:models"][0]["source"] = "acme-support/llama-3.3-70b-support-ft"
    (root / "stacks" / "Pulumi.prod.yaml").write_text(yaml.safe_dump(doc))
    record = _fake_pulumi(tmp_path, monkeypatch)
    config = tmp_path / "policy-config.json"
    example = json.loads((ROOT / "policies" / "config.example.json").read_text())
    trust = str(ROOT / "policies" / "trust.example.json")
    config.write_text(json.dumps({k: {**v, "trust": trust} for k, v in example.items()}
                                 | {"monthly-budget": {"maxMonthlyUsd": 45000, "trust": trust}}))
    assert up.run(_args("prod", config=str(config)), root) == 1
    assert "policy monthly-budget (mandatory)" in capsys.readouterr().err and not record.exists()


@pytest.mark.helm
def test_dry_run_prints_the_command_and_a_missing_config_file_is_a_bad_input(tmp_path, capsys):
    root = _project(tmp_path, "dev")
    assert up.run(_args("dev", dry_run=True), root) == 0
    assert capsys.readouterr().out.strip() == "pulumi up --stack dev --policy-pack policies"
    assert main(["up", "--stack", "dev", "--policy-pack-config", str(tmp_path / "nope.json")]) == 2


DOCUMENTS = ["README.md", "CONTRIBUTING.md", "policies/README.md", "stacks/README.md",
             *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCUMENTS)
def test_no_document_shows_pulumi_up_without_the_pack(path):
    for line in (ROOT / path).read_text().splitlines():
        if "pulumi up" in line and line.lstrip().startswith(("pulumi up", "$ pulumi up")):
            assert "--policy-pack policies" in line, f"{path}: {line}"
