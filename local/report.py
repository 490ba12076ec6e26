"""What `python -m local run` tells its user: progress while it runs, an account when it is done.

Progress goes to standard error: an in-place bar on a terminal, otherwise a line at least every
10 seconds. The account (standard output) places every session of the scenario, with its
participants and events, in one of: archived, still active (IVS archives nothing of a session
until it ends), expired (IVS forgot it first), dead-lettered (and why), or not archived
otherwise; so that the numbers add up to what `generate` printed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import boto3
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from archiver.ledger import Ledger
from local.pipeline import MAX_RECEIVES, EmbeddedPipeline

LINE_EVERY_S = 10.0  # without a terminal: the longest silence
BAR_EVERY_S = 0.5  # on a terminal
NAMES_SHOWN = 5  # sessions named per kind in the account; the rest are counted

ARCHIVED = "archived"
ACTIVE = "still active"
EXPIRED = "expired"
DEAD = "dead-lettered"
NOT_QUEUED = "never queued"
UNFINISHED = "not archived"
KINDS = (ARCHIVED, ACTIVE, EXPIRED, DEAD, NOT_QUEUED, UNFINISHED)


def ended_sessions(scenario: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(stage, session) for each ended session of the scenario."""
    for stage in scenario["stages"]:
        for session in stage.get("sessions", []):
            if session.get("endTime") is not None:
                yield stage, session


def _events(session: dict[str, Any]) -> int:
    return sum(len(p.get("events", [])) for p in session.get("participants", []))


# --- progress -----------------------------------------------------------------------------------
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
        self.events = sum(_events(session) for _, session in ended)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._report, name="progress", daemon=True)
        self._started = time.monotonic()
        self._ledger: Ledger | None = None
        self._first = True

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

    def state(self) -> tuple[int, int, str]:
        """(events written, sessions done, one line on where the run is)."""
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
        return written, done, text

    def _report(self) -> None:
        if self.stream.isatty():
            self._bar()
        else:
            self._lines()

    def _lines(self) -> None:
        while True:
            stopped = self._stop.wait(0 if self._first else LINE_EVERY_S)
            self._first = False
            elapsed = time.monotonic() - self._started
            print(f"[{elapsed:5.0f} s] archiving: {self.state()[2]}", file=self.stream, flush=True)
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
                written, _, text = self.state()
                bar.update(task, completed=written, description=text)
                if stopped:
                    return


# --- the account --------------------------------------------------------------------------------
@dataclass
class Fate:
    """What became of one session of the scenario."""

    stage_name: str
    session_id: str
    participants: int
    events: int
    kind: str
    reason: str = ""

    def named(self) -> str:
        return f"{self.session_id} ({self.stage_name})"


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"].removeprefix("STAGE#"), item["sk"].removeprefix("SESSION#")


def fates(
    scenario: dict[str, Any],
    ledger: Iterable[dict[str, Any]],
    dead_letters: Iterable[str],
    errors: dict[str, str],
    not_queued: str = "",
) -> list[Fate]:
    """Every session of the scenario with what became of it, from the ledger, the bodies taken
    off the dead-letter queue, the last error of each message body and why sessions may not
    have been queued at all."""
    items = {_key(item): item for item in ledger}
    dead: dict[tuple[str, str], str] = {}
    for body in dead_letters:
        try:
            message = json.loads(body)
            dead[message["stageArn"], message["sessionId"]] = body
        except (ValueError, KeyError, TypeError):
            continue  # not a session message: not ours to account for
    found = []
    for stage in scenario["stages"]:
        for session in stage.get("sessions", []):
            key = (stage["arn"], session["sessionId"])
            item = items.get(key, {})
            status = item.get("status")
            kind, reason = UNFINISHED, f"left {status}" if status else ""
            if session.get("endTime") is None:
                kind, reason = ACTIVE, ""
            elif status == "ARCHIVED":
                kind, reason = ARCHIVED, ""
            elif status == "EXPIRED":
                kind, reason = EXPIRED, str(item.get("lastError", ""))
            elif key in dead:
                why = errors.get(dead[key]) or item.get("lastError") or "no error recorded"
                kind, reason = DEAD, why
            elif not item:
                kind, reason = NOT_QUEUED, not_queued or "discovery did not find it"
            found.append(
                Fate(
                    stage.get("name") or stage["arn"].rsplit("/", 1)[-1],
                    session["sessionId"],
                    len(session.get("participants", [])),
                    _events(session),
                    kind,
                    reason,
                )
            )
    return found


def summary(
    fates: list[Fate], stats: dict[str, Any], out: Path, objects: int, file: TextIO | None = None
) -> None:
    """Print the account of a run: where every session, participant and event went."""
    stream = file or sys.stdout
    by_kind: dict[str, list[Fate]] = {kind: [] for kind in KINDS}
    for fate in fates:
        by_kind[fate.kind].append(fate)

    def line(text: str) -> None:
        print(text, file=stream)

    def split(total: int, archived: int, what: str, measure: str) -> str:
        parts = [f"{archived:,} archived"]
        for kind in KINDS[1:]:
            n = sum(getattr(f, measure) for f in by_kind[kind])
            if by_kind[kind]:
                parts.append(f"{n:,} in sessions {kind}")
        return f"{what}: {total:,} in the scenario: " + ", ".join(parts)

    line(f"archive: {out}/ ({objects} objects)")
    counts = [f"{len(by_kind[ARCHIVED])} archived"]
    counts += [f"{len(by_kind[k])} {k}" for k in KINDS[1:] if by_kind[k]]
    line(f"sessions: {len(fates)} in the scenario: " + ", ".join(counts))
    for kind in KINDS[1:]:
        if by_kind[kind]:
            line(f"  {kind}{_LABELS.get(kind, '')}:")
            for text in _names(by_kind[kind]):
                line(f"    {text}")
    participants = sum(f.participants for f in fates)
    events = sum(f.events for f in fates)
    line(split(participants, stats["participants"], "participants", "participants"))
    line(split(events, stats["events"], "events", "events"))
    calls = ", ".join(f"{op} {n:,}" for op, n in sorted(stats["api_calls"].items()) if n)
    line(f"IVS calls: {calls or 'none'}")
    line(f"throttled: {stats['throttled']}  faults injected: {stats['faults_injected']}")
    line(f"elapsed: {stats['elapsed_s']:.1f} s")


_LABELS = {ACTIVE: " (archived once they end)", DEAD: f" (after {MAX_RECEIVES} deliveries each)"}


def _names(fates: list[Fate]) -> list[str]:
    """One line per session (up to NAMES_SHOWN), then how many more."""
    named = [f.named() + (f": {f.reason}" if f.reason else "") for f in fates[:NAMES_SHOWN]]
    return named + ([f"and {len(fates) - NAMES_SHOWN} more"] if len(fates) > NAMES_SHOWN else [])
