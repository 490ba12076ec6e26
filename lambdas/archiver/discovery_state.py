"""What discovery keeps in the ledger table between runs (the sessions themselves are in
archiver.ledger).

Items (pk, sk):
- ("STAGES", "<arn>"): the stage's name and activeSessionId at the last look.
- ("DISCOVERY", "RECONCILE"): when the last full reconcile began that went through every stage,
  and, while one is under way, its cursor (the last stage ARN it listed) and when it began.
- ("DISCOVERY", "LEASE"): the run that holds discovery: one at a time, without reserved
  concurrency (which a new account's Lambda quota refuses).
- ("DISCOVERY", "LAST_RUN"): when the last scheduled run that looked at ListStages ended, and
  what it did (for the operator's `ivs-archive status`).
- ("DISCOVERY", "PACE"): discovery's share of the IVS quota (an allowance of calls per
  operation, archiver.discovery.QuotaShare), and the last look at ListStages: when, how many
  pages it took, how many stages had a live session.
- ("HINTS", "<arn>"): a stage named by an IVS event while another run held the lease; the next
  run (or the holder, between stages) lists that stage first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from archiver.ledger import iso, items, table_of, time_of, update_if

# A hint from an event that named no session: list the stage.
ANY_SESSION = "*"


@dataclass(frozen=True)
class StageSeen:
    active_session_id: str | None
    name: str | None


@dataclass(frozen=True)
class ReconcileState:
    last_complete: datetime | None  # when the last pass through every stage began
    cursor: str | None = None  # the last stage ARN listed by the pass under way
    started: datetime | None = None  # when the pass under way began


@dataclass
class Allowance:
    """Discovery's allowance of one IVS operation's calls (archiver.discovery.QuotaShare)."""

    calls: float  # calls it may make at `at` (below 0: owed, after a listing or a 429)
    at: float  # when, in seconds since the epoch (the real time: the quota's)
    throttled: int = 0  # runs in a row that met a 429 on this operation


@dataclass
class Pace:
    """What paces discovery from one run to the next."""

    allowances: dict[str, Allowance] = field(default_factory=dict)
    looked_at: datetime | None = None  # the last complete look at ListStages (archiver.clock)
    look_pages: int = 1  # the ListStages pages that look took
    live: int = 0  # the stages that had a live session at that look


class DiscoveryState:
    def __init__(self, table_name: str, *, resource: Any = None) -> None:
        self.table = table_of(table_name, resource)

    # --- stages -------------------------------------------------------------------------------
    def stages(self) -> dict[str, StageSeen]:
        """Every stage seen -> its name and activeSessionId at the last look."""
        return {
            str(item["sk"]): StageSeen(item.get("activeSessionId"), item.get("name"))
            for item in self._query("STAGES", "sk, activeSessionId, #name", {"#name": "name"})
        }

    def record_stage(self, stage_arn: str, seen: StageSeen, at: datetime) -> None:
        self.table.put_item(
            Item={
                "pk": "STAGES",
                "sk": stage_arn,
                "activeSessionId": seen.active_session_id,
                "name": seen.name,
                "seenAt": iso(at),
            }
        )

    # --- the reconcile ------------------------------------------------------------------------
    def reconcile(self) -> ReconcileState:
        item = self.table.get_item(
            Key={"pk": "DISCOVERY", "sk": "RECONCILE"}, ConsistentRead=True
        ).get("Item")
        if not item:
            return ReconcileState(None)
        return ReconcileState(
            time_of(item.get("at")), item.get("cursor"), time_of(item.get("passStartedAt"))
        )

    def save_cursor(self, cursor: str, started: datetime) -> None:
        self.table.update_item(
            Key={"pk": "DISCOVERY", "sk": "RECONCILE"},
            UpdateExpression="SET #cursor = :cursor, passStartedAt = :started",
            ExpressionAttributeNames={"#cursor": "cursor"},
            ExpressionAttributeValues={":cursor": cursor, ":started": iso(started)},
        )

    def complete_reconcile(self, started: datetime) -> None:
        self.table.put_item(Item={"pk": "DISCOVERY", "sk": "RECONCILE", "at": iso(started)})

    def record_run(self, at: datetime, *, listed: int, checked: int, enqueued: int) -> None:
        self.table.put_item(
            Item={
                "pk": "DISCOVERY",
                "sk": "LAST_RUN",
                "at": iso(at),
                "stagesListed": listed,
                "stagesChecked": checked,
                "enqueued": enqueued,
            }
        )

    # --- the pace -----------------------------------------------------------------------------
    def pace(self) -> Pace:
        item = self.table.get_item(Key={"pk": "DISCOVERY", "sk": "PACE"}, ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return Pace()
        allowances = {
            str(operation): Allowance(
                float(saved["calls"]), float(saved["at"]), int(saved.get("throttled", 0))
            )
            for operation, saved in (item.get("allowances") or {}).items()
        }
        return Pace(
            allowances,
            time_of(item.get("lookedAt")),
            int(item.get("lookPages", 1)),
            int(item.get("live", 0)),
        )

    def save_pace(self, pace: Pace) -> None:
        item: dict[str, Any] = {
            "pk": "DISCOVERY",
            "sk": "PACE",
            "allowances": {
                operation: {
                    "calls": _number(allowance.calls),
                    "at": _number(allowance.at),
                    "throttled": allowance.throttled,
                }
                for operation, allowance in pace.allowances.items()
            },
            "lookPages": pace.look_pages,
            "live": pace.live,
        }
        if pace.looked_at is not None:
            item["lookedAt"] = iso(pace.looked_at)
        self.table.put_item(Item=item)

    # --- the lease ----------------------------------------------------------------------------
    def take_lease(self, owner: str, now: datetime, until: datetime) -> bool:
        """Hold discovery until `until`, unless another run holds it."""
        return update_if(
            self.table,
            Key={"pk": "DISCOVERY", "sk": "LEASE"},
            UpdateExpression="SET #owner = :owner, #until = :until",
            ConditionExpression="attribute_not_exists(#until) OR #until < :now OR #owner = :owner",
            ExpressionAttributeNames={"#owner": "owner", "#until": "until"},
            ExpressionAttributeValues={":owner": owner, ":until": iso(until), ":now": iso(now)},
        )

    def release_lease(self, owner: str) -> None:
        update_if(
            self.table,
            Key={"pk": "DISCOVERY", "sk": "LEASE"},
            UpdateExpression="REMOVE #owner, #until",
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner", "#until": "until"},
            ExpressionAttributeValues={":owner": owner},
        )

    # --- hints --------------------------------------------------------------------------------
    def add_hint(self, stage_arn: str, session_id: str | None, at: datetime) -> None:
        """Remember that an IVS event named this stage (and session: ANY_SESSION if none)."""
        self.table.update_item(
            Key={"pk": "HINTS", "sk": stage_arn},
            UpdateExpression="ADD sessions :session SET #at = :at",
            ExpressionAttributeNames={"#at": "at"},
            ExpressionAttributeValues={":session": {session_id or ANY_SESSION}, ":at": iso(at)},
        )

    def hints(self) -> dict[str, set[str]]:
        """Stage ARN -> the session ids its hints named."""
        return {
            str(item["sk"]): {str(s) for s in item.get("sessions", ())}
            for item in self._query("HINTS", "sk, sessions")
        }

    def clear_hint(self, stage_arn: str, sessions: set[str]) -> None:
        """Forget a stage's hint, unless an event named another session since it was read."""
        try:
            self.table.delete_item(
                Key={"pk": "HINTS", "sk": stage_arn},
                ConditionExpression="attribute_not_exists(sessions) OR sessions = :read",
                ExpressionAttributeValues={":read": sessions or {ANY_SESSION}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def _query(
        self, pk: str, projection: str, names: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(pk),
            "ProjectionExpression": projection,
            "ConsistentRead": True,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        return list(items(self.table.query, **request))


def _number(value: float) -> Decimal:
    """A float as DynamoDB takes it (through boto3's resource: a Decimal), to the millisecond."""
    return Decimal(str(round(value, 3)))


def lease_until(now: datetime, remaining_ms: int) -> datetime:
    """A run holds discovery until its invocation ends (plus a little for clock skew)."""
    return now + timedelta(milliseconds=remaining_ms) + timedelta(seconds=5)
