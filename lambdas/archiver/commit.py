"""A batch of archived sessions into the Iceberg query tables, exactly once.

One append per table per call, for every session given, in `COMMIT_ORDER` (the session row
last). Each append's snapshot summary lists the sessions it added (`SESSIONS_PROPERTY`), and a
call first skips, table by table, the sessions some snapshot already lists: a retry, a duplicate
delivery, or a worker killed between a commit and its ledger update never adds a row twice.

Snapshots expire (a day, infra/tables.py), and their lists with them. A session whose row is in
stage_sessions is whole in every table, whenever it was committed. For the others, the lists are
the whole truth only for sessions that ended after the oldest snapshot a table keeps (a session
is committed after it ends): for a session that ended before it (a redelivery days late, a
redrive, `migrate`), that table is asked for the session's rows themselves, in its partition.

Concurrent committers: a commit that lost the race to another one (CommitFailedException) is
redone on the refreshed table, after checking again which sessions the winner added. pyiceberg's
own retry is switched off for these appends because it re-applies the same rows on top of the
winner's snapshot without that check: two workers committing the same session would both add it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from archiver.catalog import expressions
from archiver.compat import without_commit_retries
from archiver.landing import read_parquet
from archiver.rows import PLACE, legacy_session_key, place_of, session_key
from archiver.schema import (
    PARTICIPANT_EVENTS,
    PARTICIPANTS,
    PARTITION_COLUMN,
    STAGE_SESSIONS,
    Table,
)
from archiver.writer import SessionKeys, legacy_key

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table as IcebergTable

# Rows reach the tables in this order, the session row last: a query that finds a session in
# stage_sessions finds all of its participants and events.
COMMIT_ORDER: tuple[Table, ...] = (PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS)
# Snapshot summary property: the sessions (`<account>/<region>/<stage_id>/<session_id>`,
# comma-separated; `<stage_id>/<session_id>` before places) an append added. The ids are IVS's:
# letters, digits and '-', never a comma.
SESSIONS_PROPERTY = "ivs-stage-archive.sessions"
# Commits lost to concurrent writers before giving up (each with a random backoff).
COMMIT_ATTEMPTS = 12
# Clocks differ (IVS's end time, the committer's snapshot time): a session that ended within this
# of a table's oldest snapshot is looked for in the table's rows too.
CLOCK_MARGIN_MS = 10 * 60 * 1000

ReadObject = Callable[[str], bytes]


@dataclass(frozen=True)
class LandedSession:
    """A session whose landing objects are complete: `chunks` participant and event objects
    (numbered from 0) and the session row."""

    keys: SessionKeys
    chunks: int

    @property
    def id(self) -> str:
        return session_key(self.keys.stage_arn, self.keys.session_id)

    @property
    def ids(self) -> frozenset[str]:
        """Its name now and the one earlier versions recorded in snapshot summaries (a commit
        they made counts). Those wrote only for the place they ran in, the home's; the name
        without a place is another place's as well only if IVS gave both the same session
        id (its ids are random: not seen), and only while that old snapshot is kept."""
        return frozenset({self.id, legacy_session_key(self.keys.stage_arn, self.keys.session_id)})

    def objects(self, table: Table) -> list[str]:
        if table is STAGE_SESSIONS:
            return [self.keys.session()]
        if table in (PARTICIPANTS, PARTICIPANT_EVENTS):
            return [self.keys.chunk(table, n) for n in range(self.chunks)]
        raise ValueError(f"not an archive table: {table.name}")


@dataclass
class CommitReport:
    """Per table: the sessions this call added, those already there, and the rows added."""

    added: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0  # commits redone because another writer committed first


def sessions_in(table: IcebergTable) -> set[str]:
    """The sessions that the table's snapshots record as added (every snapshot it still keeps)."""
    found: set[str] = set()
    for snapshot in table.snapshots():
        listed = snapshot.summary.get(SESSIONS_PROPERTY) if snapshot.summary else None
        if listed:
            found.update(listed.split(","))
    return found


