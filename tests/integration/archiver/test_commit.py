"""Committing landed sessions into the Iceberg tables: whole, once, across retries, crashes and
racing committers; on pyiceberg's SQL catalog (SQLite) and on its Glue catalog against moto."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from archiver.catalog import GLUE, location_root, open_catalog, sqlite_uri
from archiver.commit import (
    SESSIONS_PROPERTY,
    CommitReport,
    LandedSession,
    LandingError,
    _commit_table,
    commit_sessions,
    sessions_in,
)
from archiver.landing import FolderLanding, S3Landing
from archiver.migrate import commit_landing, uncommitted_sessions
from archiver.schema import TABLES
from archiver.tables import ensure_tables
from local.moto_server import MotoServer
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

Catalogs = Callable[[], Any]


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """moto's server, with Glue's optimistic lock: UpdateTable with a VersionId that is no longer
    the table's current version fails with ConcurrentModificationException, as in AWS Glue
    (pyiceberg's Glue catalog sends it; moto 5.2.5 ignores it, so two commits from the same
    version would both succeed there and one would be lost). moto_server answers one request at
    a time, so the check and the update are atomic."""
    with glue_optimistic_lock():
        server = MotoServer()
        server.start()
        yield server
        server.stop()


@contextmanager
def glue_optimistic_lock() -> Iterator[None]:
    from moto.core.exceptions import JsonRESTError
    from moto.glue.responses import GlueResponse

    original = GlueResponse.update_table

    def update_table(self: Any) -> Any:
        version = self.parameters.get("VersionId")
        name = self.parameters["TableInput"]["Name"]
        table = self.glue_backend.get_table(self.parameters["DatabaseName"], name)
        if version is not None and str(version) != str(table._current_version):
            raise JsonRESTError(
                "ConcurrentModificationException", f"version {version} of {name} is stale"
            )
        return original(self)

    GlueResponse.update_table = update_table  # type: ignore[method-assign]
    try:
        yield
    finally:
        GlueResponse.update_table = original  # type: ignore[method-assign]


@pytest.fixture(params=["sql", "glue"])
def catalogs(request: pytest.FixtureRequest, tmp_path: Path) -> Catalogs:
    """A factory of catalogs on one fresh set of tables (each call: a new client, as a second
    worker would have)."""
    if request.param == "sql":
        uri = sqlite_uri(tmp_path)
        ensure_tables(open_catalog(uri), NAMESPACE, location_root(uri, "", ""))
        return lambda: open_catalog(uri)
    moto: MotoServer = request.getfixturevalue("moto")
    bucket = f"tables-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=moto.url).create_bucket(Bucket=bucket)
    props = {"glue.endpoint": moto.url, "s3.endpoint": moto.url}
    namespace_root = f"s3://{bucket}/"
    catalog = open_catalog(GLUE, props)
    drop_tables(catalog)
    ensure_tables(catalog, NAMESPACE, namespace_root)
    return lambda: open_catalog(GLUE, props)


def test_a_batch_lands_whole_once_with_the_sessions_in_the_snapshot_summary(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    landing = folder(tmp_path / "landing")
    sessions = land(scenario(), landing)
    catalog = catalogs()
    report = commit_sessions(catalog, NAMESPACE, sessions, landing.read)
    ids = [s.id for s in sessions]
    assert report.added == {name: ids for name in report.added}
    assert list(report.added) == ["participant_events", "participants", "stage_sessions"]
    for name in TABLES:
        rows = table_rows(catalog, name)
        assert by_key(rows) == by_key(landing_rows(landing, name)), name
        assert report.rows[name] == len(rows)
        table = catalog.load_table((NAMESPACE, name))
        (snapshot,) = table.snapshots()  # one commit per table for the whole batch
        assert snapshot.summary.get(SESSIONS_PROPERTY) == ",".join(ids)
        assert sessions_in(table) == set(ids)
    again = commit_sessions(catalogs(), NAMESPACE, sessions, landing.read)
    assert again.skipped == report.added
    assert all(not added for added in again.added.values())
    for name in TABLES:
        assert len(catalog.load_table((NAMESPACE, name)).snapshots()) == 1


def test_a_commit_repeated_after_a_crash_adds_only_what_is_missing(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    """A worker dies after the events' and participants' commits, before the session row's (and
    before its ledger update): the redelivered message commits the session row only."""
    landing = folder(tmp_path / "landing")
    sessions = land(scenario(seed=11), landing)
    session_rows = {s.keys.session() for s in sessions}

    def dies_at_the_session_row(key: str) -> bytes:
        if key in session_rows:
            raise ConnectionError("worker killed")
        return landing.read(key)

    with pytest.raises(LandingError):
        commit_sessions(catalogs(), NAMESPACE, sessions, dies_at_the_session_row)
    catalog = catalogs()
    assert table_rows(catalog, "stage_sessions") == []  # no session visible yet
    retry = commit_sessions(catalog, NAMESPACE, sessions, landing.read)
    ids = [s.id for s in sessions]
    assert retry.skipped == {"participant_events": ids, "participants": ids, "stage_sessions": []}
    assert retry.added["stage_sessions"] == ids
    for name in TABLES:
        assert by_key(table_rows(catalog, name)) == by_key(landing_rows(landing, name))


def test_a_session_whose_snapshots_expired_is_not_committed_again(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    """Snapshot retention (the Glue optimizer) drops the snapshots that list a session: a
    message redelivered later still adds nothing, as its row is in stage_sessions."""
    landing = folder(tmp_path / "landing")
    first, second, *rest = land(scenario(seed=5), landing)
    catalog = catalogs()
    commit_sessions(catalog, NAMESPACE, [first], landing.read)
    commit_sessions(catalog, NAMESPACE, [second], landing.read)
    for name in TABLES:
        table = catalog.load_table((NAMESPACE, name))
        oldest = min(table.snapshots(), key=lambda s: s.timestamp_ms)
        table.maintenance.expire_snapshots().by_id(oldest.snapshot_id).commit()
        assert first.id not in sessions_in(catalog.load_table((NAMESPACE, name)))
    before = {name: by_key(table_rows(catalog, name)) for name in TABLES}
    report = commit_sessions(catalogs(), NAMESPACE, [first, *rest], landing.read)
    assert report.skipped == {name: [first.id] for name in report.added}
    assert report.added["participants"] == [s.id for s in rest]
    for name in TABLES:
        after = by_key(table_rows(catalog, name))  # raises on a duplicate row
        assert {k: v for k, v in after.items() if k in before[name]} == before[name]


def test_a_half_committed_session_redelivered_after_its_snapshots_expired_is_still_once(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    """The issue's reproduction: a worker dies after committing a session's events and before
    its participants and session row; another session is committed; the snapshots expire; the
    session comes back (a redelivery, a redrive, `migrate`), however late (the scenario's
    sessions ended months before these commits, a week-late redelivery's case and more): its
    events are not added twice, found by its rows where no snapshot lists it any more."""
    landing = folder(tmp_path / "landing")
    half, other = land(scenario(seed=17, stages=1, sessions=2), landing)

    def dies_after_the_events(key: str) -> bytes:
        if key.startswith("participants/"):
            raise ConnectionError("worker killed")
        return landing.read(key)

    with pytest.raises(LandingError):
        commit_sessions(catalogs(), NAMESPACE, [half], dies_after_the_events)
    catalog = catalogs()
    events = len(table_rows(catalog, "participant_events"))
    assert events > 0 and table_rows(catalog, "participants") == []
    commit_sessions(catalog, NAMESPACE, [other], landing.read)
    for name in TABLES:  # the retention optimizer: every snapshot but the current one
        table = catalog.load_table((NAMESPACE, name))
        current = table.current_snapshot()
        old = [s.snapshot_id for s in table.snapshots() if current and s != current]
        if old:
            table.maintenance.expire_snapshots().by_ids(old).commit()
        assert half.id not in sessions_in(catalog.load_table((NAMESPACE, name)))
    report = commit_sessions(catalogs(), NAMESPACE, [half], landing.read)
    assert report.skipped["participant_events"] == [half.id]
    assert report.added["participants"] == report.added["stage_sessions"] == [half.id]
    for name in TABLES:  # raises on a duplicate row
        assert by_key(table_rows(catalog, name)) == by_key(landing_rows(landing, name)), name


def test_a_batch_that_repeats_a_session_commits_it_once(catalogs: Catalogs, tmp_path: Path) -> None:
    landing = folder(tmp_path / "landing")
    first, second, *rest = land(scenario(seed=5), landing)
    catalog = catalogs()
    commit_sessions(catalog, NAMESPACE, [first], landing.read)
    report = commit_sessions(catalog, NAMESPACE, [first, second, second, *rest], landing.read)
    assert report.skipped["participants"] == [first.id]
    assert report.added["participants"] == [second.id, *(s.id for s in rest)]
    for name in TABLES:
        by_key(table_rows(catalog, name))  # raises on a duplicate row


def test_a_commit_that_lost_the_race_to_the_same_session_skips_it(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    """Worker A reads its batch while worker B commits an overlapping one (a duplicate delivery
    of the same session): A's commit fails on the stale table, is redone on the refreshed one,
    and adds only the sessions B did not."""
    landing = folder(tmp_path / "landing")
    sessions = land(scenario(seed=9, sessions=3), landing)
    shared, mine = sessions[:2], sessions[2:]
    raced = threading.Event()

    def read_while_b_commits(key: str) -> bytes:
        if not raced.is_set():
            raced.set()
            commit_sessions(catalogs(), NAMESPACE, shared, landing.read)  # worker B
        return landing.read(key)

    report = commit_sessions(catalogs(), NAMESPACE, sessions, read_while_b_commits)
    assert report.conflicts == 1
    assert report.skipped["participant_events"] == [s.id for s in shared]
    assert report.added["participant_events"] == [s.id for s in mine]
    catalog = catalogs()
    for name in TABLES:
        assert by_key(table_rows(catalog, name)) == by_key(landing_rows(landing, name)), name


def test_concurrent_committers_of_overlapping_batches_add_every_session_once(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    landing = folder(tmp_path / "landing")
    sessions = land(scenario(seed=13, stages=3, sessions=2, participants=4), landing)
    batches = [sessions[i % 3 :: 2] + sessions[:1] for i in range(4)]  # overlapping
    start = threading.Barrier(len(batches))
    reports: list[Any] = []
    errors: list[BaseException] = []

    def worker(batch: list[LandedSession]) -> None:
        catalog = catalogs()
        start.wait()
        try:
            reports.append(commit_sessions(catalog, NAMESPACE, batch, landing.read))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    catalog = catalogs()
    committed = {s.id for b in batches for s in b}
    for name in TABLES:
        added = Counter(i for r in reports for i in r.added[name])
        assert set(added) == committed and set(added.values()) == {1}, name
        expected = [r for r in landing_rows(landing, name) if _session(r) in committed]
        assert by_key(table_rows(catalog, name)) == by_key(expected), name


def _session(row: dict[str, Any]) -> str:
    """The session of a row, as the commit names it: its place, stage and id."""
    _, _, _, region, account, resource = row["stage_arn"].split(":")
    return f"{account}/{region}/{resource.removeprefix('stage/')}/{row['session_id']}"


def test_a_missing_landing_object_adds_nothing_to_that_table(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    landing = folder(tmp_path / "landing")
    sessions = land(scenario(seed=3), landing)
    gone = sessions[1].keys.events(0)
    (tmp_path / "landing" / gone).unlink()
    with pytest.raises(LandingError, match=f"landing object {gone} of session {sessions[1].id}"):
        commit_sessions(catalogs(), NAMESPACE, sessions, landing.read)
    catalog = catalogs()
    for name in TABLES:
        assert table_rows(catalog, name) == []


def test_migration_commits_every_landed_session_the_tables_lack(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    """An upgraded deployment: landing objects only. The migration commits them, batch by batch;
    a session still being archived (no session row yet) waits; a second run adds nothing."""
    landing = folder(tmp_path / "landing")
    sessions = land(scenario(seed=21, stages=2, sessions=3), landing)
    in_flight = sessions[-1]
    (tmp_path / "landing" / in_flight.keys.session()).unlink()
    catalog = catalogs()
    commit_sessions(catalog, NAMESPACE, sessions[:1], landing.read)  # committed already
    todo = uncommitted_sessions(catalog, NAMESPACE, landing, "")
    assert [s.id for s in todo] == sorted(s.id for s in sessions[1:-1]) or {s.id for s in todo} == {
        s.id for s in sessions[1:-1]
    }
    assert {s.id: s.chunks for s in todo} == {s.id: s.chunks for s in sessions[1:-1]}
    report = commit_landing(catalog, NAMESPACE, landing, "", batch=2)
    assert sorted(report.added["stage_sessions"]) == sorted(s.id for s in sessions[1:-1])
    done = {s.id for s in sessions[:-1]}
    for name in TABLES:
        expected = [r for r in landing_rows(landing, name) if _session(r) in done]
        assert by_key(table_rows(catalog, name)) == by_key(expected), name
    assert commit_landing(catalog, NAMESPACE, landing, "").added == {}


def test_the_glue_path_reads_landing_objects_from_s3_and_keeps_their_tag(moto: MotoServer) -> None:
    """The archiver tags what it writes (the lifecycle rule expires only tagged objects); the
    landing store reads and rewrites S3 objects with the same tag."""
    s3 = boto3.client("s3", endpoint_url=moto.url)
    s3.create_bucket(Bucket="landing-tags")
    landing = S3Landing(s3, "landing-tags")
    (session, *_) = land(scenario(seed=2, stages=1, sessions=1), landing, prefix="ivs/")
    keys = list(landing.keys("ivs/"))
    assert len(keys) == 2 * session.chunks + 1
    for key in keys:
        tags = s3.get_object_tagging(Bucket="landing-tags", Key=key)["TagSet"]
        assert tags == [{"Key": "ivs-stage-archive", "Value": "landing"}]
    assert landing.read(session.keys.session()).startswith(b"PAR1")


def test_a_folder_landing_lists_only_its_prefix(tmp_path: Path) -> None:
    landing = FolderLanding(tmp_path)
    landing.write("a/b/x.parquet", b"1")
    landing.write("a/bc/y.parquet", b"2")
    landing.write("c.parquet", b"3")
    assert list(landing.keys("a/b/")) == ["a/b/x.parquet"]
    assert list(landing.keys("a/b")) == ["a/b/x.parquet", "a/bc/y.parquet"]
    assert list(landing.keys("")) == ["a/b/x.parquet", "a/bc/y.parquet", "c.parquet"]


# --- places (issue 17) ----------------------------------------------------------------------
def _in_region(data: dict[str, Any], region: str) -> dict[str, Any]:
    """`data` with every stage moved to `region`: the same stage ids and session ids."""
    text = json.dumps(data).replace("arn:aws:ivs:us-east-1:", f"arn:aws:ivs:{region}:")
    moved: dict[str, Any] = json.loads(text)
    return moved


def test_the_same_stage_and_session_ids_in_two_places_land_apart_and_commit_once_each(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    """Stage ids are unique per region only: the same stage id and session id in two regions
    are two sessions, with keys of their own, each committed once, whichever commits first
    (the one committed earlier is no reason to skip the other)."""
    landing = folder(tmp_path / "landing")
    here = scenario(seed=5, stages=1, sessions=2, participants=4)
    there = _in_region(here, "ap-northeast-1")
    sessions = land(here, landing) + land(there, landing)
    keys = [k for s in sessions for t in TABLES.values() for k in s.objects(t)]
    assert len(keys) == len(set(keys))  # no key shared
    assert len({s.id for s in sessions}) == len(sessions) == 4
    assert {s.keys.session_id for s in sessions[:2]} == {s.keys.session_id for s in sessions[2:]}
    catalog = catalogs()
    commit_sessions(catalog, NAMESPACE, sessions[2:], landing.read)
    second = commit_sessions(catalog, NAMESPACE, sessions[:2], landing.read)
    assert {t: len(ids) for t, ids in second.added.items()} == dict.fromkeys(TABLES, 2)
    for name in TABLES:
        rows = table_rows(catalog, name)
        assert by_key(rows) == by_key(landing_rows(landing, name)), name  # once each
        assert {(r["account_id"], r["region"]) for r in rows} == {
            ("123456789012", "us-east-1"),
            ("123456789012", "ap-northeast-1"),
        }
    again = commit_sessions(catalogs(), NAMESPACE, list(reversed(sessions)), landing.read)
    assert all(not added for added in again.added.values())


def test_a_session_crossing_midnight_lives_in_the_partition_of_its_start(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    data = scenario(seed=6, stages=1, sessions=1, participants=3)
    session = next(s for s in data["stages"][0]["sessions"] if s.get("endTime"))
    session["startTime"], session["endTime"] = (
        "2026-03-01T23:50:00.000Z",
        "2026-03-02T00:20:00.000Z",
    )
    for person in session["participants"]:
        person["firstJoinTime"] = "2026-03-01T23:55:00.000Z"
        for n, event in enumerate(person["events"]):
            event["eventTime"] = f"2026-03-02T00:{n % 20:02d}:00.000Z"  # after midnight
    landing = folder(tmp_path / "landing")
    [landed] = [s for s in land(data, landing) if s.keys.session_id == session["sessionId"]]
    assert all("/dt=2026-03-01/" in k for t in TABLES.values() for k in landed.objects(t))
    catalog = catalogs()
    commit_sessions(catalog, NAMESPACE, [landed], landing.read)
    for name in TABLES:
        days = {
            r["dt"] for r in table_rows(catalog, name) if r["session_id"] == landed.keys.session_id
        }
        assert days == {"2026-03-01"}, name


def test_a_session_landed_before_places_commits_from_its_old_keys_with_its_place(
    catalogs: Catalogs, tmp_path: Path
) -> None:
    """An earlier version landed a session's objects without the place's folders and columns:
    the commit reads them there and gives the rows their place from the stage's ARN."""
    import pyarrow.parquet as pq

    from archiver.writer import legacy_key

    root = tmp_path / "landing"
    landing = folder(root)
    sessions = land(scenario(seed=8, stages=1, sessions=1, participants=5), landing)
    for session in sessions:
        for table in TABLES.values():
            for key in session.objects(table):
                old = legacy_key(key)
                assert old is not None
                data = pq.read_table(root / key).drop_columns(["account_id", "region"])
                (root / old).parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(data, root / old)
                (root / key).unlink()
    catalog = catalogs()
    commit_sessions(catalog, NAMESPACE, sessions, landing.read)
    for name in TABLES:
        rows = table_rows(catalog, name)
        assert rows and {(r["account_id"], r["region"]) for r in rows} == {
            ("123456789012", "us-east-1")
        }, name


def test_a_commit_of_an_earlier_version_counts_as_done(catalogs: Catalogs, tmp_path: Path) -> None:
    """Snapshots an earlier version committed name sessions without their place: a session it
    committed in part (its participant_events, not yet its session row) is not added again."""
    landing = folder(tmp_path / "landing")
    sessions = land(scenario(seed=9, stages=1, sessions=2, participants=4), landing)
    catalog = catalogs()
    events = catalog.load_table((NAMESPACE, "participant_events"))
    earlier = CommitReport()
    old: list[LandedSession] = [LegacySession(s.keys, s.chunks) for s in sessions[:1]]
    _commit_table(events, TABLES["participant_events"], old, landing.read, earlier, attempts=3)
    assert earlier.added["participant_events"] == [old[0].id] != [sessions[0].id]
    report = commit_sessions(catalog, NAMESPACE, sessions, landing.read)
    assert report.skipped["participant_events"] == [sessions[0].id]
    rows = by_key(table_rows(catalog, "participant_events"))  # raises on a duplicate
    assert rows == by_key(landing_rows(landing, "participant_events"))


class LegacySession(LandedSession):
    """A session as an earlier version (before places) named it in snapshot summaries."""

    @property
    def id(self) -> str:
        return f"{self.keys.stage_arn.rsplit('/', 1)[-1]}/{self.keys.session_id}"
