"""The tables' definition and its evolution: derived from schema.py, a column appended there is
appended to tables that hold data without rewriting a file; a dropped or retyped one is refused.
(The custom resource that runs it in AWS: test_custom_resources.py.)"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import archiver.tables as tables_module
from archiver.catalog import location_root, open_catalog, sqlite_uri
from archiver.commit import commit_sessions
from archiver.schema import BIGINT, INT, PARTITION_COLUMN, STRING, TABLES, Column, Table
from archiver.tables import (
    TABLE_PROPERTIES,
    TableSchemaError,
    ensure_tables,
    iceberg_schema,
)
from tests.helpers.iceberg import NAMESPACE, folder, land, scenario, table_rows


def _sql(path: Path) -> tuple[Any, str]:
    uri = sqlite_uri(path)
    return open_catalog(uri), location_root(uri, "", "")


def test_tables_are_schema_py_plus_dt_identity_partitioned_v2(tmp_path: Path) -> None:
    catalog, root = _sql(tmp_path)
    changes = ensure_tables(catalog, NAMESPACE, root)
    assert [(c.table, c.action) for c in changes] == [(n, "created") for n in TABLES]
    for name, table in TABLES.items():
        iceberg = catalog.load_table((NAMESPACE, name))
        fields = iceberg.schema().fields
        assert [f.name for f in fields] == [*table.column_names, PARTITION_COLUMN]
        for field, column in zip(fields, table.columns, strict=False):
            assert field.required == (not column.nullable)
            assert field.doc == column.doc
        assert str(fields[-1].field_type) == "string" and fields[-1].required
        (partition,) = iceberg.spec().fields
        assert (partition.name, str(partition.transform)) == ("dt", "identity")
        assert iceberg.schema().find_field(partition.source_id).name == "dt"
        assert iceberg.metadata.format_version == 2
        assert iceberg.location() == f"{root}iceberg/{name}"
        stored = {k: iceberg.properties.get(k) for k in TABLE_PROPERTIES if k != "format-version"}
        assert stored | {"format-version": "2"} == TABLE_PROPERTIES
    timestamps = {
        str(f.field_type) for f in catalog.load_table((NAMESPACE, "stage_sessions")).schema().fields
    }
    assert "timestamp" in timestamps and "timestamptz" not in timestamps  # Athena's `timestamp`
    again = ensure_tables(catalog, NAMESPACE, root)
    assert [c.action for c in again] == ["unchanged"] * 3


def _with_column(table: Table, column: Column) -> dict[str, Table]:
    grown = dataclasses.replace(table, columns=(*table.columns, column))
    return {**TABLES, table.name: grown}


def test_a_column_appended_to_schema_py_is_appended_to_a_table_with_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog, root = _sql(tmp_path / "tables")
    ensure_tables(catalog, NAMESPACE, root)
    landing = folder(tmp_path / "landing")
    old_sessions = land(scenario(seed=4, stages=1, sessions=2), landing)
    commit_sessions(catalog, NAMESPACE, old_sessions[:1], landing.read)
    table = catalog.load_table((NAMESPACE, "participants"))
    files_before = sorted(t.file.file_path for t in table.scan().plan_files())
    rows_before = table_rows(catalog, "participants")

    new = Column("network_type", STRING, "Client network type (a column added later).")
    monkeypatch.setattr(tables_module, "TABLES", _with_column(TABLES["participants"], new))
    changes = {c.table: c for c in ensure_tables(catalog, NAMESPACE, root)}
    assert changes["participants"].action == "evolved"
    assert changes["participants"].added_columns == ("network_type",)
    table = catalog.load_table((NAMESPACE, "participants"))
    names = [f.name for f in table.schema().fields]
    assert names[-2:] == ["network_type", "dt"]  # before dt, as a new table has it
    assert sorted(t.file.file_path for t in table.scan().plan_files()) == files_before
    assert table_rows(catalog, "participants") == [
        {**row, "network_type": None} for row in rows_before
    ]
    # A fresh table made from the grown schema.py has the same columns (ids aside).
    fresh = iceberg_schema(tables_module.TABLES["participants"])
    assert [(f.name, str(f.field_type), f.required) for f in fresh.fields] == [
        (f.name, str(f.field_type), f.required) for f in table.schema().fields
    ]
    # Landing objects written before the column commit with it null.
    commit_sessions(catalog, NAMESPACE, old_sessions[1:], landing.read)
    assert {r["network_type"] for r in table_rows(catalog, "participants")} == {None}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("retype", r"column event_count is int in the table but long in schema\.py"),
        ("drop", r"has column\(s\) isp_name that schema\.py does not"),
    ],
)
def test_a_retyped_or_dropped_column_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str, message: str
) -> None:
    catalog, root = _sql(tmp_path)
    ensure_tables(catalog, NAMESPACE, root)
    table = TABLES["participants"]
    if change == "retype":
        columns = tuple(
            dataclasses.replace(c, type=BIGINT) if c.name == "event_count" else c
            for c in table.columns
        )
    else:
        columns = tuple(c for c in table.columns if c.name != "isp_name")
    changed = {**TABLES, "participants": dataclasses.replace(table, columns=columns)}
    monkeypatch.setattr(tables_module, "TABLES", changed)
    with pytest.raises(TableSchemaError, match=message):
        ensure_tables(catalog, NAMESPACE, root)
    assert INT.glue == "int"  # the table keeps its columns
    kept = catalog.load_table((NAMESPACE, "participants")).schema()
    assert [f.name for f in kept.fields] == [*table.column_names, "dt"]
