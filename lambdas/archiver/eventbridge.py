"""The discover function's EventBridge events (its schedule, `aws.ivs` "IVS Stage Update") as
Powertools Parser models, and the parser of everything the discover function accepts.

Apart from archiver.messages because only discovery needs them: the archive function never
loads them (tests/integration/archiver/test_cold_start_imports.py)."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import Field, ValidationError

from archiver.messages import InvalidInput, SessionMessage, StageArn, explain


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
