"""`ivs-archive` as an operator meets it: installed in the venv, finding the deployment from its
stack's outputs, one-line errors, and the read-only commands (`status`, `sessions`) over a
ledger the archiver's own code wrote, in moto."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver import clock
from archiver.discovery_state import DiscoveryState
from archiver.ledger import Ledger, Status
from console.errors import NO_CREDENTIALS
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.console import (
    COMMANDS,
    SCRIPT,
    Capture,
    LambdaFront,
    Stack,
    deploy,
    one_error,
    run,
)
from tests.helpers.scenario import build_scenario


@pytest.fixture
def pipeline() -> Iterator[EmbeddedPipeline]:
    with EmbeddedPipeline(build_scenario(stages=2, sessions=2), Options(tps=100)) as running:
        yield running


@pytest.fixture
def stack(pipeline: EmbeddedPipeline, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    deployed = deploy(pipeline)
    with LambdaFront({deployed.discover: pipeline.discover}) as front:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", front.url)
        yield deployed


# --- installed -----------------------------------------------------------------------------------
def test_the_installed_script_runs_anywhere_and_describes_every_command(tmp_path: Path) -> None:
    """From another folder (so the packages come from the install, not the working directory)."""
    shown = subprocess.run(
        [SCRIPT, "--help"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert shown.returncode == 0, shown.stderr
    deployment, local = shown.stdout.split("deployment commands", 1)[1].split("local commands")
    for command in (*COMMANDS, "migrate"):
        assert f"\n  {command} " in deployment
    for command in ("generate", "simulate", "run", "query"):
        assert f"\n  local {command} " in local
    status = subprocess.run(
        [SCRIPT, "status", "--help"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    for option in ("--stack NAME", "--region REGION", "--profile NAME", "--json"):
        assert option in status.stdout
    assert "IvsStageArchive" in status.stdout  # the default stack


def test_bad_input_is_one_line_and_exit_2(capsys: Capture) -> None:
    status, _, err = run(capsys, "archive", "arn:aws:ivs:us-east-1:1:channel/x", "st-0123456789abc")
    assert status == 2
    assert "not a stage ARN" in one_error(err.replace(" (see --help)", ""), "archive")
    status, _, err = run(capsys, "sessions", "--since", "yesterday")
    assert status == 2 and "expected a date" in err and len(err.strip().splitlines()) == 1
    status, _, err = run(capsys, "backfill", "--tps", "9")
    assert status == 2 and "at most 5" in err
    status, _, err = run(capsys, "sessions", "--status", "DONE")
    assert status == 2
    assert one_error(err, "sessions") == (
        "argument --status: not a ledger status (PENDING, IN_PROGRESS, ARCHIVED, EXPIRED, "
        "FAILED): 'DONE' (see --help)"
    )


# --- finding the deployment ---------------------------------------------------------------------
def test_no_such_stack(stack: Stack, capsys: Capture) -> None:
    status, out, err = run(capsys, "status", "--stack", "NoSuchStack", "--region", "us-east-1")
    assert (status, out) == (1, "")
    assert one_error(err, "status").startswith("no stack named NoSuchStack in us-east-1")


def test_a_stack_without_the_outputs_a_command_needs(
    pipeline: EmbeddedPipeline, capsys: Capture
) -> None:
    old = deploy(pipeline, omit=["LedgerTableName", "DeadLetterQueueUrl"])
    status, _, err = run(capsys, "status", *old.args)
    assert status == 1
    assert one_error(err, "status") == (
        f"stack {old.name} has no outputs LedgerTableName, DeadLetterQueueUrl "
        "(deployed by an older version? deploy this one)"
    )


def test_no_credentials(stack: Stack, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    status, _, err = run(capsys, "status", *stack.args)
    assert status == 1
    assert one_error(err, "status") == NO_CREDENTIALS
    status, _, err = run(capsys, "sessions", *stack.args, "--profile", "nobody")
    assert status == 1
    assert one_error(err, "sessions").startswith("no AWS profile named 'nobody'")


def test_no_region(stack: Stack, capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    status, _, err = run(capsys, "status", "--stack", stack.name)
    assert status == 1
    assert one_error(err, "status").startswith("no AWS region: pass --region or set AWS_REGION")
    assert run(capsys, "status", *stack.args)[0] == 0


def test_an_aws_error_names_the_call_and_its_code(stack: Stack, capsys: Capture) -> None:
    stack.client("dynamodb").delete_table(TableName=stack.pipeline.account.ledger_table)
    status, _, err = run(capsys, "sessions", *stack.args)
    assert status == 1
    assert one_error(err, "sessions").startswith("Scan: ResourceNotFoundException")


# --- status and sessions ------------------------------------------------------------------------
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STAGE = "arn:aws:ivs:us-east-1:123456789012:stage/StatusStage1"
OTHER = "arn:aws:ivs:us-east-1:123456789012:stage/StatusStage2"
# Dead-lettered sessions (ids as IVS gives them: 16 characters).
PARKED, MOVED = "st-dlqparked0001", "st-dlqmoved00001"


def _session(n: int) -> str:
    return f"st-status{n:08d}"


class Ledgers:
    """Writes ledger items with the archiver's own Ledger at chosen moments."""

    def __init__(self, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ledger = Ledger(table)
        self.state = DiscoveryState(table)
        self.monkeypatch = monkeypatch
        self.at(NOW)

    def at(self, moment: datetime) -> None:
        self.monkeypatch.setattr(clock, "now", lambda: moment)

    def claimed(self, stage: str, n: int, end: datetime, name: str | None = "town-hall") -> None:
        self.at(end + timedelta(minutes=1))
        session = {"sessionId": _session(n), "startTime": end - timedelta(hours=1), "endTime": end}
        assert self.ledger.claim(stage, session, stage_name=name)
        self.ledger.mark_queued(stage, _session(n))

    def started(self, stage: str, n: int) -> None:
        assert self.ledger.start(stage, _session(n), owner="worker", lease=timedelta(minutes=16))

    def archived(self, stage: str, n: int, end: datetime, lag: timedelta, events: int) -> None:
        self.claimed(stage, n, end)
        self.started(stage, n)
        self.ledger.plan(stage, _session(n), chunk_size=500, participants=events // 2)
        self.at(end + lag)
        self.ledger.finish(
            stage, _session(n), Status.ARCHIVED, archived_at=end + lag, event_count=events
        )

    def failed(self, stage: str, n: int, end: datetime, error: str) -> None:
        self.claimed(stage, n, end)
        self.started(stage, n)
        self.ledger.finish(stage, _session(n), Status.FAILED, error=error)


@pytest.fixture
def ledger(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Ledgers:
    """Five sessions archived in the last 24 hours with lags of 10 to 50 minutes, one archived
    two days ago (5 h), one failed, one in progress, one queued 3 hours ago (the oldest not
    archived), one expired; discovery's last run and reconcile; two messages waiting on the
    work queue, one dead-lettered."""
    ledgers = Ledgers(stack.pipeline.account.ledger_table, monkeypatch)
    for n, minutes in enumerate((30, 10, 50, 20, 40)):
        end = NOW - timedelta(hours=2 + n)
        ledgers.archived(STAGE, n, end, timedelta(minutes=minutes), events=100 + n)
    ledgers.archived(OTHER, 10, NOW - timedelta(days=2), timedelta(hours=5), events=7)
    ledgers.failed(
        OTHER, 11, NOW - timedelta(minutes=90), "GetParticipant: InternalServerException"
    )
    ledgers.claimed(STAGE, 12, NOW - timedelta(minutes=45))
    ledgers.started(STAGE, 12)
    ledgers.claimed(OTHER, 13, NOW - timedelta(hours=3), name=None)
    ledgers.claimed(STAGE, 14, NOW - timedelta(hours=20))
    ledgers.started(STAGE, 14)
    ledgers.ledger.finish(STAGE, _session(14), Status.EXPIRED, error="IVS no longer knows it")
    ledgers.at(NOW)
    ledgers.state.record_run(NOW - timedelta(minutes=5), listed=3, checked=1, enqueued=2)
    ledgers.state.complete_reconcile(NOW - timedelta(minutes=40))
    sqs = stack.client("sqs")
    for n in (12, 13):
        sqs.send_message(
            QueueUrl=stack.pipeline.account.queue_url, MessageBody=json.dumps({"n": n})
        )
    dlq = stack.pipeline.account.dlq_url
    sqs.send_message(  # parked by the archiver, with why: retried for 14 days
        QueueUrl=dlq,
        MessageBody=json.dumps({"stageArn": OTHER, "sessionId": PARKED}),
        MessageAttributes={
            "reason": {
                "DataType": "String",
                "StringValue": "failed 1344 times in a row: AccessDeniedException: not allowed",
            }
        },
    )
    # moved by SQS after 5 receives (with the ledger's last error, when it has the session)
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"stageArn": OTHER, "sessionId": MOVED}))
    sqs.send_message(QueueUrl=dlq, MessageBody="{}")  # malformed
    return ledgers


