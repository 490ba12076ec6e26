"""Landing objects made from a generated scenario (as the archiver writes them, without the
simulator), and the Iceberg tables read back as plain rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from archiver.commit import LandedSession
from archiver.landing import FolderLanding, Landing, read_parquet
from archiver.rows import event_rows, participant_row, session_row
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from archiver.writer import SessionKeys, parquet_bytes
from local.generator import generate_scenario

NAMESPACE = "ivs_stage_archive"
ARCHIVED_AT = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


def _times(value: Any, key: str = "") -> Any:
    """ISO times as boto3 parses them (datetimes), recursively."""
    if isinstance(value, dict):
        return {k: _times(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_times(v) for v in value]
    if isinstance(value, str) and key.endswith("Time"):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


def scenario(seed: int = 7, stages: int = 2, sessions: int = 2, participants: int = 6) -> Any:
    return generate_scenario(seed=seed, stages=stages, sessions=sessions, participants=participants)


def land(
    data: dict[str, Any], landing: Landing, *, prefix: str = "", chunk_size: int = 3
) -> list[LandedSession]:
    """Writes every ended session's landing objects; the sessions, as the worker reports them."""
    landed = []
    for stage in data["stages"]:
        for raw in stage["sessions"]:
            if raw.get("endTime") is None:
                continue
            session = _times(raw)
            arn = stage["arn"]
            keys = SessionKeys(prefix, arn, session["sessionId"], session["startTime"])
            people = sorted(session["participants"], key=lambda p: p["participantId"])
            chunks = [people[i : i + chunk_size] for i in range(0, len(people), chunk_size)]
            events_total = 0
            for number, chunk in enumerate(chunks):
                rows, events = [], []
                for p in chunk:
                    evs = event_rows(
                        arn, keys.session_id, p["participantId"], p.get("userId"), p["events"]
                    )
                    events += evs
                    rows.append(participant_row(arn, keys.session_id, p, event_count=len(evs)))
                events_total += len(events)
                landing.write(keys.participants(number), parquet_bytes(PARTICIPANTS, rows))
                landing.write(keys.events(number), parquet_bytes(PARTICIPANT_EVENTS, events))
            row = session_row(
                arn,
                stage["name"],
                session,
                participant_count=len(people),
                event_count=events_total,
                archived_at=ARCHIVED_AT,
            )
            landing.write(keys.session(), parquet_bytes(STAGE_SESSIONS, [row]))
            landed.append(LandedSession(keys, len(chunks)))
    return landed


def drop_tables(catalog: Any, namespace: str = NAMESPACE) -> None:
    """moto keeps one state per process: drop the tables an earlier test left in the namespace."""
    if (namespace,) in catalog.list_namespaces():
        for table in catalog.list_tables(namespace):
            catalog.drop_table(table)


def folder(root: Path) -> FolderLanding:
    root.mkdir(parents=True, exist_ok=True)
    return FolderLanding(root)


def plain(value: Any) -> Any:
    """Maps come back from Arrow as lists of pairs: make them dicts; timestamps lose the zone."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return {k: plain(v) for k, v in value}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return value


def rows_of(data: pa.Table) -> list[dict[str, Any]]:
    return [plain(row) for row in data.to_pylist()]


def table_rows(catalog: Any, table: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    return rows_of(catalog.load_table((namespace, table)).scan().to_arrow())


def landing_rows(landing: Landing, table: str, prefix: str = "") -> list[dict[str, Any]]:
    """Every landing row of a table, with `dt` from its key (as the Iceberg tables have it)."""
    out = []
    for key in landing.keys(f"{prefix}{table}/"):
        dt = key.split("dt=", 1)[1][:10]
        out += [{**row, "dt": dt} for row in rows_of(read_parquet(landing.read(key)))]
    return out


def key_of(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(
        row.get(c) for c in ("stage_arn", "session_id", "participant_id", "event_seq", "dt")
    )


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    keyed = {key_of(r): r for r in rows}
    assert len(keyed) == len(rows), "duplicate rows"
    return keyed
