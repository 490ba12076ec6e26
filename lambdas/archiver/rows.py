"""IVS API records (as boto3 parses them) -> table rows, column by column from the schema.

Where every column comes from is said once, here, as an `ApiSource` per `ivs-realtime` shape: a
column is either given by the archiver (keys, counts, times) or read from the shape's member of
the same name in camelCase (`recording_s3_bucket_name` <- `recordingS3BucketName`), the few
renamed members excepted. Rows are built from these sources, and at cold start
`archiver.apimodel` checks that the loaded botocore model declares every member they name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, TOKEN

Row = dict[str, Any]
ApiRecord = Mapping[str, Any]
_NOTHING: ApiRecord = MappingProxyType({})


def camel(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True)
class ApiSource:
    """The fields of a row (or of a struct column), in order, and where each comes from: the
    archiver (`given`) or a member of the API shape `shape` (`members`, field -> member). A
    member holding a structure is read through the source of that structure (`nested`)."""

    shape: str
    fields: tuple[str, ...]
    given: frozenset[str]
    members: Mapping[str, str]
    nested: Mapping[str, ApiSource] = field(default_factory=dict)

    def row(self, record: ApiRecord, given: ApiRecord = _NOTHING) -> Row:
        """A field the archiver gives must be in `given` (KeyError otherwise, never a null)."""
        out: Row = {}
        for name in self.fields:
            if name in self.given:
                out[name] = given[name]
                continue
            value = record.get(self.members[name])
            nested = self.nested.get(name)
            out[name] = nested.row(value) if nested is not None and value is not None else value
        return out


def api_source(
    shape: str,
    fields: Iterable[str],
    *,
    given: Iterable[str] = (),
    renamed: Mapping[str, str] | None = None,
    nested: Mapping[str, ApiSource] | None = None,
) -> ApiSource:
    fields, given, renamed = tuple(fields), frozenset(given), dict(renamed or {})
    unknown = (given | set(renamed) | set(nested or {})) - set(fields)
    if unknown or given & set(renamed):
        raise ValueError(f"{shape}: no such field, or given and renamed: {sorted(unknown)}")
    members = {f: renamed.get(f, camel(f)) for f in fields if f not in given}
    return ApiSource(shape, fields, given, members, dict(nested or {}))


# The exchanged participant tokens of TOKEN_EXCHANGED events (the `previous_token` and
# `new_token` struct columns).
TOKEN_SOURCE = api_source("ExchangedParticipantToken", TOKEN.arrow.names)  # type: ignore[attr-defined]

# The place columns: from the stage's ARN.
PLACE = ("account_id", "region")

SESSION_SOURCE = api_source(
    "StageSession",
    STAGE_SESSIONS.column_names,
    given=(
        "stage_arn",
        "stage_id",
        "stage_name",
        "participant_count",
        "event_count",
        "archived_at",
        *PLACE,
    ),
)

# GetParticipant's `Participant`, or with participant details off ListParticipants' summary,
# which lacks these members (the columns are then null; schema.py says "GetParticipant only").
DETAILS_ONLY = frozenset(
    {
        "attributes",
        "recording_s3_bucket_name",
        "recording_s3_prefix",
        "protocol",
        "os_name",
        "os_version",
        "browser_name",
        "browser_version",
        "sdk_version",
        "isp_name",
    }
)
_PARTICIPANT_GIVEN = ("stage_arn", "session_id", "event_count", *PLACE)
PARTICIPANT_SOURCE = api_source("Participant", PARTICIPANTS.column_names, given=_PARTICIPANT_GIVEN)
PARTICIPANT_SUMMARY_SOURCE = api_source(
    "ParticipantSummary",
    [c for c in PARTICIPANTS.column_names if c not in DETAILS_ONLY],
    given=_PARTICIPANT_GIVEN,
)

EVENT_SOURCE = api_source(
    "Event",
    PARTICIPANT_EVENTS.column_names,
    given=("stage_arn", "session_id", "participant_id", "user_id", "event_seq", *PLACE),
    renamed={"event_name": "name"},
    nested={"previous_token": TOKEN_SOURCE, "new_token": TOKEN_SOURCE},
)

# Every API member a column is read from, by shape: what the cold-start check verifies.
SOURCES = (
    SESSION_SOURCE,
    PARTICIPANT_SOURCE,
    PARTICIPANT_SUMMARY_SOURCE,
    EVENT_SOURCE,
    TOKEN_SOURCE,
)


def stage_id(stage_arn: str) -> str:
    """The last segment of a stage ARN: `arn:aws:ivs:...:stage/AbCd` -> `AbCd`."""
    return stage_arn.rsplit("/", 1)[-1]


def place_of(stage_arn: str) -> Row:
    """The place of a stage, from its ARN (`arn:aws:ivs:REGION:ACCOUNT:stage/ID`): the account
    and region columns."""
    parts = stage_arn.split(":")
    if len(parts) < 6 or not parts[3] or not parts[4]:
        raise ValueError(f"not a stage ARN: {stage_arn!r}")
    return {"account_id": parts[4], "region": parts[3]}


def session_key(stage_arn: str, session_id: str) -> str:
    """One session's name across places: `<account>/<region>/<stage_id>/<session_id>` (stage
    ids are unique per region only)."""
    place = place_of(stage_arn)
    return f"{place['account_id']}/{place['region']}/{stage_id(stage_arn)}/{session_id}"


def legacy_session_key(stage_arn: str, session_id: str) -> str:
    """The name earlier versions gave a session (in snapshot summaries): no place."""
    return f"{stage_id(stage_arn)}/{session_id}"


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
        **place_of(stage_arn),
    }
    return SESSION_SOURCE.row(session, given)


def participant_row(
    stage_arn: str, session_id: str, participant: ApiRecord, *, event_count: int
) -> Row:
    """From a `Participant` or, with participant details off, a `ParticipantSummary`."""
    given: Row = {
        "stage_arn": stage_arn,
        "session_id": session_id,
        "event_count": event_count,
        **place_of(stage_arn),
    }
    return PARTICIPANT_SOURCE.row(participant, given)


def event_rows(
    stage_arn: str,
    session_id: str,
    participant_id: str,
    user_id: str | None,
    events: Iterable[ApiRecord],
) -> list[Row]:
    given: Row = {
        "stage_arn": stage_arn,
        "session_id": session_id,
        "participant_id": participant_id,
        "user_id": user_id,
        **place_of(stage_arn),
    }
    return [EVENT_SOURCE.row(event, given | {"event_seq": seq}) for seq, event in enumerate(events)]
