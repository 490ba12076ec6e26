"""`ivs-archive local run`'s progress on standard error: a thread reads how far the run got (the
ledgers and the simulators' counters) twice a second and shows it with the console's display
(shared/progress.py: an in-place bar on a terminal, otherwise a line at least every 10 s)."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import Counter
from types import TracebackType
from typing import Any, Protocol, TextIO

import boto3

from archiver.ledger import Ledger
from local.report import ended_sessions, events_of
from shared.progress import Progress as Display

# How often the ledgers are read: each read scans them whole (moto serializes every item),
# which costs the stand-ins' CPU that the archive workers share.
READ_EVERY_S = 1.0


class Watched(Protocol):
    """A run, as its progress reads it: an embedded pipeline, or a run over several places."""

    @property
    def invocation_errors(self) -> int: ...

    def ledger_tables(self) -> list[str]: ...

    def api_calls(self) -> int: ...


class Progress:
    """Reports on a running pipeline from a thread of its own: how many of the scenario's
    events are written (a chunk at a time), how many of its ended sessions are archived, how
    many IVS calls were answered."""

    def __init__(
        self, pipeline: Watched, scenario: dict[str, Any], stream: TextIO | None = None
    ) -> None:
        self.pipeline = pipeline
        ended = list(ended_sessions(scenario))
        self.sessions = len(ended)
        self.display = Display(
            "archiving", sum(events_of(session) for _, session in ended), stream or sys.stderr
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._report, name="progress", daemon=True)
        self._ledgers: list[Ledger] = []
        self._state = (0, f"events, 0/{self.sessions} sessions")

    def __enter__(self) -> Progress:
        # A session of its own: boto3's default session is not for sharing between threads.
        resource = boto3.session.Session().resource("dynamodb")
        self._ledgers = [
            Ledger(table, resource=resource) for table in self.pipeline.ledger_tables()
        ]
        self.display.__enter__()
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
        if kind is None:  # cut short (interrupted, failed), the run says so in a line of its own
            self.display.finish(*self.state())
        self.display.__exit__(kind, error, trace)

    def state(self) -> tuple[int, str]:
        """(events written, the rest of the line); the last one known when the ledger cannot
        be read just now."""
        with contextlib.suppress(Exception):  # better a report skipped than a traceback
            self._state = self._read()
        return self._state

    def _read(self) -> tuple[int, str]:
        items = [
            item for ledger in self._ledgers for item in ledger.sessions("status", "eventsByChunk")
        ]
        statuses = Counter(item["status"] for item in items)
        done = statuses["ARCHIVED"] + statuses["EXPIRED"]
        written = sum(int(n) for item in items for n in item.get("eventsByChunk", {}).values())
        calls = self.pipeline.api_calls()
        retried = self.pipeline.invocation_errors
        text = f"events, {done}/{self.sessions} sessions, {calls:,} IVS calls" + (
            f", {retried} failed invocations" if retried else ""
        )
        return written, text

    def _report(self) -> None:
        self.display.update(*self.state())  # the first line at once
        while not self._stop.wait(READ_EVERY_S):
            self.display.update(*self.state())
