"""Erasing one user: afterwards no trace of the user in the tables' current data or in any landing
object, and every other row unchanged; on the SQL catalog with a landing folder, and on Glue
with the landing objects in S3 (moto). No trace either in any snapshot, table file or object
version (tests/helpers/erasure.py); the rows counted are the rows removed, with sessions being
committed beside the erasure; and the Glue and S3 calls need only ERASE_ACTIONS."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

import archiver.erasure
from archiver.catalog import GLUE, location_root, open_catalog, sqlite_uri
from archiver.commit import CommitReport, LandedSession, LandingError, commit_sessions
from archiver.erasure import ERASE_ACTIONS, erase_user
from archiver.landing import FolderLanding, Landing, S3Landing
from archiver.purge import ORPHAN_AGE, Purge
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, TABLES
from archiver.tables import ensure_tables
from local.moto_server import MotoServer
from tests.helpers.erasure import (
    RecordingMoto,
    assert_gone_from_history,
    holding,
    local_files,
    s3_versions,
    trace,
)
from tests.helpers.iceberg import (
    NAMESPACE,
    by_key,
    drop_tables,
    folder,
    land,
    landing_rows,
    scenario,
    table_rows,
)

ERASED = "user-to-erase"
USER_TABLES = (PARTICIPANTS.name, PARTICIPANT_EVENTS.name)
Files = Any  # () -> every (name, bytes) of the archive's Parquet files (and versions)


def _plant(data: dict[str, Any]) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The erased user in three places: a participant of a session, a participant of another
    session whose own user id changed by a token exchange (the user only in the token), and a
    participant of the last session, which stays uncommitted (landing objects only)."""
    sessions = [s for stage in data["stages"] for s in stage["sessions"] if s.get("endTime")]
    planted = set()
    first = sessions[0]["participants"][0]
    first["userId"] = ERASED
    for event in first["events"]:
        for token in ("previousToken", "newToken"):
            if token in event:
                event[token]["userId"] = ERASED
    planted.add((sessions[0]["sessionId"], first["participantId"]))
    other = sessions[1]["participants"][1]
    other["events"].append(
        {
            "name": "TOKEN_EXCHANGED",
            "participantId": other["participantId"],
            "eventTime": other["events"][-1]["eventTime"],
            "replica": False,
            "previousToken": {"capabilities": ["SUBSCRIBE"], "attributes": {}, "userId": ERASED},
            "newToken": {"capabilities": ["SUBSCRIBE"], "attributes": {}, "userId": "renamed"},
        }
    )
    other["userId"] = "renamed"
    planted.add((sessions[1]["sessionId"], other["participantId"]))
    last = sessions[-1]["participants"][0]
    last["userId"] = ERASED
    planted.add((sessions[-1]["sessionId"], last["participantId"]))
    return data, planted


def _trace(rows: list[dict[str, Any]]) -> bool:
    return trace(rows, ERASED)


def _run(catalog: Any, landing: Landing, prefix: str, files: Files) -> None:
    data, planted = _plant(scenario(seed=17, stages=2, sessions=2, participants=6))
    sessions = land(data, landing, prefix=prefix)
    commit_sessions(catalog, NAMESPACE, sessions[:-1], landing.read)  # the last is in flight
    before = {name: table_rows(catalog, name) for name in TABLES}
    landed_before = {name: landing_rows(landing, name, prefix) for name in TABLES}
    assert _trace(before["participants"]) and _trace(landed_before["participants"])

    report = erase_user(catalog, NAMESPACE, ERASED, landing, prefix)

    def erased(row: dict[str, Any]) -> bool:
        return (row["session_id"], row.get("participant_id")) in planted

    assert report.participants == len(planted) == 3
    # The last session, in flight, had the user in its landing objects: erase again once archived.
    assert report.in_flight == [sessions[-1].keys.session_id]
    assert not report.complete and not report.remaining and not report.pending
    for name in ("participants", "participant_events"):
        now, landed = table_rows(catalog, name), landing_rows(landing, name, prefix)
        assert not _trace(now) and not _trace(landed), name
        kept = [r for r in before[name] if not erased(r)]
        assert by_key(now) == by_key(kept), name  # every other row unchanged
        assert report.rows[name] == len(before[name]) - len(kept) > 0
        assert by_key(landed) == by_key([r for r in landed_before[name] if not erased(r)])
    # Session rows hold no user data and stay as they were.
    assert by_key(table_rows(catalog, "stage_sessions")) == by_key(before["stage_sessions"])
    touched = {k for k in report.objects_rewritten}
    assert len(touched) == len(report.objects_rewritten)
    assert {k.split("/dt=", 1)[0].removeprefix(prefix) for k in touched} == {
        "participants",
        "participant_events",
    }
    # Nothing of the user in any snapshot, file, or object version either.
    assert_gone_from_history(catalog, ERASED)
    assert holding(files(), ERASED) == []
    assert sum(report.snapshots_expired.values()) > 0 and report.files_removed > 0
    # The in-flight session, committed later, brings no trace back.
    commit_sessions(catalog, NAMESPACE, sessions[-1:], landing.read)
    assert not any(_trace(table_rows(catalog, name)) for name in TABLES)
    # Erasing again finds nothing and changes nothing.
    again = erase_user(catalog, NAMESPACE, ERASED, landing, prefix)
    assert (again.participants, again.objects_rewritten) == (0, [])
    assert again.complete and again.snapshots_expired == {t: 0 for t in USER_TABLES}


