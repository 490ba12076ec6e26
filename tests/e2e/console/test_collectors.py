"""Every collector in `ivs-archive status` (issue 17): the discover function's report into the
home's bucket after a scheduled run (its backlog, dead letters, archive lag from CloudWatch, its
run), read on the home with the home's credentials alone; filtered by account and region; a
collector that stopped reporting shown as SILENT; an unreadable report shown, not crashed on;
a report that cannot be written leaves the run's work as it is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from archiver import clock
from archiver.collector_report import report_key
from archiver.observability import NAMESPACE, SERVICE
from archiver.runtime import runtime
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.console import Capture, Stack, deploy, run
from tests.helpers.scenario import ACCOUNT, build_scenario

HOME_ONLY = ("LedgerTableName", "WorkQueueUrl", "DeadLetterQueueUrl")
OTHER = "222222222222"


@pytest.fixture
def pipeline() -> Iterator[EmbeddedPipeline]:
    with EmbeddedPipeline(build_scenario(stages=2, sessions=2), Options(tps=100)) as running:
        yield running


def _report(stack: Stack) -> dict[str, Any]:
    body = stack.client("s3").get_object(
        Bucket=stack.pipeline.account.bucket, Key=report_key("", ACCOUNT, "us-east-1")
    )["Body"]
    report: dict[str, Any] = json.loads(body.read())
    return report


def _put(stack: Stack, account: str, region: str, body: bytes) -> None:
    stack.client("s3").put_object(
        Bucket=stack.pipeline.account.bucket, Key=report_key("", account, region), Body=body
    )


def _elsewhere(at: datetime, *, waiting: int, dead: int) -> bytes:
    """A report as another place's collector writes it."""
    return json.dumps(
        {
            "account": OTHER,
            "region": "eu-west-1",
            "reported_at": at.isoformat(),
            "schedule": "rate(10 minutes)",
            "discovery": {"enqueued": 4},
            "work_queue": {"visible": waiting, "in_flight": 1},
            "dead_letters": dead,
            "lag_s": {"max": 95.0, "average": 60.0},
        }
    ).encode()


def test_a_scheduled_discovery_reports_the_collector_into_the_home(
    pipeline: EmbeddedPipeline, capsys: Capture
) -> None:
    stack = deploy(pipeline)
    now = datetime.now(UTC)
    stack.client("cloudwatch").put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": "ArchiveLagSeconds",
                "Dimensions": [{"Name": "service", "Value": SERVICE}],
                "Timestamp": now - timedelta(minutes=m),
                "Value": value,
                "Unit": "Seconds",
            }
            for m, value in ((5, 120.0), (20, 300.0))
        ],
    )
    sqs = stack.client("sqs")
    sqs.send_message(QueueUrl=pipeline.account.dlq_url, MessageBody="{}")
    result = pipeline.discover()
    assert len(result["enqueued"]) == 4  # the scenario's ended sessions: the run's work stands
    report = _report(stack)
    assert (report["account"], report["region"]) == (ACCOUNT, "us-east-1")
    assert report["discovery"]["enqueued"] == 4
    assert report["work_queue"]["visible"] + report["work_queue"]["in_flight"] == 4
    assert report["dead_letters"] == 1
    assert report["lag_s"]["max"] == 300.0
    assert report["schedule"] == "rate(1 minute)"

    status, out, err = run(capsys, "status", *stack.args)
    assert (status, err) == (0, "")
    [row] = [line for line in out.splitlines() if f"{ACCOUNT}/us-east-1" in line]
    assert "4 + 0" in row and "5m 0s" in row and "4 sessions queued" in row, row
    assert "SILENT" not in row


