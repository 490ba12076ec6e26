"""A user's erasure request: every row of every participant that carried the user id (as its
`user_id`, or as the user id of a token in a TOKEN_EXCHANGED event) leaves the query tables
(Iceberg deletes) and the landing objects still kept (rewritten without those rows). Sessions' rows
(stage_sessions) hold no user data and are left as they are.

Correct whatever runs beside it (archive workers committing, Glue's optimizers):
- a delete that loses the race to another commit is redone on the refreshed table (`attempts`);
- the rows deleted are counted from the erasure's own snapshots (`deleted-records` less the
  `added-records` of the files rewritten), each tagged with `ERASURE_PROPERTY`;
- it looks again after deleting, and erases what was committed meanwhile, `passes` times at most;
  what is still there then is `remaining`. A session whose landing objects held the user before it
  was committed is `in_flight`: a worker that read them before their rewrite may still commit
  the user's rows. Either means: erase again (once those sessions are archived).
Then the data is made physically gone (archiver.purge): the snapshots before the erasure expire,
the files only they referenced are removed, and in S3 so is every noncurrent version of a table
file or landing object that holds the user.
"""

from __future__ import annotations

import uuid
import warnings
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from archiver.catalog import expressions
from archiver.commit import SESSIONS_PROPERTY, sessions_in, sessions_with_rows
from archiver.compat import without_commit_retries
from archiver.landing import (
    FolderLanding,
    Landing,
    S3Landing,
    parquet_bytes,
    parse_key,
    read_parquet,
)
from archiver.purge import (
    ATTEMPTS,
    ORPHAN_AGE,
    Holds,
    Pending,
    Storage,
    parquet_holds,
    purge_table,
    retry_commit,
    sweep_versions,
)
from archiver.rows import session_key
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, Table
from archiver.writer import SessionKeys, legacy_key

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table as IcebergTable

# What an erasure calls in AWS, for the operators' IAM policy (infra): on the archive bucket
# (s3:ListBucket, s3:ListBucketVersions), its objects (the other s3: actions; PutObjectTagging
# because a rewritten landing object keeps its tag), and the Glue database and tables (GetDatabase:
# pyiceberg's Glue commit asks whether the database is an S3 Tables one).
ERASE_ACTIONS: tuple[str, ...] = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:UpdateTable",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:PutObject",
    "s3:PutObjectTagging",
)
# Snapshot summary property of the erasure's own snapshots: the id of the erasure that made them.
ERASURE_PROPERTY = "ivs-stage-archive.erasure"
PASSES = 5
USER_TABLES = (PARTICIPANT_EVENTS, PARTICIPANTS)  # the tables that hold user data
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
    passes: int = 0  # rounds of finding and erasing that found something
    conflicts: int = 0  # commits redone because another writer committed first
    remaining: list[str] = field(default_factory=list)  # session ids: the user is there still
    in_flight: list[str] = field(default_factory=list)  # session ids: the user may come back
    snapshots_expired: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0  # table files removed, with every version in S3
    versions_removed: int = 0  # noncurrent object versions that held the user
    pending: list[Pending] = field(default_factory=list)  # files to remove later (purge)

    @property
    def complete(self) -> bool:
        """Nothing of the user is left, and nothing in flight may bring the user back."""
        return not (self.remaining or self.in_flight or self.pending)


def erase_user(
    catalog: Catalog | None,
    namespace: str,
    user_id: str,
    landing: Landing,
    prefix: str,
    *,
    passes: int = PASSES,
    attempts: int = ATTEMPTS,
    orphan_age: timedelta = ORPHAN_AGE,
) -> ErasureReport:
    """Erases `user_id` from the tables (none: an archive of landing objects only) and the landing
    objects under `prefix`, then purges (see the module's doc). `orphan_age`: how old a file no
    snapshot references must be to be removed (0 when nothing else writes, as in a local archive
    held against `local run`)."""
    if not user_id.strip():
        raise ValueError("the user id to erase is empty")
    run = uuid.uuid4().hex
    storage, landing_root = _storage(landing)
    report = ErasureReport()
    erased: Found = defaultdict(set)
    landed: set[Session] = set()  # found in landing objects of sessions not committed then
    for done in range(passes + 1):
        committed = _committed(catalog, namespace)
        found, uncommitted = _find(catalog, namespace, user_id, landing, prefix, committed)
        if not found or done == passes:
            break
        report.passes += 1
        _merge(erased, ((s, p) for s, ps in found.items() for p in ps))
        landed |= uncommitted
        if catalog is not None:
            for table in USER_TABLES:
                identifier = (namespace, table.name)
                report.conflicts += _delete(catalog, identifier, found, run, attempts)
        for key in _rewrite_landing(landing, prefix, found):
            if key not in report.objects_rewritten:
                report.objects_rewritten.append(key)
            report.versions_removed += storage.remove(landing_root + key, keep_current=True)
    report.remaining = sorted({session for _, _, session in found})
    report.participants, report.sessions = sum(map(len, erased.values())), len(erased)

    def holds(body: bytes) -> bool:
        return parquet_holds(body, lambda rows: _carries(rows, user_id))

    if catalog is not None:
        in_flight = {s for s in landed if session_key(s[1], s[2]) not in committed}
        report.in_flight = sorted({session for _, _, session in in_flight})
        for table in USER_TABLES:
            _purge(catalog, namespace, table, run, storage, holds, orphan_age, attempts, report)
    for table in USER_TABLES:
        landing_prefix = f"{landing_root}{prefix}{table.name}/"
        report.versions_removed += sweep_versions(storage, landing_prefix, holds)
    return report


