"""archiver.compat: each trick that leans on a library's behaviour, and the behaviour it leans on.
A test here failing after a version bump (requirements.txt) says which trick to look at again:
drop it if the library now does the right thing, or rewrite it for the new behaviour."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pyarrow as pa
import pytest
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.schema import Schema
from pyiceberg.table import Table, TableProperties
from pyiceberg.types import LongType, NestedField

from archiver.compat import empty_snapshot, quiet_emf_provider, without_commit_retries

# --- the garbage collector while a handler loads ------------------------------------------

COLLECTOR = """
import gc, json
from archiver import compat
before = sum(s["collections"] for s in gc.get_stats())
compat.pause_collector()
kept = [[i, [i]] for i in range(200_000)]  # what a module builds: containers the collector tracks
paused = sum(s["collections"] for s in gc.get_stats()) - before
compat.handler_loaded()
print(json.dumps({"paused": paused, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def test_no_collection_while_paused_and_what_was_built_is_frozen_after() -> None:
    done = subprocess.run(
        [sys.executable, "-c", COLLECTOR], capture_output=True, text=True, check=True
    )
    seen = json.loads(done.stdout)
    assert seen["paused"] == 0  # 400,000 new containers, and no collection
    assert seen["enabled"] is True
    assert seen["frozen"] >= 400_000  # out of every later collection


# --- pyiceberg: one commit attempt ---------------------------------------------------------


@pytest.fixture
def table(tmp_path: Path) -> Table:
    catalog = SqlCatalog(
        "compat", uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=tmp_path.as_uri()
    )
    catalog.create_namespace("ns")
    schema = Schema(NestedField(1, "n", LongType(), required=False))
    return catalog.create_table(("ns", "numbers"), schema=schema)


def _rows(*values: int) -> pa.Table:
    return pa.table({"n": pa.array(values, pa.int64())})


def _numbers(table: Table) -> list[int]:
    return sorted(n for n in table.refresh().scan().to_arrow()["n"].to_pylist() if n is not None)


def test_pyiceberg_retries_a_conflicting_append_on_top_of_the_winner(table: Table) -> None:
    """Why the trick exists: a stale table's append, left to pyiceberg's retries, is applied
    again on top of the other writer's snapshot, with no chance to check what that added."""
    stale = table.catalog.load_table(table.name())
    table.append(_rows(1))  # the other writer wins
    stale.append(_rows(1))  # the same rows again: pyiceberg retried and succeeded
    assert _numbers(table) == [1, 1]


def test_without_commit_retries_a_conflicting_append_fails_at_once(table: Table) -> None:
    stale = table.catalog.load_table(table.name())
    table.append(_rows(1))
    single = without_commit_retries(stale)
    assert (single.name(), single.metadata_location) == (stale.name(), stale.metadata_location)
    assert single.io is stale.io and single.catalog is stale.catalog
    with pytest.raises(CommitFailedException):
        single.append(_rows(1))
    assert _numbers(table) == [1]
    # Only this process's copy: the stored table keeps pyiceberg's default.
    stored = table.catalog.load_table(table.name()).metadata.properties
    assert TableProperties.COMMIT_NUM_RETRIES not in stored
    single.refresh()
    single.append(_rows(2))  # on a fresh copy, a commit goes through
    assert _numbers(table) == [1, 2]


def test_an_empty_fast_append_is_a_snapshot_of_the_live_files_only(table: Table) -> None:
    table.append(_rows(1, 2))
    table.append(_rows(3))
    table.delete("n = 3")  # a file no live snapshot should keep listing
    before = len(table.refresh().snapshots())
    sealed = empty_snapshot(table, {"who": "test"})
    snapshot = sealed.current_snapshot()
    assert snapshot is not None and len(sealed.snapshots()) == before + 1
    assert snapshot.summary is not None and snapshot.summary.get("who") == "test"
    assert snapshot.summary.get("added-data-files") in (None, "0")
    listed = {
        entry.data_file.file_path
        for manifest in snapshot.manifests(sealed.io)
        for entry in manifest.fetch_manifest_entry(sealed.io, discard_deleted=True)
    }
    live = {task.file.file_path for task in sealed.scan().plan_files()}
    assert listed == live and _numbers(sealed) == [1, 2]


# --- Powertools: no metric kept while metrics are disabled ----------------------------------


def _printed_after_100(provider: AmazonCloudWatchEMFProvider) -> str:
    printed = io.StringIO()
    with redirect_stdout(printed):
        for _ in range(100):
            provider.add_metric(name="SessionsArchived", unit=MetricUnit.Count, value=1)
    return printed.getvalue()


def test_stock_emf_prints_disabled_metrics_once_one_holds_100(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Why the trick exists: Powertools keeps disabled metrics and prints them at the 100th."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    stock = AmazonCloudWatchEMFProvider(namespace="Test", service="test")
    assert "SessionsArchived" in _printed_after_100(stock)


def test_quiet_emf_keeps_and_prints_nothing_while_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    assert _printed_after_100(quiet_emf_provider(namespace="Test", service="test")) == ""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    enabled = _printed_after_100(quiet_emf_provider(namespace="Test", service="test"))
    assert '"Namespace": "Test"' in enabled.replace('":"', '": "')
    assert "SessionsArchived" in enabled


# --- botocore: a retry quota per client -----------------------------------------------------


class _AlwaysFailing:
    """A stand-in endpoint answering every request 500, counting them."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests += 1
                body = b'{"message": "internal"}'
                self.send_response(500)
                self.send_header("x-amzn-ErrorType", "InternalServerException")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


def _failing_calls(server: _AlwaysFailing, *, quota: bool, calls: int) -> int:
    """Requests made by `calls` calls that each fail with 500, 4 retries allowed each."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from archiver.compat import without_retry_quota

    client = boto3.client(
        "ivs-realtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"mode": "standard", "max_attempts": 4}),
    )
    if not quota:
        without_retry_quota(client)
    handlers = client.meta.events._emitter._unique_id_handlers
    handlers["retry-config-ivs-realtime"]["handler"].__self__._sleep = lambda _: None  # no waits
    for _ in range(calls):
        with pytest.raises(ClientError):
            client.get_stage(arn="arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456")
    server.server.shutdown()
    return server.requests


def test_botocore_shares_one_retry_quota_among_a_clients_calls() -> None:
    # 500 units at 14 a retry: after 35 retries every further call fails at its first error.
    assert _failing_calls(_AlwaysFailing(), quota=True, calls=40) < 40 * 5 - 100


def test_without_retry_quota_each_call_keeps_its_own_attempts() -> None:
    assert _failing_calls(_AlwaysFailing(), quota=False, calls=40) == 40 * 5
