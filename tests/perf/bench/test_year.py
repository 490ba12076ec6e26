"""`python -m bench year` at a tiny size: the archive it builds (landing objects under the
contract's keys, the Iceberg tables as the worker commits them, compacted to at most 3 files per
table per day) and the named queries' answers, the same over the three layouts. (The timings
are the benchmark's to print, not a test's to check.)"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver.catalog import open_catalog, sqlite_uri
from archiver.landing import parse_key
from bench.__main__ import main
from bench.year import LAYOUTS, LONG_WINDOW, NAMESPACE, TABLE_NAMES
from bench.year_data import YearShape, commit_groups, land_day
from bench.year_queries import named, widened
from local.compaction import data_files
from local.query import run_sql

QUERIES = ("errors_by_code", "sessions_per_day")
DAYS, SESSIONS = 3, 12


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    folder = tmp_path_factory.mktemp("year")
    out = folder / "year.json"
    argv = ["year", "--days", str(DAYS), "--sessions", str(SESSIONS), "--stages", "3"]
    argv += ["--participants", "4", "--batch", "3", "--runs", "1", "--workers", "2"]
    argv += ["--queries", ",".join(QUERIES), "--dir", str(folder / "archive"), "--out", str(out)]
    assert main(argv) == 0
    return json.loads(out.read_text()), folder / "archive"


def test_report_keys(year: tuple[dict[str, Any], Path]) -> None:
    report, _ = year
    assert set(report) == {
        "shape", "machine", "build", "files", "compaction", "glue_estimate", "queries",
        "ratios", "goals", "elapsed_s",
    }  # fmt: skip
    assert set(report["files"]) == set(LAYOUTS)
    for layout in LAYOUTS:
        for table in TABLE_NAMES:
            stats = report["files"][layout][table]
            assert set(stats) == {"files", "bytes", "per_day"}
            assert set(stats["per_day"]) == {"mean", "min", "max"}
    for name in QUERIES:
        assert set(report["queries"][name]) == {"30", str(LONG_WINDOW)}
        for layouts in report["queries"][name].values():
            assert set(layouts) == set(LAYOUTS)
            for timing in layouts.values():
                assert set(timing) == {"connect_s", "cold_s", "warm_s", "total_s", "rows", "answer"}
    assert set(report["compaction"]) >= {"seconds_per_day", "bytes_read", "bytes_written"}
    assert report["glue_estimate"]["estimate"] is True
    assert set(report["goals"]) >= {"files_goal_met", "speedup_365", "same_answers"}


def test_every_session_landed_and_committed(year: tuple[dict[str, Any], Path]) -> None:
    report, archive = year
    sessions = DAYS * SESSIONS
    assert report["build"]["sessions"] == sessions
    landing = archive / "landing"
    keys = [p.relative_to(landing).as_posix() for p in landing.rglob("*.parquet")]
    parsed = [parse_key(key, "") for key in keys]
    assert None not in parsed  # every object under the contract's keys
    # small sessions: one chunk each, so three objects per session
    assert len(keys) == 3 * sessions
    catalog = open_catalog(sqlite_uri(archive / "tables"))
    for table in TABLE_NAMES:
        rows = catalog.load_table((NAMESPACE, table)).scan().to_arrow().num_rows
        assert rows == report["build"]["rows"][table]
    # one file per table per commit and partition it touched, before compaction
    before = report["files"]["tables_before"]["stage_sessions"]["files"]
    assert report["build"]["commits"] <= before <= 2 * report["build"]["commits"]
    assert before > DAYS  # so compaction had something to merge


def test_compaction_leaves_at_most_three_files_per_table_per_day(
    year: tuple[dict[str, Any], Path],
) -> None:
    report, archive = year
    catalog = open_catalog(sqlite_uri(archive / "tables"))
    first = YearShape().first_day
    for table in TABLE_NAMES:
        iceberg = catalog.load_table((NAMESPACE, table))
        counts = [data_files(iceberg, (first + timedelta(days=i)).isoformat()) for i in range(DAYS)]
        assert all(1 <= count <= 3 for count in counts), (table, counts)
        assert report["files"]["tables_after"][table]["per_day"]["max"] == max(counts)
    assert report["goals"]["files_goal_met"] is True


def test_queries_answer_the_same_over_the_three_layouts(
    year: tuple[dict[str, Any], Path],
) -> None:
    report, archive = year
    for name in QUERIES:
        for window, layouts in report["queries"][name].items():
            answers = {layouts[layout]["answer"] for layout in LAYOUTS}
            assert len(answers) == 1, (name, window, layouts)
            assert layouts["landing"]["rows"] > 0
    assert report["goals"]["same_answers"] is True
    # and checked here too, row by row: the landing objects against the compacted tables
    last = YearShape().first_day + timedelta(days=DAYS - 1)
    for name in QUERIES:
        sql = widened(named(name), LONG_WINDOW)
        _, landing = run_sql(archive / "landing", sql, today=last)
        _, tables = run_sql(archive / "tables", sql, today=last)
        assert sorted(map(repr, landing)) == sorted(map(repr, tables))


def test_the_window_is_widened_on_the_query_itself() -> None:
    sql = named("errors_by_code")
    wide = widened(sql, 365)
    assert "INTERVAL '365' DAY" in wide and "'30'" not in wide
    assert widened(sql, 30) == sql
    with pytest.raises(ValueError, match="no INTERVAL '30' DAY"):
        widened(named("session_timeline"), 365)


def test_commits_follow_the_order_sessions_were_archived(tmp_path: Path) -> None:
    shape = YearShape(days=2, stages=3, sessions_per_day=7, participants=3, batch=3)
    days = [land_day(shape, index, tmp_path) for index in range(shape.days)]
    groups = list(commit_groups(days, shape.batch))
    flat = [item for group in groups for item in group]
    assert sorted(item.session.id for item in flat) == sorted(
        item.session.id for day in days for item in day
    )
    assert [item.archived_ms for item in flat] == sorted(item.archived_ms for item in flat)
    assert all(len(group) == shape.batch for group in groups[:-1])
    assert 1 <= len(groups[-1]) <= shape.batch


def test_a_folder_in_use_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = tmp_path / "notes.txt"
    kept.write_text("mine")
    with pytest.raises(SystemExit) as stopped:
        main(["year", "--days", "1", "--dir", str(tmp_path)])
    assert stopped.value.code == 2
    assert (
        f"argument --dir: {tmp_path} exists and is not an empty folder" in capsys.readouterr().err
    )
    assert kept.read_text() == "mine"
