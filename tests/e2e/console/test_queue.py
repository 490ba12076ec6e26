"""The console's commands that put work on the queue, against the IVS simulator and moto through
the archiver's real code: `archive` (the discover function's manual event), `backfill` (IVS
listing, claims, queueing, following) and `redrive` (the dead-letter queue)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from archiver.ledger import Ledger, Status
from local.pipeline import EmbeddedPipeline, Options
from shared.progress import Progress
from tests.helpers.console import (
    SCRIPT,
    Capture,
    LambdaFront,
    Stack,
    Workers,
    deploy,
    one_error,
    run,
)
from tests.helpers.scenario import build_scenario, session_id, stage_arn

SCENARIO = build_scenario(stages=2, sessions=3, participants=3, active=True)
ENDED = {(stage_arn(s), session_id(s, n)) for s in range(2) for n in range(3)}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with EmbeddedPipeline(SCENARIO, Options(tps=100)) as pipeline:
        deployed = deploy(pipeline)
        with LambdaFront({deployed.discover: pipeline.discover}) as front:
            monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", front.url)
            deployed.front = front  # type: ignore[attr-defined]
            yield deployed


def statuses(stack: Stack) -> dict[tuple[str, str], str]:
    return {
        (item["pk"].removeprefix("STAGE#"), item["sk"].removeprefix("SESSION#")): item["status"]
        for item in stack.pipeline.account.ledger_sessions()
    }


def queued_bodies(stack: Stack, queue_url: str) -> list[dict[str, str]]:
    """Take every message off a queue; their bodies."""
    sqs = stack.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


# --- archive ------------------------------------------------------------------------------------
def test_archive_queues_one_session_through_the_discover_function(
    stack: Stack, capsys: Capture
) -> None:
    arn, session = stage_arn(1), session_id(1, 2)
    status, out, err = run(capsys, "archive", *stack.args, arn, session)
    assert (status, err) == (0, "")
    assert out.startswith(f"queued {session}: the archive workers take it")
    assert stack.front.invocations == [(stack.discover, {"stageArn": arn, "sessionId": session})]  # type: ignore[attr-defined]
    assert statuses(stack) == {(arn, session): "PENDING"}
    stack.pipeline.drain()
    assert statuses(stack) == {(arn, session): "ARCHIVED"}
    # Again: the discover function claims nothing; the console says what the ledger has.
    status, out, _ = run(capsys, "archive", *stack.args, arn, session, "--json")
    answer = json.loads(out)
    assert (status, answer["queued"], answer["status"]) == (0, False, "ARCHIVED")
    assert answer["answer"] == {"enqueued": []}


def test_archive_reports_the_rejection(stack: Stack, capsys: Capture) -> None:
    unknown = "st-NoSuchSession0"[:16]
    status, out, err = run(capsys, "archive", *stack.args, stage_arn(0), unknown)
    assert (status, err) == (1, "")
    assert out.strip() == f"rejected: IVS does not know session {unknown} of {stage_arn(0)}"
    active = session_id(0, 3)  # the stage's active session
    status, out, _ = run(capsys, "archive", *stack.args, stage_arn(0), active, "--json")
    assert status == 1
    assert json.loads(out)["answer"] == {"rejected": f"session {active} has not ended yet"}
    assert statuses(stack) == {}


def test_archive_when_the_function_fails(stack: Stack, capsys: Capture) -> None:
    def broken(event: object) -> object:
        raise RuntimeError("cannot reach the ledger")

    stack.front.handlers[stack.discover] = broken  # type: ignore[attr-defined]
    status, _, err = run(capsys, "archive", *stack.args, stage_arn(0), session_id(0, 0))
    assert status == 1
    assert one_error(err, "archive") == (
        f"the function {stack.discover} failed: RuntimeError: cannot reach the ledger "
        "(its log group has the details)"
    )


# --- backfill -----------------------------------------------------------------------------------
def test_backfill_queues_every_ended_session_and_follows_them(
    stack: Stack, capsys: Capture
) -> None:
    calls_before = stack.pipeline.simulator.stats()["api_calls"]
    with Workers(stack.pipeline):
        status, out, err = run(capsys, "backfill", *stack.args, "--interval", "0.1", "--tps", "5")
    assert status == 0, err
    assert statuses(stack) == dict.fromkeys(ENDED, "ARCHIVED")
    lines = out.strip().splitlines()
    assert lines[0] == "2 stages listed: 6 sessions ended that IVS still has"
    assert lines[1] == "  6 queued now · 0 already archived · 0 already being archived"
    assert lines[2] == "IVS calls: ListStageSessions 2, ListStages 1 (at most 5 a second each)"
    assert lines[3] == "6 of 6 archived"
    assert "following 6 sessions until archived (Ctrl-C detaches" in err
    calls = stack.pipeline.simulator.stats()["api_calls"]
    assert calls.get("ListStages", 0) - calls_before.get("ListStages", 0) == 1

    # Everything archived: nothing to queue, nothing to follow.
    status, out, _ = run(capsys, "backfill", *stack.args, "--json")
    data = json.loads(out)
    assert status == 0
    assert (data["ended"], data["queued"], data["already_archived"]) == (6, [], 6)
    assert "followed" not in data


def test_backfill_since_and_stage(stack: Stack, capsys: Capture) -> None:
    """Sessions end an hour apart, the last at 12:50 on 2026-11-01: since 11:30 takes the last
    two of each stage; --stage only one stage's."""
    status, out, _ = run(
        capsys,
        "backfill",
        *stack.args,
        "--since",
        "2026-11-01T11:30",
        "--stage",
        stage_arn(1),
        "--no-follow",
        "--json",
    )
    assert status == 0
    data = json.loads(out)
    assert sorted(map(tuple, data["queued"])) == [
        (stage_arn(1), session_id(1, 1)),
        (stage_arn(1), session_id(1, 2)),
    ]
    assert data["ivs_calls"] == {"ListStageSessions": 1}  # no ListStages for given stages
    bodies = queued_bodies(stack, stack.pipeline.account.queue_url)
    assert sorted(b["sessionId"] for b in bodies) == [session_id(1, 1), session_id(1, 2)]
    assert set(statuses(stack).values()) == {"PENDING"}


