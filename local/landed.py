"""A scenario's session written straight into landing objects, as the archive worker writes
them (participants sorted by id, chunk by chunk, then the session row), with no IVS, queue or
ledger in between: what benchmarks and tests of the query tables start from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from archiver.commit import LandedSession
from archiver.landing import Landing
from archiver.rows import event_rows, participant_row, session_row
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from archiver.writer import SessionKeys, parquet_bytes


def as_parsed(value: Any, key: str = "") -> Any:
    """A scenario record as boto3 parses IVS's answer: its `...Time` members as aware
    datetimes, recursively."""
    if isinstance(value, dict):
        return {k: as_parsed(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [as_parsed(v) for v in value]
    if isinstance(value, str) and key.endswith("Time"):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def land_session(
    landing: Landing,
    stage_arn: str,
    stage_name: str,
    record: dict[str, Any],
    *,
    archived_at: datetime,
    chunk_size: int,
    prefix: str = "",
) -> tuple[LandedSession, dict[str, int]]:
    """Writes the ended session `record` (scenario form); the session as the worker reports it,
    and the rows written per table."""
    session = as_parsed(record)
    session_id = session["sessionId"]
    keys = SessionKeys(prefix, stage_arn, session_id, session["startTime"])
    people = sorted(session["participants"], key=lambda p: p["participantId"])
    chunks = [people[i : i + chunk_size] for i in range(0, len(people), chunk_size)]
    events_total = 0
    for number, chunk in enumerate(chunks):
        rows, events = [], []
        for p in chunk:
            mine = event_rows(
                stage_arn, session_id, p["participantId"], p.get("userId"), p["events"]
            )
            events += mine
            rows.append(participant_row(stage_arn, session_id, p, event_count=len(mine)))
        events_total += len(events)
        landing.write(keys.participants(number), parquet_bytes(PARTICIPANTS, rows))
        landing.write(keys.events(number), parquet_bytes(PARTICIPANT_EVENTS, events))
    row = session_row(
        stage_arn,
        stage_name,
        session,
        participant_count=len(people),
        event_count=events_total,
        archived_at=archived_at,
    )
    landing.write(keys.session(), parquet_bytes(STAGE_SESSIONS, [row]))
    counts = {
        STAGE_SESSIONS.name: 1,
        PARTICIPANTS.name: len(people),
        PARTICIPANT_EVENTS.name: events_total,
    }
    return LandedSession(keys, len(chunks)), counts