def _storage(landing: Landing) -> tuple[Storage, str]:
    """Where the landing objects and the tables' files are, and the landing objects' root URI."""
    if isinstance(landing, S3Landing):
        return Storage(landing.s3), f"s3://{landing.bucket}/"
    if isinstance(landing, FolderLanding):
        return Storage(), f"{landing.root.absolute()}/"
    raise TypeError(f"erasure does not know where {type(landing).__name__} keeps its objects")


def _committed(catalog: Catalog | None, namespace: str) -> set[str]:
    if catalog is None:
        return set()
    return sessions_with_rows(catalog.load_table((namespace, STAGE_SESSIONS.name)))


def _find(
    catalog: Catalog | None,
    namespace: str,
    user_id: str,
    landing: Landing,
    prefix: str,
    committed: set[str],
) -> tuple[Found, set[Session]]:
    """The user's participants now, and the sessions found in landing objects only."""
    found: Found = defaultdict(set)
    if catalog is not None:
        _merge(found, _in_table(catalog.load_table((namespace, PARTICIPANTS.name)), user_id))
        _merge(found, _in_table(catalog.load_table((namespace, PARTICIPANT_EVENTS.name)), user_id))
    landed = list(_in_uncommitted_landing(landing, prefix, user_id, committed))
    _merge(found, landed)
    return found, {session for session, _ in landed}


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


def _in_table(table: IcebergTable, user_id: str) -> list[tuple[Session, str]]:
    ex = expressions()
    tokens = [name for name in TOKEN_COLUMNS if name in table.schema().column_names]
    row_filter = reduce(
        ex.Or, [ex.EqualTo(f"{name}user_id", user_id) for name in ["", *(f"{t}." for t in tokens)]]
    )
    columns = ("dt", "stage_arn", "session_id", "participant_id", "user_id", *tokens)
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


def _delete(
    catalog: Catalog, identifier: tuple[str, str], found: Found, run: str, attempts: int
) -> int:
    """Deletes the participants' rows (one commit, redone on the refreshed table when another
    writer committed first); how many times it was redone."""
    ex = expressions()

    def session_filter(key: Session, participants: set[str]) -> Any:
        dt, stage_arn, session_id = key
        return ex.And(
            ex.EqualTo("dt", dt),
            ex.EqualTo("stage_arn", stage_arn),
            ex.EqualTo("session_id", session_id),
            ex.In("participant_id", participants),
        )

    row_filter = reduce(ex.Or, (session_filter(k, p) for k, p in sorted(found.items())))

    def delete() -> None:
        table = without_commit_retries(catalog.load_table(identifier))
        with warnings.catch_warnings():  # a table without the user's rows
            warnings.filterwarnings("ignore", "Delete operation did not match any records")
            table.delete(row_filter, snapshot_properties={ERASURE_PROPERTY: run})

    return retry_commit(delete, attempts)[1]


def _purge(
    catalog: Catalog,
    namespace: str,
    table: Table,
    run: str,
    storage: Storage,
    holds: Holds,
    orphan_age: timedelta,
    attempts: int,
    report: ErasureReport,
) -> None:
    """Counts the rows this erasure deleted from `table`, then purges the table (archiver.purge)."""
    identifier = (namespace, table.name)
    own = [s for s in catalog.load_table(identifier).snapshots() if _by(s.summary, run)]
    report.rows[table.name] = sum(_int(s.summary, "deleted-records") for s in own) - sum(
        _int(s.summary, "added-records") for s in own
    )

    def seal(iceberg: IcebergTable) -> dict[str, str]:
        """The seal's summary: this erasure, and the sessions that the snapshots expiring say
        they added and whose session row is not committed yet (a worker may commit the rest
        later: the commit must still know which it added; archiver.commit)."""
        carried = sessions_in(iceberg) - _committed(catalog, namespace)
        return {ERASURE_PROPERTY: run} | (
            {SESSIONS_PROPERTY: ",".join(sorted(carried))} if carried else {}
        )

    purged = purge_table(
        catalog,
        identifier,
        storage,
        holds,
        properties=seal,
        must=bool(own),
        orphan_age=orphan_age,
        attempts=attempts,
    )
    report.conflicts += purged.conflicts
    report.snapshots_expired[table.name] = purged.expired
    report.files_removed += purged.files
    report.versions_removed += purged.versions
    report.pending += purged.pending


def _by(summary: Any, run: str) -> bool:
    return summary is not None and summary.get(ERASURE_PROPERTY) == run


def _int(summary: Any, name: str) -> int:
    return int(summary.get(name) or 0) if summary is not None else 0


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
                if parse_key(key, prefix) is None:
                    continue
                data = read_parquet(landing.read(key))
                erased = pc.is_in(data.column("participant_id"), pa.array(sorted(participants)))
                if not pc.any(erased).as_py():
                    continue
                landing.write(key, parquet_bytes(data.filter(pc.invert(erased))))
                rewritten.append(key)
    return rewritten