def sessions_with_rows(
    stage_sessions: IcebergTable, among: list[LandedSession] | None = None
) -> set[str]:
    """The sessions whose row is in the stage_sessions table (of those `among`, or all), read
    from the data, so it holds however old the snapshot that added them, expired or not. The
    session row is committed last: such a session's participants and events are in the tables
    too. Each is named both ways (`LandedSession.ids`), so a landing key of either layout
    finds it (a key before places is the home's own; see `ids`)."""
    ex = expressions()
    row_filter = ex.AlwaysTrue()
    if among is not None:
        if not among:
            return set()
        row_filter = ex.And(
            ex.In(PARTITION_COLUMN, {s.keys.dt for s in among}),
            ex.In("session_id", {s.keys.session_id for s in among}),
        )
    data = stage_sessions.scan(
        row_filter=row_filter, selected_fields=("stage_arn", "session_id")
    ).to_arrow()
    arns, ids = data["stage_arn"].to_pylist(), data["session_id"].to_pylist()
    found: set[str] = set()
    for arn, session in zip(map(str, arns), map(str, ids), strict=True):
        found |= {session_key(arn, session), legacy_session_key(arn, session)}
    return found


def commit_sessions(
    catalog: Catalog,
    namespace: str,
    sessions: Iterable[LandedSession],
    read_object: ReadObject,
    *,
    attempts: int = COMMIT_ATTEMPTS,
) -> CommitReport:
    """Adds each session's landing rows to the three tables, once (see the module's doc).
    `read_object(key)` returns a landing object's bytes. Raises if an object is missing or
    malformed, before that table's commit: nothing of the batch is added to that table."""
    unique = list({s.id: s for s in sessions}.values())
    report = CommitReport()
    # A session whose row is in stage_sessions is in every table, however long ago (its
    # snapshots may have expired): only the others are committed.
    # Matched by its name with its place only: a row always holds the whole stage ARN, and the
    # name without one is another place's too when a stage id and session id repeat there.
    rows = sessions_with_rows(catalog.load_table((namespace, STAGE_SESSIONS.name)), unique)
    whole = {s.id for s in unique if s.id in rows}
    pending = [s for s in unique if s.id not in whole]
    # Session rows read to learn when a session ended (once; the session row's commit uses them).
    session_rows: dict[str, pa.Table] = {}
    for table in COMMIT_ORDER:
        iceberg = catalog.load_table((namespace, table.name))  # as it is now, for each table
        unlisted = _older_than_history(iceberg, pending, session_rows, read_object)
        present = sessions_with_rows(iceberg, unlisted) if unlisted else set()
        preloaded = dict(session_rows) if table is STAGE_SESSIONS else {}
        _commit_table(iceberg, table, pending, read_object, report, attempts, present, preloaded)
        skipped = set(report.skipped.get(table.name, [])) | whole
        report.skipped[table.name] = [s.id for s in unique if s.id in skipped]
    return report


def _older_than_history(
    iceberg: IcebergTable,
    sessions: list[LandedSession],
    session_rows: dict[str, pa.Table],
    read_object: ReadObject,
) -> list[LandedSession]:
    """The sessions that ended before the oldest snapshot the table keeps (less the clock
    margin): a commit of theirs may be in an expired snapshot, which lists nothing now. A
    session that started after it (its `dt` says at the latest) needs no look at its row; for
    the others, the session row says when it ended (read into `session_rows`)."""
    kept = [s.timestamp_ms for s in iceberg.snapshots()]
    if not kept:
        return []  # nothing was ever committed, nor expired
    oldest = min(kept) - CLOCK_MARGIN_MS
    older = []
    for session in sessions:
        if _day_ms(session.keys.dt) >= oldest:
            continue
        if session.id not in session_rows:
            session_rows[session.id] = _landing_rows(session, STAGE_SESSIONS, read_object)
        ended = _ended_ms(session_rows[session.id])
        if ended is None or ended < oldest:
            older.append(session)
    return older


def _day_ms(dt: str) -> int:
    """The start of a `dt` day (UTC), in epoch milliseconds: no session of it started before."""
    return int(datetime.fromisoformat(dt).replace(tzinfo=UTC).timestamp() * 1000)


def _ended_ms(session_row: pa.Table) -> int | None:
    """A session's end time, in epoch milliseconds, from its landing row."""
    if "end_time" not in session_row.column_names or not session_row.num_rows:
        return None
    end = session_row.column("end_time")[0].as_py()
    if end is None:
        return None
    return int((end if end.tzinfo else end.replace(tzinfo=UTC)).timestamp() * 1000)


