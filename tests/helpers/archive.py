"""Reading an archive folder back, and what it should hold, computed from the scenario alone."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from archiver.schema import TABLES

Key = tuple[str, ...]
# Options of an embedded pipeline with no quota (tps 0) and a budget the archiver never reaches:
# as fast as the machine allows.
UNLIMITED: dict[str, Any] = {"tps": 0.0, "budget": 1000.0}


def iso(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def ended_sessions(scenario: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (stage, session)
        for stage in scenario["stages"]
        for session in stage["sessions"]
        if session.get("endTime") is not None
    ]


def _plain(value: Any) -> Any:
    """Parquet maps come back as lists of pairs: make them dicts, recursively."""
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return dict(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def read_table(directory: Path, table: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((directory / table).rglob("*.parquet")):
        data = pq.read_table(path, partitioning=None)
        assert data.schema.equals(TABLES[table].arrow_schema, check_metadata=False), path
        rows += [{k: _plain(v) for k, v in row.items()} for row in data.to_pylist()]
    return rows


def _token(token: dict[str, Any] | None) -> dict[str, Any] | None:
    if token is None:
        return None
    return {
        "capabilities": token.get("capabilities"),
        "attributes": token.get("attributes"),
        "user_id": token.get("userId"),
        "expiration_time": iso(token.get("expirationTime")),
    }


def expected_events(scenario: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    expected: dict[Key, dict[str, Any]] = {}
    for stage, session in ended_sessions(scenario):
        for participant in session["participants"]:
            for seq, event in enumerate(participant["events"]):
                key = (stage["arn"], session["sessionId"], participant["participantId"], str(seq))
                expected[key] = {
                    "stage_arn": stage["arn"],
                    "session_id": session["sessionId"],
                    "participant_id": participant["participantId"],
                    "user_id": participant.get("userId"),
                    "event_seq": seq,
                    "event_name": event["name"],
                    "event_time": iso(event["eventTime"]),
                    "remote_participant_id": event.get("remoteParticipantId"),
                    "error_code": event.get("errorCode"),
                    "replica": event.get("replica"),
                    "destination_stage_arn": event.get("destinationStageArn"),
                    "destination_session_id": event.get("destinationSessionId"),
                    "previous_token": _token(event.get("previousToken")),
                    "new_token": _token(event.get("newToken")),
                    **_place(stage["arn"]),
                }
    return expected


def _place(stage_arn: str) -> dict[str, str]:
    """The place columns a row of this stage holds: its ARN's account and region."""
    _, _, _, region, account, _ = stage_arn.split(":")
    return {"account_id": account, "region": region}


# ParticipantSummary members: what ListParticipants gives when participant details are off.
SUMMARY_COLUMNS = {
    "participant_id": "participantId",
    "user_id": "userId",
    "state": "state",
    "first_join_time": "firstJoinTime",
    "published": "published",
    "recording_state": "recordingState",
    "replication_type": "replicationType",
    "replication_state": "replicationState",
    "source_stage_arn": "sourceStageArn",
    "source_session_id": "sourceSessionId",
    "redundant_ingest": "redundantIngest",
    "ingest_configuration_arn": "ingestConfigurationArn",
}
DETAIL_COLUMNS = {
    "attributes": "attributes",
    "recording_s3_bucket_name": "recordingS3BucketName",
    "recording_s3_prefix": "recordingS3Prefix",
    "protocol": "protocol",
    "os_name": "osName",
    "os_version": "osVersion",
    "browser_name": "browserName",
    "browser_version": "browserVersion",
    "sdk_version": "sdkVersion",
    "isp_name": "ispName",
}


def expected_participants(scenario: dict[str, Any], *, details: bool) -> dict[Key, dict[str, Any]]:
    expected: dict[Key, dict[str, Any]] = {}
    for stage, session in ended_sessions(scenario):
        for p in session["participants"]:
            row: dict[str, Any] = {
                "stage_arn": stage["arn"],
                "session_id": session["sessionId"],
                "event_count": len(p["events"]),
                **_place(stage["arn"]),
            }
            for column, member in SUMMARY_COLUMNS.items():
                row[column] = p.get(member)
            for column, member in DETAIL_COLUMNS.items():
                row[column] = p.get(member) if details else None
            row["first_join_time"] = iso(p.get("firstJoinTime"))
            expected[(stage["arn"], session["sessionId"], p["participantId"])] = row
    return expected


def expected_sessions(scenario: dict[str, Any]) -> dict[Key, dict[str, Any]]:
    return {
        (stage["arn"], session["sessionId"]): {
            "stage_arn": stage["arn"],
            "stage_id": stage["arn"].rsplit("/", 1)[-1],
            "stage_name": stage.get("name"),
            "session_id": session["sessionId"],
            "start_time": iso(session["startTime"]),
            "end_time": iso(session["endTime"]),
            "participant_count": len(session["participants"]),
            "event_count": sum(len(p["events"]) for p in session["participants"]),
            **_place(stage["arn"]),
        }
        for stage, session in ended_sessions(scenario)
    }


def read_query_table(tables_dir: Path, table: str) -> list[dict[str, Any]]:
    """A query table's current rows (the Iceberg table in `tables_dir`/catalog.db), without the
    `dt` column, in the landing objects' form (timestamps in UTC)."""
    from archiver.catalog import open_catalog, sqlite_uri

    catalog = open_catalog(sqlite_uri(tables_dir))
    data = catalog.load_table(("ivs_stage_archive", table)).scan().to_arrow()
    data = data.drop_columns(["dt"]).cast(TABLES[table].arrow_schema)
    return [{k: _plain(v) for k, v in row.items()} for row in data.to_pylist()]


KEYS = {
    "stage_sessions": ("stage_arn", "session_id"),
    "participants": ("stage_arn", "session_id", "participant_id"),
    "participant_events": ("stage_arn", "session_id", "participant_id", "event_seq"),
}


def assert_tables_equal_landing(tables_dir: Path, landing: Path) -> None:
    """Each query table holds exactly the landing objects' rows: every session once, whole."""
    for table, columns in KEYS.items():
        committed = keyed(read_query_table(tables_dir, table), *columns)  # fails on a duplicate
        landed = keyed(read_table(landing, table), *columns)
        if table == "stage_sessions":  # a retried finish rewrites its row with a new time
            committed = {k: {**v, "archived_at": None} for k, v in committed.items()}
            landed = {k: {**v, "archived_at": None} for k, v in landed.items()}
        assert committed == landed, table


def keyed(rows: list[dict[str, Any]], *columns: str) -> dict[Key, dict[str, Any]]:
    result: dict[Key, dict[str, Any]] = {}
    for row in rows:
        key = tuple(str(row[c]) for c in columns)
        assert key not in result, f"duplicate row {key}"
        result[key] = row
    return result


def events_by_key(directory: Path) -> dict[Key, dict[str, Any]]:
    """The archived participant events, keyed like `expected_events` (fails on a duplicate)."""
    return keyed(
        read_table(directory, "participant_events"),
        "stage_arn",
        "session_id",
        "participant_id",
        "event_seq",
    )


def metric_total(stdout: str, name: str) -> float:
    """The sum of metric `name` over the EMF records the handlers printed."""
    total = 0.0
    for line in stdout.splitlines():
        if line.startswith('{"_aws"'):
            value = json.loads(line).get(name, 0)
            total += sum(value) if isinstance(value, list) else value
    return total
