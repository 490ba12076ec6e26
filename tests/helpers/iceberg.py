"""Landing objects made from a generated scenario (as the archiver writes them, without the
simulator), and the Iceberg tables read back as plain rows."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from archiver.commit import LandedSession
from archiver.landing import FolderLanding, Landing, read_parquet
from local.generator import generate_scenario
from local.landed import land_session

NAMESPACE = "ivs_stage_archive"
ARCHIVED_AT = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


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
            session, _ = land_session(
                landing,
                stage["arn"],
                stage["name"],
                raw,
                archived_at=ARCHIVED_AT,
                chunk_size=chunk_size,
                prefix=prefix,
            )
            landed.append(session)
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
