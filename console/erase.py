"""`ivs-archive erase --user-id U`: remove every row of a user from the query tables and from
the landing objects still kept (archiver.erasure), after the operator confirms."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from archiver.erasure import erase_user
from console.deployment import Deployment
from console.errors import ConsoleError, UsageError
from console.output import Output, counted
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


def _erase(store: Store, out: Output, user_id: str, yes: bool, ask: Callable[[str], str]) -> int:
    if not yes:
        _confirm(store, user_id, ask)
    with warnings.catch_warnings():
        # A table without the user's rows (or the empty stand-in of a folder without tables)
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        report = erase_user(store.catalog, store.namespace, user_id, store.landing, store.prefix)
    out.data(
        {
            "user_id": user_id,
            "archive": store.where,
            "participants": report.participants,
            "sessions": report.sessions,
            "rows_deleted": report.rows,
            "objects_rewritten": report.objects_rewritten,
        }
    )
    if not report.participants:
        out.line(f"no row of user {user_id!r} in {store.where}: nothing changed")
        return 0
    rows = ", ".join(f"{table} {n:,}" for table, n in sorted(report.rows.items()))
    out.line(
        f"erased user {user_id!r}: {counted(report.participants, 'participant')} in "
        f"{counted(report.sessions, 'session')}"
    )
    out.line(f"  rows deleted: {rows}")
    out.line(f"  landing objects rewritten: {len(report.objects_rewritten):,}")
    for key in report.objects_rewritten:
        out.line(f"    {key}")
    out.line(
        "  older snapshots and object versions keep the old data until they expire "
        "(README, Erasing a user)"
    )
    return 0


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
    if directory is not None:
        with in_folder(directory, create_tables=False) as store:
            return _erase(store, out, user_id, yes, ask)
    assert deployment is not None
    return _erase(in_aws(deployment), out, user_id, yes, ask)
