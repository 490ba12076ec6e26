"""Query results as tables for people: rich tables that fit the terminal, readable values.

On a terminal (its width, or `COLUMNS`) a table never breaks a value. When it is wider than the
terminal, free text wraps between its words, a column's name between the parts of its name
(`sessions_` / `joined_anyway`), and the longest words (ids, codes) are shortened in the middle
(`st-Uf…KD6j`), the widest columns first; a table that cannot fit even so is shown one record at
a time, each value whole beside its column's name. Into a file or a pipe a table keeps its
natural width: no line is cut or wrapped and no value shortened (`| less -S` shows a wide table
whole). Times lose their microseconds, a column named `*_ms` or `*_s` reads as a duration
(`3h 52m`) under its name without the unit, numbers get thousands separators, null is a dim
`null`.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

_UNITS = {"_ms": 0.001, "_s": 1.0}  # column suffix -> seconds per unit of a duration column
_NATURAL_WIDTH = 100_000  # "unlimited": a file or a pipe has no width to fit
ELLIPSIS = "…"
SHORTEST = 10  # a value is never shortened below this many cells (5 of its head, 4 of its tail)
GAP = 2  # cells between two columns of a table


def counted(count: int, noun: str) -> str:
    """`1 session`, `2,000 sessions`: a count and its noun, in the plural unless 1."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


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


