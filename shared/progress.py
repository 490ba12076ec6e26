"""Progress on standard error while a command waits on AWS: an in-place bar on a terminal,
otherwise a line at once and then at most every 10 seconds (a log shows the command is alive)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

LINE_EVERY_S = 10.0


class Progress:
    def __init__(self, label: str, total: int, stream: TextIO, *, quiet: bool = False) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self.quiet = quiet
        self._bar: Bar | None = None
        self._task: TaskID | None = None
        self._started = time.monotonic()
        self._last_line = float("-inf")
        self._last_text = ""

    def __enter__(self) -> Progress:
        if self.stream.isatty() and not self.quiet:
            console = Console(file=self.stream, highlight=False, markup=False, emoji=False)
            self._bar = Bar(
                TextColumn(self.label),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=max(self.total, 1))
        return self

    def update(self, done: int, text: str) -> None:
        if self.quiet:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, description=text)
            return
        now = time.monotonic()
        if now - self._last_line >= LINE_EVERY_S:
            self._line(done, text)

    def _line(self, done: int, text: str) -> None:
        elapsed = time.monotonic() - self._started
        line = f"[{elapsed:5.0f} s] {self.label}: {done:,}/{self.total:,} {text}".rstrip()
        print(line, file=self.stream, flush=True)
        self._last_line = time.monotonic()
        self._last_text = f"{done}/{text}"

    def finish(self, done: int, text: str) -> None:
        """The last state, on a line of its own when there is no bar (unless just printed)."""
        if self.quiet:
            return
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, description=text)
        elif self._last_text != f"{done}/{text}":
            self._line(done, text)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
