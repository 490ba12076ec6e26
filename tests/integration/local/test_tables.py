"""A local archive's Iceberg tables: `<dir>/catalog.db` (catalog `local`, namespace the database
name) with the files under `<dir>`, read by `python -m local query` through DuckDB, before and
after the local compaction stand-in."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import archiver.tables as tables_module
from archiver.commit import commit_sessions
from archiver.schema import STRING, TABLES, Column
from local.compaction import compact_partition, data_files
from local.query import run_query, run_sql
from local.tables import CATALOG_FILE, NAMESPACE, open_tables, reset
from queries import load as load_queries
from tests.helpers.iceberg import folder, land, scenario, table_rows


def _sorted(result: tuple[list[str], list[tuple[Any, ...]]]) -> tuple[list[str], list[str]]:
    columns, rows = result
    return columns, sorted(map(repr, rows))


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, Path, list[Any]]:
    """The same sessions twice: `out` with the Iceberg tables (one commit per session, as
    workers make them), `landing` with the landing objects only (an archive made before)."""
    out, landing_only = tmp_path / "out", tmp_path / "landing-only"
    sessions = land(scenario(seed=8, stages=2, sessions=3, participants=8), folder(out))
    shutil.copytree(out, landing_only)
    catalog = open_tables(out)
    for session in sessions:
        commit_sessions(catalog, NAMESPACE, [session], folder(out).read)
    return out, landing_only, sessions


def test_the_local_catalog_is_named_local_with_the_files_under_the_archive(
    archive: tuple[Path, Path, list[Any]],
) -> None:
    out, _, _ = archive
    with sqlite3.connect(out / CATALOG_FILE) as db:
        rows = set(
            db.execute("SELECT catalog_name, table_namespace, table_name FROM iceberg_tables")
        )
    assert rows == {("local", NAMESPACE, name) for name in TABLES}
    for name in TABLES:
        files = list((out / "iceberg" / name / "data").rglob("*.parquet"))
        assert files and all(f.parent.name.startswith("dt=") for f in files)
    reset(out)
    assert not (out / CATALOG_FILE).exists() and not (out / "iceberg").exists()
    assert (out / "stage_sessions").is_dir()  # landing objects are not the tables' to remove


def test_named_queries_read_the_iceberg_tables_as_they_read_the_landing_objects(
    archive: tuple[Path, Path, list[Any]],
) -> None:
    out, landing_only, _ = archive
    for name in load_queries():
        assert _sorted(run_query(out, name)) == _sorted(run_query(landing_only, name)), name
    # What is read is the tables: a session erased from them is gone from the queries.
    catalog = open_tables(out)
    catalog.load_table((NAMESPACE, "stage_sessions")).delete("participant_count >= 0")
    ((sessions,),) = run_sql(out, "SELECT count(*) FROM stage_sessions")[1]
    assert sessions == 0


def test_compaction_leaves_one_file_a_day_and_the_same_answers(
    archive: tuple[Path, Path, list[Any]],
) -> None:
    out, _, sessions = archive
    catalog = open_tables(out)
    before = {name: _sorted(run_query(out, name)) for name in load_queries()}
    events = catalog.load_table((NAMESPACE, "participant_events"))
    days = sorted({s.keys.dt for s in sessions})
    assert data_files(events) == len(sessions) > len(days)
    snapshots = len(events.snapshots())
    for day in days:
        files_before, files_after = compact_partition(events, day)
        assert files_after == 1 <= files_before
    assert len(events.snapshots()) > snapshots
    assert data_files(events) == len(days)
    assert {name: _sorted(run_query(out, name)) for name in load_queries()} == before


def test_a_column_no_file_holds_yet_reads_as_null(
    archive: tuple[Path, Path, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _, _ = archive
    table = TABLES["participants"]
    new = Column("network_type", STRING, "Client network type (a column added later).")
    grown = dataclasses.replace(table, columns=(*table.columns, new))
    monkeypatch.setattr(tables_module, "TABLES", {**TABLES, "participants": grown})
    catalog = open_tables(out)
    count = len(table_rows(catalog, "participants"))
    columns, rows = run_sql(out, "SELECT network_type, count(*) AS n FROM participants GROUP BY 1")
    assert columns == ["network_type", "n"] and rows == [(None, count)]
