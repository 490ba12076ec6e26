"""Discovery: ended sessions found through the API, claimed once, queued once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from archiver.messages import SessionMessage
from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.archive import ended_sessions


@pytest.fixture
def scenario() -> dict[str, Any]:
    return generate_scenario(stages=3, sessions=2, participants=3, seed=5)


@pytest.fixture
def pipeline(scenario: dict[str, Any]) -> Iterator[EmbeddedPipeline]:
    with EmbeddedPipeline(scenario, Options(tps=200.0)) as running:
        yield running


def _queued(pipeline: EmbeddedPipeline) -> list[dict[str, Any]]:
    messages = []
    while batch := pipeline.account.sqs.receive_message(
        QueueUrl=pipeline.account.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
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
    assert {item["status"] for item in pipeline.account.ledger_sessions()} == {"PENDING"}
    assert all("queuedAt" in item for item in pipeline.account.ledger_sessions())

    pipeline.discover()  # nothing changed, no reconcile due: no session listing, no message
    assert _queued(pipeline) == []
    assert _calls(pipeline, "ListStageSessions") == len(scenario["stages"])


def _stage_event(stage_arn: str, session_id: str | None) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6f3b1a2c-0000-0000-0000-000000000000",
        "detail-type": "IVS Stage Update",
        "source": "aws.ivs",
        "account": "123456789012",
        "time": "2026-11-30T10:00:00Z",
        "region": "us-east-1",
        "resources": [stage_arn],
        "detail": {"event_name": "Participant Published"}
        | ({"session_id": session_id} if session_id else {}),
    }


def _short_session(session_id: str, day: str = "2026-12-30") -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "startTime": f"{day}T10:00:00.000Z",
        "endTime": f"{day}T10:05:00.000Z",
        "participants": [],
    }


def test_a_session_that_ends_is_claimed_from_the_stage_list_alone(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    pipeline.discover()
    _queued(pipeline)
    stage = _with_active(scenario)
    ended = pipeline.simulator.end_active_session(stage["arn"], "2026-12-31T00:00:00.000Z")
    listed_before = _calls(pipeline, "ListStageSessions")
    pipeline.discover()
    assert _queued(pipeline) == [{"stageArn": stage["arn"], "sessionId": ended}]
    # The stage no longer names it active: no listing, no GetStageSession.
    assert _calls(pipeline, "ListStageSessions") == listed_before
    assert _calls(pipeline, "GetStageSession") == 0
    (claimed,) = [s for s in pipeline.account.ledger_sessions() if s["sk"] == f"SESSION#{ended}"]
    assert claimed["status"] == "PENDING" and "queuedAt" in claimed
    assert claimed["stageName"] == stage["name"]


def test_an_ivs_stage_update_event_is_a_hint_the_next_run_lists_first(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    pipeline.discover()
    _queued(pipeline)
    stage = scenario["stages"][0]
    # A short session on that stage, started and ended between two looks: activeSessionId
    # never named it.
    pipeline.simulator.start_session(stage["arn"], _short_session("st-shortsession1"))
    calls_before = sum(pipeline.simulator.stats()["api_calls"].values())
    assert pipeline.discover(_stage_event(stage["arn"], "st-shortsession1")) == {"enqueued": []}
    assert sum(pipeline.simulator.stats()["api_calls"].values()) == calls_before  # no call
    listed_before = _calls(pipeline, "ListStageSessions")
    pipeline.discover()
    assert _queued(pipeline) == [{"stageArn": stage["arn"], "sessionId": "st-shortsession1"}]
    assert _calls(pipeline, "ListStageSessions") == listed_before + 1
    pipeline.discover()  # the hint is spent
    assert _calls(pipeline, "ListStageSessions") == listed_before + 1


def test_a_hint_naming_a_followed_or_known_session_costs_no_listing(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    pipeline.discover()
    _queued(pipeline)
    stage = _with_active(scenario)
    active = next(s["sessionId"] for s in stage["sessions"] if s["endTime"] is None)
    known = next(s["sessionId"] for s in stage["sessions"] if s["endTime"])
    pipeline.discover(_stage_event(stage["arn"], active))
    pipeline.discover(_stage_event(stage["arn"], known))
    listed_before = _calls(pipeline, "ListStageSessions")
    pipeline.discover()
    assert _calls(pipeline, "ListStageSessions") == listed_before
    assert _queued(pipeline) == []


def test_without_a_hint_the_reconcile_finds_a_short_session(scenario: dict[str, Any]) -> None:
    options = Options(tps=200.0)
    with EmbeddedPipeline(scenario, options) as pipeline:
        pipeline.discover()
        _queued(pipeline)
        stage = scenario["stages"][2]
        pipeline.simulator.start_session(stage["arn"], _short_session("st-shortsession2"))
        pipeline.discover()  # within the reconcile interval: not seen
        assert _queued(pipeline) == []
        _reconcile_due(pipeline)
        pipeline.discover()
        assert _queued(pipeline) == [{"stageArn": stage["arn"], "sessionId": "st-shortsession2"}]


def _reconcile_due(pipeline: EmbeddedPipeline) -> None:
    """Move the last complete reconcile back by a day."""
    from archiver.discovery_state import DiscoveryState

    state = DiscoveryState(pipeline.account.ledger_table)
    last = state.reconcile().last_complete
    assert last is not None
    state.complete_reconcile(last - timedelta(days=1))


def test_a_claim_whose_message_never_went_out_is_queued_by_the_next_run(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    from archiver.runtime import runtime

    def refuse(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://sqs")

    sqs_events = runtime().sqs.meta.events
    sqs_events.register("before-call.sqs.SendMessageBatch", refuse)
    with pytest.raises(EndpointConnectionError):
        pipeline.discover()  # dies after its first claim, before the message
    sqs_events.unregister("before-call.sqs.SendMessageBatch", refuse)
    unqueued = [s for s in pipeline.account.ledger_sessions() if "queuedAt" not in s]
    # The first stage's ended sessions were claimed (its messages go out together), no more.
    assert unqueued and {s["status"] for s in unqueued} == {"PENDING"}
    assert len(pipeline.account.ledger_sessions()) == len(unqueued)
    assert _queued(pipeline) == []
    pipeline.discover()  # its reconcile never completed: this run's does, and queues it
    expected = {(st["arn"], s["sessionId"]) for st, s in ended_sessions(scenario)}
    assert {(m["stageArn"], m["sessionId"]) for m in _queued(pipeline)} == expected
    assert all("queuedAt" in s for s in pipeline.account.ledger_sessions())


def test_one_discovery_at_a_time(scenario: dict[str, Any], pipeline: EmbeddedPipeline) -> None:
    from archiver.discovery_state import DiscoveryState

    state = DiscoveryState(pipeline.account.ledger_table)
    now = datetime.now(UTC)
    assert state.take_lease("another-run", now, now + timedelta(minutes=15))
    assert pipeline.discover() == {"skipped": "another discovery run holds the lease"}
    assert sum(pipeline.simulator.stats()["api_calls"].values()) == 0
    assert state.take_lease("another-run", now, now - timedelta(seconds=1))  # it ran out
    pipeline.discover()
    assert len(_queued(pipeline)) == len(ended_sessions(scenario))
    assert state.take_lease("a-third-run", now, now + timedelta(minutes=1))  # released


def test_a_manual_event_queues_that_session_and_only_once(
    scenario: dict[str, Any], pipeline: EmbeddedPipeline
) -> None:
    stage, session = ended_sessions(scenario)[0]
    event = {"stageArn": stage["arn"], "sessionId": session["sessionId"]}
    # The message as the archive workers read it: the session, from its first chunk.
    assert pipeline.discover(event) == {"enqueued": [SessionMessage(**event).model_dump()]}
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
    assert pipeline.account.ledger_sessions() == []


def test_the_allow_list_limits_everything(scenario: dict[str, Any]) -> None:
    allowed = scenario["stages"][2]["arn"]
    with EmbeddedPipeline(scenario, Options(tps=200.0, stage_allow_list=(allowed,))) as pipeline:
        pipeline.discover()
        assert {m["stageArn"] for m in _queued(pipeline)} == {allowed}
        other, session = next((st, s) for st, s in ended_sessions(scenario) if st["arn"] != allowed)
        result = pipeline.discover({"stageArn": other["arn"], "sessionId": session["sessionId"]})
        assert "allow-list" in result["rejected"]
