"""The account of a `python -m local run`: what became of every session of the scenario.

Each session, with its participants and events, is archived, still active (IVS archives nothing
of a session until it ends), expired (IVS forgot it first), dead-lettered (with the last error),
never queued (and why) or not archived otherwise; so the numbers add up to what `generate`
printed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

NAMES_SHOWN = 5  # sessions named per kind; the rest are counted

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


def ended_of(scenario: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(stage ARN, session id, end time) for each ended session of the scenario."""
    for stage, session in ended_sessions(scenario):
        yield stage["arn"], session["sessionId"], session["endTime"]


def events_of(session: dict[str, Any]) -> int:
    """How many events a scenario session holds."""
    return sum(len(p.get("events", [])) for p in session.get("participants", []))


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


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _key(item: dict[str, Any]) -> tuple[str, str]:
    return item["pk"].removeprefix("STAGE#"), item["sk"].removeprefix("SESSION#")


def fates(
    scenario: dict[str, Any],
    ledger: Iterable[dict[str, Any]],
    dead_letters: Iterable[str],
    errors: dict[str, str],
    not_queued: str = "",
    *,
    now: datetime | None = None,
) -> list[Fate]:
    """Every session of the scenario with what became of it, from the ledger, the bodies taken
    off the dead-letter queue, the last error of each message body and why sessions may not
    have been queued at all. With `now` (a live replay cut short), a session that had not
    ended by then is still active."""
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
            end = session.get("endTime")
            if end is None or (now is not None and _time(end) > now):
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
                    events_of(session),
                    kind,
                    reason,
                )
            )
    return found


def summary(
    fates: list[Fate],
    stats: dict[str, Any],
    out: Path,
    objects: int,
    file: TextIO | None = None,
    *,
    whole_s: float | None = None,
    interrupted: bool = False,
) -> None:
    """Print the account of a run: where every session, participant and event went, what to
    do about those dead-lettered, and how long it took: the whole run (`whole_s`) and, of it,
    the archiving (`stats["elapsed_s"]`, from the first discovery until the queue was empty)."""
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
            if kind == DEAD:
                for text in _after_dead_letters(stats):
                    line(f"  {text}")
    participants = sum(f.participants for f in fates)
    events = sum(f.events for f in fates)
    line(split(participants, stats["participants"], "participants", "participants"))
    line(split(events, stats["events"], "events", "events"))
    calls = ", ".join(f"{op} {n:,}" for op, n in sorted(stats["api_calls"].items()) if n)
    line(f"IVS calls: {calls or 'none'}")
    outage = stats.get("outage_failures")
    during = "" if outage is None else f" ({outage:,} of them during outages)"
    line(f"throttled: {stats['throttled']}  faults injected: {stats['faults_injected']}{during}")
    until = "the interrupt" if interrupted else "an empty queue"
    archiving = f"{stats['elapsed_s']:.1f} s archiving (from discovery to {until})"
    if whole_s is None:
        line(f"elapsed: {archiving}")
    else:
        line(f"elapsed: {whole_s:.1f} s in all, of which {archiving}")


def _after_dead_letters(stats: dict[str, Any]) -> list[str]:
    """What to do about dead-lettered sessions, deployed and here."""
    here = "here, run again with --force"
    if stats.get("faults_injected"):  # the same faults again, unless...
        here += " (the same --seed injects the same faults: change it, or --fault-rate)"
    return [
        "next: deployed, `ivs-archive redrive` would requeue them, each to resume where it "
        "stopped;",
        here,
    ]


# A session that fails is tried again, later (archiver.retry): one dead-lettered can never
# succeed by itself (malformed, failing for days, or crashing its worker MAX_RECEIVES times).
_LABELS = {ACTIVE: " (archived once they end)", DEAD: " (they cannot succeed by themselves)"}


def _names(fates: list[Fate]) -> list[str]:
    """One line per session (up to NAMES_SHOWN), then how many more."""
    named = [f.named() + (f": {f.reason}" if f.reason else "") for f in fates[:NAMES_SHOWN]]
    return named + ([f"and {len(fates) - NAMES_SHOWN} more"] if len(fates) > NAMES_SHOWN else [])