def _commit_table(
    iceberg: IcebergTable,
    table: Table,
    sessions: list[LandedSession],
    read_object: ReadObject,
    report: CommitReport,
    attempts: int,
    present: set[str] | None = None,
    landed: dict[str, pa.Table] | None = None,
) -> None:
    """Appends the sessions' rows to `table`, skipping those some snapshot lists or whose rows
    are `present` (found in the table itself); `landed`: rows already read, by session."""
    from pyiceberg.exceptions import CommitFailedException
    from tenacity import (
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_random_exponential,
    )

    landed = {} if landed is None else landed  # read once, whatever the number of attempts
    present = present or set()
    retrying = Retrying(
        retry=retry_if_exception_type(CommitFailedException),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.1, max=5),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            if attempt.retry_state.attempt_number > 1:
                report.conflicts += 1
                iceberg.refresh()
            listed = sessions_in(iceberg)
            # Rows name their place: matched by the full name only (`LandedSession.ids`).
            done = {s.id for s in sessions if s.ids & listed or s.id in present}
            pending = [s for s in sessions if s.id not in done]
            report.skipped[table.name] = [s.id for s in sessions if s.id in done]
            report.added[table.name], report.rows[table.name] = [], 0
            if not pending:
                return
            for session in pending:
                if session.id not in landed:
                    landed[session.id] = _landing_rows(session, table, read_object)
            target = _arrow_schema(iceberg)
            data = pa.concat_tables(
                [_conform(landed[s.id], target, s.keys.dt) for s in pending]
            ).combine_chunks()
            transaction = without_commit_retries(iceberg).transaction()
            transaction.append(data, snapshot_properties={SESSIONS_PROPERTY: _ids(pending)})
            transaction.commit_transaction()
            iceberg.refresh()
            report.added[table.name] = [s.id for s in pending]
            report.rows[table.name] = data.num_rows


def _ids(sessions: list[LandedSession]) -> str:
    ids = [s.id for s in sessions]
    if any("," in i for i in ids):
        raise ValueError(f"a session id holds a comma: {ids}")
    return ",".join(ids)


def _landing_rows(session: LandedSession, table: Table, read_object: ReadObject) -> pa.Table:
    parts = []
    for key in session.objects(table):
        try:
            body = _read(key, read_object)
        except Exception as exc:
            raise LandingError(f"landing object {key} of session {session.id}: {exc}") from exc
        parts.append(read_parquet(body))
    if not parts:
        return table.arrow_schema.empty_table()
    return pa.concat_tables(parts, promote_options="default")


def _read(key: str, read_object: ReadObject) -> bytes:
    """A landing object, or, if it is missing, what an earlier version (before places) wrote
    for it (a session whose first chunks it had landed)."""
    try:
        return read_object(key)
    except Exception as missing:
        legacy = legacy_key(key)
        if legacy is None:
            raise
        try:
            return read_object(legacy)
        except Exception:
            raise missing from None


class LandingError(RuntimeError):
    """A landing object of a session being committed is missing or unreadable."""


def _arrow_schema(iceberg: IcebergTable) -> pa.Schema:
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(iceberg.schema(), include_field_ids=False)


def _conform(rows: pa.Table, target: pa.Schema, dt: str) -> pa.Table:
    """Landing rows as the table's columns: timestamps lose the zone (they are UTC), `dt` is
    the session's partition, the place columns an older landing object lacks come from the
    stage's ARN, and any other column it lacks is null."""
    columns = []
    for target_field in target:
        if target_field.name == PARTITION_COLUMN:
            columns.append(pa.array([dt] * rows.num_rows, target_field.type))
        elif target_field.name in PLACE and target_field.name not in rows.column_names:
            arns = rows["stage_arn"].to_pylist()
            places = [place_of(str(arn))[target_field.name] for arn in arns]
            columns.append(pa.array(places, target_field.type))
        elif target_field.name in rows.column_names:
            columns.append(rows.column(target_field.name).cast(target_field.type))
        else:
            columns.append(pa.nulls(rows.num_rows, target_field.type))
    return pa.Table.from_arrays(columns, schema=target)
