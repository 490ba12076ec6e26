"""Failures that may pass never dead-letter a session, nor fail its neighbours (archiver.retry):
faults at 40% end with every session archived exactly once; one session failing leaves the
others of its batch archived at once and is itself archived on a later try; only a session
retried for about 14 days is dead-lettered, with its last error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

import archiver.archiving as archiving
from archiver.catalog import open_catalog, sqlite_uri
from archiver.messages import SessionMessage
from archiver.retry import MAX_DELAY_S, MAX_RETRIES, delay_s, next_try
from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.archive import ended_sessions, expected_events
from tests.helpers.iceberg import NAMESPACE, table_rows


@pytest.fixture(scope="module")
def scenario() -> dict[str, Any]:
    return generate_scenario(stages=3, sessions=3, participants=8, seed=21)


def test_at_40_percent_faults_every_session_is_archived_exactly_once(
    scenario: dict[str, Any], tmp_path: Path
) -> None:
    options = Options(tps=100.0, fault_rate=0.4, seed=5, tables_dir=tmp_path)
    with EmbeddedPipeline(scenario, options) as pipeline:
        pipeline.run()
        stats = pipeline.stats()
        ledger = pipeline.account.ledger_sessions()
        dead = pipeline.account.dead_letters()
    assert stats["faults_injected"] > 20
    assert dead == []
    assert {s["status"] for s in ledger} == {"ARCHIVED"}
    assert len(ledger) == len(ended_sessions(scenario))
    catalog = open_catalog(sqlite_uri(tmp_path))
    events = table_rows(catalog, "participant_events", NAMESPACE)
    keys = [(e["stage_arn"], e["session_id"], e["participant_id"], e["event_seq"]) for e in events]
    assert len(keys) == len(set(keys)) == len(expected_events(scenario))


def test_one_session_failing_fails_none_of_its_neighbours(
    scenario: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ended = ended_sessions(scenario)
    unlucky = ended[0][1]["sessionId"]
    failures = {"left": 2}
    real_archive = archiving.SessionArchive._archive

    def flaky(self: Any, *args: Any) -> Any:
        if self.session_id == unlucky and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("IVS is down for this one")
        return real_archive(self, *args)

    monkeypatch.setattr(archiving.SessionArchive, "_archive", flaky)
    with EmbeddedPipeline(scenario, Options(tps=200.0)) as pipeline:
        for stage, session in ended:
            pipeline.discover({"stageArn": stage["arn"], "sessionId": session["sessionId"]})
        first = pipeline.archive_once()  # one batch: every session of the scenario
        assert first is None or "errorMessage" not in first
        statuses = {
            s["sk"].removeprefix("SESSION#"): s["status"]
            for s in pipeline.account.ledger_sessions()
        }
        assert statuses.pop(unlucky) == "FAILED"
        assert set(statuses.values()) == {"ARCHIVED"}  # the neighbours, in the same invocation
        pipeline.drain()  # its next tries, delayed
        [again] = [s for s in pipeline.account.ledger_sessions() if s["sk"] == f"SESSION#{unlucky}"]
        assert pipeline.account.dead_letters() == []
        assert pipeline.invocation_errors == 0
    assert again["status"] == "ARCHIVED" and failures["left"] == 0


def test_the_delays_double_up_to_15_minutes() -> None:
    longest = 900_000
    delays = [delay_s(retry, longest, jitter=1.0) for retry in range(1, 9)]
    assert delays == [30, 60, 120, 240, 480, 900, 900, 900]
    assert delay_s(1, longest, jitter=0.8) == 24 and delay_s(12, longest, jitter=1.2) == MAX_DELAY_S
    assert delay_s(1, 4000, jitter=1.0) == 1  # a local run's: at least a second
    spread = {delay_s(3, longest) for _ in range(200)}
    assert min(spread) >= 96 and max(spread) <= 144 and len(spread) > 10


def test_a_session_retried_for_about_14_days_is_dead_lettered_with_its_last_error(
    scenario: dict[str, Any],
) -> None:
    stage, session = ended_sessions(scenario)[0]
    message = SessionMessage(stageArn=stage["arn"], sessionId=session["sessionId"])
    assert next_try(message) == message.model_copy(update={"retry": 1})
    assert pytest.approx(14, abs=0.1) == MAX_RETRIES * MAX_DELAY_S / 86400
    tired = message.model_copy(update={"retry": MAX_RETRIES})
    assert next_try(tired) is None
    with EmbeddedPipeline(scenario, Options(tps=200.0)) as pipeline:
        sqs = boto3.client("sqs")
        sqs.send_message(QueueUrl=pipeline.account.queue_url, MessageBody=tired.body())
        pipeline.account.s3.delete_bucket(Bucket=pipeline.account.bucket)  # writes fail
        pipeline.archive_once()
        [parked] = sqs.receive_message(
            QueueUrl=pipeline.account.dlq_url, MessageAttributeNames=["All"]
        )["Messages"]
        assert pipeline.account.queue_depth() == 0  # no further try
    assert json.loads(parked["Body"]) == json.loads(tired.body())
    reason = parked["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith(f"failed {MAX_RETRIES} times in a row: ") and "NoSuchBucket" in reason
