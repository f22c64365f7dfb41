"""Reports on the terminal: colour only where the terminal supports it, progress for long runs.

rich decides: no colour codes when stdout is not a terminal (a pipe, a file, CI logs) or when
NO_COLOR is set; the text is then exactly what `cost.report` rendered.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.highlighter import RegexHighlighter
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.theme import Theme

T = TypeVar("T")


class ReportHighlighter(RegexHighlighter):
    """Colours what a reader scans for: verdicts, policy outcomes, money."""

    base_style = "report."
    highlights = [  # noqa: RUF012 -- rich's RegexHighlighter declares it a list
        r"(?P<good>\bSELF-HOST\b|\bpassed\b|\bno violations\b|\bwithin\b)",
        r"(?P<bad>\bFAILED\b|\bOVER\b|\bmandatory\b|\bnever\b|\bincrease[sd]?\b)",
        r"(?P<warn>\bHYBRID\b|\badvisory\b)",
        r"(?P<api>Verdict: API\b)",
        r"(?P<money>\$[0-9][0-9,]*\.[0-9]{2})",
    ]


THEME = Theme({"report.good": "bold green", "report.bad": "bold red", "report.warn": "bold yellow",
               "report.api": "bold cyan", "report.money": "bold"})


def show(text: str) -> None:
    """Print a report for people on stdout, coloured where the terminal supports it."""
    console = Console(highlighter=ReportHighlighter(), theme=THEME, soft_wrap=True)
    console.print(text, markup=False, highlight=True)


def progress(items: Iterable[T], total: int | None, label: str) -> Iterator[T]:
    """Iterate with a progress bar on stderr when it is a terminal; silently otherwise (total None: unknown)."""
    console = Console(file=sys.stderr)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        for item in items:
            yield item
            bar.advance(task)
