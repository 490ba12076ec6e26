"""A user's erasure request: every row of every participant that carried the user id (as its
`user_id`, or as the user id of a token in a TOKEN_EXCHANGED event) leaves the query tables
(Iceberg deletes, one commit per table) and the landing objects still kept (rewritten without
those rows). Sessions' rows (stage_sessions) hold no user data and are left as they are.

Deleted data stays readable through older snapshots until snapshot expiry removes them, and the
replaced objects stay as noncurrent versions until the bucket's lifecycle expires them: the
README says when each leaves S3 for good.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from archiver.catalog import expressions
from archiver.commit import sessions_with_rows
from archiver.landing import Landing, LandingKey, parquet_bytes, parse_key, read_parquet
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from archiver.writer import SessionKeys, legacy_key

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table as IcebergTable

# Where a user id can be: the participant's own, and the tokens of TOKEN_EXCHANGED events.
TOKEN_COLUMNS = ("previous_token", "new_token")
# (dt, stage_arn, session_id) -> the participant ids to erase in that session
Session = tuple[str, str, str]
Found = dict[Session, set[str]]


@dataclass
class ErasureReport:
    participants: int = 0  # participants erased, over all sessions
    sessions: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows deleted
    objects_rewritten: list[str] = field(default_factory=list)


def erase_user(
    catalog: Catalog, namespace: str, user_id: str, landing: Landing, prefix: str
) -> ErasureReport:
    """Erases `user_id` from the three tables and the landing objects under `prefix`."""
    if not user_id.strip():
        raise ValueError("the user id to erase is empty")
    events = catalog.load_table((namespace, PARTICIPANT_EVENTS.name))
    people = catalog.load_table((namespace, PARTICIPANTS.name))
    found: Found = defaultdict(set)
    _merge(found, _in_participants(people, user_id))
    _merge(found, _in_events(events, user_id))
    committed = sessions_with_rows(catalog.load_table((namespace, STAGE_SESSIONS.name)))
    _merge(found, _in_uncommitted_landing(landing, prefix, user_id, committed))
    report = ErasureReport(participants=sum(len(p) for p in found.values()), sessions=len(found))
    if found:
        report.rows[PARTICIPANT_EVENTS.name] = _delete(events, found)
        report.rows[PARTICIPANTS.name] = _delete(people, found)
        report.objects_rewritten = _rewrite_landing(landing, prefix, found)
    else:
        report.rows = {PARTICIPANT_EVENTS.name: 0, PARTICIPANTS.name: 0}
    return report


def _merge(found: Found, more: Iterable[tuple[Session, str]]) -> None:
    for session, participant in more:
        found[session].add(participant)


def _ids(batch: pa.RecordBatch | pa.Table) -> Iterable[tuple[Session, str]]:
    for row in batch.select(["dt", "stage_arn", "session_id", "participant_id"]).to_pylist():
        yield (row["dt"], row["stage_arn"], row["session_id"]), row["participant_id"]


def _carries(batch: pa.RecordBatch | pa.Table, user_id: str) -> Any:
    """Rows whose user id, or one of whose tokens' user id, is `user_id`."""
    wanted = pa.scalar(user_id)
    column: Any = batch.column("user_id")
    mask: Any = pc.fill_null(pc.equal(column, wanted), False)
    for name in TOKEN_COLUMNS:
        if name in batch.column_names:
            token_user = pc.struct_field(batch.column(name), "user_id")
            mask = pc.or_(mask, pc.fill_null(pc.equal(token_user, wanted), False))
    return mask


def _in_participants(table: IcebergTable, user_id: str) -> Iterable[tuple[Session, str]]:
    scan = table.scan(
        row_filter=expressions().EqualTo("user_id", user_id),
        selected_fields=("dt", "stage_arn", "session_id", "participant_id", "user_id"),
    )
    return list(_ids(scan.to_arrow()))


def _in_events(table: IcebergTable, user_id: str) -> Iterable[tuple[Session, str]]:
    ex = expressions()
    row_filter = ex.Or(
        ex.EqualTo("user_id", user_id),
        *(ex.EqualTo(f"{name}.user_id", user_id) for name in TOKEN_COLUMNS),
    )
    columns = ("dt", "stage_arn", "session_id", "participant_id", "user_id", *TOKEN_COLUMNS)
    found: list[tuple[Session, str]] = []
    for batch in table.scan(row_filter=row_filter, selected_fields=columns).to_arrow_batch_reader():
        found += _ids(batch.filter(_carries(batch, user_id)))
    return found


def _in_uncommitted_landing(
    landing: Landing, prefix: str, user_id: str, committed: set[str]
) -> Iterable[tuple[Session, str]]:
    """Participants carrying the user id in landing objects of sessions not in the tables yet
    (being archived, or landed by an earlier version and not migrated): they would bring the
    user back when committed."""
    found: list[tuple[Session, str]] = []
    for table in (PARTICIPANTS, PARTICIPANT_EVENTS):
        for key in landing.keys(f"{prefix}{table.name}/"):
            parsed = parse_key(key, prefix)
            if parsed is None or parsed.session in committed:
                continue
            data = read_parquet(landing.read(key))
            hits = data.filter(_carries(data, user_id))
            hits = hits.append_column("dt", pa.array([parsed.dt] * hits.num_rows, pa.string()))
            found += _ids(hits)
    return found


def _delete(table: IcebergTable, found: Found) -> int:
    """Deletes the participants' rows in one commit; the number of rows it removed."""
    ex = expressions()

    def session_filter(key: Session, participants: set[str]) -> Any:
        dt, stage_arn, session_id = key
        return ex.And(
            ex.EqualTo("dt", dt),
            ex.EqualTo("stage_arn", stage_arn),
            ex.EqualTo("session_id", session_id),
            ex.In("participant_id", participants),
        )

    before = _total_records(table)
    table.delete(
        reduce(ex.Or, (session_filter(k, p) for k, p in sorted(found.items(), key=lambda i: i[0])))
    )
    table.refresh()
    return before - _total_records(table)


def _total_records(table: IcebergTable) -> int:
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("total-records") or 0)


def _rewrite_landing(landing: Landing, prefix: str, found: Found) -> list[str]:
    """Rewrites each landing object of the sessions found without the participants' rows."""
    rewritten = []
    for table in (PARTICIPANTS, PARTICIPANT_EVENTS):
        for (dt, arn, session_id), participants in sorted(found.items()):
            day = datetime.fromisoformat(dt).replace(tzinfo=UTC)
            folder = SessionKeys(prefix, arn, session_id, day).chunk(table, 0).rsplit("/", 1)[0]
            # Its folder now, and the one an earlier version (before places) landed it in.
            folders = [f"{folder}/", *filter(None, [legacy_key(f"{folder}/")])]
            for key in (key for each in folders for key in landing.keys(each)):
                parsed: LandingKey | None = parse_key(key, prefix)
                if parsed is None:
                    continue
                data = read_parquet(landing.read(key))
                erased = pc.is_in(data.column("participant_id"), pa.array(sorted(participants)))
                if not pc.any(erased).as_py():
                    continue
                landing.write(key, parquet_bytes(data.filter(pc.invert(erased))))
                rewritten.append(key)
    return rewritten
