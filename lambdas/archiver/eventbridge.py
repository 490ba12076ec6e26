"""The discover function's EventBridge events (its schedule, `aws.ivs` "IVS Stage Update") as
Powertools Parser models, and the parser of everything the discover function accepts.

Apart from archiver.messages because only discovery needs them: the archive function never
loads them (tests/integration/archiver/test_cold_start_imports.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import Field, ValidationError

from archiver.messages import InvalidInput, SessionMessage, StageArn, explain

STAGE_UPDATE_SOURCE = "aws.ivs"
STAGE_UPDATE = "IVS Stage Update"
# The `detail.event_name`s of "IVS Stage Update" that can be the last event of a session, the
# only ones the stack's rule passes to discovery (IVS Real-Time User Guide, "Using Amazon
# EventBridge with IVS Real-Time Streaming": "Participant Published", "Participant
# Unpublished", "Participant Publish Error", and events for a participant's replication starting
# and stopping and for a token exchanged).
# A session ends once its last participant has left. Joining and leaving send no event of their
# own and subscribers send none at all, so the nearest an event comes to an end is a publisher
# that stopped publishing ("Participant Unpublished"; one that leaves stops publishing) or one whose
# publishing failed ("Participant Publish Error": a session whose publishers all failed has no
# other event). "Participant Published", replication starting and a token exchanged happen
# while the participant stays; replication stops when its source publisher stops publishing
# or by an API call, and the source's own "Participant Unpublished" names that session already.
# A session no event names is found as before: its stage's activeSessionId changes between two
# scheduled looks, or the reconcile lists it.
STAGE_UPDATE_ENDS = ("Participant Unpublished", "Participant Publish Error")


def stage_update_pattern(stage_allow_list: Sequence[str] = ()) -> dict[str, Any]:
    """The EventBridge event pattern of the stack's "IVS Stage Update" rule: the event names
    that can end a session, of the allowed stages (all, when `stage_allow_list` is empty)."""
    pattern: dict[str, Any] = {
        "source": [STAGE_UPDATE_SOURCE],
        "detail-type": [STAGE_UPDATE],
        "detail": {"event_name": list(STAGE_UPDATE_ENDS)},
    }
    if stage_allow_list:
        pattern["resources"] = list(stage_allow_list)
    return pattern


def passes_stage_update_rule(event: dict[str, Any], stage_allow_list: Sequence[str] = ()) -> bool:
    """Whether the stack's rule (`stage_update_pattern`) delivers `event` to discovery: what
    the local replay applies, as EventBridge does in AWS."""
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("event_name") not in STAGE_UPDATE_ENDS:
        return False
    resources = event.get("resources") or []
    return not stage_allow_list or any(r in stage_allow_list for r in resources)


class ScheduledEvent(EventBridgeModel):
    source: Literal["aws.events"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")


class StageUpdateEvent(EventBridgeModel):
    """`aws.ivs` "IVS Stage Update": best effort, may be late or missing. It names a stage
    (resources[0]) and a session (detail.session_id) for discovery to look at."""

    source: Literal["aws.ivs"]
    detail_type: Literal["IVS Stage Update"] = Field(alias="detail-type")
    resources: list[StageArn] = Field(min_length=1)

    @property
    def stage_arn(self) -> str:
        return self.resources[0]

    @property
    def session_id(self) -> str | None:
        """The session the event is about (`detail.session_id`), when it names one."""
        value = self.detail.get("session_id") if isinstance(self.detail, dict) else None
        return value if isinstance(value, str) and value else None


DiscoverRequest = ScheduledEvent | StageUpdateEvent | SessionMessage
_BY_SOURCE: dict[str, type[ScheduledEvent | StageUpdateEvent]] = {
    "aws.events": ScheduledEvent,
    "aws.ivs": StageUpdateEvent,
}


def parse_discover_event(event: Any) -> DiscoverRequest:
    if not isinstance(event, dict):
        raise InvalidInput(f"discover event must be a JSON object, got {type(event).__name__}")
    model: type[DiscoverRequest] = SessionMessage
    if "source" in event:
        if event["source"] not in _BY_SOURCE:
            raise InvalidInput(f"source: unsupported event source {event['source']!r}")
        model = _BY_SOURCE[event["source"]]
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise InvalidInput(f"{model.__name__}: {explain(exc)}") from None
