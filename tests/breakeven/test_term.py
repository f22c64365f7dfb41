"""Reports on the terminal: colour only where the terminal supports it, plain text everywhere else."""

from __future__ import annotations

import re

import pytest

from breakeven import term

REPORT = "Verdict: SELF-HOST\n  - self-hosting costs $1,234.56/month\nResult: FAILED, a mandatory policy is violated"
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;[0-9;]+|9[0-7])m")   # a foreground colour code


@pytest.fixture
def tty(monkeypatch):
    for var in ("NO_COLOR", "TERM", "COLORTERM", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")   # what rich reads to treat the output as a colour terminal
    monkeypatch.setenv("TERM", "xterm-256color")
    return monkeypatch


def test_a_pipe_gets_the_text_exactly(capsys, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    term.show(REPORT)
    assert capsys.readouterr().out == REPORT + "\n"


def test_a_colour_terminal_gets_verdicts_and_failures_coloured(capsys, tty):
    term.show(REPORT)
    out = capsys.readouterr().out
    assert COLOUR.search(out)
    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == REPORT + "\n"   # the same text under the colour


def test_no_color_turns_colour_off(capsys, tty):
    tty.setenv("NO_COLOR", "1")
    term.show(REPORT)
    out = capsys.readouterr().out
    assert not COLOUR.search(out) and re.sub(r"\x1b\[[0-9;]*m", "", out) == REPORT + "\n"


def test_progress_yields_every_item_and_writes_nothing_off_a_terminal(capsys, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert list(term.progress(iter(range(5)), 5, "pricing")) == [0, 1, 2, 3, 4]
    assert capsys.readouterr().err == ""
