"""What the archive function accepts, as a Powertools Parser (pydantic) model, and one clear
error for anything else. Patterns come from the IVS API model (botocore ivs-realtime 2020-07-14).

The discover function's EventBridge events live in archiver.eventbridge, which the archive
function never loads.
"""

from __future__ import annotations

import json
from typing import Annotated

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
    # How many times in a row it failed for a reason that may pass (archiver.retry).
    retry: int = Field(default=0, ge=0)

    def body(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


def explain(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}" for err in exc.errors()
    )


def parse_session_message(body: str) -> SessionMessage:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"message body is not JSON: {exc.msg} at position {exc.pos}") from None
    try:
        return SessionMessage.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"SessionMessage: {explain(exc)}") from None
