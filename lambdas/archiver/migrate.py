"""Bringing landing objects into the query tables: every session whose landing is complete (its
session row is there) and which the tables do not hold yet. For a deployment upgraded from the
Hive tables, whose landing objects were until then the archive itself; safe to run at any time
(a session already committed is skipped, table by table)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from archiver.commit import CommitReport, LandedSession, commit_sessions, sessions_with_rows
from archiver.landing import Landing, parse_key, read_parquet
from archiver.schema import PARTICIPANTS, STAGE_SESSIONS
from archiver.writer import SessionKeys, legacy_key

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

# Sessions per commit: the rows of a batch are in memory at once.
BATCH_SESSIONS = 100


def uncommitted_sessions(
    catalog: Catalog, namespace: str, landing: Landing, prefix: str
) -> list[LandedSession]:
    """Landed sessions (session row present) whose row the stage_sessions table lacks."""
    committed = sessions_with_rows(catalog.load_table((namespace, STAGE_SESSIONS.name)))
    chunks: Counter[str] = Counter()
    for key in landing.keys(f"{prefix}{PARTICIPANTS.name}/"):
        parsed = parse_key(key, prefix)
        if parsed is not None and parsed.chunk is not None:
            chunks[parsed.folder] = max(chunks[parsed.folder], parsed.chunk + 1)
    found = []
    for key in landing.keys(f"{prefix}{STAGE_SESSIONS.name}/"):
        parsed = parse_key(key, prefix)
        if parsed is None or parsed.session in committed:
            continue
        (row,) = read_parquet(landing.read(key)).to_pylist()
        keys = SessionKeys(prefix, row["stage_arn"], row["session_id"], row["start_time"])
        if key not in (keys.session(), legacy_key(keys.session())):
            raise ValueError(f"landing object {key} holds session {keys.session()}")
        # A session landed before places keeps its objects' keys: the commit reads them there.
        found.append(LandedSession(keys, chunks[parsed.folder]))
    return found


def commit_landing(
    catalog: Catalog, namespace: str, landing: Landing, prefix: str, *, batch: int = BATCH_SESSIONS
) -> CommitReport:
    """Commits every landed session the tables lack, `batch` sessions per commit."""
    todo = uncommitted_sessions(catalog, namespace, landing, prefix)
    total = CommitReport()
    for start in range(0, len(todo), batch):
        report = commit_sessions(catalog, namespace, todo[start : start + batch], landing.read)
        for table, ids in report.added.items():
            total.added.setdefault(table, []).extend(ids)
            total.rows[table] = total.rows.get(table, 0) + report.rows[table]
        for table, ids in report.skipped.items():
            total.skipped.setdefault(table, []).extend(ids)
        total.conflicts += report.conflicts
    return total
