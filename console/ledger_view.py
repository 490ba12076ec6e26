"""The ledger as the console reads it: the archiver's session items (archiver.ledger) and what
discovery records of its runs (archiver.discovery_state), read only, in the archiver's format."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from archiver.ledger import FINAL, Status, int_of, items, time_of

SESSION = "SESSION#"
STAGE = "STAGE#"


@dataclass(frozen=True)
class LedgerSession:
    stage_arn: str
    session_id: str
    status: Status
    stage_name: str | None
    start_time: datetime | None
    end_time: datetime | None
    claimed_at: datetime | None
    updated_at: datetime | None
    archived_at: datetime | None
    participants: int | None
    events: int | None
    attempts: int
    last_error: str | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> LedgerSession:
        events = int_of(item.get("eventCount"))
        if events is None and item.get("eventsByChunk"):  # so far, while being archived
            events = sum(int(n) for n in item["eventsByChunk"].values())
        return cls(
            stage_arn=str(item["pk"]).removeprefix(STAGE),
            session_id=str(item["sk"]).removeprefix(SESSION),
            status=Status(item["status"]),
            stage_name=item.get("stageName"),
            start_time=time_of(item.get("startTime")),
            end_time=time_of(item.get("endTime")),
            claimed_at=time_of(item.get("claimedAt")),
            updated_at=time_of(item.get("updatedAt")),
            archived_at=time_of(item.get("archivedAt")),
            participants=int_of(item.get("participantCount")),
            events=events,
            attempts=int(item.get("attempts", 0)),
            last_error=item.get("lastError"),
        )

    @property
    def stage(self) -> str:
        """The stage's name when the ledger knows it, else its id."""
        return self.stage_name or self.stage_arn.rsplit("/", 1)[-1]

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def ended(self) -> datetime | None:
        """When the session ended; for one claimed as "no longer active" before its times were
        read, when it was claimed (it ended before that)."""
        return self.end_time or self.claimed_at


def sessions(table: Any, stage_arn: str | None = None) -> list[LedgerSession]:
    """Every session item of the ledger (one stage's with `stage_arn`: a query, not a scan)."""
    if stage_arn is not None:
        found = items(
            table.query,
            KeyConditionExpression=Key("pk").eq(STAGE + stage_arn) & Key("sk").begins_with(SESSION),
        )
    else:
        found = items(table.scan, FilterExpression=Attr("sk").begins_with(SESSION))
    return [LedgerSession.from_item(item) for item in found]


@dataclass(frozen=True)
class LastRun:
    """The last scheduled discovery run (DiscoveryState.record_run)."""

    at: datetime
    stages_listed: int
    stages_checked: int
    enqueued: int


def last_run(table: Any) -> LastRun | None:
    item = table.get_item(Key={"pk": "DISCOVERY", "sk": "LAST_RUN"}, ConsistentRead=True).get(
        "Item"
    )
    if not item or not item.get("at"):
        return None
    return LastRun(
        at=datetime.fromisoformat(str(item["at"])),
        stages_listed=int(item.get("stagesListed", 0)),
        stages_checked=int(item.get("stagesChecked", 0)),
        enqueued=int(item.get("enqueued", 0)),
    )