def test_backfill_leaves_sessions_in_hand_and_given_up(stack: Stack, capsys: Capture) -> None:
    ledger = Ledger(stack.pipeline.account.ledger_table)
    arn = stage_arn(0)
    # One being archived (claimed and queued by discovery), one failed 10 times.
    assert ledger.claim(arn, {"sessionId": session_id(0, 0)})
    ledger.mark_queued(arn, session_id(0, 0))
    assert ledger.claim(arn, {"sessionId": session_id(0, 1)})
    for _ in range(10):
        ledger.start(arn, session_id(0, 1), owner="w", lease=timedelta(seconds=0))
        ledger.finish(arn, session_id(0, 1), Status.FAILED, error="boom")
    status, out, _ = run(capsys, "backfill", *stack.args, "--stage", arn, "--no-follow")
    assert status == 0
    assert "  1 queued now · 0 already archived · 1 already being archived" in out
    assert "  1 failed 10 times and are left to you" in out


def test_backfill_refuses_a_stage_the_deployment_does_not_archive(
    monkeypatch: pytest.MonkeyPatch, capsys: Capture
) -> None:
    options = Options(tps=100, stage_allow_list=(stage_arn(0),))
    with EmbeddedPipeline(SCENARIO, options) as pipeline:
        deployed = deploy(pipeline)
        with LambdaFront({}) as front:
            monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", front.url)
            status, _, err = run(capsys, "backfill", *deployed.args, "--stage", stage_arn(1))
            assert status == 2
            assert "not in the deployment's stage allow-list" in one_error(err, "backfill")
            # Without --stage, only the allowed stage is listed.
            status, out, _ = run(capsys, "backfill", *deployed.args, "--no-follow", "--json")
            assert {next(iter(k)) for k in json.loads(out)["queued"]} == {stage_arn(0)}


