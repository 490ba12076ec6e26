"""Discovery: ended sessions found through the API, claimed once, queued once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options
from tests.archive_helpers import ended_sessions


@pytest.fixture
def scenario() -> dict[str, Any]:
    return generate_scenario(stages=3, sessions=2, participants=3, seed=5)


@pytest.fixture
def pipeline(scenario: dict[str, Any]) -> Iterator[EmbeddedPipeline]:
    with EmbeddedPipeline(scenario, Options(tps=200.0)) as running:
        yield running


def _queued(pipeline: EmbeddedPipeline) -> list[dict[str, Any]]:
    messages = []
    while batch := pipeline.sqs.receive_message(
        QueueUrl=pipeline.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
    ).get("Messages", []):
        messages += [json.loads(m["Body"]) for m in batch]
    return messages


def _calls(pipeline: EmbeddedPipeline, operation: str) -> int:
    return int(pipeline.simulator.stats()["api_calls"].get(operation, 0))


def _with_active(scenario: dict[str, Any]) -> dict[str, Any]:
    return next(
        st for st in scenario["stages"] if any(s["endTime"] is None for s in st["sessions"])
    )


def test_first_run_reconciles_every_stage_and_queues_each_ended_session_once(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    pipeline.discover()
    expected = {(st["arn"], s["sessionId"]) for st, s in ended_sessions(scenario)}
    queued = _queued(pipeline)
    assert sorted((m["stageArn"], m["sessionId"]) for m in queued) == sorted(expected)
    assert _calls(pipeline, "ListStageSessions") == len(scenario["stages"])
    assert {item["status"] for item in pipeline.ledger_sessions()} == {"PENDING"}

    pipeline.discover()  # nothing changed, no reconcile due: no session listing, no message
    assert _queued(pipeline) == []
    assert _calls(pipeline, "ListStageSessions") == len(scenario["stages"])


def test_a_session_that_ends_is_found_by_its_stage_alone(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    pipeline.discover()
    _queued(pipeline)
    stage = _with_active(scenario)
    ended = pipeline.simulator.end_active_session(stage["arn"], "2026-12-31T00:00:00.000Z")
    listed_before = _calls(pipeline, "ListStageSessions")
    pipeline.discover()
    assert _queued(pipeline) == [{"stageArn": stage["arn"], "sessionId": ended}]
    assert _calls(pipeline, "ListStageSessions") == listed_before + 1


def test_an_ivs_stage_update_event_checks_that_stage(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    stage = scenario["stages"][1]
    pipeline.discover(
        {
            "version": "0",
            "id": "6f3b1a2c-0000-0000-0000-000000000000",
            "detail-type": "IVS Stage Update",
            "source": "aws.ivs",
            "account": "123456789012",
            "time": "2026-11-30T10:00:00Z",
            "region": "us-east-1",
            "resources": [stage["arn"]],
            "detail": {"session_id": "st-0000000000000", "event_name": "Participant Published"},
        }
    )
    ended = [s["sessionId"] for s in stage["sessions"] if s["endTime"]]
    assert sorted(m["sessionId"] for m in _queued(pipeline)) == sorted(ended)
    assert _calls(pipeline, "ListStages") == 0


def test_a_manual_event_queues_that_session_and_only_once(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    stage, session = ended_sessions(scenario)[0]
    event = {"stageArn": stage["arn"], "sessionId": session["sessionId"]}
    assert pipeline.discover(event) == {"enqueued": [event | {"continuation": 0}]}
    assert pipeline.discover(event) == {"enqueued": []}  # already claimed
    assert _queued(pipeline) == [event]


def test_a_manual_event_for_an_active_session_is_rejected(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    stage = _with_active(scenario)
    active = next(s["sessionId"] for s in stage["sessions"] if s["endTime"] is None)
    result = pipeline.discover({"stageArn": stage["arn"], "sessionId": active})
    assert result == {"rejected": f"session {active} has not ended yet"}
    assert _queued(pipeline) == []
    assert pipeline.ledger_sessions() == []


def test_the_allow_list_limits_everything(scenario: dict[str, Any]) -> None:
    allowed = scenario["stages"][2]["arn"]
    with EmbeddedPipeline(scenario, Options(tps=200.0, stage_allow_list=(allowed,))) as pipeline:
        pipeline.discover()
        assert {m["stageArn"] for m in _queued(pipeline)} == {allowed}
        other, session = next((st, s) for st, s in ended_sessions(scenario) if st["arn"] != allowed)
        result = pipeline.discover({"stageArn": other["arn"], "sessionId": session["sessionId"]})
        assert "allow-list" in result["rejected"]