def test_erasure_on_the_sql_catalog_and_a_landing_folder(tmp_path: Path) -> None:
    uri = sqlite_uri(tmp_path)
    catalog = open_catalog(uri)
    ensure_tables(catalog, NAMESPACE, location_root(uri, "", ""))
    _run(catalog, folder(tmp_path), "", lambda: local_files(tmp_path / "iceberg"))


@pytest.fixture
def moto() -> Iterator[RecordingMoto]:
    server = RecordingMoto()
    server.start()
    yield server
    server.stop()


def _versioned_bucket(moto: MotoServer, name: str) -> Any:
    s3 = boto3.client("s3", endpoint_url=moto.url)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return s3


def test_erasure_on_glue_with_landing_objects_in_s3(moto: MotoServer) -> None:
    s3 = _versioned_bucket(moto, "erasure")  # as the stack makes it: every object version kept
    catalog = open_catalog(GLUE, {"glue.endpoint": moto.url, "s3.endpoint": moto.url})
    drop_tables(catalog)
    ensure_tables(catalog, NAMESPACE, "s3://erasure/ivs/")
    landing = S3Landing(s3, "erasure")
    _run(catalog, landing, "ivs/", lambda: s3_versions(s3, "erasure"))
    for key in landing.keys("ivs/participants/"):  # rewritten objects keep the landing tag
        tags = s3.get_object_tagging(Bucket="erasure", Key=key)["TagSet"]
        assert tags == [{"Key": "ivs-stage-archive", "Value": "landing"}]


def test_an_empty_user_id_is_refused(tmp_path: Path) -> None:
    uri = sqlite_uri(tmp_path)
    catalog = open_catalog(uri)
    ensure_tables(catalog, NAMESPACE, location_root(uri, "", ""))
    with pytest.raises(ValueError, match="the user id to erase is empty"):
        erase_user(catalog, NAMESPACE, " ", folder(tmp_path), "")


# --- whatever runs beside it ---------------------------------------------------------------------
def _everywhere(data: dict[str, Any]) -> dict[str, Any]:
    """The erased user as the first participant of every ended session."""
    for stage in data["stages"]:
        for session in stage["sessions"]:
            if session.get("endTime"):
                session["participants"][0]["userId"] = ERASED
    return data


class Tally:
    """The rows every commit added, per table, from any thread."""

    def __init__(self) -> None:
        self.rows: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, report: CommitReport) -> None:
        with self._lock:
            self.rows.update(report.rows)


def _local_tables(tmp_path: Path) -> tuple[str, FolderLanding]:
    uri = sqlite_uri(tmp_path)
    ensure_tables(open_catalog(uri), NAMESPACE, location_root(uri, "", ""))
    return uri, folder(tmp_path)


def _assert_erased_and_counted(
    uri: str, landing: Landing, tally: Tally, counted: Counter[str], root: Path
) -> None:
    """No row of the user now, every other row once, the rows counted = the rows removed, and
    nothing of the user in any snapshot or file."""
    catalog = open_catalog(uri)
    for name in USER_TABLES:
        rows = table_rows(catalog, name)
        assert not _trace(rows), name
        assert by_key(rows) == by_key(landing_rows(landing, name)), name  # all else, once
        assert counted[name] == tally.rows[name] - len(rows) > 0, name
    assert_gone_from_history(catalog, ERASED)
    assert holding(local_files(root / "iceberg"), ERASED) == []


