"""A new ledger learns from the tables what is already archived: a collector deployed again over
a retained archive (its earlier ledger left behind by `cdk destroy`) would otherwise have
discovery claim, and the workers fetch again, every session of the look-back window. The
`Custom::LedgerSeed` resource runs this once, when the collector is created; commits would skip
those sessions anyway (archiver.commit), so the seed spares IVS calls, it is not what keeps the
rows exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from archiver.catalog import expressions
from archiver.ledger import Ledger, Status
from archiver.schema import STAGE_SESSIONS

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

COLUMNS = ("stage_arn", "session_id", "start_time", "end_time", "event_count", "archived_at")


def place_arn_prefix(account: str, region: str) -> str:
    """The start of every stage ARN of one place (account, region)."""
    return f"arn:aws:ivs:{region}:{account}:stage/"


def seed_ledger(
    catalog: Catalog,
    namespace: str,
    ledger: Ledger,
    *,
    account: str,
    region: str,
    since: datetime,
) -> int:
    """Marks ARCHIVED in `ledger` each session of this place in the stage_sessions table that
    ended at or after `since` (discovery looks no further back); the number newly marked."""
    ex = expressions()
    table = catalog.load_table((namespace, STAGE_SESSIONS.name))
    rows = table.scan(
        row_filter=ex.StartsWith("stage_arn", place_arn_prefix(account, region)),
        selected_fields=COLUMNS,
    ).to_arrow()
    marked = 0
    for row in rows.to_pylist():
        end = _utc(row["end_time"])
        if end is None or end < since:
            continue
        marked += ledger.finish(
            row["stage_arn"],
            row["session_id"],
            Status.ARCHIVED,
            archived_at=_utc(row["archived_at"]),
            event_count=row["event_count"],
            start_time=_utc(row["start_time"]),
            end_time=end,
        )
    return marked


def lookback_start(now: datetime, lookback_days: int) -> datetime:
    return now - timedelta(days=lookback_days)


def _utc(moment: datetime | None) -> datetime | None:
    """The tables hold UTC wall-clock timestamps (no zone)."""
    return None if moment is None else moment.replace(tzinfo=UTC)