def test_ctrl_c_detaches_and_the_queue_keeps_the_work(stack: Stack) -> None:
    """The installed script, with no worker running: Ctrl-C while it follows."""
    process = subprocess.Popen(
        [SCRIPT, "backfill", *stack.args, "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("following 6 sessions"):
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "detached: 0 of 6 archived so far; the rest goes on in AWS" in out
    assert "Traceback" not in err
    assert len(queued_bodies(stack, stack.pipeline.account.queue_url)) == 6


# --- redrive ------------------------------------------------------------------------------------
def test_redrive_moves_dead_letters_back_with_their_reasons(stack: Stack, capsys: Capture) -> None:
    sqs = stack.client("sqs")
    pipeline = stack.pipeline
    # A message the archive function rejects (it gives the reason), through the real handler.
    sqs.send_message(QueueUrl=pipeline.account.queue_url, MessageBody='{"stageArn": "nope"}')
    pipeline.drain()
    # A session the workers failed on until SQS moved its message: FAILED in the ledger.
    arn, session = stage_arn(0), session_id(0, 1)
    ledger = Ledger(pipeline.account.ledger_table)
    assert ledger.claim(arn, {"sessionId": session})
    ledger.start(arn, session, owner="w", lease=timedelta(seconds=0))
    ledger.finish(arn, session, Status.FAILED, error="GetParticipant: InternalServerException")
    body = json.dumps({"stageArn": arn, "sessionId": session})
    sqs.send_message(QueueUrl=pipeline.account.dlq_url, MessageBody=body)

    status, out, _ = run(capsys, "redrive", *stack.args, "--dry-run", "--json")
    data = json.loads(out)
    assert (status, data["dead_letters"], data["moved"]) == (0, 2, 0)
    rejected = next(r for r in data["reasons"] if r.startswith("SessionMessage: "))
    assert "stageArn" in rejected
    moved_by_sqs = (
        "SQS moved it after 5 receives its worker crashed or timed out on; "
        "last error: GetParticipant: InternalServerException"
    )
    assert data["reasons"][moved_by_sqs] == 1

    status, out, _ = run(capsys, "redrive", *stack.args)
    assert status == 0
    assert out.startswith("moved 2 of 2 dead-lettered messages back to the work queue")
    assert "GetParticipant: InternalServerException" in out
    pipeline.drain()
    # The session is archived; the malformed message is rejected again, with its reason.
    assert statuses(stack)[(arn, session)] == "ARCHIVED"
    left = sqs.receive_message(QueueUrl=pipeline.account.dlq_url, MessageAttributeNames=["All"])
    (message,) = left["Messages"]
    assert message["Body"] == '{"stageArn": "nope"}'
    assert message["MessageAttributes"]["reason"]["StringValue"].startswith("SessionMessage: ")
    sqs.change_message_visibility(
        QueueUrl=pipeline.account.dlq_url,
        ReceiptHandle=message["ReceiptHandle"],
        VisibilityTimeout=0,
    )
    status, out, _ = run(capsys, "redrive", *stack.args, "--json")
    assert (status, json.loads(out)["moved"]) == (0, 1)
    status, out, _ = run(capsys, "redrive", *stack.args)
    assert (status, out.strip()) == (0, "the dead-letter queue is empty")


# --- progress -----------------------------------------------------------------------------------
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Terminal()
    with Progress("archived", 6, terminal) as progress:
        progress.update(2, "· 4 waiting")
        progress.finish(6, "· 0 waiting")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal.getvalue())  # colours, cursor
    assert shown.startswith("\rarchived ━━━━")
    assert "archived" in shown and "━" in shown and "6/6 · 0 waiting" in shown

    now = [0.0]
    monkeypatch.setattr("shared.progress.time.monotonic", lambda: now[0])
    log = io.StringIO()
    with Progress("archived", 6, log) as progress:
        for done, moment in ((1, 0.0), (2, 1.0), (3, 9.0), (4, 10.5)):
            now[0] = moment
            progress.update(done, "· working")
        now[0] = 11.0
        progress.finish(6, "· done")
    # the first at once, then none until 10 s later, and the last state
    assert log.getvalue().splitlines() == [
        "[    0 s] archived: 1/6 · working",
        "[   10 s] archived: 4/6 · working",
        "[   11 s] archived: 6/6 · done",
    ]
