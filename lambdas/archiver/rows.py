"""IVS API records (as boto3 parses them) -> table rows, column by column from the schema.

A column's value comes from the API member of the same name in camelCase
(`recording_s3_bucket_name` <- `recordingS3BucketName`); the few that differ are named below.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, Table

Row = dict[str, Any]
ApiRecord = Mapping[str, Any]

# Event columns whose API member is not the camelCase of the column name.
_EVENT_MEMBERS = {"event_name": "name"}


def camel(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part.capitalize() for part in rest)


def stage_id(stage_arn: str) -> str:
    """The last segment of a stage ARN: `arn:aws:ivs:...:stage/AbCd` -> `AbCd`."""
    return stage_arn.rsplit("/", 1)[-1]


def _from_api(table: Table, record: ApiRecord, given: Row, renamed: Mapping[str, str]) -> Row:
    return {
        c.name: given[c.name] if c.name in given else record.get(renamed.get(c.name, camel(c.name)))
        for c in table.columns
    }


def session_row(
    stage_arn: str,
    stage_name: str | None,
    session: ApiRecord,
    *,
    participant_count: int,
    event_count: int,
    archived_at: datetime,
) -> Row:
    given: Row = {
        "stage_arn": stage_arn,
        "stage_id": stage_id(stage_arn),
        "stage_name": stage_name,
        "participant_count": participant_count,
        "event_count": event_count,
        "archived_at": archived_at,
    }
    return _from_api(STAGE_SESSIONS, session, given, {})


def participant_row(
    stage_arn: str, session_id: str, participant: ApiRecord, *, event_count: int
) -> Row:
    given: Row = {"stage_arn": stage_arn, "session_id": session_id, "event_count": event_count}
    return _from_api(PARTICIPANTS, participant, given, {})


def _token(token: ApiRecord | None) -> Row | None:
    if token is None:
        return None
    return {
        "capabilities": token.get("capabilities"),
        "attributes": token.get("attributes"),
        "user_id": token.get("userId"),
        "expiration_time": token.get("expirationTime"),
    }


def event_rows(
    stage_arn: str,
    session_id: str,
    participant_id: str,
    user_id: str | None,
    events: Iterable[ApiRecord],
) -> list[Row]:
    rows = []
    for seq, event in enumerate(events):
        given: Row = {
            "stage_arn": stage_arn,
            "session_id": session_id,
            "participant_id": participant_id,
            "user_id": user_id,
            "event_seq": seq,
            "previous_token": _token(event.get("previousToken")),
            "new_token": _token(event.get("newToken")),
        }
        rows.append(_from_api(PARTICIPANT_EVENTS, event, given, _EVENT_MEMBERS))
    return rows
