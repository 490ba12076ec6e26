"""`ivs-archive erase --user-id U`: remove every row of a user from the query tables and from
the landing objects still kept, then from older snapshots, files and object versions
(archiver.erasure), after the operator confirms. Exit status 1, after the report, when the user
may not be gone yet (sessions to erase again, files to remove later), with what to run."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from archiver.erasure import ErasureReport, erase_user
from archiver.purge import ORPHAN_AGE
from console.deployment import Deployment
from console.errors import ConsoleError, UsageError
from console.output import Output, counted, when
from console.store import Store, in_aws, in_folder


def ask(question: str) -> str:
    """The operator's answer: the question on standard error (standard output may be JSON),
    the answer from standard input ("" when it has none)."""
    print(question, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if not answer.endswith("\n") or not sys.stdin.isatty():
        print(file=sys.stderr)  # no terminal echoed the answer and its newline: end the line
    return answer


def _confirm(store: Store, user_id: str, ask: Callable[[str], str]) -> None:
    question = (
        f"Erase every row of user {user_id!r} from {store.where}? "
        "This rewrites data and cannot be undone [y/N] "
    )
    answer = ask(question)
    if not answer:
        raise UsageError("not confirmed (no answer on standard input): pass --yes")
    if answer.strip().lower() not in ("y", "yes"):
        raise ConsoleError("not confirmed: nothing was erased")


def _erase(
    store: Store,
    out: Output,
    user_id: str,
    yes: bool,
    ask: Callable[[str], str],
    again: str,
    orphan_age: timedelta = ORPHAN_AGE,
) -> int:
    if not yes:
        _confirm(store, user_id, ask)
    report = erase_user(
        store.catalog, store.namespace, user_id, store.landing, store.prefix, orphan_age=orphan_age
    )
    out.data(
        {
            "user_id": user_id,
            "archive": store.where,
            "participants": report.participants,
            "sessions": report.sessions,
            "rows_deleted": report.rows,
            "objects_rewritten": report.objects_rewritten,
            "passes": report.passes,
            "conflicts": report.conflicts,
            "snapshots_expired": report.snapshots_expired,
            "files_removed": report.files_removed,
            "versions_removed": report.versions_removed,
            "remaining": report.remaining,
            "in_flight": report.in_flight,
            "pending": [{"file": p.uri, "after": p.after} for p in report.pending],
            "complete": report.complete,
        }
    )
    purged = sum(report.snapshots_expired.values()) + report.files_removed
    purged += report.versions_removed
    if not report.participants and not purged and report.complete:
        out.line(f"no row of user {user_id!r} in {store.where}: nothing changed")
        return 0
    if report.participants:
        out.line(
            f"erased user {user_id!r}: {counted(report.participants, 'participant')} in "
            f"{counted(report.sessions, 'session')}"
        )
    else:
        out.line(f"no row of user {user_id!r} in the current data of {store.where}")
    if report.rows:
        rows = ", ".join(f"{table} {n:,}" for table, n in sorted(report.rows.items()))
        out.line(f"  rows deleted: {rows}")
    out.line(f"  landing objects rewritten: {len(report.objects_rewritten):,}")
    for key in report.objects_rewritten:
        out.line(f"    {key}")
    expired = ", ".join(f"{t} {n:,}" for t, n in sorted(report.snapshots_expired.items()))
    out.line(
        f"  physically removed: snapshots before the erasure ({expired or 'no tables'}), "
        f"{counted(report.files_removed, 'file')} only they referenced, "
        f"{counted(report.versions_removed, 'older object version')} holding the user"
    )
    if not report.complete:
        raise ConsoleError(_unfinished(report, user_id, again))
    return 0


def _unfinished(report: ErasureReport, user_id: str, again: str) -> str:
    """Why the user may not be gone yet, and what to run: one line."""
    reasons = []
    if report.remaining:
        reasons.append(
            f"rows of {user_id!r} were committed again while erasing "
            f"(sessions {', '.join(report.remaining)}): run `{again}` again"
        )
    if report.in_flight:
        reasons.append(
            f"sessions {', '.join(report.in_flight)} were being archived with {user_id!r} in "
            f"them and may bring the rows back: run `{again}` again once they are archived"
        )
    if report.pending:
        after = when(max(p.after for p in report.pending))
        reasons.append(
            f"{counted(len(report.pending), 'table file')} no snapshot references "
            f"(a commit that did not land, or one in progress) hold {user_id!r} and can be "
            f"removed from {after}: run `{again}` again then"
        )
    return "erasure not complete: " + "; ".join(reasons)


def run(
    deployment: Deployment | None,
    out: Output,
    *,
    user_id: str,
    directory: Path | None,
    yes: bool,
    ask: Callable[[str], str] = ask,
) -> int:
    if not user_id.strip():
        raise UsageError("argument --user-id: the user id to erase is empty")
    again = f"ivs-archive erase --user-id {shlex.quote(user_id)}"
    if directory is not None:
        again += f" --dir {shlex.quote(str(directory))}"
        # Held against `local run`, nothing else writes to the folder: no file no snapshot
        # references can be a commit in progress.
        with in_folder(directory, create_tables=False) as store:
            return _erase(store, out, user_id, yes, ask, again, orphan_age=timedelta(0))
    assert deployment is not None
    return _erase(in_aws(deployment), out, user_id, yes, ask, again)
