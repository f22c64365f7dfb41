"""`breakeven up`: the one way to deploy a stack, with the gate.

First the offline preview of the stack file (infra/offline/preview.py): its blockers (infra/config/blockers.py) and
the policy pack's mandatory violations stop here, before the Pulumi CLI is called. Then it runs
`pulumi up --stack <stack> --policy-pack policies [--policy-pack-config <file>]`, so the pack judges
the real plan too and a mandatory violation stops the update; the program itself refuses blockers
outside preview. Never `pulumi up` without the pack.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from cost.errors import InputError
from infra.config.stackconfig import ROOT

POLICY_PACK = "policies"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of `breakeven up`: the stack, the policy pack's config, --yes and --dry-run."""
    p.add_argument("--stack", required=True, help="a stack in stacks/ (dev, prod, ...)")
    p.add_argument("--policy-pack-config", metavar="FILE",
                   help="the organisation's policy config (e.g. policies/config.example.json): production scope, "
                        "grants, budgets")
    p.add_argument("--yes", action="store_true", help="pass --yes to pulumi up (no interactive confirmation)")
    p.add_argument("--dry-run", action="store_true", help="check and print the pulumi command without running it")


def command(stack: str, policy_config: str | None, yes: bool) -> list[str]:
    """The `pulumi up` line: always with the policy pack."""
    cmd = ["pulumi", "up", "--stack", stack, "--policy-pack", POLICY_PACK]
    if policy_config:
        cmd += ["--policy-pack-config", policy_config]
    return cmd + (["--yes"] if yes else [])


def problems(stack: str, root: Path = ROOT, policy_config: str | None = None) -> list[str]:
    """What stops the stack before the CLI: its blockers and the pack's mandatory violations under the
    policy config `pulumi up` will get, one line each."""
    from infra.offline import preview
    from policies.runner import evaluate

    p = preview.plan(stack, root=root)
    out = [f"blocker {b['key']}: {b['message']}" for b in p.blockers]
    violations = evaluate(p.resources, policy_config, mode="inprocess", stack=stack)
    out += [f"policy {v.policy} (mandatory): {v.message.splitlines()[-1]}" for v in violations if v.mandatory]
    return out


def run(args: argparse.Namespace, root: Path = ROOT) -> int:
    """0: deployed (or, with --dry-run, ready to); 1: refused or pulumi failed; 2: a bad input or no CLI.
    root: the project directory (Pulumi.yaml, stacks/, charts/, policies/), where pulumi runs."""
    if args.policy_pack_config is not None and not Path(args.policy_pack_config).is_file():
        raise InputError("--policy-pack-config", args.policy_pack_config, "a readable policy config JSON file")
    found = problems(args.stack, root, args.policy_pack_config)
    if found:
        print(f"breakeven: refusing `pulumi up` of {args.stack}; nothing was run:", file=sys.stderr)
        for line in found:
            print(f"  - {line}", file=sys.stderr)
        return 1
    cmd = command(args.stack, args.policy_pack_config, args.yes)
    print(" ".join(cmd))
    if args.dry_run:
        return 0
    exe = shutil.which("pulumi")
    if exe is None:
        raise InputError("pulumi", None, "the Pulumi CLI on PATH (https://www.pulumi.com/docs/install/)")
    return subprocess.call([exe, *cmd[1:]], cwd=root)
