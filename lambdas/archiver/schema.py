"""The one definition of the three archive tables.

The Parquet writer, the Glue tables (infra/catalog.py) and the README's column reference are all
derived from `TABLES`. Columns are only ever appended, never inserted or retyped (docs/design.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class ColumnType:
    """A column type, spelled once for Glue/Athena (`glue`) and once for Parquet (`arrow`)."""

    glue: str
    arrow: pa.DataType


STRING = ColumnType("string", pa.string())
INT = ColumnType("int", pa.int32())
BIGINT = ColumnType("bigint", pa.int64())
BOOLEAN = ColumnType("boolean", pa.bool_())
# INT64 milliseconds, adjusted to UTC: what Athena reads as `timestamp` (nanoseconds break it).
TIMESTAMP = ColumnType("timestamp", pa.timestamp("ms", tz="UTC"))


def array_of(item: ColumnType) -> ColumnType:
    return ColumnType(f"array<{item.glue}>", pa.list_(item.arrow))


def map_of(key: ColumnType, value: ColumnType) -> ColumnType:
    return ColumnType(f"map<{key.glue},{value.glue}>", pa.map_(key.arrow, value.arrow))


def struct_of(**fields: ColumnType) -> ColumnType:
    glue = ",".join(f"{name}:{t.glue}" for name, t in fields.items())
    return ColumnType(
        f"struct<{glue}>", pa.struct([pa.field(name, t.arrow) for name, t in fields.items()])
    )


STRING_MAP = map_of(STRING, STRING)
TOKEN = struct_of(
    capabilities=array_of(STRING),
    attributes=STRING_MAP,
    user_id=STRING,
    expiration_time=TIMESTAMP,
)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    doc: str
    nullable: bool = True


# Every table is partitioned by the UTC date of its session's start: the landing objects'
# `dt=` folder, and in the query tables a column of its own.
PARTITION_COLUMN = "dt"
PARTITION_DOC = "UTC date of the session's start (yyyy-MM-dd)."


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        """The Parquet schema. `dt` is not in the files: it is the partition (the S3 key)."""
        return pa.schema(
            [pa.field(c.name, c.type.arrow, nullable=c.nullable) for c in self.columns]
        )

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def glue_columns(self) -> list[dict[str, str]]:
        return [{"name": c.name, "type": c.type.glue, "comment": c.doc} for c in self.columns]


def _key(name: str, doc: str, type_: ColumnType = STRING) -> Column:
    return Column(name, type_, doc, nullable=False)


# The place a row came from (the stage's account and region: its ARN's), appended to each table
# when an archive spanned places; rows committed before are null here (stage_arn holds both).
PLACE_COLUMNS = (
    Column("account_id", STRING, "AWS account of the stage (the place the row came from)."),
    Column("region", STRING, "AWS region of the stage (the place the row came from)."),
)

STAGE_SESSIONS = Table(
    "stage_sessions",
    "One row per archived stage session.",
    (
        _key("stage_arn", "ARN of the stage."),
        _key("stage_id", "Last segment of the stage ARN."),
        Column("stage_name", STRING, "Stage name at archive time."),
        _key("session_id", "Stage session id (st-...)."),
        Column("start_time", TIMESTAMP, "When the session started (UTC)."),
        Column("end_time", TIMESTAMP, "When the session ended (UTC)."),
        Column("participant_count", INT, "Participants in the session."),
        Column("event_count", BIGINT, "Participant events archived for the session."),
        Column("archived_at", TIMESTAMP, "When the archive of this session was completed."),
        *PLACE_COLUMNS,
    ),
)

PARTICIPANTS = Table(
    "participants",
    "One row per participant of an archived session.",
    (
        _key("stage_arn", "ARN of the stage."),
        _key("session_id", "Stage session id."),
        _key("participant_id", "Participant id, unique within the session."),
        Column("user_id", STRING, "Customer-assigned user id from the participant token."),
        Column("state", STRING, "CONNECTED or DISCONNECTED."),
        Column("first_join_time", TIMESTAMP, "When the participant first joined."),
        Column("published", BOOLEAN, "Whether the participant ever published."),
        Column("attributes", STRING_MAP, "Token attributes (GetParticipant only)."),
        Column("recording_state", STRING, "Individual participant recording state."),
        Column("recording_s3_bucket_name", STRING, "Recording bucket (GetParticipant only)."),
        Column("recording_s3_prefix", STRING, "Recording prefix (GetParticipant only)."),
        Column("protocol", STRING, "Ingest protocol (GetParticipant only)."),
        Column("os_name", STRING, "Client OS name (GetParticipant only)."),
        Column("os_version", STRING, "Client OS version (GetParticipant only)."),
        Column("browser_name", STRING, "Client browser name (GetParticipant only)."),
        Column("browser_version", STRING, "Client browser version (GetParticipant only)."),
        Column("sdk_version", STRING, "IVS broadcast SDK version (GetParticipant only)."),
        Column("isp_name", STRING, "Client ISP (GetParticipant only)."),
        Column("replication_type", STRING, "SOURCE, REPLICA or NONE."),
        Column("replication_state", STRING, "ACTIVE or STOPPED."),
        Column("source_stage_arn", STRING, "For a replica: the stage it is replicated from."),
        Column("source_session_id", STRING, "For a replica: the session it is replicated from."),
        Column("redundant_ingest", BOOLEAN, "Whether the participant uses redundant ingest."),
        Column("ingest_configuration_arn", STRING, "Ingest configuration, for RTMP/WHIP ingest."),
        Column("event_count", INT, "Events archived for this participant."),
        *PLACE_COLUMNS,
    ),
)

PARTICIPANT_EVENTS = Table(
    "participant_events",
    "One row per participant event (ListParticipantEvents).",
    (
        _key("stage_arn", "ARN of the stage."),
        _key("session_id", "Stage session id."),
        _key("participant_id", "The participant the event belongs to."),
        Column("user_id", STRING, "The participant's user id."),
        _key("event_seq", "0-based position in the participant's event list.", INT),
        _key("event_name", "JOINED, LEFT, PUBLISH_STARTED, ... (see the IVS API)."),
        _key("event_time", "When the event happened (UTC).", TIMESTAMP),
        Column("remote_participant_id", STRING, "The other participant (subscribe events)."),
        Column("error_code", STRING, "Set on *_ERROR events."),
        Column("replica", BOOLEAN, "Whether the event is from a replicated participant."),
        Column("destination_stage_arn", STRING, "Replication events: the destination stage."),
        Column("destination_session_id", STRING, "Replication events: destination session."),
        Column("previous_token", TOKEN, "TOKEN_EXCHANGED: the token before the exchange."),
        Column("new_token", TOKEN, "TOKEN_EXCHANGED: the token after the exchange."),
        *PLACE_COLUMNS,
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (STAGE_SESSIONS, PARTICIPANTS, PARTICIPANT_EVENTS)}


def markdown_reference() -> str:
    """The README's column reference, generated from the tables above."""
    lines: list[str] = []
    for table in TABLES.values():
        lines += [f"**{table.name}** — {table.doc} Partitioned by `dt` (string, yyyy-MM-dd).", ""]
        lines += ["| column | type | description |", "|---|---|---|"]
        lines += [f"| {c.name} | `{c.type.glue}` | {c.doc} |" for c in table.columns]
        lines.append("")
    return "\n".join(lines)
