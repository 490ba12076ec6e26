"""A local stand-in for the Glue compaction optimizer: one day's partition rewritten as few
large files, sorted, in one commit. In AWS the Glue Data Catalog's optimizer does this; no code
of ours compacts there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from archiver.schema import PARTITION_COLUMN

if TYPE_CHECKING:
    from pyiceberg.table import Table as IcebergTable

SORT_COLUMNS = ("stage_arn", "session_id", "participant_id", "event_seq")
COMPACTION_PROPERTY = "ivs-stage-archive.compacted"


def _expressions() -> Any:
    """pyiceberg's row filters (its pydantic-built constructors do not type-check as called)."""
    import pyiceberg.expressions

    return pyiceberg.expressions


def data_files(table: IcebergTable, dt: str | None = None) -> int:
    """The current snapshot's data files (of one day when `dt` is given)."""
    ex = _expressions()
    row_filter = ex.EqualTo(PARTITION_COLUMN, dt) if dt is not None else ex.AlwaysTrue()
    return sum(1 for _ in table.scan(row_filter=row_filter).plan_files())


def compact_partition(table: IcebergTable, dt: str) -> tuple[int, int]:
    """Rewrites the `dt` partition's rows in one commit; (files before, files after). A day
    already in one file is left alone."""
    before = data_files(table, dt)
    if before <= 1:
        return before, before
    day = _expressions().EqualTo(PARTITION_COLUMN, dt)
    rows = table.scan(row_filter=day).to_arrow()
    order: list[tuple[str, Literal["ascending", "descending"]]] = [
        (c, "ascending") for c in SORT_COLUMNS if c in rows.column_names
    ]
    table.overwrite(
        rows.sort_by(order), overwrite_filter=day, snapshot_properties={COMPACTION_PROPERTY: dt}
    )
    table.refresh()
    return before, data_files(table, dt)
