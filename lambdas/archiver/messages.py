"""What the handlers accept, as Powertools Parser (pydantic) models, and one clear error for
anything else. Patterns come from the IVS API model (botocore ivs-realtime 2020-07-14)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

StageArn = Annotated[
    str,
    Field(
        min_length=1, max_length=128, pattern=r"^arn:aws:ivs:[a-z0-9-]+:[0-9]+:stage/[a-zA-Z0-9-]+$"
    ),
]
SessionId = Annotated[str, Field(min_length=16, max_length=16, pattern=r"^st-[a-zA-Z0-9]+$")]


class InvalidInput(ValueError):
    """The input cannot be processed, ever: retrying it would only repeat the error."""


class SessionMessage(BaseModel):
    """One ended session to archive: the work queue's message, or a manual discover event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stageArn: StageArn
    sessionId: SessionId
    # How many invocations have already worked on this session (0 for discovery's message).
    continuation: int = Field(default=0, ge=0)

    def body(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


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


def _explain(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}" for err in exc.errors()
    )


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
        raise InvalidInput(f"{model.__name__}: {_explain(exc)}") from None


def parse_session_message(body: str) -> SessionMessage:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"message body is not JSON: {exc.msg} at position {exc.pos}") from None
    try:
        return SessionMessage.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"SessionMessage: {_explain(exc)}") from None
