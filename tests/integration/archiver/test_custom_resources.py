"""The stack's custom resources (archiver.handlers.custom_resources) against moto's Glue, S3,
DynamoDB and CloudWatch Logs, answering a local stand-in for CloudFormation's ResponseURL: a
first deploy, `cdk destroy` and a deploy again over the retained archive (adopted, every row
kept, nothing archived twice), a prefix that moved, a table that is not ours, an answer before
the function's timeout, the optimizers' log groups, the catalog policy."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

import archiver.handlers.custom_resources as custom_resources
from archiver.catalog import open_catalog
from archiver.commit import commit_sessions
from archiver.landing import S3Landing
from archiver.landing_tables import LANDING_PREFIX, landing_table_input
from archiver.ledger import Ledger, Status
from archiver.schema import TABLES
from archiver.settings import Settings
from local.account import create_ledger
from local.moto_server import MotoServer
from tests.helpers.iceberg import land, scenario, table_rows

DATABASE = "custom_resource_test"  # its own: moto keeps one state per process
BUCKET = "archive"
ROOT = f"s3://{BUCKET}/ivs/"
START = "2023-01-01"


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

    @property
    def last(self) -> dict[str, Any]:
        return dict(self.received[-1]["body"])

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


def _context(seconds_left: float = 300.0) -> Any:
    return SimpleNamespace(
        log_stream_name="2026/01/01/[$LATEST]abc",
        get_remaining_time_in_millis=lambda: int(seconds_left * 1000),
    )


def _event(kind: str, request: str, url: str, **props: Any) -> dict[str, Any]:
    return {
        "RequestType": request,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/IvsStageArchive/1",
        "RequestId": f"request-{request}",
        "LogicalResourceId": f"Catalog{kind}",
        "ResourceType": f"Custom::{kind}",
        "ResourceProperties": props,
        **({"PhysicalResourceId": f"Catalog{kind}/Custom::{kind}"} if request != "Create" else {}),
    }


def _deploy(url: _ResponseURL, request: str = "Create", root: str = ROOT) -> dict[str, Any]:
    """What CloudFormation does on a deploy: the database, then the tables; the last answer."""
    handler = custom_resources.handler
    handler(_event("GlueDatabase", request, url.url, DatabaseName=DATABASE), _context())
    database = url.last
    assert database["Status"] == "SUCCESS", database["Reason"]
    tables = _event(
        "IcebergTables",
        request,
        url.url,
        DatabaseName=DATABASE,
        LocationRoot=root,
        PartitionStartDate=START,
        SchemaVersion="1",
    )
    handler(tables, _context())
    return {"database": database["Data"], **url.last}


def _destroy(url: _ResponseURL) -> None:
    for kind in ("IcebergTables", "GlueDatabase"):
        custom_resources.handler(_event(kind, "Delete", url.url), _context())
        assert url.last["Status"] == "SUCCESS"


def _reset(glue: Any) -> None:
    """moto keeps one state per process: start each test without the database."""
    try:
        for table in glue.get_tables(DatabaseName=DATABASE)["TableList"]:
            glue.delete_table(DatabaseName=DATABASE, Name=table["Name"])
        glue.delete_database(Name=DATABASE)
    except glue.exceptions.EntityNotFoundException:
        pass


@pytest.fixture
def glue(moto: MotoServer) -> Any:
    client = boto3.client("glue")
    _reset(client)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return client


def test_a_first_deploy_creates_the_database_the_landing_and_the_query_tables(
    glue: Any, response_url: _ResponseURL
) -> None:
    answer = _deploy(response_url)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["database"] == {"Database": "created"}
    assert answer["Data"] == {name: "created" for name in TABLES} | {
        f"{LANDING_PREFIX}{name}": "created" for name in TABLES
    }
    assert answer["PhysicalResourceId"] == "CatalogIcebergTables/Custom::IcebergTables"
    assert response_url.received[-1]["headers"].get("Content-Type") == ""
    for name, table in TABLES.items():
        iceberg = glue.get_table(DatabaseName=DATABASE, Name=name)["Table"]
        assert iceberg["Parameters"]["table_type"] == "ICEBERG"
        assert iceberg["Parameters"]["metadata_location"].startswith(f"{ROOT}iceberg/{name}/")
        hive = glue.get_table(DatabaseName=DATABASE, Name=f"{LANDING_PREFIX}{name}")["Table"]
        wanted = landing_table_input(table, ROOT, START)
        assert hive["Parameters"] == wanted["Parameters"]
        assert hive["StorageDescriptor"]["Location"] == f"{ROOT}{name}/"
        assert [c["Name"] for c in hive["StorageDescriptor"]["Columns"]] == table.column_names


def test_destroy_keeps_everything_and_a_deploy_again_adopts_it_with_every_row(
    glue: Any, response_url: _ResponseURL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _deploy(response_url)["Status"] == "SUCCESS"
    landing = S3Landing(boto3.client("s3"), BUCKET)
    sessions = land(scenario(seed=11, stages=2, sessions=2), landing, prefix="ivs/")
    catalog = open_catalog("glue")
    commit_sessions(catalog, DATABASE, sessions, landing.read)
    before = {name: len(table_rows(catalog, name, DATABASE)) for name in TABLES}
    assert before["stage_sessions"] == len(sessions) > 0

    _destroy(response_url)  # `cdk destroy`: the stack's resources go, the archive stays
    kept = {t["Name"] for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    assert kept == set(TABLES) | {f"{LANDING_PREFIX}{name}" for name in TABLES}

    again = _deploy(response_url)  # a new stack over the retained bucket: no "already exists"
    assert again["Status"] == "SUCCESS", again["Reason"]
    assert again["database"] == {"Database": "adopted"}
    assert set(again["Data"].values()) == {"unchanged"}
    catalog = open_catalog("glue")
    assert {name: len(table_rows(catalog, name, DATABASE)) for name in TABLES} == before

    # The new collector's ledger learns what the tables hold: discovery claims none of it.
    ledger_name = "seeded-ledger"
    create_ledger(boto3.resource("dynamodb"), ledger_name)
    env = Settings(
        ledger_table=ledger_name,
        name=DATABASE.replace("_", "-"),
        bucket_name=BUCKET,
        queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/work",
    ).to_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOOKBACK_DAYS", "3650")  # the scenario's sessions are in the past
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    account = sessions[0].keys.stage_arn.split(":")[4]
    custom_resources.handler(
        _event("LedgerSeed", "Create", response_url.url, Account=account), _context()
    )
    seeded = response_url.last
    assert seeded["Status"] == "SUCCESS", seeded["Reason"]
    here = [s for s in sessions if s.keys.stage_arn.startswith(f"arn:aws:ivs:us-east-1:{account}:")]
    assert seeded["Data"] == {"Archived": str(len(here))}
    ledger = Ledger(ledger_name)
    for session in here:
        record = ledger.get(session.keys.stage_arn, session.keys.session_id)
        assert record is not None and record.status is Status.ARCHIVED
        assert not ledger.claim(session.keys.stage_arn, {"sessionId": session.keys.session_id})
    # Update and Delete of the seed change nothing.
    custom_resources.handler(_event("LedgerSeed", "Update", response_url.url), _context())
    assert response_url.last["Data"] == {}


def test_a_moved_prefix_is_refused_and_nothing_changes(
    glue: Any, response_url: _ResponseURL
) -> None:
    assert _deploy(response_url)["Status"] == "SUCCESS"
    moved = _deploy(response_url, "Update", root=f"s3://{BUCKET}/elsewhere/")
    assert moved["Status"] == "FAILED"
    assert moved["Reason"].startswith(
        f"TableLocationError: table stage_sessions is at {ROOT}iceberg/stage_sessions, not "
        f"s3://{BUCKET}/elsewhere/iceberg/stage_sessions: the archive's bucket and prefix cannot "
        "change once it has tables; deploy with the ones it has ('s3://archive/ivs/')"
    )
    hive = glue.get_table(DatabaseName=DATABASE, Name=f"{LANDING_PREFIX}participants")["Table"]
    assert hive["StorageDescriptor"]["Location"] == f"{ROOT}participants/"  # not moved either


def test_a_table_of_the_same_name_that_is_not_iceberg_is_refused_not_replaced(
    glue: Any, response_url: _ResponseURL
) -> None:
    glue.create_database(DatabaseInput={"Name": DATABASE})
    glue.create_table(
        DatabaseName=DATABASE,
        TableInput={
            "Name": "participants",
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": {"Columns": [{"Name": "user_id", "Type": "string"}]},
        },
    )
    answer = _deploy(response_url)
    assert answer["Status"] == "FAILED"
    assert (
        "table custom_resource_test.participants exists and is not an Iceberg table"
        in (answer["Reason"])
    )
    names = {t["Name"] for t in glue.get_tables(DatabaseName=DATABASE)["TableList"]}
    assert names == {"participants"}  # nothing created beside it, nothing dropped


def test_every_failure_is_answered_with_its_reason(glue: Any, response_url: _ResponseURL) -> None:
    _deploy(response_url, root="s3://archive/no-slash")
    assert response_url.last["Status"] == "FAILED"
    assert response_url.last["Reason"].startswith("ValueError: LocationRoot must end with '/'")
    event = _event("GlueDatabase", "Bogus", response_url.url, DatabaseName=DATABASE)
    custom_resources.handler(event, _context())
    assert "unknown RequestType 'Bogus'" in response_url.last["Reason"]
    custom_resources.handler(_event("Nonsense", "Create", response_url.url), _context())
    assert "unknown ResourceType 'Custom::Nonsense'" in response_url.last["Reason"]
    custom_resources.handler(_event("GlueDatabase", "Create", response_url.url), _context())
    assert response_url.last["Status"] == "FAILED"  # no DatabaseName: a KeyError, answered
    assert response_url.last["Reason"].startswith("KeyError: 'DatabaseName'")


def test_a_resource_that_would_outlive_the_function_is_answered_failed_once(
    response_url: _ResponseURL, monkeypatch: pytest.MonkeyPatch
) -> None:
    def stuck(props: dict[str, Any], request: str) -> dict[str, str]:
        time.sleep(2.5)
        return {"late": "yes"}

    monkeypatch.setitem(custom_resources.RESOURCES, "Custom::IcebergTables", stuck)
    left = custom_resources.TIMEOUT_MARGIN_S + 1.0  # the timer fires after about a second
    custom_resources.handler(_event("IcebergTables", "Create", response_url.url), _context(left))
    (answer,) = response_url.received  # the work's own answer came too late, and was not sent
    assert answer["body"]["Status"] == "FAILED"
    assert answer["body"]["Reason"].startswith(
        "timed out: Custom::IcebergTables Create did not finish in time"
    )


def test_the_optimizers_log_groups_get_a_retention_and_stay(
    moto: MotoServer, response_url: _ResponseURL
) -> None:
    logs = boto3.client("logs")
    names = ["/aws-glue/iceberg-compaction/logs", "/aws-glue/iceberg-retention/logs"]
    logs.create_log_group(logGroupName=names[0])  # Glue made it already, with no retention
    for days in ("30", "14"):
        event = _event(
            "LogRetention", "Create", response_url.url, LogGroupNames=names, RetentionDays=days
        )
        custom_resources.handler(event, _context())
        assert response_url.last["Status"] == "SUCCESS", response_url.last["Reason"]
        groups = logs.describe_log_groups(logGroupNamePrefix="/aws-glue/iceberg-")["logGroups"]
        assert {g["logGroupName"]: g.get("retentionInDays") for g in groups} == {
            name: int(days) for name in names
        }
    custom_resources.handler(_event("LogRetention", "Delete", response_url.url), _context())
    left = logs.describe_log_groups(logGroupNamePrefix="/aws-glue/iceberg-")["logGroups"]
    assert len(left) == 2


def test_the_catalog_policy_resource_keeps_the_policys_other_statements(
    moto: MotoServer, response_url: _ResponseURL
) -> None:
    """With places, the home lets other accounts' collectors commit (infra/home.py): the custom
    resource writes their statements into the catalog's one policy and takes them out on
    delete, leaving what else was there."""
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

    def event(request: str) -> dict[str, Any]:
        return _event(
            "CatalogPolicy",
            request,
            response_url.url,
            SidPrefix="IvsStageArchive",
            Statements=json.dumps(ours),
        )

    def sids() -> list[str]:
        policy = json.loads(glue.get_resource_policy()["PolicyInJson"])
        return [s["Sid"] for s in policy["Statement"]]

    custom_resources.handler(event("Create"), _context())
    assert response_url.last["Status"] == "SUCCESS"
    assert sids() == ["SomebodyElse", "IvsStageArchiveCollectors0"]
    custom_resources.handler(event("Update"), _context())  # the same again: nothing to change
    assert response_url.last["Data"] == {"CatalogPolicy": "unchanged"}
    custom_resources.handler(event("Delete"), _context())
    assert response_url.last["Status"] == "SUCCESS"
    assert sids() == ["SomebodyElse"]