def _one_by_one(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A scenario per ended session, in order."""
    return [
        {"stages": [{**stage, "sessions": [session]}]}
        for stage in data["stages"]
        for session in stage["sessions"]
        if session.get("endTime")
    ]


def test_erasure_is_correct_while_sessions_are_archived_beside_it(tmp_path: Path) -> None:
    """A worker archives sessions holding the user, one by one (lands, then commits each), while
    the erasure runs: what it commits meanwhile is erased too, or named to erase again; the
    count is what left the tables."""
    uri, landing = _local_tables(tmp_path)
    data = _one_by_one(_everywhere(scenario(seed=23, stages=3, sessions=4, participants=4)))
    tally, catalog = Tally(), open_catalog(uri)
    for session in data[:3]:
        tally.add(commit_sessions(catalog, NAMESPACE, land(session, landing), landing.read))
    start, committed_at, errors = threading.Event(), [], []

    def worker() -> None:
        catalog = open_catalog(uri)
        start.wait()
        try:
            for session in data[3:]:
                tally.add(commit_sessions(catalog, NAMESPACE, land(session, landing), landing.read))
                committed_at.append(time.monotonic())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    start.set()
    began = time.monotonic()
    report = erase_user(open_catalog(uri), NAMESPACE, ERASED, landing, "")
    ended = time.monotonic()
    thread.join(timeout=300)
    assert not errors and not thread.is_alive()
    assert any(began <= t <= ended for t in committed_at)  # commits landed while it ran
    reports = [report]
    if not report.complete:  # what it says to erase again: erased now that the worker is done
        ids = {s["stages"][0]["sessions"][0]["sessionId"] for s in data}
        assert set(report.remaining) | set(report.in_flight) <= ids
        reports.append(
            erase_user(open_catalog(uri), NAMESPACE, ERASED, landing, "", orphan_age=timedelta(0))
        )
    assert reports[-1].complete
    counted = sum((Counter(r.rows) for r in reports), Counter[str]())
    _assert_erased_and_counted(uri, landing, tally, counted, tmp_path)


def test_a_delete_that_loses_the_race_is_redone_and_the_sessions_committed_meanwhile_erased(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker lands and commits sessions holding the user just as the erasure's first
    delete commits: that commit fails, is redone on the refreshed table, and a second pass
    erases the newcomers. (Before: pyiceberg's own retry failed with "Added data files were
    found matching the filter", and the count was a difference of totals.)"""
    uri, landing = _local_tables(tmp_path)
    data = _everywhere(scenario(seed=29, stages=2, sessions=2, participants=4))
    late = {"stages": data["stages"][1:]}
    data["stages"] = data["stages"][:1]
    tally = Tally()
    tally.add(commit_sessions(open_catalog(uri), NAMESPACE, land(data, landing), landing.read))
    plain = archiver.erasure.without_commit_retries
    raced: list[LandedSession] = []

    def racing(table: Any) -> Any:
        if not raced:
            raced.extend(land(late, landing))
            tally.add(commit_sessions(open_catalog(uri), NAMESPACE, raced, landing.read))
        return plain(table)  # the table as loaded before that commit

    monkeypatch.setattr(archiver.erasure, "without_commit_retries", racing)
    report = erase_user(open_catalog(uri), NAMESPACE, ERASED, landing, "")
    assert raced and report.conflicts >= 1
    assert report.passes == 2 and report.complete
    assert report.sessions == 4 and report.participants == 4
    _assert_erased_and_counted(uri, landing, tally, Counter(report.rows), tmp_path)


def test_a_session_half_committed_when_its_snapshots_expire_is_still_committed_once(
    tmp_path: Path,
) -> None:
    """A worker committed a session's events, then died before its participants: the erasure
    expires the snapshot that says so, and carries the session over to its own, so that the
    worker's retry does not add those events twice."""
    uri, landing = _local_tables(tmp_path)
    sessions = land(_everywhere(scenario(seed=31, stages=1, sessions=3, participants=4)), landing)
    catalog = open_catalog(uri)
    commit_sessions(catalog, NAMESPACE, sessions[:-1], landing.read)

    def dies_before_participants(key: str) -> bytes:
        if key.startswith("participants/"):
            raise OSError("worker killed")
        return landing.read(key)

    with pytest.raises(LandingError):
        commit_sessions(catalog, NAMESPACE, sessions[-1:], dies_before_participants)
    report = erase_user(catalog, NAMESPACE, ERASED, landing, "")
    assert report.snapshots_expired[PARTICIPANT_EVENTS.name] > 0
    retry = commit_sessions(open_catalog(uri), NAMESPACE, sessions[-1:], landing.read)
    assert retry.skipped[PARTICIPANT_EVENTS.name] == [sessions[-1].id]
    for name in TABLES:
        assert by_key(table_rows(catalog, name)) == by_key(landing_rows(landing, name)), name


# --- physically gone -----------------------------------------------------------------------------
def test_a_file_no_snapshot_references_is_removed_once_no_commit_can_be_writing_it(
    tmp_path: Path,
) -> None:
    """A data file holding the user that no snapshot references (a commit that did not land, or
    one in progress) waits until it is ORPHAN_AGE old; the erasure says until when."""
    uri, landing = _local_tables(tmp_path)
    sessions = land(_everywhere(scenario(seed=37, stages=1, sessions=2, participants=4)), landing)
    catalog = open_catalog(uri)
    commit_sessions(catalog, NAMESPACE, sessions, landing.read)
    data = next(p for p in (tmp_path / "iceberg" / "participants" / "data").rglob("*.parquet"))
    orphan = data.with_name("00000-0-a-commit-that-did-not-land.parquet")
    orphan.write_bytes(data.read_bytes())
    metadata = tmp_path / "iceberg" / "participants" / "metadata"
    manifest = next(metadata.glob("*-m*.avro"))  # and a manifest, with its files' bounds
    unlisted = manifest.with_name("a-commit-that-did-not-land-m0.avro")
    unlisted.write_bytes(manifest.read_bytes())

    report = erase_user(catalog, NAMESPACE, ERASED, landing, "")
    assert [p.uri for p in report.pending] == [str(orphan)] and not report.complete
    written = orphan.stat().st_mtime
    assert abs(report.pending[0].after.timestamp() - (written + ORPHAN_AGE.total_seconds())) < 1
    assert orphan.exists() and unlisted.exists()
    again = erase_user(catalog, NAMESPACE, ERASED, landing, "", orphan_age=timedelta(0))
    assert again.complete and again.files_removed == 2
    assert not orphan.exists() and not unlisted.exists()
    assert holding(local_files(tmp_path / "iceberg"), ERASED) == []


def test_erasing_again_purges_what_an_earlier_erasure_left_in_older_snapshots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erasure by an earlier version deleted the rows and left the snapshots before it: the
    next one finds no row, yet expires those snapshots and removes their files."""
    uri, landing = _local_tables(tmp_path)
    sessions = land(_everywhere(scenario(seed=41, stages=1, sessions=2, participants=4)), landing)
    catalog = open_catalog(uri)
    commit_sessions(catalog, NAMESPACE, sessions, landing.read)
    with monkeypatch.context() as earlier:  # the erasure before this version: no purge
        earlier.setattr(archiver.erasure, "purge_table", lambda *_, **__: Purge())
        assert erase_user(catalog, NAMESPACE, ERASED, landing, "").participants == 2
    assert holding(local_files(tmp_path / "iceberg"), ERASED)

    report = erase_user(catalog, NAMESPACE, ERASED, landing, "")
    assert report.participants == 0 and report.complete
    assert all(report.snapshots_expired[name] > 0 for name in USER_TABLES)
    assert_gone_from_history(catalog, ERASED)
    assert holding(local_files(tmp_path / "iceberg"), ERASED) == []


def test_in_s3_no_object_version_holds_the_user_and_only_erase_actions_are_needed(
    moto: RecordingMoto,
) -> None:
    """A versioned bucket: the tables' removed files go with every version, the landing objects'
    earlier versions go, and so does a noncurrent version of a table file deleted before (as
    Glue's orphan-file deletion leaves one). Every request the erasure made needs one of
    ERASE_ACTIONS, and each of them was needed."""
    s3 = _versioned_bucket(moto, "versions")
    catalog = open_catalog(GLUE, {"glue.endpoint": moto.url, "s3.endpoint": moto.url})
    drop_tables(catalog)
    ensure_tables(catalog, NAMESPACE, "s3://versions/ivs/")
    landing = S3Landing(s3, "versions")
    sessions = land(
        _everywhere(scenario(seed=43, stages=1, sessions=2, participants=4)), landing, prefix="ivs/"
    )
    commit_sessions(catalog, NAMESPACE, sessions[:1], landing.read)  # the other: in flight
    table = catalog.load_table((NAMESPACE, PARTICIPANTS.name))
    data = next(t.file.file_path for t in table.scan().plan_files())
    source = data.removeprefix("s3://versions/")
    deleted = source.rsplit("/", 1)[0] + "/00000-0-compacted-and-deleted.parquet"
    s3.copy_object(Bucket="versions", Key=deleted, CopySource={"Bucket": "versions", "Key": source})
    s3.delete_object(Bucket="versions", Key=deleted)  # its data: a noncurrent version now
    assert holding(s3_versions(s3, "versions"), ERASED)

    moto.recording = True
    report = erase_user(catalog, NAMESPACE, ERASED, landing, "ivs/")
    moto.recording = False
    assert report.participants == 2 and report.in_flight == [sessions[1].keys.session_id]
    assert report.versions_removed >= 1 + len(report.objects_rewritten)
    assert holding(s3_versions(s3, "versions"), ERASED) == []
    assert_gone_from_history(catalog, ERASED)
    assert moto.actions == set(ERASE_ACTIONS)
