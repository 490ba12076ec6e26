"""`ivs-archive local query` and `ivs-archive timeline --dir` read the same of a local archive:
its Iceberg tables when it has a catalog (as Athena reads the query tables), else its landing
objects. A session that landed but was never committed, as a `local run --live` stopped before
the end leaves them, is in neither, and both say so and how to commit it; a folder that is not an
archive's root (the tables' own `iceberg/` folder) is never offered as one."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from archiver.commit import commit_sessions
from local.query import run_sql
from local.tables import NAMESPACE, open_tables
from tests.helpers.console import Capture, one_error, run
from tests.helpers.iceberg import folder, land, scenario

PNG = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Interrupted:
    """An archive whose run stopped part way: some sessions committed to the tables, some
    landed whole but not committed, one landed only in part (no session row yet)."""

    out: Path
    committed: list[str]
    landed: list[str]
    partial: list[str]

    @property
    def every(self) -> list[str]:
        return [*self.committed, *self.landed, *self.partial]


@pytest.fixture
def interrupted(tmp_path: Path) -> Interrupted:
    out = tmp_path / "archive"
    sessions = land(scenario(seed=8, stages=2, sessions=3, participants=6), folder(out))
    assert len(sessions) == 6
    catalog = open_tables(out)
    commit_sessions(catalog, NAMESPACE, sessions[:3], folder(out).read)
    (out / sessions[-1].keys.session()).unlink()  # its last step (the session row) never came
    ids = [s.keys.session_id for s in sessions]
    return Interrupted(out, ids[:3], ids[3:5], ids[5:])


def in_query(out: Path) -> set[str]:
    """The sessions `local query` sees."""
    return {row[0] for row in run_sql(out, "SELECT session_id FROM stage_sessions")[1]}


def drawn(capsys: Capture, out: Path, session_id: str, tmp_path: Path) -> tuple[int, str]:
    """(exit status, what it printed) of `ivs-archive timeline SESSION_ID --dir out`."""
    picture = tmp_path / f"{session_id}.png"
    status, printed, err = run(capsys, "timeline", session_id, "--dir", out, "--out", picture)
    if status == 0:
        assert picture.read_bytes().startswith(PNG)
        return status, printed.strip()
    return status, one_error(err, "timeline")


def test_query_and_timeline_read_the_tables_and_say_what_they_leave_out(
    interrupted: Interrupted, capsys: Capture, tmp_path: Path
) -> None:
    out = interrupted.out
    assert in_query(out) == set(interrupted.committed)
    for session_id in interrupted.committed:
        status, printed = drawn(capsys, out, session_id, tmp_path)
        assert status == 0 and printed.endswith(f"(from {out}: Iceberg tables)"), printed
    for session_id in interrupted.landed:
        status, error = drawn(capsys, out, session_id, tmp_path)
        assert status == 1
        assert error == (
            f"session {session_id!r} is not in the Iceberg tables of {out}: it landed whole but "
            f"was not committed (a run stopped first); `ivs-archive migrate --dir {out}` "
            "commits it"
        )
    [partial] = interrupted.partial
    status, error = drawn(capsys, out, partial, tmp_path)
    assert status == 1 and error.endswith("it landed only in part (its archiving was cut short)")

    status, printed, _ = run(capsys, "local", "query", "--dir", out, "sessions_per_day")
    assert status == 0
    lines = printed.splitlines()
    assert lines[0].startswith(f"archive {out}, its Iceberg tables (catalog.db); current_date")
    landed = ", ".join(sorted(interrupted.landed))
    assert lines[1] == (
        f"not in the tables, left out: 2 sessions whose landing objects are whole ({landed}; a "
        f"run stopped before committing them): `ivs-archive migrate --dir {out}` commits them"
    )
    assert lines[2] == (
        f"not in the tables, left out: 1 session landed only in part ({partial}; their "
        "archiving was cut short)"
    )
    rows = [line.split() for line in lines if line[:4].isdigit()]
    assert sum(int(row[2]) for row in rows) == len(interrupted.committed)

    # What the error advises: then both read the landed sessions too, and only those.
    assert run(capsys, "migrate", "--dir", out)[0] == 0
    assert in_query(out) == {*interrupted.committed, *interrupted.landed}
    for session_id in interrupted.every:
        status, _ = drawn(capsys, out, session_id, tmp_path)
        assert (status == 0) == (session_id in in_query(out)), session_id
    status, printed, _ = run(capsys, "local", "query", "--dir", out, "sessions_per_day")
    assert "whose landing objects are whole" not in printed and "landed only in part" in printed


def test_without_a_catalog_both_read_the_landing_objects(
    interrupted: Interrupted, capsys: Capture, tmp_path: Path
) -> None:
    copy = tmp_path / "bucket-copy"
    shutil.copytree(interrupted.out, copy, ignore=shutil.ignore_patterns("catalog.db", "iceberg"))
    landed = {*interrupted.committed, *interrupted.landed}
    assert in_query(copy) == landed
    for session_id in interrupted.every:
        status, printed = drawn(capsys, copy, session_id, tmp_path)
        assert (status == 0) == (session_id in landed), (session_id, printed)
        if status == 0:
            assert printed.endswith(f"(from {copy}: landing objects)")
    status, printed, _ = run(capsys, "local", "query", "--dir", copy, "sessions_per_day")
    assert status == 0
    assert printed.startswith(f"archive {copy}, its landing objects (no catalog.db); ")


def test_a_wrong_dir_is_bad_input_and_only_archive_roots_are_offered(
    interrupted: Interrupted, capsys: Capture, tmp_path: Path
) -> None:
    out = interrupted.out
    assert (out / "iceberg" / "stage_sessions" / "data").is_dir()
    session_id = interrupted.committed[0]
    for given in (
        tmp_path,
        out / "iceberg",
        out / "iceberg" / "stage_sessions" / "data",
        out / "stage_sessions",
        tmp_path / "archiv",
    ):
        status, _, err = run(capsys, "local", "query", "--dir", given)
        assert status == 2
        [line] = err.splitlines()
        assert line.startswith(f"ivs-archive local query: error: argument --dir: {given} "), line
        assert line.endswith(f"; did you mean {out}?"), line
        status, _, err = run(capsys, "timeline", session_id, "--dir", given)
        assert status == 2
        assert one_error(err, "timeline") == line.removeprefix("ivs-archive local query: error: ")
    missing = tmp_path / "no" / "such"
    status, _, err = run(capsys, "timeline", session_id, "--dir", missing)
    assert status == 2
    assert (
        one_error(err, "timeline")
        == f"argument --dir: {missing} is not a folder; did you mean {out}?"
    )
