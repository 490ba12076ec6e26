"""The ledger in DynamoDB: what discovery has seen and how far each session's archive got.

Items (pk, sk):
- ("STAGES", "<arn>"): the stage's activeSessionId at the last discovery.
- ("STAGE#<arn>", "SESSION#<id>"): a session's status, chunk plan, chunks done, counts,
  attempts, lease, timestamps and last error.
- ("DISCOVERY", "RECONCILE"): when the last full reconcile ran.

Every transition is a conditional write, so two workers or two deliveries of the same message
cannot both think they own a session, and a dead worker leaves a state the next one resumes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError


class Status(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    ARCHIVED = "ARCHIVED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


FINAL = (Status.ARCHIVED, Status.EXPIRED)
# A claim older than this with no progress is abandoned and may be claimed again.
STALE_AFTER = timedelta(hours=2)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC)


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _update_if(table: Any, **request: Any) -> bool:
    """A conditional update_item: False when its condition does not hold."""
    try:
        table.update_item(**request)
    except ClientError as exc:
        if _conditional_failed(exc):
            return False
        raise
    return True


@dataclass
class SessionRecord:
    stage_arn: str
    session_id: str
    status: Status
    chunk_size: int | None = None
    participant_count: int | None = None
    chunks_done: set[int] = field(default_factory=set)
    events_by_chunk: dict[int, int] = field(default_factory=dict)
    attempts: int = 0
    last_error: str | None = None

    @property
    def event_count(self) -> int:
        return sum(self.events_by_chunk.values())


class Ledger:
    def __init__(self, table_name: str, *, resource: Any = None) -> None:
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)

    # --- stages -------------------------------------------------------------------------------
    def last_active_sessions(self) -> dict[str, str | None]:
        """Every known stage -> its activeSessionId at the last discovery."""
        seen: dict[str, str | None] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq("STAGES"),
            "ProjectionExpression": "sk, activeSessionId",
        }
        while True:
            page = self.table.query(**kwargs)
            for item in page["Items"]:
                seen[str(item["sk"])] = item.get("activeSessionId")
            if "LastEvaluatedKey" not in page:
                return seen
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def record_stage(self, stage_arn: str, active_session_id: str | None) -> None:
        self.table.put_item(
            Item={
                "pk": "STAGES",
                "sk": stage_arn,
                "activeSessionId": active_session_id,
                "seenAt": _iso(_now()),
            }
        )

    def last_reconcile(self) -> datetime | None:
        item = self.table.get_item(Key={"pk": "DISCOVERY", "sk": "RECONCILE"}).get("Item")
        return datetime.fromisoformat(str(item["at"])) if item else None

    def record_reconcile(self, at: datetime) -> None:
        self.table.put_item(Item={"pk": "DISCOVERY", "sk": "RECONCILE", "at": _iso(at)})

    # --- sessions -----------------------------------------------------------------------------
    @staticmethod
    def _key(stage_arn: str, session_id: str) -> dict[str, str]:
        return {"pk": f"STAGE#{stage_arn}", "sk": f"SESSION#{session_id}"}

    def claim(self, stage_arn: str, session: dict[str, Any]) -> bool:
        """Claim an ended session for archiving. False if it is archived, expired or in hand.

        A session that failed, or whose claim went stale (its worker died and its message was
        lost), can be claimed again; chunks already done stay done.
        """
        now = _now()
        return _update_if(
            self.table,
            Key=self._key(stage_arn, session["sessionId"]),
            UpdateExpression=(
                "SET #status = :pending, startTime = :start, endTime = :end, "
                "claimedAt = :now, updatedAt = :now"
            ),
            ConditionExpression=(
                "attribute_not_exists(sk) OR #status = :failed OR "
                "(#status IN (:pending, :in_progress) AND updatedAt < :stale)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":pending": Status.PENDING.value,
                ":in_progress": Status.IN_PROGRESS.value,
                ":failed": Status.FAILED.value,
                ":start": _iso(session["startTime"]),
                ":end": _iso(session["endTime"]),
                ":now": _iso(now),
                ":stale": _iso(now - STALE_AFTER),
            },
        )

    def get(self, stage_arn: str, session_id: str) -> SessionRecord | None:
        item = self.table.get_item(Key=self._key(stage_arn, session_id), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            return None
        return SessionRecord(
            stage_arn=stage_arn,
            session_id=session_id,
            status=Status(item["status"]),
            chunk_size=_int(item.get("chunkSize")),
            participant_count=_int(item.get("participantCount")),
            chunks_done={int(n) for n in item.get("chunksDone", set())},
            events_by_chunk={int(k): int(v) for k, v in item.get("eventsByChunk", {}).items()},
            attempts=int(item.get("attempts", 0)),
            last_error=item.get("lastError"),
        )

    def start(
        self, stage_arn: str, session_id: str, *, owner: str, lease: timedelta
    ) -> SessionRecord | None:
        """Take the session's lease and mark it IN_PROGRESS. None if another worker holds it
        or the session is already archived or expired."""
        now = _now()
        if not _update_if(
            self.table,
            Key=self._key(stage_arn, session_id),
            UpdateExpression=(
                "SET #status = :in_progress, leaseOwner = :owner, leaseUntil = :until, "
                "updatedAt = :now, eventsByChunk = if_not_exists(eventsByChunk, :empty) "
                "ADD attempts :one"
            ),
            ConditionExpression=(
                "(attribute_not_exists(#status) OR NOT #status IN (:archived, :expired)) AND "
                "(attribute_not_exists(leaseUntil) OR leaseUntil < :now OR leaseOwner = :owner)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":in_progress": Status.IN_PROGRESS.value,
                ":archived": Status.ARCHIVED.value,
                ":expired": Status.EXPIRED.value,
                ":owner": owner,
                ":until": _iso(now + lease),
                ":now": _iso(now),
                ":empty": {},
                ":one": 1,
            },
        ):
            return None
        return self.get(stage_arn, session_id)

    def plan(self, stage_arn: str, session_id: str, *, chunk_size: int, participants: int) -> int:
        """Fix the chunk size on first sight; later invocations keep the first one."""
        response = self.table.update_item(
            Key=self._key(stage_arn, session_id),
            UpdateExpression=(
                "SET chunkSize = if_not_exists(chunkSize, :size), participantCount = :count"
            ),
            ExpressionAttributeValues={":size": chunk_size, ":count": participants},
            ReturnValues="ALL_NEW",
        )
        return int(response["Attributes"]["chunkSize"])

    def chunk_done(self, stage_arn: str, session_id: str, chunk: int, events: int) -> None:
        self.table.update_item(
            Key=self._key(stage_arn, session_id),
            UpdateExpression="SET eventsByChunk.#chunk = :events, updatedAt = :now "
            "ADD chunksDone :chunk_set",
            ExpressionAttributeNames={"#chunk": str(chunk)},
            ExpressionAttributeValues={
                ":events": events,
                ":now": _iso(_now()),
                ":chunk_set": {Decimal(chunk)},
            },
        )

    def release(self, stage_arn: str, session_id: str, owner: str) -> None:
        """Give the lease up (before handing the rest to a continuation)."""
        _update_if(  # a lease already lost needs no giving up
            self.table,
            Key=self._key(stage_arn, session_id),
            UpdateExpression="REMOVE leaseOwner, leaseUntil SET updatedAt = :now",
            ConditionExpression="leaseOwner = :owner",
            ExpressionAttributeValues={":owner": owner, ":now": _iso(_now())},
        )

    def finish(
        self,
        stage_arn: str,
        session_id: str,
        status: Status,
        *,
        error: str | None = None,
        archived_at: datetime | None = None,
        event_count: int | None = None,
    ) -> bool:
        """Move to a final (or FAILED) status; an ARCHIVED session never changes again."""
        values: dict[str, Any] = {
            ":status": status.value,
            ":now": _iso(_now()),
            ":archived": Status.ARCHIVED.value,
        }
        sets = ["#status = :status", "updatedAt = :now"]
        if error is not None:
            sets.append("lastError = :error")
            values[":error"] = error[:1000]
        if archived_at is not None:
            sets.append("archivedAt = :archived_at")
            values[":archived_at"] = _iso(archived_at)
        if event_count is not None:
            sets.append("eventCount = :events")
            values[":events"] = event_count
        return _update_if(
            self.table,
            Key=self._key(stage_arn, session_id),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE leaseOwner, leaseUntil",
            ConditionExpression="attribute_not_exists(#status) OR #status <> :archived",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )

    def sessions(self) -> list[dict[str, Any]]:
        """Every session item (for the local run's summary and tests)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "begins_with(sk, :session)",
            "ExpressionAttributeValues": {":session": "SESSION#"},
        }
        while True:
            page = self.table.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
