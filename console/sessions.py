"""`ivs-archive sessions`: the ledger's sessions, newest first, filtered by stage, status and
end time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from archiver.ledger import Status
from console.deployment import LEDGER, Deployment
from console.ledger_view import LedgerSession, sessions
from console.output import Output, iso, when

COLUMNS = [
    "session",
    "stage",
    "status",
    "ended (UTC)",
    "participants",
    "events",
    "attempts",
    "last error",
]


def select(
    found: list[LedgerSession], *, status: Status | None, since: datetime | None
) -> list[LedgerSession]:
    chosen = [
        s
        for s in found
        if (status is None or s.status is status)
        and (since is None or (s.ended is not None and s.ended >= since))
    ]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(chosen, key=lambda s: (s.ended or oldest, s.session_id), reverse=True)


def _utc(moment: datetime | None) -> datetime | None:
    """A time for the table: UTC, shown without its zone (the column says it)."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


def _document(session: LedgerSession) -> dict[str, Any]:
    return {
        "stage_arn": session.stage_arn,
        "stage_name": session.stage_name,
        "session_id": session.session_id,
        "status": session.status.value,
        "start_time": iso(session.start_time),
        "end_time": iso(session.end_time),
        "archived_at": iso(session.archived_at),
        "participants": session.participants,
        "events": session.events,
        "attempts": session.attempts,
        "last_error": session.last_error,
    }


def show(
    deployment: Deployment,
    out: Output,
    *,
    stage: str | None,
    status: Status | None,
    since: datetime | None,
) -> int:
    deployment.require(LEDGER)
    table = deployment.aws.resource("dynamodb").Table(deployment[LEDGER])
    chosen = select(sessions(table, stage), status=status, since=since)
    out.data([_document(s) for s in chosen])
    rows = [
        [
            s.session_id,
            s.stage,
            s.status.value,
            _utc(s.ended),
            s.participants,
            s.events,
            s.attempts,
            s.last_error or "",
        ]
        for s in chosen
    ]
    filters = [f"stage {stage}" if stage else "", status.value if status else ""]
    filters.append(f"ended since {when(since)}" if since else "")
    title = "ledger sessions" + "".join(f", {f}" for f in filters if f)
    out.table(title, COLUMNS, rows)
    return 0
