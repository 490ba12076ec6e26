"""What a command prints: tables and lines for people (rich, fitting the terminal, as `python -m
local query` prints them), or one JSON document with `--json`, for scripts. Progress and
questions go to standard error, so standard output stays clean for either."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from shared.render import Renderer, cell, counted, duration

__all__ = ["Output", "cell", "counted", "duration", "iso", "when"]

NATURAL_WIDTH = 100_000  # into a file or a pipe: lines are not wrapped


def iso(moment: datetime | None) -> str | None:
    """A time as JSON carries it: ISO 8601, UTC, `Z`, milliseconds."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def when(moment: datetime) -> str:
    """A time for people: `2026-12-01 11:55:00 UTC`."""
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat(sep=" ") + " UTC"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value)
    return str(value)


class Output:
    def __init__(
        self,
        *,
        as_json: bool = False,
        limit: int = 0,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.as_json = as_json
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.renderer = Renderer(limit=limit, file=self.stdout)
        self.console = self.renderer.console
        self.progress_console = Console(
            file=self.stderr,
            width=None if self.stderr.isatty() else NATURAL_WIDTH,
            highlight=False,
            markup=False,
            emoji=False,
        )

    def data(self, document: Any) -> None:
        """The command's result for scripts (only with --json)."""
        if self.as_json:
            json.dump(document, self.stdout, default=_default, indent=2, ensure_ascii=False)
            self.stdout.write("\n")
            self.stdout.flush()

    def line(self, text: str = "", style: str = "") -> None:
        """A line for people (not printed with --json)."""
        if not self.as_json:
            self.console.print(Text(text, style=style))

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        if not self.as_json:
            self.renderer.table(title, columns, rows)

    def fields(self, title: str, pairs: list[tuple[str, str]]) -> None:
        """A titled list of `name  value` lines, the values wrapped to fit the terminal."""
        if self.as_json:
            return
        table = Table(box=box.SIMPLE, show_header=False, show_edge=False, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for name, value in pairs:
            table.add_row(Text(name), Text(value))
        self.console.print(Text(title, style="bold"))
        self.console.print(table)

    def note(self, text: str) -> None:
        """Progress and hints: standard error, with or without --json."""
        self.progress_console.print(Text(text))
