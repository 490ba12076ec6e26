"""Bad input gets one clear error naming what was wrong, goes to the dead-letter path, and
writes nothing: no object, no ledger item, no retry loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from archiver.eventbridge import parse_discover_event
from archiver.messages import InvalidInput, parse_session_message
from archiver.settings import Settings, SettingsError
from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options

ARN = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"


@pytest.fixture
def pipeline() -> Iterator[EmbeddedPipeline]:
    scenario = generate_scenario(stages=1, sessions=1, participants=3, seed=2)
    with EmbeddedPipeline(scenario, Options(tps=200.0, quiet=False)) as running:
        yield running


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ([], "must be a JSON object"),
        ({"source": "aws.s3", "detail-type": "Object Created"}, "source"),
        ({"stageArn": ARN}, "sessionId"),
        (
            {"stageArn": "arn:aws:ivs:us-east-1:1:channel/x", "sessionId": "st-0123456789abc"},
            "stageArn",
        ),
        ({"stageArn": ARN, "sessionId": "st-short"}, "sessionId"),
        ({"stageArn": ARN, "sessionId": "st-0123456789abc", "extra": 1}, "extra"),
        (
            {
                "version": "0",
                "id": "1",
                "source": "aws.ivs",
                "detail-type": "IVS Stage Update",
                "account": "1",
                "time": "2026-11-30T10:00:00Z",
                "region": "us-east-1",
                "resources": ["not-an-arn"],
                "detail": {},
            },
            "resources.0",
        ),
    ],
)
def test_parse_discover_event_names_what_is_wrong(event: Any, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        parse_discover_event(event)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "SessionMessage"),
        (json.dumps({"stageArn": ARN}), "sessionId"),
        (
            json.dumps({"stageArn": ARN, "sessionId": "st-0123456789abc", "continuation": -1}),
            "continuation",
        ),
    ],
)
def test_parse_session_message_names_what_is_wrong(body: str, named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        parse_session_message(body)


def test_settings_errors_name_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"API_TPS_BUDGET.*CHUNK_SIZE"):
        Settings.from_env(
            {
                "ARCHIVE_BUCKET": "bucket",
                "LEDGER_TABLE": "ledger",
                "WORK_QUEUE_URL": "https://queue",
                "API_TPS_BUDGET": "0",
                "CHUNK_SIZE": "many",
            }
        )
    with pytest.raises(SettingsError, match="STAGE_ALLOW_LIST"):
        Settings.from_env(
            {
                "ARCHIVE_BUCKET": "bucket",
                "LEDGER_TABLE": "ledger",
                "WORK_QUEUE_URL": "q",
                "STAGE_ALLOW_LIST": "arn:aws:ivs:us-east-1:1:channel/x",
            }
        )
    with pytest.raises(SettingsError, match="LEDGER_TABLE: required"):
        Settings.from_env({"ARCHIVE_BUCKET": "bucket", "WORK_QUEUE_URL": "q"})


def _nothing_written(pipeline: EmbeddedPipeline) -> None:
    assert pipeline.account.landing_keys() == []
    assert pipeline.account.ledger_sessions() == []


def test_the_discover_handler_rejects_bad_events_once_and_writes_nothing(
    pipeline: EmbeddedPipeline, caplog: pytest.LogCaptureFixture
) -> None:
    result = pipeline.discover({"stageArn": ARN, "sessionId": "st-bad"})
    assert "sessionId" in result["rejected"]
    [record] = [r for r in caplog.records if r.getMessage().startswith("rejected")]
    assert record.levelname == "ERROR" and "sessionId" in record.__dict__["reason"]
    assert pipeline.account.queue_depth() == 0
    _nothing_written(pipeline)


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        json.dumps({"stageArn": ARN, "sessionId": "st-0123"}),
        json.dumps({"stageArn": "arn:aws:s3:::bucket", "sessionId": "st-0123456789abc"}),
        json.dumps({"unknown": "type"}),
    ],
)
def test_the_archive_handler_dead_letters_bad_messages_at_once(
    pipeline: EmbeddedPipeline, body: str, caplog: pytest.LogCaptureFixture
) -> None:
    pipeline.account.sqs.send_message(QueueUrl=pipeline.account.queue_url, MessageBody=body)
    response = pipeline.archive_once()
    assert response == {"batchItemFailures": []}  # not retried
    assert pipeline.account.queue_depth() == 0
    assert pipeline.account.dead_letters() == [body]
    [record] = [r for r in caplog.records if r.getMessage().startswith("rejected")]
    assert record.levelname == "ERROR" and record.__dict__["reason"]
    _nothing_written(pipeline)