def test_the_home_shows_every_collector_and_filters_them(
    pipeline: EmbeddedPipeline, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A home, as infra/home.py outputs it: its regions, no ledger or queues of its own.
    home = deploy(pipeline, omit=HOME_ONLY, add={"Regions": "us-east-1,eu-west-1"})
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: now)
    _put(home, OTHER, "eu-west-1", _elsewhere(now - timedelta(minutes=4), waiting=7, dead=2))
    _put(home, OTHER, "ap-south-1", _elsewhere(now - timedelta(minutes=45), waiting=0, dead=0))
    _put(home, ACCOUNT, "us-east-1", b"{not json")

    status, out, err = run(capsys, "status", *home.args)
    assert (status, err) == (0, "")
    rows = {line.split()[0]: line for line in out.splitlines() if "/" in line.split(" ")[0]}
    assert set(rows) == {f"{OTHER}/eu-west-1", f"{OTHER}/ap-south-1", f"{ACCOUNT}/us-east-1"}
    assert "7 + 1" in rows[f"{OTHER}/eu-west-1"] and "SILENT" not in rows[f"{OTHER}/eu-west-1"]
    # 45 minutes without a report: three discovery intervals of 10 minutes have passed.
    assert "SILENT: 45m 0s ago" in rows[f"{OTHER}/ap-south-1"]
    assert "unreadable report" in rows[f"{ACCOUNT}/us-east-1"]

    status, out, _ = run(capsys, "status", *home.args, "--account", OTHER, "--json")
    data = json.loads(out)
    assert status == 0 and "sessions" not in data  # the home has no ledger
    assert [(c["region"], c["silent"]) for c in data["collectors"]] == [
        ("ap-south-1", True),
        ("eu-west-1", False),
    ]
    assert data["collectors"][1]["dead_letters"] == 2
    status, out, _ = run(capsys, "status", *home.args, "--in-region", "eu-west-1", "--json")
    assert [c["account"] for c in json.loads(out)["collectors"]] == [OTHER]

    # What needs a collector's ledger says where the collectors are.
    status, _, err = run(capsys, "sessions", *home.args)
    assert status == 1
    assert "is the home of collectors in us-east-1, eu-west-1: this command works on a " in err

    status, _, err = run(capsys, "status", *home.args, "--in-region", "mars-1")
    assert status == 2 and "not a region with IVS Real-Time" in err
    status, _, err = run(capsys, "status", *home.args, "--account", "12345")
    assert status == 2 and "not an AWS account id (12 digits): '12345'" in err


def test_a_report_that_cannot_be_written_leaves_the_run_as_it_is(
    pipeline: EmbeddedPipeline, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    deploy(pipeline)
    rt = runtime()
    gone = rt.settings.model_copy(update={"bucket_name": "no-such-bucket-anywhere"})
    monkeypatch.setattr(rt, "settings", gone)
    result = pipeline.discover()
    assert len(result["enqueued"]) == 4
    assert "collector report not written" in capfd.readouterr().out


COLLECTOR_ONLY = ("ResultsBucketName", "WorkGroupName")


def test_smoke_on_a_collector_checks_its_part_and_its_report_in_the_home(
    pipeline: EmbeddedPipeline, capsys: Capture
) -> None:
    collector = deploy(
        pipeline, omit=COLLECTOR_ONLY, add={"HomeRegion": "us-east-1", "HomeAccount": ACCOUNT}
    )
    status, out, _ = run(capsys, "smoke", *collector.args, "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert status == 1
    assert checks["stack outputs"]["passed"], checks["stack outputs"]
    report = checks["report in the home"]
    assert not report["passed"]
    assert report["detail"].startswith(
        f"no report at s3://{pipeline.account.bucket}/collectors/{ACCOUNT}/us-east-1.json yet"
    )
    # A collector holds no tables and no workgroup: smoke looks for none there.
    assert not [name for name in checks if name.startswith(("table ", "count(*)", "named query"))]

    pipeline.discover()  # a scheduled run reports to the home
    status, out, _ = run(capsys, "smoke", *collector.args, "--json")
    data = json.loads(out)
    assert status == 0, [c for c in data["checks"] if not c["passed"]]
    names = {c["name"] for c in data["checks"]}
    assert f"ledger {pipeline.account.ledger_table}" in names
    assert f"function {collector.discover} invocable" in names


def test_smoke_on_the_home_checks_the_home_alone(
    pipeline: EmbeddedPipeline, capsys: Capture
) -> None:
    home = deploy(pipeline, omit=HOME_ONLY, add={"Regions": "us-east-1,eu-west-1"})
    _, out, _ = run(capsys, "smoke", *home.args, "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["stack outputs"] == {
        "name": "stack outputs",
        "passed": True,
        "detail": "all 5 present",
    }
    assert not [name for name in checks if name.startswith(("ledger", "queue", "function"))]
    assert {f"table {t}" for t in ("stage_sessions", "participants")} <= set(checks)
