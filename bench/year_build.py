"""The three layouts of a simulated year, made as the archive makes them: each day's landing
objects (worker processes) committed in the worker's batches into the local Iceberg tables, then
every day's partition compacted in one commit; and the data files each layout holds."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.year_data import Landed, YearShape, commit_groups, land_day

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

NAMESPACE = "ivs_stage_archive"
TABLE_NAMES = ("stage_sessions", "participants", "participant_events")


@dataclass
class FileStats:
    """Data files of one table in one layout."""

    files: int = 0
    bytes: int = 0
    per_day: Counter[str] = field(default_factory=Counter)
    bytes_per_day: Counter[str] = field(default_factory=Counter)

    def add(self, dt: str, size: int) -> None:
        self.files += 1
        self.bytes += size
        self.per_day[dt] += 1
        self.bytes_per_day[dt] += size

    def summary(self, days: list[str]) -> dict[str, Any]:
        counts = [self.per_day.get(day, 0) for day in days] or [0]
        return {
            "files": self.files,
            "bytes": self.bytes,
            "per_day": {
                "mean": round(self.files / len(counts), 2),
                "min": min(counts),
                "max": max(counts),
            },
        }


def landing_files(root: Path) -> dict[str, FileStats]:
    stats = {name: FileStats() for name in TABLE_NAMES}
    for name in TABLE_NAMES:
        for path in (root / name).rglob("*.parquet"):
            dt = next(p for p in path.relative_to(root).parts if p.startswith("dt="))[3:]
            stats[name].add(dt, path.stat().st_size)
    return stats


def table_files(catalog: Catalog) -> dict[str, FileStats]:
    """The current snapshot's data files of each table, by partition."""
    stats = {name: FileStats() for name in TABLE_NAMES}
    for name in TABLE_NAMES:
        for task in catalog.load_table((NAMESPACE, name)).scan().plan_files():
            stats[name].add(str(task.file.partition[0]), task.file.file_size_in_bytes)
    return stats


def _expire(catalog: Catalog, before: datetime) -> None:
    """What the Glue retention optimizer does (metadata only here; the files stay)."""
    for name in TABLE_NAMES:
        table = catalog.load_table((NAMESPACE, name))
        table.maintenance.expire_snapshots().older_than(before).commit()


@dataclass
class Build:
    sessions: int = 0
    rows: Counter[str] = field(default_factory=Counter)
    commits: int = 0
    land_s: float = 0.0  # summed over the worker processes
    commit_s: float = 0.0
    expire_s: float = 0.0
    elapsed_s: float = 0.0


def _land_timed(shape: YearShape, root: Path, index: int) -> tuple[list[Landed], float]:
    started = time.perf_counter()
    landed = land_day(shape, index, root)
    return landed, time.perf_counter() - started


def build(
    shape: YearShape, landing: Path, catalog: Catalog, workers: int, retention_days: int
) -> Build:
    from archiver.commit import commit_sessions
    from archiver.landing import FolderLanding

    result = Build()
    started = time.perf_counter()
    read = FolderLanding(landing).read
    first_ms = _midnight_ms(shape.first_day)
    marks: dict[int, datetime] = {}  # simulated day -> wall clock when its first commit began

    def days(pool_days: Iterable[tuple[list[Landed], float]]) -> Iterator[list[Landed]]:
        for landed, seconds in pool_days:
            result.land_s += seconds
            result.sessions += len(landed)
            for item in landed:
                result.rows.update(item.rows)
            yield landed

    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        made = pool.imap(partial(_land_timed, shape, landing), range(shape.days))
        for group in commit_groups(days(made), shape.batch):
            day = (group[0].archived_ms - first_ms) // 86_400_000
            if day not in marks:
                marks[day] = datetime.now(UTC)
                old = marks.get(day - retention_days)
                if old is not None:
                    expiring = time.perf_counter()
                    _expire(catalog, old)
                    result.expire_s += time.perf_counter() - expiring
            committing = time.perf_counter()
            commit_sessions(catalog, NAMESPACE, [item.session for item in group], read)
            result.commit_s += time.perf_counter() - committing
            result.commits += 1
            if result.commits % 200 == 0:
                print(
                    f"  {result.sessions:,} sessions landed, {result.commits:,} commits "
                    f"({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
    result.elapsed_s = time.perf_counter() - started
    return result


def _midnight_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _compact_table(tables: Path, name: str, dts: list[str]) -> dict[str, float]:
    """Every partition of one table compacted in turn; seconds per partition."""
    from archiver.catalog import open_catalog, sqlite_uri
    from local.compaction import compact_partition

    table = open_catalog(sqlite_uri(tables)).load_table((NAMESPACE, name))
    seconds = {}
    for index, dt in enumerate(dts):
        began = time.perf_counter()
        compact_partition(table, dt)
        seconds[dt] = time.perf_counter() - began
        if index % 10 == 9:  # a compaction run's snapshots are expired too (retention)
            table.maintenance.expire_snapshots().older_than(datetime.now(UTC)).commit()
            table.refresh()
    return seconds


def compact(catalog: Catalog, tables: Path, dts: list[str], workers: int) -> dict[str, Any]:
    """Every day's partition of every table rewritten in one commit (the tables side by side,
    each in a process of its own); what it cost per day, over the three tables."""
    before = table_files(catalog)
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(TABLE_NAMES))) as pool:
        # the events table first: the biggest, it sets the elapsed time
        order = sorted(TABLE_NAMES, key=lambda n: -before[n].bytes)
        per_table = pool.map(partial(_compact_table, tables, dts=dts), order, chunksize=1)
    elapsed = time.perf_counter() - started
    seconds = dict.fromkeys(dts, 0.0)
    for table_seconds in per_table:
        for dt, spent in table_seconds.items():
            seconds[dt] += spent
    after = table_files(catalog)
    read: Counter[str] = Counter()
    written: Counter[str] = Counter()
    commits = 0
    for name in TABLE_NAMES:
        for dt, count in before[name].per_day.items():
            if count > 1:  # compact_partition leaves a day in one file alone
                commits += 1
                read[dt] += before[name].bytes_per_day[dt]
                written[dt] += after[name].bytes_per_day[dt]
    per_day = [seconds[dt] for dt in dts] or [0.0]
    return {
        "elapsed_s": round(elapsed, 2),
        "processes": min(workers, len(TABLE_NAMES)),
        "commits": commits,
        "seconds_per_day": {
            "mean": round(statistics.mean(per_day), 4),
            "median": round(statistics.median(per_day), 4),
            "max": round(max(per_day), 4),
        },
        "bytes_read": sum(read.values()),
        "bytes_written": sum(written.values()),
        "bytes_rewritten_per_day": {
            "mean": round(sum(read.values()) / max(1, len(dts))),
            "max": max(read.values(), default=0),
        },
    }
