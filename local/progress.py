"""`python -m local run`'s progress on standard error, from a thread of its own: an in-place bar
on a terminal, otherwise a line at least every 10 seconds (a log or CI shows a run is alive)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import Counter
from types import TracebackType
from typing import Any, TextIO

import boto3
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from archiver.ledger import Ledger
from local.pipeline import EmbeddedPipeline
from local.report import ended_sessions, events_of

LINE_EVERY_S = 10.0  # without a terminal: the longest silence
BAR_EVERY_S = 0.5  # on a terminal


class Progress:
    """Reports on a running pipeline from a thread of its own, reading the ledger and the
    simulator's counters: how many ended sessions are archived, how many of their events are
    written (a chunk at a time), how many IVS calls were answered."""

    def __init__(
        self, pipeline: EmbeddedPipeline, scenario: dict[str, Any], stream: TextIO | None = None
    ) -> None:
        self.pipeline = pipeline
        self.stream = stream or sys.stderr
        ended = list(ended_sessions(scenario))
        self.sessions = len(ended)
        self.events = sum(events_of(session) for _, session in ended)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._report, name="progress", daemon=True)
        self._started = time.monotonic()
        self._ledger: Ledger | None = None
        self._state = (0, f"0/{self.sessions} sessions")

    def __enter__(self) -> Progress:
        # A session of its own: boto3's default session is not for sharing between threads.
        resource = boto3.session.Session().resource("dynamodb")
        self._ledger = Ledger(self.pipeline.ledger_table, resource=resource)
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def state(self) -> tuple[int, str]:
        """(events written, one line on where the run is); the last one known when the ledger
        cannot be read just now."""
        with contextlib.suppress(Exception):  # better a report skipped than a traceback
            self._state = self._read()
        return self._state

    def _read(self) -> tuple[int, str]:
        assert self._ledger is not None
        items = self._ledger.sessions()
        statuses = Counter(item["status"] for item in items)
        done = statuses["ARCHIVED"] + statuses["EXPIRED"]
        written = sum(int(n) for item in items for n in item.get("eventsByChunk", {}).values())
        calls = sum(self.pipeline.simulator.stats()["api_calls"].values())
        retried = self.pipeline.invocation_errors
        text = (
            f"{done}/{self.sessions} sessions, {written:,}/{self.events:,} events, "
            f"{calls:,} IVS calls" + (f", {retried} failed invocations" if retried else "")
        )
        return written, text

    def _report(self) -> None:
        if self.stream.isatty():
            self._bar()
        else:
            self._lines()

    def _lines(self) -> None:
        due = self._started  # the first line at once, then one every LINE_EVERY_S
        while True:
            stopped = self._stop.wait(max(0.0, due - time.monotonic()))
            due += LINE_EVERY_S
            elapsed = time.monotonic() - self._started
            print(f"[{elapsed:5.0f} s] archiving: {self.state()[1]}", file=self.stream, flush=True)
            if stopped:
                return

    def _bar(self) -> None:
        console = Console(file=self.stream, highlight=False, markup=False)
        columns = (
            TextColumn("archiving"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
        )
        with Bar(*columns, console=console) as bar:
            task = bar.add_task("", total=max(self.events, 1))
            while True:
                stopped = self._stop.wait(BAR_EVERY_S)
                written, text = self.state()
                bar.update(task, completed=written, description=text)
                if stopped:
                    return