def test_status_for_people(stack: Stack, ledger: Ledgers, capsys: Capture) -> None:
    status, out, err = run(capsys, "status", *stack.args)
    assert (status, err) == (0, "")
    lines = {
        line.split("  ", 1)[0].strip(): line.split("  ", 1)[1].strip()
        for line in out.splitlines()[1:]
        if "  " in line.strip()
    }
    assert out.splitlines()[0] == f"{stack.name} (us-east-1)"
    assert lines["sessions"] == "PENDING 1 · IN_PROGRESS 1 · ARCHIVED 6 · EXPIRED 1 · FAILED 1"
    assert lines["oldest unarchived"] == (
        f"{_session(13)} of StatusStage2: ended 3h 0m ago, PENDING, 0 attempts"
    )
    # lags 10, 20, 30, 40, 50 min: p50 30 min, p95 the 5th of 5 (nearest rank); the one of 5 h
    # is two days old
    assert lines["archive lag (24 h)"] == "p50 30m 0s · p95 50m 0s (5 sessions archived)"
    assert lines["work queue"] == "2 waiting · 0 in flight"
    assert lines["dead letters"] == "3"
    # Each dead letter, and why it can never succeed by itself.
    assert f"{PARKED}: failed 1344 times in a row: AccessDeniedException: not allowed" in out
    assert (
        f"{MOVED}: SQS moved it after 5 receives its worker crashed or timed out on; "
        "last error: the session is not in the ledger"
    ) in out
    assert "(not a session): rejected: SessionMessage: stageArn: Field required" in out
    assert lines["last discovery"] == (
        "2026-12-01 11:55:00 UTC (5m 0s ago): 3 stages listed, the sessions of 1 listed, "
        "2 sessions queued"
    )
    assert lines["last full reconcile"] == "2026-12-01 11:20:00 UTC (40m 0s ago)"


