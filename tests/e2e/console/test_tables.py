"""The console's commands over the query tables: `smoke` (a deployment end to end, in moto),
`migrate` and `erase` (pyiceberg on moto's Glue and S3, or a local archive's SQL catalog), and
`timeline` (from Athena's answers, or from a local archive that `python -m local run` made)."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest

from archiver.catalog import GLUE, open_catalog, sqlite_uri
from archiver.landing import FolderLanding, Landing, S3Landing, read_parquet
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, TABLES, Table
from console.athena import Athena
from console.sources import athena_session
from console.timeline import load_local_session, timeline_of
from console.timeline.rows import SessionRows
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.cli import ROOT, local
from tests.helpers.console import (
    Capture,
    LambdaFront,
    Stack,
    athena_result,
    deploy,
    one_error,
    run,
    seed_athena,
)
from tests.helpers.iceberg import table_rows
from tests.helpers.scenario import build_scenario

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """A deployment whose pipeline has archived its scenario (landing objects in the bucket)."""
    scenario = build_scenario(stages=2, sessions=2, participants=4, events=3)
    with EmbeddedPipeline(scenario, Options(tps=100)) as pipeline:
        pipeline.run()
        deployed = deploy(pipeline)
        with LambdaFront({deployed.discover: pipeline.discover}) as front:
            monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", front.url)
            yield deployed


# --- smoke --------------------------------------------------------------------------------------
def test_smoke_passes_on_a_whole_deployment(stack: Stack, capsys: Capture) -> None:
    # Athena's answers to the three SELECT count(*), the first queries smoke starts
    seed_athena([athena_result([("_col0", "bigint")], [[n]]) for n in (4, 1234, 0)])
    status, out, _err = run(capsys, "smoke", *stack.args, "--json")
    assert status == 0, out
    data = json.loads(out)
    failed = [c for c in data["checks"] if not c["passed"]]
    assert failed == []
    details = {c["name"]: c["detail"] for c in data["checks"]}
    assert details["count(*) participants"] == "SUCCEEDED: 1,234 rows"
    assert details["count(*) participant_events"] == "SUCCEEDED: 0 rows"
    names = {c["name"] for c in data["checks"]}
    queries = {p.stem for p in (ROOT / "queries").glob("*.sql")}
    assert {f"named query {q}" for q in queries} <= names
    assert {f"count(*) {t}" for t in TABLES} | {f"table {t}" for t in TABLES} <= names
    assert {f"function {stack.discover} invocable", f"function {stack.archive}"} <= names
    # outputs, 2 buckets, ledger, 2 queues, 2 functions twice; per table: itself, count(*) and
    # its 3 optimizers (enabled, no run yet: a pass)
    assert data["passed"] == len(data["checks"]) == 10 + 5 * len(TABLES) + len(queries)
    status, out, _ = run(capsys, "smoke", *stack.args)
    assert status == 0
    assert out.strip().splitlines()[-1] == f"{data['passed']} passed, 0 failed"


def test_smoke_names_what_fails(stack: Stack, capsys: Capture) -> None:
    glue = stack.client("glue")
    glue.delete_table(DatabaseName=stack.database, Name="participants")
    stack.client("lambda").delete_function(FunctionName=stack.archive)
    stack.client("sqs").delete_queue(QueueUrl=stack.pipeline.account.dlq_url)
    status, out, _ = run(capsys, "smoke", *stack.args)
    assert status == 1
    failures = {
        re.split(r"\s{2,}", line)[1]: line for line in out.splitlines() if line.startswith("FAIL")
    }
    assert set(failures) == {
        "table participants",
        f"function {stack.archive}",
        f"queue {stack.pipeline.account.dlq_url.rsplit('/', 1)[-1]}",
    }
    assert "GetTable: EntityNotFoundException" in failures["table participants"]
    assert "GetFunction: ResourceNotFoundException" in failures[f"function {stack.archive}"]
    assert out.strip().splitlines()[-1].endswith(" passed, 3 failed")


def test_smoke_of_a_stack_without_outputs(stack: Stack, capsys: Capture) -> None:
    old = deploy(stack.pipeline, omit=["DiscoverFunctionName", "TablesLocation"])
    status, out, _ = run(capsys, "smoke", *old.args, "--json")
    assert status == 1
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["stack outputs"]["detail"] == "missing TablesLocation, DiscoverFunctionName"
    assert checks["function DiscoverFunctionName"]["detail"] == (
        "not checked: no output DiscoverFunctionName"
    )


# --- migrate and erase in AWS -------------------------------------------------------------------
def glue_rows(stack: Stack, table: str) -> list[dict[str, Any]]:
    return table_rows(open_catalog(GLUE), table, stack.database)


def users(landing: Landing) -> set[str]:
    """Every user id in the participants' landing objects."""
    found: set[str] = set()
    for key in landing.keys(f"{PARTICIPANTS.name}/"):
        column = read_parquet(landing.read(key)).column("user_id").to_pylist()
        found |= {str(user) for user in column if user is not None}
    return found