def shortened(text: str, width: int) -> str:
    """`text` in at most `width` cells: when longer, its head and tail around an ellipsis
    (`st-Uf…KD6j`), so that both ends of an id stay readable."""
    if cell_len(text) <= width:
        return text
    keep = max(width - 1, 0)
    head = _within(text, (keep + 1) // 2)
    tail = _within(text[::-1], keep // 2)[::-1]
    return head + ELLIPSIS + tail


def _within(text: str, cells: int) -> str:
    """The longest start of `text` that takes at most `cells` cells."""
    taken = ""
    for character in text:
        if cell_len(taken + character) > cells:
            break
        taken += character
    return taken


def _numeric(rows: Sequence[Sequence[Any]], index: int) -> bool:
    values = [row[index] for row in rows if row[index] is not None]
    return bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


@dataclass(frozen=True)
class _Cell:
    text: str
    words: list[str]  # where the text may wrap: the whole text for a value that must stay whole
    shrinks: bool  # whether a word wider than its column may be shortened in the middle
    dim: bool

    @classmethod
    def of(cls, value: Any, column: str) -> _Cell:
        text = cell(value, column)
        if isinstance(value, str):  # free text: wraps between words; ids and codes shorten
            return cls(text, text.split() or [""], True, False)
        # A number, a time, a duration, true/false or null stays whole; JSON may shorten.
        return cls(text, [text], isinstance(value, list | dict), value is None)

    def least(self, *, shortening: bool) -> int:
        """The fewest cells it can take without breaking a word: its longest word, or with
        `shortening` no more than `SHORTEST` for a word that may be shortened."""
        sizes = [cell_len(w) for w in self.words]
        if shortening and self.shrinks:
            return max(min(size, SHORTEST) for size in sizes)
        return max(sizes)

    def at(self, width: int) -> tuple[str, bool]:
        """(its text in lines of at most `width` cells, whether a word was shortened)."""
        if cell_len(self.text) <= width:
            return self.text, False
        words = [shortened(word, width) if self.shrinks else word for word in self.words]
        return "\n".join(_packed(words, width, " ")), words != self.words


def _packed(words: Sequence[str], width: int, joiner: str) -> list[str]:
    """`words` put on lines of at most `width` cells, as many on each line as fit."""
    lines: list[str] = []
    for word in words:
        if lines and cell_len(lines[-1] + joiner + word) <= width:
            lines[-1] += joiner + word
        else:
            lines.append(word)
    return lines


def _name_parts(name: str) -> list[str]:
    """Where a column's name may wrap: after each `_` (`sessions_`, `joined_`, `anyway`)."""
    return re.findall(r"[^_]*_+|[^_]+", name) or [name]


def _widths(levels: list[list[int]], room: int) -> list[int] | None:
    """Each column's width in a table of at most `room` cells (gaps included). `levels` are
    the columns' widths from the widest (natural) to the narrowest they can take, each level
    losing more than the one before (names wrapped, then free text wrapped, then words
    shortened): the first level that fits is reached from the one before it by narrowing the
    widest columns first. None when not even the last level fits."""
    room -= GAP * (len(levels[0]) - 1)
    if sum(levels[0]) <= room:
        return levels[0]
    for wider, narrower in itertools.pairwise(levels):
        if sum(narrower) <= room:
            return _narrowed(wider, narrower, room)
    return None


def _narrowed(wide: list[int], least: list[int], room: int) -> list[int]:
    """`wide` narrowed to `room` cells in all, the widest columns first, none below `least`."""

    def capped(cap: int) -> list[int]:
        return [max(low, min(width, cap)) for width, low in zip(wide, least, strict=True)]

    cap = max(wide)
    while sum(capped(cap)) > room:
        cap -= 1
    widths = capped(cap)
    for index, width in enumerate(wide):  # what is left goes to the narrowed columns
        if sum(widths) < room and widths[index] < width:
            widths[index] += 1
    return widths


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
        cells = [[_Cell.of(v, c) for v, c in zip(row, columns, strict=True)] for row in shown]
        names = [header(column) for column in columns]
        named = [max(map(cell_len, _name_parts(name))) for name in names]
        texts = [max([0, *(cell_len(row[i].text) for row in cells)]) for i in range(len(names))]
        whole = [
            max([0, *(row[i].least(shortening=False) for row in cells)]) for i in range(len(names))
        ]
        short = [
            max([0, *(row[i].least(shortening=True) for row in cells)]) for i in range(len(names))
        ]
        levels = [
            [max(cell_len(name), text) for name, text in zip(names, texts, strict=True)],
            [max(low, text) for low, text in zip(named, texts, strict=True)],
            [max(low, least) for low, least in zip(named, whole, strict=True)],
            [max(low, least) for low, least in zip(named, short, strict=True)],
        ]
        widths = _widths(levels, self.console.width)
        self.console.print()
        self.console.print(Text(title, style="bold"))
        if widths is None:
            self._records(names, cells)
            shortened_any = False
        else:
            right = [_numeric(rows, index) for index in range(len(columns))]
            shortened_any = self._table(names, cells, widths, right)
        hidden = len(rows) - len(shown)
        notes = [counted(len(rows), "row")]
        if hidden:
            notes[0] += f", {hidden:,} not shown (--limit 0 shows all)"
        if shortened_any:
            notes.append(
                f"{ELLIPSIS} marks values shortened to fit: piped (| less -S) they are whole"
            )
        self.console.print(Text(f"({'; '.join(notes)})", style="dim"))

    def _table(
        self,
        names: list[str],
        cells: list[list[_Cell]],
        widths: list[int],
        right: list[bool],
    ) -> bool:
        """Prints the table at `widths`; whether a value was shortened."""
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for name, width, numeric in zip(names, widths, right, strict=True):
            heading = (
                name
                if cell_len(name) <= width
                else "\n".join(_packed(_name_parts(name), width, ""))
            )
            table.add_column(
                heading, justify="right" if numeric else "left", width=width, no_wrap=True
            )
        shortened_any = False
        for row in cells:
            texts = []
            for value, width in zip(row, widths, strict=True):
                text, short = value.at(width)
                shortened_any |= short
                texts.append(Text(text, style="dim" if value.dim else ""))
            table.add_row(*texts)
        self.console.print(table)
        return shortened_any

    def _records(self, names: list[str], cells: list[list[_Cell]]) -> None:
        """Each row as a record: a numbered rule, then one `name  value` line per column, the
        value whole (on a line of its own when it does not fit beside its name)."""
        pad = max(map(cell_len, names))
        for number, row in enumerate(cells, start=1):
            rule = f"── {number:,} "
            self.console.print(Text(rule + "─" * max(pad + GAP - cell_len(rule), 2), style="dim"))
            for name, value in zip(names, row, strict=True):
                line = Text(name.ljust(pad + GAP), style="bold")
                style = "dim" if value.dim else ""
                if pad + GAP + cell_len(value.text) > self.console.width:
                    self.console.print(line)
                    line = Text("  ")
                line.append(value.text, style=style)
                self.console.print(line, soft_wrap=True)
