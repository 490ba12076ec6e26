"""`ivs-archive migrate`: commit every landed session the query tables lack
(archiver.migrate.commit_landing): the upgrade from the Hive-table archive, whose landing objects
were the archive itself, or a catch-up at any time (a session already committed is skipped)."""

from __future__ import annotations

from pathlib import Path

from archiver.migrate import commit_landing
from console.deployment import Deployment
from console.output import Output, counted
from console.store import Store, in_aws, in_folder


def _migrate(store: Store, out: Output) -> int:
    report = commit_landing(store.catalog, store.namespace, store.landing, store.prefix)
    sessions = report.added.get("stage_sessions", [])
    out.data(
        {
            "archive": store.where,
            "sessions_committed": sessions,
            "rows_added": report.rows,
            "already_in_tables": {t: len(ids) for t, ids in report.skipped.items()},
            "conflicts": report.conflicts,
        }
    )
    if not report.added and not report.skipped:
        out.line(f"every landed session is in the tables already ({store.where})")
        return 0
    rows = ", ".join(f"{table} {n:,}" for table, n in sorted(report.rows.items()))
    out.line(f"committed {counted(len(sessions), 'session')} to the tables of {store.where}")
    out.line(f"  rows added: {rows or 'none'}")
    skipped = max((len(ids) for ids in report.skipped.values()), default=0)
    if skipped:
        out.line(f"  {skipped:,} already in some of the tables (skipped there)")
    return 0


def run(deployment: Deployment | None, out: Output, *, directory: Path | None) -> int:
    if directory is not None:
        with in_folder(directory, create_tables=True) as store:
            return _migrate(store, out)
    assert deployment is not None
    return _migrate(in_aws(deployment), out)
