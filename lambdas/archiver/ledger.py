"""The ledger in DynamoDB: how far each session's archive got (what discovery keeps between
runs is in archiver.discovery_state, in the same table).

Session items ("STAGE#<arn>", "SESSION#<id>"): status, start and end time, the stage's name,
chunk plan, chunks done, counts, attempts, lease, timestamps and last error.

Every transition is a conditional write, so two workers or two deliveries of the same message
cannot both think they own a session, and a dead worker leaves a state the next one resumes from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from archiver import clock


class Status(StrEnum):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    ARCHIVED = "ARCHIVED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"


FINAL = (Status.ARCHIVED, Status.EXPIRED)
# A claim with no progress for this long lost its message (dead-lettered after crashes, expired
# or purged) and may be claimed again; a deep backlog must not come close.
STALE_AFTER = timedelta(hours=24)
# An archive worker's hold on a session: longer than one invocation (15 min), so a live worker
# never loses it to a duplicate delivery.
LEASE = timedelta(minutes=16)
# A session that failed this many times is left to the operator (dead-letter queue, redrive):
# discovery does not queue it again by itself.
MAX_ATTEMPTS = 10


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> datetime:
    return clock.now()


def table_of(table_name: str, resource: Any = None) -> Any:
    return (resource or boto3.resource("dynamodb")).Table(table_name)


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


def items(call: Callable[..., dict[str, Any]], **request: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paged Query or Scan (`call` is the table's `query` or `scan`)."""
    while True:
        page = call(**request)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        request = request | {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def update_if(table: Any, **request: Any) -> bool:
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
    start_time: datetime | None = None
    end_time: datetime | None = None
    stage_name: str | None = None
    chunk_size: int | None = None
    participant_count: int | None = None
    chunks_done: set[int] = field(default_factory=set)
    events_by_chunk: dict[int, int] = field(default_factory=dict)
    attempts: int = 0
    last_error: str | None = None
    lease_owner: str | None = None

    @property
    def event_count(self) -> int:
        return sum(self.events_by_chunk.values())


@dataclass(frozen=True)
class KnownSession:
    """What discovery needs to know of a session in the ledger to decide whether to claim it."""

    status: Status
    attempts: int
    updated_at: datetime
    claimed_at: datetime | None
    queued: bool

    def claimable(self, *, now: datetime, run_started: datetime) -> bool:
        """Mirrors `Ledger.claim`'s condition (which stays the authority)."""
        if self.status is Status.FAILED:
            return self.attempts < MAX_ATTEMPTS
        if (
            self.status in (Status.PENDING, Status.IN_PROGRESS)
            and self.updated_at < now - STALE_AFTER
        ):
            return True
        return (
            self.status is Status.PENDING
            and not self.queued
            and self.claimed_at is not None
            and self.claimed_at < run_started
        )


class Ledger:
    def __init__(self, table_name: str, *, resource: Any = None) -> None:
        self.table = table_of(table_name, resource)

    @staticmethod
    def _key(stage_arn: str, session_id: str) -> dict[str, str]:
        return {"pk": f"STAGE#{stage_arn}", "sk": f"SESSION#{session_id}"}

    def known_sessions(self, stage_arn: str) -> dict[str, KnownSession]:
        """Every session of the stage in the ledger, by id (one query, not one read each)."""
        known: dict[str, KnownSession] = {}
        for item in items(
            self.table.query,
            KeyConditionExpression=Key("pk").eq(f"STAGE#{stage_arn}"),
            ProjectionExpression="sk, #status, attempts, updatedAt, claimedAt, queuedAt",
            ExpressionAttributeNames={"#status": "status"},
        ):
            known[str(item["sk"]).removeprefix("SESSION#")] = KnownSession(
                status=Status(item["status"]),
                attempts=int(item.get("attempts", 0)),
                updated_at=datetime.fromisoformat(str(item["updatedAt"])),
                claimed_at=time_of(item.get("claimedAt")),
                queued="queuedAt" in item,
            )
        return known

    def claim(
        self,
        stage_arn: str,
        session: dict[str, Any],
        *,
        stage_name: str | None = None,
        run_started: datetime | None = None,
        force: bool = False,
    ) -> bool:
        """Claim an ended session for archiving. False if it is archived, expired or in hand.

        A session can be claimed again when it failed (fewer than MAX_ATTEMPTS times, or
        `force`d by an operator), when its claim went stale (its worker died and its message was
        lost), or when an earlier discovery run (begun before `run_started`) claimed it but
        died before queueing it. Chunks already done stay done.
        """
        now = _now()
        values: dict[str, Any] = {
            ":pending": Status.PENDING.value,
            ":in_progress": Status.IN_PROGRESS.value,
            ":failed": Status.FAILED.value,
            ":now": iso(now),
            ":stale": iso(now - STALE_AFTER),
            ":run_started": iso(run_started or now),
        }
        # A failed session may be claimed again while it has attempts left; a forced one always.
        failed = "#status = :failed"
        if not force:
            failed += " AND (attribute_not_exists(attempts) OR attempts < :max_attempts)"
            values[":max_attempts"] = MAX_ATTEMPTS
        sets = ["#status = :pending", "claimedAt = :now", "updatedAt = :now"]
        # Known when the session was listed; a session claimed as "no longer active" gets them
        # from the archive worker.
        given = {
            "startTime": session.get("startTime"),
            "endTime": session.get("endTime"),
            "stageName": stage_name,
        }
        for name, value in given.items():
            if value is not None:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = iso(value) if isinstance(value, datetime) else value
        return update_if(
            self.table,
            Key=self._key(stage_arn, session["sessionId"]),
            UpdateExpression=f"SET {', '.join(sets)} REMOVE queuedAt",
            ConditionExpression=(
                "attribute_not_exists(sk) "
                f"OR ({failed}) "
                "OR (#status IN (:pending, :in_progress) AND updatedAt < :stale) "
                "OR (#status = :pending AND attribute_not_exists(queuedAt) "
                "AND claimedAt < :run_started)"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )

    def mark_queued(self, stage_arn: str, session_id: str) -> None:
        """Its message is on the work queue (a claim without this was never queued)."""
        self.table.update_item(
            Key=self._key(stage_arn, session_id),
            UpdateExpression="SET queuedAt = :now",
            ExpressionAttributeValues={":now": iso(_now())},
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
            start_time=time_of(item.get("startTime")),
            end_time=time_of(item.get("endTime")),
            stage_name=item.get("stageName"),
            chunk_size=int_of(item.get("chunkSize")),
            participant_count=int_of(item.get("participantCount")),
            chunks_done={int(n) for n in item.get("chunksDone", set())},
            events_by_chunk={int(k): int(v) for k, v in item.get("eventsByChunk", {}).items()},
            attempts=int(item.get("attempts", 0)),
            last_error=item.get("lastError"),
            lease_owner=item.get("leaseOwner"),
        )

    def start(
        self, stage_arn: str, session_id: str, *, owner: str, lease: timedelta
    ) -> SessionRecord | None:
        """Take the session's lease and mark it IN_PROGRESS. None if another worker holds it
        or the session is already archived or expired."""
        now = _now()
        if not update_if(
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
                ":until": iso(now + lease),
                ":now": iso(now),
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

    def chunk_done(
        self,
        stage_arn: str,
        session_id: str,
        chunk: int,
        events: int,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> None:
        """The chunk's objects are written. The session's times come along (a session claimed
        as "no longer active" had none)."""
        sets = "eventsByChunk.#chunk = :events, updatedAt = :now"
        values: dict[str, Any] = {
            ":events": events,
            ":now": iso(_now()),
            ":chunk_set": {Decimal(chunk)},
        }
        if start_time is not None and end_time is not None:
            sets += ", startTime = :start, endTime = :end"
            values |= {":start": iso(start_time), ":end": iso(end_time)}
        self.table.update_item(
            Key=self._key(stage_arn, session_id),
            UpdateExpression=f"SET {sets} ADD chunksDone :chunk_set",
            ExpressionAttributeNames={"#chunk": str(chunk)},
            ExpressionAttributeValues=values,
        )

    def release(self, stage_arn: str, session_id: str, owner: str) -> None:
        """Give the lease up (before handing the rest to a continuation)."""
        update_if(  # a lease already lost needs no giving up
            self.table,
            Key=self._key(stage_arn, session_id),
            UpdateExpression="REMOVE leaseOwner, leaseUntil SET updatedAt = :now",
            ConditionExpression="leaseOwner = :owner",
            ExpressionAttributeValues={":owner": owner, ":now": iso(_now())},
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
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> bool:
        """Move to a final (or FAILED) status; an ARCHIVED session never changes again."""
        values: dict[str, Any] = {
            ":status": status.value,
            ":now": iso(_now()),
            ":archived": Status.ARCHIVED.value,
        }
        sets = ["#status = :status", "updatedAt = :now"]
        if error is not None:
            sets.append("lastError = :error")
            values[":error"] = error[:1000]
        if archived_at is not None:
            sets.append("archivedAt = :archived_at")
            values[":archived_at"] = iso(archived_at)
        if event_count is not None:
            sets.append("eventCount = :events")
            values[":events"] = event_count
        if start_time is not None and end_time is not None:
            sets += ["startTime = :start", "endTime = :end"]
            values |= {":start": iso(start_time), ":end": iso(end_time)}
        return update_if(
            self.table,
            Key=self._key(stage_arn, session_id),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE leaseOwner, leaseUntil",
            ConditionExpression="attribute_not_exists(#status) OR #status <> :archived",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )

    def sessions(self, *attributes: str) -> list[dict[str, Any]]:
        """Every session item (for the local run's summary, the console and tests); only
        `attributes` of each, when given."""
        names = {f"#a{n}": name for n, name in enumerate(attributes)}
        projection = (
            {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
            if names
            else {}
        )
        return list(
            items(
                self.table.scan,
                FilterExpression="begins_with(sk, :session)",
                ExpressionAttributeValues={":session": "SESSION#"},
                **projection,
            )
        )


def int_of(value: Any) -> int | None:
    """An item's number attribute (a Decimal), or None when it has none."""
    return None if value is None else int(value)


def time_of(value: Any) -> datetime | None:
    """An item's time attribute (as `iso` wrote it), or None when it has none."""
    return datetime.fromisoformat(str(value)) if value else None
