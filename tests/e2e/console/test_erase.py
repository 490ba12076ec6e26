"""`ivs-archive erase --dir DIR` on a local archive: nothing of the user left in any snapshot or
file, exit status 1 with what to run when sessions in flight may bring the user back, and a
one-line refusal for a folder whose tables cannot be changed (no catalog.db beside iceberg/) or
that a `local run` holds or was killed while writing."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from archiver.catalog import location_root, open_catalog, sqlite_uri
from archiver.commit import commit_sessions
from archiver.landing import FolderLanding
from archiver.tables import ensure_tables
from local.run import LOCK_FILE
from tests.helpers.console import Capture, one_error, run
from tests.helpers.erasure import assert_gone_from_history, holding, local_files
from tests.helpers.iceberg import NAMESPACE, land, scenario, table_rows

USER = "user-to-erase"


def _archive(folder: Path, *, in_flight: int = 0) -> list[str]:
    """A local archive as `local run --out` leaves it (landing objects, DIR/catalog.db, the
    tables' files under DIR/iceberg/), the user the first participant of every session; the last
    `in_flight` sessions landed and not committed. The session ids."""
    data = scenario(seed=47, stages=1, sessions=3, participants=4)
    for session in data["stages"][0]["sessions"]:
        if session.get("endTime"):
            session["participants"][0]["userId"] = USER
    landing = FolderLanding(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sessions = land(data, landing)
    uri = sqlite_uri(folder)
    ensure_tables(open_catalog(uri), NAMESPACE, location_root(uri, "", ""))
    done = sessions[: len(sessions) - in_flight]
    commit_sessions(open_catalog(uri), NAMESPACE, done, landing.read)
    return [s.keys.session_id for s in sessions]


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    _archive(tmp_path / "archive")
    return tmp_path / "archive"


def _user_anywhere(folder: Path) -> list[str]:
    return holding(local_files(folder), USER)


def test_erase_leaves_nothing_of_the_user_in_a_local_archive(
    archive: Path, capsys: Capture
) -> None:
    status, out, err = run(capsys, "erase", "--user-id", USER, "--dir", archive, "--yes", "--json")
    assert status == 0, err
    report = json.loads(out)
    assert (report["participants"], report["sessions"], report["complete"]) == (3, 3, True)
    catalog = open_catalog(sqlite_uri(archive))
    assert report["rows_deleted"]["participants"] == 3
    assert all(report["snapshots_expired"][t] > 0 for t in ("participants", "participant_events"))
    assert report["files_removed"] > 0 and report["pending"] == []
    assert _user_anywhere(archive) == []  # the landing objects and every file of the tables
    assert_gone_from_history(catalog, USER)
    assert table_rows(catalog, "participants")  # the others' rows stay
    assert not (archive / LOCK_FILE).exists()  # let go

    status, out, _ = run(capsys, "erase", "--user-id", USER, "--dir", archive, "--yes")
    assert (status, out.strip()) == (
        0,
        f"no row of user {USER!r} in {archive} (tables and landing objects): nothing changed",
    )


def test_erase_names_the_sessions_to_erase_again(tmp_path: Path, capsys: Capture) -> None:
    archive = tmp_path / "archive"
    in_flight = _archive(archive, in_flight=1)[-1]
    status, out, err = run(capsys, "erase", "--user-id", USER, "--dir", archive, "--yes")
    assert status == 1
    assert out.startswith(f"erased user {USER!r}: 3 participants in 3 sessions")
    assert "  physically removed: snapshots before the erasure (participant_events " in out
    assert one_error(err, "erase") == (
        f"erasure not complete: sessions {in_flight} were being archived with {USER!r} in them "
        f"and may bring the rows back: run `ivs-archive erase --user-id {USER} --dir {archive}` "
        "again once they are archived"
    )
    assert run(capsys, "migrate", "--dir", archive)[0] == 0  # now archived
    status, out, _ = run(capsys, "erase", "--user-id", USER, "--dir", archive, "--yes")
    assert status == 0 and out.startswith(f"no row of user {USER!r} in {archive}")
    assert _user_anywhere(archive) == []


def test_erase_refuses_table_files_without_their_catalog(archive: Path, capsys: Capture) -> None:
    """As an `aws s3 sync` copy is: iceberg/ without catalog.db. Erasing the landing objects
    only would report the user erased and leave every row in the tables' files."""
    (archive / "catalog.db").unlink()
    before = _user_anywhere(archive)
    status, _, err = run(capsys, "erase", "--user-id", USER, "--dir", archive, "--yes")
    assert status == 2
    assert one_error(err, "erase") == (
        f"--dir {archive}: iceberg/ holds the tables' files but there is no catalog.db to change "
        "them through (an `aws s3 sync` copy has none): erase in the deployment it was copied "
        f"from and copy it again, or remove {archive / 'iceberg'} to change the landing objects "
        "only"
    )
    assert _user_anywhere(archive) == before  # nothing touched


@pytest.fixture
def held(archive: Path) -> Iterator[int]:
    """The archive's lock, held as `local run --out` holds it while writing (pid, "writing")."""
    fd = os.open(archive / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.pwrite(fd, b"4242 writing\n", 0)
    yield fd
    os.close(fd)


def test_erase_refuses_a_folder_a_run_is_writing(archive: Path, held: int, capsys: Capture) -> None:
    before = _user_anywhere(archive)
    status, _, err = run(capsys, "erase", "--user-id", USER, "--dir", archive, "--yes")
    assert status == 1
    assert one_error(err, "erase") == (
        f"--dir {archive}: in use by `local run` (pid 4242), which writes the archive again "
        "when it ends; wait for it to end, then run this again"
    )
    assert _user_anywhere(archive) == before and (archive / LOCK_FILE).exists()


def test_erase_refuses_a_folder_a_killed_run_was_writing(archive: Path, capsys: Capture) -> None:
    (archive / LOCK_FILE).write_text("4242 writing\n")  # held by nobody: that run died
    status, _, err = run(capsys, "erase", "--user-id", USER, "--dir", archive, "--yes")
    assert status == 1
    assert one_error(err, "erase") == (
        f"--dir {archive}: a `local run` was killed while writing it, so it holds part of an "
        "archive; run it again to complete the archive"
    )
    assert (archive / LOCK_FILE).read_text() == "4242 writing\n"  # left for that next run


def test_erase_of_landing_objects_only(archive: Path, capsys: Capture) -> None:
    """No tables at all (neither catalog.db nor iceberg/): the landing objects are the archive."""
    (archive / "catalog.db").unlink()
    for path in sorted((archive / "iceberg").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (archive / "iceberg").rmdir()
    status, out, err = run(capsys, "erase", "--user-id", USER, "--dir", archive, "--yes", "--json")
    assert status == 0, err
    report = json.loads(out)
    assert (report["participants"], report["rows_deleted"], report["complete"]) == (3, {}, True)
    assert _user_anywhere(archive) == []
    assert not (archive / "catalog.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user-id", " ", "--dir", "."], "argument --user-id: the user id to erase is empty"),
        (["--user-id", USER, "--dir", "nowhere"], "--dir nowhere: no such folder"),
    ],
)
def test_erase_bad_input_is_one_line(
    args: list[str], message: str, capsys: Capture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    status, _, err = run(capsys, "erase", *args, "--yes")
    assert (status, one_error(err, "erase")) == (2, message)
