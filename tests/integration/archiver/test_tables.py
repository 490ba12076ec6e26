"""The tables' definition and its evolution: derived from schema.py, a column appended there is
appended to tables that hold data without rewriting a file; a dropped or retyped one is refused.
And the custom resource that runs it in AWS, against moto's Glue and a local ResponseURL."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
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
from local.moto_server import MotoServer
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


# --- the custom resource ------------------------------------------------------------------


class _ResponseURL:
    """A local HTTP server standing in for CloudFormation's presigned ResponseURL."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(
                    {"headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/response?X-Amz-Signature=abc"

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join()


@pytest.fixture
def response_url() -> Iterator[_ResponseURL]:
    server = _ResponseURL()
    yield server
    server.close()


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)  # boto3 and the handler's catalog
    yield server
    server.stop()


DATABASE = "custom_resource_test"  # its own: moto keeps one state per process


def _event(kind: str, url: str, root: str = "s3://archive/ivs/", **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/IvsStageArchive/1",
        "RequestId": f"request-{kind}",
        "LogicalResourceId": "TablesTables",
        "ResourceType": "Custom::IcebergTables",
        "ResourceProperties": {"DatabaseName": DATABASE, "LocationRoot": root, **extra},
        **({"PhysicalResourceId": f"{DATABASE}/iceberg-tables"} if kind != "Create" else {}),
    }


CONTEXT: Any = SimpleNamespace(log_stream_name="2026/01/01/[$LATEST]abc")


def test_custom_resource_creates_replaces_the_hive_table_evolves_and_keeps_on_delete(
    moto: MotoServer, response_url: _ResponseURL, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archiver.handlers.tables import handler

    glue = boto3.client("glue")
    boto3.client("s3").create_bucket(Bucket="archive")
    glue.create_database(DatabaseInput={"Name": DATABASE})
    # The earlier version's Hive table of the same name (partition projection over landing).
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "participants",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "projection.enabled": "true"},
            "StorageDescriptor": {"Columns": [{"Name": "user_id", "Type": "string"}]},
        },
    )
    handler(_event("Create", response_url.url), CONTEXT)
    (created,) = response_url.received
    body = created["body"]
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["Data"] == {
        "stage_sessions": "created",
        "participants": "replaced",
        "participant_events": "created",
    }
    assert body["PhysicalResourceId"] == f"{DATABASE}/iceberg-tables"
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"]) == (
        "arn:aws:cloudformation:us-east-1:123456789012:stack/IvsStageArchive/1",
        "request-Create",
        "TablesTables",
    )
    assert created["headers"].get("Content-Type") == ""
    for name in TABLES:
        table = glue.get_table(DatabaseName=DATABASE, Name=name)["Table"]
        assert table["Parameters"]["table_type"] == "ICEBERG"
        assert table["Parameters"]["metadata_location"].startswith(
            f"s3://archive/ivs/iceberg/{name}/"
        )

    new = Column("network_type", STRING, "Client network type (a column added later).")
    monkeypatch.setattr(tables_module, "TABLES", _with_column(TABLES["participants"], new))
    handler(_event("Update", response_url.url, SchemaVersion="2"), CONTEXT)
    updated = response_url.received[-1]["body"]
    assert updated["Status"] == "SUCCESS", updated["Reason"]
    assert updated["Data"]["participants"] == "evolved"
    catalog = open_catalog("glue")
    columns = [f.name for f in catalog.load_table((DATABASE, "participants")).schema().fields]
    assert columns[-2:] == ["network_type", "dt"]

    handler(_event("Delete", response_url.url), CONTEXT)
    deleted = response_url.received[-1]["body"]
    assert deleted["Status"] == "SUCCESS"
    assert {t["Name"] for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]} == set(TABLES)


def test_custom_resource_failure_is_answered_with_its_reason(
    moto: MotoServer, response_url: _ResponseURL
) -> None:
    from archiver.handlers.tables import handler

    handler(_event("Create", response_url.url, root="s3://archive/no-slash"), CONTEXT)
    (answer,) = response_url.received
    assert answer["body"]["Status"] == "FAILED"
    assert answer["body"]["Reason"].startswith("ValueError: LocationRoot must end with '/'")
    handler({**_event("Create", response_url.url), "RequestType": "Bogus"}, CONTEXT)
    assert response_url.received[-1]["body"]["Status"] == "FAILED"
    assert "unknown RequestType 'Bogus'" in response_url.received[-1]["body"]["Reason"]


def test_the_catalog_policy_resource_keeps_the_policys_other_statements(
    moto: MotoServer, response_url: _ResponseURL
) -> None:
    """With places, the home lets other accounts' collectors commit (infra/home.py): the custom
    resource writes their statements into the catalog's one policy and takes them out on
    delete, leaving what else was there."""
    from archiver.handlers.tables import handler

    glue = boto3.client("glue")
    others = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SomebodyElse",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::333333333333:root"},
                "Action": "glue:GetDatabase",
                "Resource": "arn:aws:glue:us-east-1:123456789012:catalog",
            }
        ],
    }
    glue.put_resource_policy(PolicyInJson=json.dumps(others))
    ours = [
        {
            "Sid": "IvsStageArchiveCollectors0",
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::222222222222:root"]},
            "Action": ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"],
            "Resource": ["arn:aws:glue:us-east-1:123456789012:catalog"],
        }
    ]

    def event(kind: str) -> dict[str, Any]:
        return {
            **_event(kind, response_url.url),
            "ResourceType": "Custom::CatalogPolicy",
            "LogicalResourceId": "TablesCatalogPolicy",
            "ResourceProperties": {
                "SidPrefix": "IvsStageArchive",
                "Statements": json.dumps(ours),
            },
        }

    def sids() -> list[str]:
        policy = json.loads(glue.get_resource_policy()["PolicyInJson"])
        return [s["Sid"] for s in policy["Statement"]]

    handler(event("Create"), CONTEXT)
    assert response_url.received[-1]["body"]["Status"] == "SUCCESS"
    assert (
        response_url.received[-1]["body"]["PhysicalResourceId"] == "IvsStageArchive/catalog-policy"
    )
    assert sids() == ["SomebodyElse", "IvsStageArchiveCollectors0"]
    handler(event("Update"), CONTEXT)  # the same statements again: nothing to change
    assert response_url.received[-1]["body"]["Data"] == {"CatalogPolicy": "unchanged"}
    handler(event("Delete"), CONTEXT)
    assert response_url.received[-1]["body"]["Status"] == "SUCCESS"
    assert sids() == ["SomebodyElse"]
