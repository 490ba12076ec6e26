"""Query results as tables for people: rich tables that fit the terminal, readable values.

On a terminal a table is as wide as the terminal (or `COLUMNS`), its cells wrapped to fit; into
a file or a pipe it keeps its natural width (no line is cut or wrapped). Times lose their
microseconds, a column named `*_ms` or `*_s` reads as a duration (`3h 52m`) under its name
without the unit, numbers get thousands separators, null is a dim `null`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

_UNITS = {"_ms": 0.001, "_s": 1.0}  # column suffix -> seconds per unit of a duration column
_NATURAL_WIDTH = 100_000  # "unlimited": a file or a pipe has no width to fit


def duration(seconds: float) -> str:
    """`3h 52m`, `12m 5s`, `10.5s`, `250ms`: the two largest units, truncated."""
    sign, left = ("-", -seconds) if seconds < 0 else ("", seconds)
    if 0 < left < 1:
        return f"{sign}{round(left * 1000)}ms"
    if left < 60:
        tenths = int(left * 10)
        return f"{sign}{tenths / 10:.1f}s" if tenths % 10 else f"{sign}{tenths // 10}s"
    whole = int(left)
    days, whole = divmod(whole, 86_400)
    hours, whole = divmod(whole, 3_600)
    minutes, secs = divmod(whole, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next((i for i, (n, _) in enumerate(parts) if n), 3)
    return sign + " ".join(f"{n}{unit}" for n, unit in parts[first : first + 2])


def _unit(column: str) -> float | None:
    return next((scale for suffix, scale in _UNITS.items() if column.endswith(suffix)), None)


def header(column: str) -> str:
    """The heading of a column: a duration column's name without its unit."""
    for suffix in _UNITS:
        if column.endswith(suffix) and len(column) > len(suffix):
            return column.removesuffix(suffix)
    return column


def cell(value: Any, column: str = "") -> str:
    """One value as text."""
    scale = _unit(column)
    if value is None:
        return "null"
    if scale is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return duration(value * scale)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def _numeric(rows: Sequence[Sequence[Any]], index: int) -> bool:
    values = [row[index] for row in rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


class Renderer:
    """Prints headings and result tables on one console."""

    def __init__(self, *, limit: int = 40, file: TextIO | None = None) -> None:
        stream = file or sys.stdout
        self.console = Console(
            file=stream,
            width=None if stream.isatty() else _NATURAL_WIDTH,
            highlight=False,
            markup=False,
            emoji=False,
        )
        self.limit = limit

    def heading(self, text: str) -> None:
        self.console.print(Text(text))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A titled table of `rows` (at most `limit` of them, and how many more there are)."""
        shown = rows if not self.limit else rows[: self.limit]
        texts = [[cell(v, c) for v, c in zip(row, columns, strict=True)] for row in shown]
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for index, column in enumerate(columns):
            right = _numeric(rows, index)
            table.add_column(header(column), justify="right" if right else "left", overflow="fold")
        for row, values in zip(shown, texts, strict=True):
            table.add_row(
                *(
                    Text(t, style="dim" if v is None else "")
                    for v, t in zip(row, values, strict=True)
                )
            )
        self.console.print()
        self.console.print(Text(title, style="bold"))
        self.console.print(table)
        hidden = len(rows) - len(shown)
        count = f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
        more = f", {hidden:,} not shown (--limit 0 shows all)" if hidden else ""
        self.console.print(Text(f"({count}{more})", style="dim"))
