"""The rows a timeline is drawn from, whatever their source: lists of dicts or pyarrow Tables
with the columns of `archiver.schema`, timestamps as datetimes (naive ones are UTC) or ISO
strings, maps as dicts or as lists of pairs (how pyarrow returns them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from console.timeline.errors import BadRows

Row = Mapping[str, Any]


@runtime_checkable
class _Table(Protocol):  # a pyarrow Table, or anything else with to_pylist()
    def to_pylist(self) -> list[dict[str, Any]]: ...


Rows = Sequence[Row] | _Table


@dataclass(frozen=True)
class SessionRows:
    """One session's rows of the three tables."""

    session: Row
    participants: list[Row]
    events: list[Row]


def as_rows(rows: Rows | Iterable[Row]) -> list[Row]:
    if isinstance(rows, _Table):
        return list(rows.to_pylist())
    return list(rows)


def as_session(session: Row | Rows) -> Row:
    """The stage_sessions row: a mapping, or a table/list of exactly one row."""
    if isinstance(session, Mapping):
        return session
    rows = as_rows(session)
    if len(rows) != 1:
        raise BadRows(f"expected one stage_sessions row, got {len(rows)}")
    return rows[0]


def session_rows(session: Row | Rows, participants: Rows, events: Rows) -> SessionRows:
    return SessionRows(as_session(session), as_rows(participants), as_rows(events))


def utc(value: Any, column: str = "timestamp") -> datetime | None:
    """A timestamp column's value as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise BadRows(f"{column}: not a timestamp: {value!r}") from None
    if not isinstance(value, datetime):
        raise BadRows(f"{column}: not a timestamp: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_map(value: Any) -> dict[str, str]:
    """A map column's value (dict, or list of pairs as pyarrow returns maps) as a dict."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return {str(k): str(v) for k, v in value}


def text(row: Row, column: str) -> str:
    """A string column's value, "" when null or missing."""
    value = row.get(column)
    return "" if value is None else str(value)