def landing_users(stack: Stack) -> set[str]:
    return users(S3Landing(boto3.client("s3"), stack.pipeline.account.bucket))


def test_migrate_then_erase_in_aws(
    stack: Stack, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = run(capsys, "migrate", *stack.args)
    assert status == 0, err
    assert out.splitlines()[0] == (
        f"committed 4 sessions to the tables of Glue database {stack.database} and "
        f"s3://{stack.pipeline.account.bucket}/"
    )
    assert len(glue_rows(stack, "stage_sessions")) == 4
    participants = glue_rows(stack, "participants")
    assert len(participants) == 16
    status, out, _ = run(capsys, "migrate", *stack.args, "--json")
    assert (status, json.loads(out)["sessions_committed"]) == (0, [])
    status, out, _ = run(capsys, "migrate", *stack.args)
    assert out.startswith("every landed session is in the tables already")

    # build_scenario: participant p has user id user-(p % 7); 4 participants a session
    assert "user-2" in landing_users(stack)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    status, out, err = run(capsys, "erase", *stack.args, "--user-id", "user-2")
    question, error = err.split("\n", 1)
    assert status == 1
    assert question == (
        f"Erase every row of user 'user-2' from Glue database {stack.database} and "
        f"s3://{stack.pipeline.account.bucket}/? This rewrites data and cannot be undone [y/N] "
    )
    assert one_error(error, "erase") == "not confirmed: nothing was erased"
    assert len(glue_rows(stack, "participants")) == 16

    status, out, _ = run(capsys, "erase", *stack.args, "--user-id", "user-2", "--yes", "--json")
    report = json.loads(out)
    assert status == 0
    assert (report["participants"], report["sessions"]) == (4, 4)
    assert report["rows_deleted"] == {"participants": 4, "participant_events": 12}
    assert len(report["objects_rewritten"]) == 8  # one participants and one events object each
    remaining = glue_rows(stack, "participants")
    assert len(remaining) == 12 and "user-2" not in {r["user_id"] for r in remaining}
    assert "user-2" not in {r["user_id"] for r in glue_rows(stack, "participant_events")}
    assert "user-2" not in landing_users(stack)
    status, out, _ = run(capsys, "erase", *stack.args, "--user-id", "user-2", "--yes")
    assert (status, out.strip()) == (
        0,
        f"no row of user 'user-2' in Glue database {stack.database} and "
        f"s3://{stack.pipeline.account.bucket}/: nothing changed",
    )


def test_erase_without_an_answer_refuses(
    stack: Stack, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    status, _, err = run(capsys, "erase", *stack.args, "--user-id", "user-1")
    question, error = err.split("\n", 1)
    assert status == 2 and question.startswith("Erase every row of user 'user-1'")
    assert "pass --yes" in one_error(error, "erase")


# --- timeline from Athena -----------------------------------------------------------------------
def _athena_type(arrow: pa.DataType) -> str:
    if isinstance(arrow, pa.MapType | pa.ListType):
        return "json"  # selected as CAST(... AS JSON)
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    kinds = {pa.string(): "varchar", pa.int32(): "integer", pa.int64(): "bigint"}
    return kinds.get(arrow, "boolean" if pa.types.is_boolean(arrow) else "varchar")


def _athena_value(value: Any) -> Any:
    """Arrow's maps (lists of pairs) as the JSON objects CAST(map AS JSON) gives; timestamps in
    UTC without a zone, as Athena prints them."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return dict(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def answer(table: Table, rows: list[Any], dt: str) -> dict[str, Any]:
    """What Athena answers the console's SELECT on `table`: the columns, each field of a struct
    as a column of its own, maps and arrays as JSON, then `dt`."""
    columns: list[tuple[str, str]] = []
    cells: list[list[Any]] = [[] for _ in rows]
    for column in table.columns:
        arrow = column.type.arrow
        parts = [(f.name, f.type) for f in arrow] if isinstance(arrow, pa.StructType) else [None]
        for part in parts:
            if part is None:
                columns.append((column.name, _athena_type(arrow)))
                for row, out in zip(rows, cells, strict=True):
                    out.append(_athena_value(row.get(column.name)))
            else:
                columns.append((f"{column.name}__{part[0]}", _athena_type(part[1])))
                for row, out in zip(rows, cells, strict=True):
                    out.append(_athena_value((row.get(column.name) or {}).get(part[0])))
    columns.append(("dt", "varchar"))
    return athena_result(columns, [[*out, dt] for out in cells])


def seed_session(rows: SessionRows, dt: str) -> None:
    seed_athena(
        [
            answer(STAGE_SESSIONS, [rows.session], dt),
            answer(PARTICIPANTS, rows.participants, dt),
            answer(PARTICIPANT_EVENTS, rows.events, dt),
        ]
    )


def test_timeline_from_athena(stack: Stack, capsys: Capture, tmp_path: Path) -> None:
    copy = tmp_path / "archive"
    stack.pipeline.mirror(copy)
    session = stack.pipeline.account.ledger_sessions()[0]["sk"].removeprefix("SESSION#")
    landed = load_local_session(copy, session)
    row = next(copy.glob(f"stage_sessions/dt=*/*/*/*/{session}.parquet"))
    dt = row.relative_to(copy / "stage_sessions").parts[0].removeprefix("dt=")

    seed_session(landed, dt)
    athena = Athena(stack.client("athena"), stack.workgroup, stack.database, sleep=lambda _: None)
    from_athena = athena_session(athena, session)
    assert timeline_of(from_athena) == timeline_of(landed)

    seed_session(landed, dt)
    picture = tmp_path / "session.png"
    status, out, err = run(capsys, "timeline", *stack.args, session, "--out", picture)
    assert status == 0, err
    assert picture.read_bytes().startswith(PNG)
    assert out.startswith(f"wrote {picture}: session {session} of stage-")
    assert out.strip().endswith(f"(from Athena, workgroup {stack.workgroup})")
    # What the console asked: the session's row, then its partition only.
    client = stack.client("athena")
    ids = client.list_query_executions(WorkGroup=stack.workgroup)["QueryExecutionIds"]
    sql = [client.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]
    events = next(q for q in sql[-3:] if 'FROM "participant_events"' in q)
    assert f"\"dt\" = '{dt}'" in events and f"\"session_id\" = '{session}'" in events
    assert 'CAST("attributes" AS JSON)' in next(q for q in sql[-3:] if 'FROM "participants"' in q)


def test_timeline_of_a_session_athena_does_not_have(
    stack: Stack, capsys: Capture, tmp_path: Path
) -> None:
    seed_athena([athena_result([("stage_arn", "varchar")], [])])
    status, _, err = run(
        capsys, "timeline", *stack.args, "st-NotArchived01", "--out", tmp_path / "x.png"
    )
    assert status == 1
    assert one_error(err, "timeline").startswith(
        "session 'st-NotArchived01' is not in the stage_sessions table"
    )
    assert not (tmp_path / "x.png").exists()


# --- a local archive (python -m local run) ------------------------------------------------------
@pytest.fixture(scope="module")
def local_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `python -m local run --out DIR` writes, for a generated scenario."""
    folder = tmp_path_factory.mktemp("local-archive")
    scenario = folder / "scenario.json"
    generated = local(
        "generate",
        "--seed",
        7,
        "--stages",
        1,
        "--sessions",
        2,
        "--participants",
        40,
        "--out",
        scenario,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stderr
    ran = local(
        "run", "--scenario", scenario, "--out", folder / "archive", "--tps", 100, timeout=300
    )
    assert ran.returncode == 0, ran.stderr
    return folder / "archive"


@pytest.fixture
def archive(local_archive: Path, tmp_path: Path) -> Path:
    """The landing objects only, as an archive from before the Iceberg tables (or an
    `aws s3 sync` of the landing prefixes) has them: the tests add the tables with migrate."""
    copy = tmp_path / "archive"
    shutil.copytree(local_archive, copy, ignore=shutil.ignore_patterns("catalog.db", "iceberg"))
    return copy


def sessions_in(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("stage_sessions/dt=*/**/*.parquet"))


def users_in(folder: Path) -> set[str]:
    return users(FolderLanding(folder))


def test_timeline_from_a_local_archive(
    archive: Path, capsys: Capture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = sessions_in(archive)
    monkeypatch.chdir(tmp_path)
    status, out, _ = run(capsys, "timeline", first, "--dir", archive)  # SESSION_ID.png, here
    assert status == 0 and out.startswith(f"wrote {first}.png: ")
    assert (tmp_path / f"{first}.png").read_bytes().startswith(PNG)
    status, out, err = run(capsys, "timeline", first, "--dir", archive, "--out", tmp_path / "a.png")
    assert status == 0, err
    assert (tmp_path / "a.png").read_bytes().startswith(PNG)
    assert out.strip().endswith(f"(from {archive}: landing objects)")
    status, out, _ = run(
        capsys, "timeline", second, "--dir", archive, "--out", tmp_path / "b.html", "--json"
    )
    data = json.loads(out)
    assert (status, data["file"], data["source"]) == (
        0,
        str(tmp_path / "b.html"),
        f"{archive}: landing objects",
    )
    assert "<svg" in (tmp_path / "b.html").read_text()
    # With the Iceberg tables (DIR/catalog.db), they are read instead: the same picture.
    status, _, _ = run(capsys, "migrate", "--dir", archive)
    assert status == 0 and (archive / "catalog.db").is_file()
    status, out, _ = run(capsys, "timeline", first, "--dir", archive, "--out", tmp_path / "c.png")
    assert status == 0 and out.strip().endswith(f"(from {archive}: Iceberg tables)")
    from console.sources import iceberg_session

    tables = iceberg_session(archive, first)
    assert tables is not None
    assert timeline_of(tables) == timeline_of(load_local_session(archive, first))


def test_timeline_errors_are_one_line(archive: Path, capsys: Capture, tmp_path: Path) -> None:
    status, _, err = run(
        capsys, "timeline", "st-NoSuchSession", "--dir", archive, "--out", tmp_path / "x.png"
    )
    assert status == 1
    assert one_error(err, "timeline") == f"session 'st-NoSuchSession' in {archive}: not found"
    status, _, err = run(
        capsys, "timeline", sessions_in(archive)[0], "--dir", archive, "--out", tmp_path / "x.svg"
    )
    assert status == 2 and "must end in .png or .html" in one_error(err, "timeline")
    status, _, err = run(capsys, "timeline", "st-NoSuchSession", "--dir", tmp_path / "nothing")
    assert status == 2 and "nothing is not a folder" in one_error(err, "timeline")


def test_erase_in_a_local_archive(archive: Path, capsys: Capture) -> None:
    user = sorted(users_in(archive))[0]
    status, out, _ = run(capsys, "erase", "--user-id", user, "--dir", archive, "--yes", "--json")
    report = json.loads(out)
    assert status == 0
    assert report["participants"] >= 1 and report["objects_rewritten"]
    assert user not in users_in(archive)
    assert not (archive / "catalog.db").exists()  # a folder without tables gets none

    # With the tables: erased from both.
    user = sorted(users_in(archive))[0]
    assert run(capsys, "migrate", "--dir", archive)[0] == 0
    status, out, _ = run(capsys, "erase", "--user-id", user, "--dir", archive, "--yes")
    assert status == 0 and out.startswith(f"erased user {user!r}: ")
    catalog = open_catalog(sqlite_uri(archive))
    for table in ("participants", "participant_events"):
        rows = table_rows(catalog, table)
        assert rows and user not in {r["user_id"] for r in rows}
    assert user not in users_in(archive)
