"""The command line imports only the command it runs: `breakeven --help` lists every command, each command's --help
shows all its flags, and a run imports no other command's module (docs/performance.md, the CLI's imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from breakeven import cli

ROOT = Path(__file__).resolve().parents[2]


def _flags(parser, name: str) -> list[tuple[str, ...]]:
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]
    return [tuple(a.option_strings) or (a.dest,) for a in sub._actions]


@pytest.mark.parametrize("name", list(cli.HELP))
def test_a_command_built_alone_has_every_flag_it_has_among_all(name):
    assert _flags(cli.build_parser([name]), name) == _flags(cli.build_parser(), name)


def test_the_top_help_lists_every_command_with_its_line(capsys):
    assert cli.main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name, line in cli.HELP.items():
        assert f"{name} {' '.join(line.split())}" in out


@pytest.mark.parametrize("name", list(cli.HELP))
def test_each_command_help_is_its_own(name, capsys):
    assert cli.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: breakeven {name} ")
    if name != "seeds":   # the one command without flags
        assert out.count("  --") >= 1


def _imported_commands(argv: list[str]) -> list[str]:
    """The command modules a fresh interpreter has imported after running `breakeven ARGV`."""
    script = ("import contextlib, io, sys\nfrom breakeven import cli\n"
              "with contextlib.redirect_stdout(io.StringIO()):\n    cli.main(sys.argv[1:])\n"
              "print(' '.join(n for n in cli.MODULES.values() if n in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, cwd=ROOT, check=True)
    return done.stdout.split()


def test_a_run_imports_only_its_own_command_module():
    assert _imported_commands(["--help"]) == []
    assert _imported_commands(["gpucheck", "--format", "json"]) == ["breakeven.gpucheck"]
    assert _imported_commands(["optimize", "--help"]) == ["breakeven.optimize"]