def test_status_as_json(stack: Stack, ledger: Ledgers, capsys: Capture) -> None:
    status, out, _ = run(capsys, "status", *stack.args, "--json")
    assert status == 0
    data = json.loads(out)
    assert data["sessions"] == {
        "PENDING": 1,
        "IN_PROGRESS": 1,
        "ARCHIVED": 6,
        "EXPIRED": 1,
        "FAILED": 1,
    }
    assert data["oldest_unarchived"]["session_id"] == _session(13)
    assert data["oldest_unarchived"]["age_s"] == 3 * 3600
    assert data["archive_lag_24h"] == {"sessions": 5, "p50_s": 1800.0, "p95_s": 3000.0}
    assert data["work_queue"]["waiting"] == 2 and data["dead_letter_queue"]["waiting"] == 3
    reasons = {m["session_id"]: m["reason"] for m in data["dead_letter_queue"]["messages"]}
    assert set(reasons) == {PARKED, MOVED, None}
    assert reasons[None].startswith("rejected: SessionMessage")
    assert data["last_discovery"]["stages_listed"] == 3
    assert data["last_reconcile"]["completed_pass_started"] == "2026-12-01T11:20:00.000Z"


def test_status_of_an_empty_deployment(stack: Stack, capsys: Capture) -> None:
    status, out, _ = run(capsys, "status", *stack.args)
    assert status == 0
    assert "none in the ledger yet" in out
    assert "no session archived in the last 24 hours" in out
    assert "last discovery" in out and "none recorded yet" in out


def test_sessions_filters_and_order(stack: Stack, ledger: Ledgers, capsys: Capture) -> None:
    status, out, _ = run(capsys, "sessions", *stack.args, "--json")
    assert status == 0
    every = json.loads(out)
    assert len(every) == 10
    ends = [s["end_time"] for s in every]
    assert ends == sorted(ends, reverse=True)  # newest end first
    failed = next(s for s in every if s["status"] == "FAILED")
    assert failed["last_error"] == "GetParticipant: InternalServerException"
    assert failed["attempts"] == 1
    archived = next(s for s in every if s["session_id"] == _session(0))
    assert (archived["events"], archived["participants"]) == (100, 50)

    _, out, _ = run(capsys, "sessions", *stack.args, "--json", "--stage", OTHER)
    assert {s["session_id"] for s in json.loads(out)} == {_session(n) for n in (10, 11, 13)}
    _, out, _ = run(
        capsys, "sessions", *stack.args, "--json", "--status", "ARCHIVED", "--since", "5h"
    )
    # ended 2 to 6 hours before NOW: since 5 h ago, those of 2, 3, 4 and 5 hours
    assert [s["session_id"] for s in json.loads(out)] == [_session(n) for n in (0, 1, 2, 3)]
    _, out, _ = run(capsys, "sessions", *stack.args, "--json", "--since", "2026-12-01T10:01")
    assert {s["session_id"] for s in json.loads(out)} == {_session(11), _session(12)}


def test_sessions_as_a_table(stack: Stack, ledger: Ledgers, capsys: Capture) -> None:
    status, out, _ = run(capsys, "sessions", *stack.args, "--status", "FAILED")
    assert status == 0
    lines = out.strip().splitlines()
    assert lines[0] == "ledger sessions, FAILED"
    header = lines[1].split()
    assert header == [
        "session",
        "stage",
        "status",
        "ended",
        "(UTC)",
        "participants",
        "events",
        "attempts",
        "last",
        "error",
    ]
    row = next(line for line in lines if _session(11) in line)
    assert row.split()[:5] == [_session(11), "town-hall", "FAILED", "2026-12-01", "10:30:00"]
    assert row.endswith("1  GetParticipant: InternalServerException")
    assert lines[-1] == "(1 row)"
    assert run(capsys, "sessions", *stack.args, "--status", "failed")[1] == out  # any case
    _, out, _ = run(capsys, "sessions", *stack.args, "--limit", "3")
    assert "(10 rows, 7 not shown (--limit 0 shows all))" in out
