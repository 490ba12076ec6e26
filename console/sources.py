"""Where a session's rows come from for its picture (console.timeline draws `SessionRows`,
whatever their source):

- `athena_session`: the query tables, through Athena in the deployment's workgroup;
- `local_session`: a local copy of the archive (`python -m local run --out DIR`, or
  `aws s3 sync` of the bucket): what `ivs-archive local query` reads of it (local/tables.py), its
  Iceberg tables through DIR/catalog.db when it has one, else the landing objects. A session
  that landed but is not in the tables (a run stopped before committing it) is not drawn: the
  error says so, and how to commit it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pyarrow as pa

from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, Table
from console.athena import Athena
from console.errors import UsageError
from console.timeline import SessionNotFound, SessionRows, load_local_session
from console.timeline.errors import ArchiveUnreadable
from console.timeline.rows import Row
from local import tables as local_tables
from local.query import archive_error

# The local archive's catalog file and namespace, as console/store.py names them.
CATALOG_FILE = local_tables.CATALOG_FILE
NAMESPACE = local_tables.NAMESPACE
# A struct column's fields come back from Athena as columns of their own: `<column>__<field>`.
FIELD = "__"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def select_list(table: Table) -> str:
    """The table's columns as Athena returns them in a form that reads back exactly: maps and
    arrays as JSON, each field of a struct as a column of its own."""
    items = []
    for column in table.columns:
        arrow = column.type.arrow
        name = _quote(column.name)
        if isinstance(arrow, pa.StructType):
            for field in arrow:
                alias = _quote(f"{column.name}{FIELD}{field.name}")
                expression = f"{name}.{_quote(field.name)}"
                if isinstance(field.type, pa.MapType | pa.ListType):
                    expression = f"CAST({expression} AS JSON)"
                items.append(f"{expression} AS {alias}")
        elif isinstance(arrow, pa.MapType | pa.ListType):
            items.append(f"CAST({name} AS JSON) AS {name}")
        else:
            items.append(name)
    return ", ".join([*items, _quote("dt")])


def regroup(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A row as `select_list` returned it, with its structs put together again (a struct whose
    fields are all null is null)."""
    out: dict[str, Any] = {}
    for column in table.columns:
        arrow = column.type.arrow
        if isinstance(arrow, pa.StructType):
            fields = {f.name: row.get(f"{column.name}{FIELD}{f.name}") for f in arrow}
            out[column.name] = fields if any(v is not None for v in fields.values()) else None
        else:
            out[column.name] = row.get(column.name)
    out["dt"] = row.get("dt")
    return out


def athena_session(athena: Athena, session_id: str) -> SessionRows:
    """The session's row (from stage_sessions, which gives its partition), then its
    participants and events read from that partition only."""
    where = f"{_quote('session_id')} = {_literal(session_id)}"
    sessions = athena.query(
        f"SELECT {select_list(STAGE_SESSIONS)} FROM {_quote(STAGE_SESSIONS.name)} WHERE {where}"
    )
    if not sessions:
        raise SessionNotFound(
            f"session {session_id!r} is not in the {STAGE_SESSIONS.name} table "
            "(not archived yet? `ivs-archive sessions` shows the ledger)"
        )
    if len(sessions) > 1:
        raise ArchiveUnreadable(
            f"session {session_id!r} has {len(sessions)} rows in {STAGE_SESSIONS.name}"
        )
    session = regroup(STAGE_SESSIONS, sessions[0])
    where += (
        f" AND {_quote('dt')} = {_literal(str(session['dt']))}"
        f" AND {_quote('stage_arn')} = {_literal(str(session['stage_arn']))}"
    )
    rows: dict[str, list[Row]] = {}
    for table in (PARTICIPANTS, PARTICIPANT_EVENTS):
        found = athena.query(f"SELECT {select_list(table)} FROM {_quote(table.name)} WHERE {where}")
        rows[table.name] = [regroup(table, row) for row in found]
    return SessionRows(session, rows[PARTICIPANTS.name], rows[PARTICIPANT_EVENTS.name])


def iceberg_session(directory: Path, session_id: str) -> SessionRows | None:
    """The session from the Iceberg tables of a local archive; None when they lack it (or the
    folder has no tables)."""
    expressions: Any = importlib.import_module("pyiceberg.expressions")  # (untyped as called)
    try:
        found = local_tables.tables_of(directory)
    except ValueError as error:
        raise ArchiveUnreadable(str(error)) from None
    if found is None:
        return None
    catalog, namespace = found

    def read(table: Table) -> list[Row]:
        scan = catalog.load_table((namespace, table.name)).scan(
            row_filter=expressions.EqualTo("session_id", session_id)
        )
        rows: list[Row] = list(scan.to_arrow().to_pylist())
        return rows

    sessions = read(STAGE_SESSIONS)
    if not sessions:
        return None
    if len(sessions) > 1:
        raise ArchiveUnreadable(
            f"session {session_id!r} has {len(sessions)} rows in {STAGE_SESSIONS.name}"
        )
    session = sessions[0]

    def of_session(rows: list[Row]) -> list[Row]:
        return [
            r for r in rows if r["stage_arn"] == session["stage_arn"] and r["dt"] == session["dt"]
        ]

    return SessionRows(
        session, of_session(read(PARTICIPANTS)), of_session(read(PARTICIPANT_EVENTS))
    )


def local_session(directory: Path, session_id: str) -> tuple[SessionRows, str]:
    """(the session's rows, where they came from: "Iceberg tables" or "landing objects"), read
    as `ivs-archive local query` reads the archive. A folder that is no archive is bad input."""
    error = archive_error(directory)
    if error is not None:
        raise UsageError(error)
    try:
        found = local_tables.tables_of(directory)
    except ValueError as problem:
        raise ArchiveUnreadable(str(problem)) from None
    if found is None:
        return load_local_session(directory, session_id), "landing objects"
    rows = iceberg_session(directory, session_id)
    if rows is not None:
        return rows, "Iceberg tables"
    left = local_tables.uncommitted(directory, *found)
    where = f"session {session_id!r} is not in the Iceberg tables of {directory}"
    if session_id in left.landed:
        raise SessionNotFound(
            f"{where}: it landed whole but was not committed (a run stopped first); "
            f"`ivs-archive migrate --dir {directory}` commits it"
        )
    if session_id in left.partial:
        raise SessionNotFound(f"{where}: it landed only in part (its archiving was cut short)")
    raise SessionNotFound(f"{where}: not found")
