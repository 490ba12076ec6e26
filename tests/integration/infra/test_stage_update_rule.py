"""The "IVS Stage Update" rule passes only the events that can end a session: each event it
passes is one discover invocation, and before, every one of a busy stage's events was.

The synthesized pattern is put on a rule of moto's EventBridge, which sends what it matches to
an SQS queue; the events are in the shape the IVS Real-Time User Guide documents ("Using Amazon
EventBridge with IVS Real-Time Streaming"), as the simulator makes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from archiver.eventbridge import (
    STAGE_UPDATE_ENDS,
    StageUpdateEvent,
    parse_discover_event,
    stage_update_pattern,
)
from local.simulator.stage_events import stage_update
from tests.helpers.synth import STAGES, Built

OTHER_STAGE = "arn:aws:ivs:us-east-1:123456789012:stage/NotAllowed0001"
SESSION = "st-0123456789abc"


def _pattern(built: Built) -> dict[str, Any]:
    (rule,) = [
        r["Properties"]
        for r in built.resources("AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"]
    ]
    pattern: dict[str, Any] = rule["EventPattern"]
    return pattern


def _event(stage_arn: str, api_name: str) -> dict[str, Any]:
    """The simulator's event for the participant event `api_name` (PUBLISH_STOPPED: "Participant
    Unpublished", ...)."""
    return stage_update(stage_arn, SESSION, "alice", "p-a", api_name, 0, "6f3b1a2c-0000-4000-8")


@pytest.fixture
def events_to_queue() -> Iterator[Any]:
    """put(pattern, events) -> the events a rule with `pattern` delivered, in moto."""
    with mock_aws():
        region = "us-east-1"
        sqs = boto3.client("sqs", region_name=region)
        eventbridge = boto3.client("events", region_name=region)
        url = sqs.create_queue(QueueName="discover")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

        def put(pattern: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            eventbridge.put_rule(Name="stage-updates", EventPattern=json.dumps(pattern))
            eventbridge.put_targets(Rule="stage-updates", Targets=[{"Id": "q", "Arn": arn}])
            entries = [
                {
                    "Source": e["source"],
                    "DetailType": e["detail-type"],
                    "Resources": e["resources"],
                    "Detail": json.dumps(e["detail"]),
                }
                for e in events
            ]
            assert eventbridge.put_events(Entries=entries)["FailedEntryCount"] == 0
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return [json.loads(m["Body"]) for m in got]

        yield put


def test_the_rule_pattern_is_the_event_names_that_can_end_a_session(
    default: Built, variant: Built
) -> None:
    assert _pattern(default) == {
        "source": ["aws.ivs"],
        "detail-type": ["IVS Stage Update"],
        "detail": {"event_name": ["Participant Unpublished", "Participant Publish Error"]},
    }
    assert _pattern(variant) == stage_update_pattern(STAGES)
    assert _pattern(variant)["resources"] == STAGES


def test_unpublished_and_publish_error_reach_discovery_published_does_not(
    default: Built, events_to_queue: Any
) -> None:
    stage = STAGES[0]
    sent = [_event(stage, name) for name in ("PUBLISH_STARTED", "PUBLISH_STOPPED", "PUBLISH_ERROR")]
    assert [e["detail"]["event_name"] for e in sent] == [
        "Participant Published",
        "Participant Unpublished",
        "Participant Publish Error",
    ]
    delivered = events_to_queue(_pattern(default), sent)
    assert sorted(e["detail"]["event_name"] for e in delivered) == sorted(STAGE_UPDATE_ENDS)
    # What passes is what the discover function takes: a hint for that stage and session. (It
    # reads the event as AWS delivers it, documented shape; moto's copy in SQS lacks `account`
    # and `region`.)
    documented = {e["detail"]["event_name"]: e for e in sent}
    for event in delivered:
        parsed = parse_discover_event(documented[event["detail"]["event_name"]])
        assert isinstance(parsed, StageUpdateEvent)
        assert (parsed.stage_arn, parsed.session_id) == (stage, SESSION)


def test_with_an_allow_list_only_its_stages_reach_discovery(
    variant: Built, events_to_queue: Any
) -> None:
    sent = [_event(arn, "PUBLISH_STOPPED") for arn in (STAGES[1], OTHER_STAGE)]
    delivered = events_to_queue(_pattern(variant), sent)
    assert [e["resources"] for e in delivered] == [[STAGES[1]]]


def test_the_local_replay_applies_the_rule_as_eventbridge_does() -> None:
    from archiver.eventbridge import passes_stage_update_rule

    def event(name: str, arn: str = "arn:aws:ivs:us-east-1:123456789012:stage/a") -> dict:
        return {"resources": [arn], "detail": {"event_name": name, "session_id": "st-1"}}

    assert passes_stage_update_rule(event("Participant Unpublished"))
    assert passes_stage_update_rule(event("Participant Publish Error"))
    assert not passes_stage_update_rule(event("Participant Published"))
    assert not passes_stage_update_rule({"detail": "not a dict"})
    allowed = ["arn:aws:ivs:us-east-1:123456789012:stage/b"]
    assert not passes_stage_update_rule(event("Participant Unpublished"), allowed)
    assert passes_stage_update_rule(event("Participant Unpublished", allowed[0]), allowed)
