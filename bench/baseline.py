"""The loop a user would write first: one boto3 client with botocore's default retries, no rate
limiter, one call after another, every row in memory until one Parquet file per table.

It maps rows and writes Parquet with the archiver's own functions and asks for 100 items a page,
so it makes the same calls and writes the same rows: what differs is only how the calls are made.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from archiver.rows import Row, event_rows, participant_row, session_row
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from archiver.writer import SessionKeys, put_parquet


def _all(call: Any, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(maxResults=100, **params, **({"nextToken": token} if token else {}))
        items += page[key]
        token = page.get("nextToken")
        if not token:
            return items


def archive_session(
    ivs: Any, s3: Any, *, bucket: str, stage_arn: str, session_id: str, details: bool
) -> int:
    """Archive one ended session; returns the number of events written."""
    ids = {"stageArn": stage_arn, "sessionId": session_id}
    session = ivs.get_stage_session(**ids)["stageSession"]
    participants = _all(ivs.list_participants, "participants", **ids)
    people: list[Row] = []
    events: list[Row] = []
    for summary in participants:
        pid = summary["participantId"]
        participant = summary
        if details:
            participant = ivs.get_participant(**ids, participantId=pid)["participant"]
        fetched = _all(ivs.list_participant_events, "events", **ids, participantId=pid)
        rows = event_rows(stage_arn, session_id, pid, summary.get("userId"), fetched)
        people.append(participant_row(stage_arn, session_id, participant, event_count=len(rows)))
        events += rows
    keys = SessionKeys("", stage_arn, session_id, session["startTime"])
    put_parquet(s3, bucket, keys.participants(0), PARTICIPANTS, people)
    put_parquet(s3, bucket, keys.events(0), PARTICIPANT_EVENTS, events)
    name = ivs.get_stage(arn=stage_arn)["stage"].get("name")
    row = session_row(
        stage_arn,
        name,
        session,
        participant_count=len(people),
        event_count=len(events),
        archived_at=datetime.now(UTC),
    )
    put_parquet(s3, bucket, keys.session(), STAGE_SESSIONS, [row])
    return len(events)


def clients() -> tuple[Any, Any]:
    """boto3 clients as a user makes them: defaults everywhere (legacy retries, 10 connections)."""
    return boto3.client("ivs-realtime"), boto3.client("s3")
