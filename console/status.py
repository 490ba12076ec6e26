"""`ivs-archive status`: is the archive keeping up? Sessions by ledger status, the oldest one not
archived, the archive lag of the last 24 hours, the queues, and discovery's last runs; and every
collector of the deployment, from the reports they write into the home (console.collectors)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from archiver import clock
from archiver.discovery_state import DiscoveryState, ReconcileState
from archiver.ledger import Ledger, Status
from console import collectors
from console.collectors import Collector, document
from console.deployment import (
    BUCKET,
    DEAD_LETTER_QUEUE,
    LEDGER,
    TABLES_LOCATION,
    WORK_QUEUE,
    Deployment,
)
from console.ledger_view import LastRun, LedgerSession, last_run, sessions
from console.output import Output, counted, duration, iso, when
from console.queues import Depth, depth
from console.redrive import DeadLetter, peek
from shared.percentiles import percentile

LAG_WINDOW = timedelta(hours=24)
# Dead-lettered messages status explains, one line each (redrive --dry-run lists every one).
DEAD_LETTERS_SHOWN = 20


@dataclass(frozen=True)
class Lag:
    sessions: int
    p50_s: float | None
    p95_s: float | None


def archive_lag(found: list[LedgerSession], now: datetime) -> Lag:
    """archivedAt - endTime of the sessions archived in the last 24 hours."""
    lags = [
        (s.archived_at - s.end_time).total_seconds()
        for s in found
        if s.status is Status.ARCHIVED
        and s.archived_at is not None
        and s.end_time is not None
        and s.archived_at >= now - LAG_WINDOW
    ]
    if not lags:
        return Lag(0, None, None)
    return Lag(len(lags), percentile(lags, 0.50), percentile(lags, 0.95))


def oldest_unarchived(found: list[LedgerSession]) -> LedgerSession | None:
    waiting = [s for s in found if not s.final and s.ended is not None]
    return min(waiting, key=lambda s: s.ended or datetime.max, default=None)


@dataclass(frozen=True)
class Report:
    by_status: dict[str, int]
    oldest: LedgerSession | None
    lag: Lag
    work_queue: Depth
    dead_letters: Depth
    # Why each dead-lettered message is there (the first DEAD_LETTERS_SHOWN).
    dead_letter_reasons: list[DeadLetter]
    last_run: LastRun | None
    reconcile: ReconcileState
    now: datetime


def gather(deployment: Deployment) -> Report:
    deployment.require(LEDGER, WORK_QUEUE, DEAD_LETTER_QUEUE)
    table = deployment.aws.resource("dynamodb").Table(deployment[LEDGER])
    sqs = deployment.client("sqs")
    found = sessions(table)
    now = clock.now()
    counts = Counter(s.status.value for s in found)
    dead = depth(sqs, deployment[DEAD_LETTER_QUEUE])
    reasons = []
    if dead.total:
        ledger = Ledger(deployment[LEDGER], resource=deployment.aws.resource("dynamodb"))
        reasons = peek(sqs, deployment[DEAD_LETTER_QUEUE], ledger, limit=DEAD_LETTERS_SHOWN)
    return Report(
        by_status={status.value: counts.get(status.value, 0) for status in Status},
        oldest=oldest_unarchived(found),
        lag=archive_lag(found, now),
        work_queue=depth(sqs, deployment[WORK_QUEUE]),
        dead_letters=dead,
        dead_letter_reasons=reasons,
        last_run=last_run(table),
        reconcile=DiscoveryState(
            deployment[LEDGER], resource=deployment.aws.resource("dynamodb")
        ).reconcile(),
        now=now,
    )


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return f"{when(moment)} ({duration((now - moment).total_seconds())} ago)"


def _document(deployment: Deployment, report: Report) -> dict[str, Any]:
    oldest = report.oldest
    return {
        "stack": deployment.stack,
        "region": deployment.aws.region_name,
        "sessions": report.by_status,
        "oldest_unarchived": None
        if oldest is None
        else {
            "stage_arn": oldest.stage_arn,
            "session_id": oldest.session_id,
            "status": oldest.status.value,
            "ended": iso(oldest.ended),
            "age_s": round((report.now - oldest.ended).total_seconds(), 3)
            if oldest.ended
            else None,
            "attempts": oldest.attempts,
            "last_error": oldest.last_error,
        },
        "archive_lag_24h": asdict(report.lag),
        "work_queue": asdict(report.work_queue),
        "dead_letter_queue": asdict(report.dead_letters)
        | {
            "messages": [
                {"stage_arn": d.stage_arn, "session_id": d.session_id, "reason": d.reason}
                for d in report.dead_letter_reasons
            ]
        },
        "last_discovery": None if report.last_run is None else asdict(report.last_run),
        "last_reconcile": {
            "completed_pass_started": iso(report.reconcile.last_complete),
            "pass_under_way_since": iso(report.reconcile.started),
            "cursor": report.reconcile.cursor,
        },
    }


def _lines(deployment: Deployment, report: Report) -> list[tuple[str, str]]:
    now = report.now
    counts = " · ".join(f"{k} {v:,}" for k, v in report.by_status.items() if v)
    lines = [("sessions", counts or "none in the ledger yet")]
    oldest = report.oldest
    if oldest is None:
        lines.append(("oldest unarchived", "none: every session in the ledger is archived"))
    else:
        age = duration((now - oldest.ended).total_seconds()) if oldest.ended else "?"
        tries = counted(oldest.attempts, "attempt")
        error = f"; last error: {oldest.last_error}" if oldest.last_error else ""
        lines.append(
            (
                "oldest unarchived",
                f"{oldest.session_id} of {oldest.stage}: ended {age} ago, "
                f"{oldest.status.value}, {tries}{error}",
            )
        )
    lag = report.lag
    if lag.p50_s is not None and lag.p95_s is not None:
        archived = f"{counted(lag.sessions, 'session')} archived"
        text = f"p50 {duration(lag.p50_s)} · p95 {duration(lag.p95_s)} ({archived})"
    else:
        text = "no session archived in the last 24 hours"
    lines.append(("archive lag (24 h)", text))
    queue = report.work_queue
    delayed = f" · {queue.delayed:,} delayed" if queue.delayed else ""
    lines.append(
        ("work queue", f"{queue.waiting:,} waiting · {queue.in_flight:,} in flight{delayed}")
    )
    dead = report.dead_letters
    lines.append(("dead letters", f"{dead.total:,}"))
    for letter in report.dead_letter_reasons:  # each, and why it can never succeed by itself
        session = letter.session_id or "(not a session)"
        lines.append(("", f"{session}: {letter.reason}"))
    if dead.total > len(report.dead_letter_reasons):
        more = dead.total - len(report.dead_letter_reasons)
        lines.append(("", f"and {more:,} more: `ivs-archive redrive --dry-run` lists every one"))
    run = report.last_run
    if run is None:
        text = "none recorded yet"
    else:
        text = (
            f"{_ago(run.at, now)}: {run.stages_listed:,} stages listed, the sessions of "
            f"{run.stages_checked:,} listed, {counted(run.enqueued, 'session')} queued"
        )
    lines.append(("last discovery", text))
    reconcile = report.reconcile
    text = _ago(reconcile.last_complete, now)
    if reconcile.started is not None:
        text += f"; a pass under way since {_ago(reconcile.started, now)}, at {reconcile.cursor}"
    lines.append(("last full reconcile", text))
    return lines


def show(
    deployment: Deployment, out: Output, *, account: str | None = None, region: str | None = None
) -> int:
    """This collector's state from its ledger and queues (a stack with a ledger), and every
    collector's last report into the home (`account`, `region`: only theirs). The home of a
    deployment with places has no ledger: it shows the collectors alone."""
    reports = _collectors(deployment, account, region)
    now = clock.now()
    if deployment.is_home:
        out.data({"stack": deployment.stack, "collectors": [document(c, now) for c in reports]})
    else:
        report = gather(deployment)
        out.data(
            _document(deployment, report) | {"collectors": [document(c, now) for c in reports]}
        )
        title = f"{deployment.stack} ({deployment.aws.region_name})"
        out.fields(title, _lines(deployment, report))
    _table(out, reports, now, account, region)
    return 0


def _collectors(deployment: Deployment, account: str | None, region: str | None) -> list[Collector]:
    """The collectors' reports in the home's bucket (none if the stack names no bucket)."""
    if deployment.missing(BUCKET, TABLES_LOCATION):
        return []
    found = collectors.read(deployment.client("s3"), deployment[BUCKET], deployment.prefix)
    return collectors.chosen(found, account, region)


def _table(
    out: Output, reports: list[Collector], now: datetime, account: str | None, region: str | None
) -> None:
    if not reports:
        where = " ".join(filter(None, [account, region]))
        out.line(
            f"collectors: none has reported{' in ' + where if where else ''} yet (each "
            "reports after its scheduled discovery runs)"
        )
        return
    rows = []
    for c in reports:
        if c.problem:
            rows.append([c.place, c.problem, "", "", "", ""])
            continue
        assert c.reported_at is not None
        age = duration((now - c.reported_at).total_seconds())
        reported = f"SILENT: {age} ago" if c.silent(now) else f"{age} ago"
        lag = "-" if c.lag_max_s is None else duration(c.lag_max_s)
        found = c.discovery.get("enqueued", 0)
        rows.append(
            [
                c.place,
                reported,
                f"{c.waiting:,} + {c.in_flight:,}",
                f"{c.dead_letters:,}",
                lag,
                f"{counted(int(found), 'session')} queued",
            ]
        )
    columns = ["place", "last report", "backlog (waiting + in flight)", "dead letters"]
    columns += ["lag, max of 1 h", "last discovery"]
    out.table("collectors", columns, rows)
