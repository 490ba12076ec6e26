"""`python -m bench year` (`make bench-year`): a simulated year of the archive, three layouts.

1. Build: every day's sessions (`bench.year_data`) written as landing objects under the
   contract's keys (worker processes), and committed into the local Iceberg tables with
   `archiver.commit.commit_sessions`, in the archive worker's batches. At each simulated day
   the snapshots older than `--retention-days` are expired, as the Glue retention optimizer does
   (it keeps 5 days; the default keeps 1, which makes the build's commits cheaper).
2. Measure files and bytes per table (total, per day) and the named queries' local time over the
   landing objects and over the tables before compaction.
3. Compact every day's partition of every table in one commit (`local.compaction`, the stand-in
   for the Glue compaction optimizer; the tables side by side), timing each and counting the
   bytes it rewrote.
4. Measure again over the compacted tables; print tables and ratios; write JSON (default
   bench/results/year.json). Exit status 1 when the layouts' answers differ.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.year_data import Landed, YearShape, commit_groups, land_day
from bench.year_queries import Timing, named, time_query, widened

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "ivs_stage_archive"
TABLE_NAMES = ("stage_sessions", "participants", "participant_events")
FILES_GOAL = 3  # at most this many files per table per day after compaction
SPEEDUP_GOAL = 10.0  # the 365-day query over the compacted tables vs the landing objects
LONG_WINDOW = 365
LAYOUTS = ("landing", "tables_before", "tables_after")
# AWS Glue pricing: table optimizers are billed $0.44 per DPU-hour, per second, 1-minute minimum.
GLUE_USD_PER_DPU_HOUR = 0.44
GLUE_MINIMUM_HOURS = 1 / 60


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


def glue_estimate(days: int) -> dict[str, Any]:
    """An estimate, not a measurement: one compaction run per table per day at the billing
    minimum (1 DPU for 1 minute), and the same again for each of the other two optimizers."""
    runs = len(TABLE_NAMES) * days
    compaction = runs * GLUE_MINIMUM_HOURS
    return {
        "estimate": True,
        "usd_per_dpu_hour": GLUE_USD_PER_DPU_HOUR,
        "assumption": "one run per table per day per optimizer, each 1 DPU for the 1-minute "
        "minimum; a run of 2 DPUs for 5 minutes costs 10 times as much",
        "compaction_runs": runs,
        "compaction_dpu_hours": round(compaction, 2),
        "compaction_usd": round(compaction * GLUE_USD_PER_DPU_HOUR, 2),
        "all_optimizers_usd": round(3 * compaction * GLUE_USD_PER_DPU_HOUR, 2),
    }


def _parser() -> argparse.ArgumentParser:
    shape = YearShape()
    parser = argparse.ArgumentParser(prog="python -m bench year", description=__doc__)
    parser.add_argument("--days", type=int, default=shape.days)
    parser.add_argument("--stages", type=int, default=shape.stages)
    parser.add_argument("--sessions", type=int, default=shape.sessions_per_day, help="per day")
    parser.add_argument(
        "--participants", type=int, default=shape.participants, help="mean per session"
    )
    parser.add_argument("--batch", type=int, default=shape.batch, help="sessions per commit")
    parser.add_argument("--seed", type=int, default=shape.seed)
    parser.add_argument("--runs", type=int, default=3, help="query runs (median)")
    parser.add_argument(
        "--queries",
        default="errors_by_code,sessions_per_day",
        help="named queries (queries/*.sql), the first is the goal's",
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        default=1,
        help="simulated days of snapshots kept while building (the optimizer keeps 5; each "
        "commit's cost grows with the snapshots a table keeps)",
    )
    parser.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--dir", type=Path, help="keep the archive here (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "year.json")
    return parser


def _shape(args: argparse.Namespace, parser: argparse.ArgumentParser) -> YearShape:
    names = ("days", "stages", "sessions", "participants", "batch", "runs", "workers")
    for name in (*names, "retention_days"):
        if getattr(args, name) < 1:
            parser.error(f"argument --{name.replace('_', '-')}: must be at least 1")
    return YearShape(
        days=args.days,
        stages=args.stages,
        sessions_per_day=args.sessions,
        participants=args.participants,
        batch=args.batch,
        seed=args.seed,
    )


def _time_layout(
    results: dict[str, Any], layout: str, directory: Path, names: list[str], today: date, runs: int
) -> None:
    for name in names:
        for window in (30, LONG_WINDOW):
            timing: Timing = time_query(directory, widened(named(name), window), today, runs)
            results.setdefault(name, {}).setdefault(str(window), {})[layout] = timing.as_dict()
            print(
                f"  {name:<18} {window:>4} days  {layout:<14} {timing.connect_s:>8.3f}"
                f" {timing.cold_s:>8.3f} {timing.warm_s:>8.3f} {timing.total_s:>8.3f}"
                f" {timing.rows:>6}",
                flush=True,
            )


def _ratio(slow: float, fast: float) -> float:
    return round(slow / fast, 1) if fast > 0 else float("inf")


def ratios(queries: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, windows in queries.items():
        for window, layouts in windows.items():
            land, before, after = (layouts[layout] for layout in LAYOUTS)
            out.setdefault(name, {})[window] = {
                "landing/after": _ratio(land["total_s"], after["total_s"]),
                "landing/before": _ratio(land["total_s"], before["total_s"]),
                "before/after": _ratio(before["total_s"], after["total_s"]),
                "landing/after_warm": _ratio(land["warm_s"], after["warm_s"]),
                "same_answers": len({layouts[layout]["answer"] for layout in LAYOUTS}) == 1,
            }
    return out


def _print_files(files: dict[str, dict[str, Any]]) -> None:
    print(f"{'table':<20}" + "".join(f"{layout:>36}" for layout in LAYOUTS))
    print(f"{'':<20}" + f"{'files':>10}{'/day':>7}{'max/day':>8}{'MB':>11}" * len(LAYOUTS))
    for name in TABLE_NAMES:
        cells = []
        for layout in LAYOUTS:
            s = files[layout][name]
            cells.append(
                f"{s['files']:>10,}{s['per_day']['mean']:>7.1f}{s['per_day']['max']:>8}"
                f"{s['bytes'] / 1e6:>11.1f}"
            )
        print(f"{name:<20}" + "".join(cells))


def main(argv: list[str] | None = None) -> int:
    from local.tables import open_tables

    parser = _parser()
    args = parser.parse_args(argv)
    shape = _shape(args, parser)
    names = [n for n in args.queries.split(",") if n]
    for name in names:
        try:
            widened(named(name), LONG_WINDOW)
        except (KeyError, ValueError) as error:
            parser.error(f"argument --queries: {name}: {error}")
    print(
        f"{shape.days} days from {shape.first_day}, {shape.sessions_per_day} sessions a day on "
        f"{shape.stages} stages (~{shape.participants} participants each), commits of "
        f"{shape.batch} sessions; {os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-year-"))
    if work.exists() and args.dir is not None:
        shutil.rmtree(work)
    landing, tables = work / "landing", work / "tables"
    dts = [(shape.first_day + timedelta(days=i)).isoformat() for i in range(shape.days)]
    started = time.perf_counter()
    try:
        catalog = open_tables(tables)
        # One process commits; the others write landing objects.
        made = build(shape, landing, catalog, max(1, args.workers - 1), args.retention_days)
        print(
            f"built: {made.sessions:,} sessions, {made.commits:,} commits in "
            f"{made.elapsed_s:.0f} s (landing {made.land_s:.0f} s over {max(1, args.workers - 1)} "
            f"worker(s), commits {made.commit_s:.0f} s, expiry {made.expire_s:.0f} s)",
            flush=True,
        )
        files = {"landing": landing_files(landing), "tables_before": table_files(catalog)}
        queries: dict[str, Any] = {}
        today = shape.last_day
        print(
            f"queries (median of {args.runs}; seconds)   "
            f"{'connect':>8} {'cold':>8} {'warm':>8} {'total':>8} {'rows':>6}"
        )
        _time_layout(queries, "landing", landing, names, today, args.runs)
        _time_layout(queries, "tables_before", tables, names, today, args.runs)
        print("compacting every day's partition of every table ...", flush=True)
        compaction = compact(catalog, tables, dts, args.workers)
        files["tables_after"] = table_files(catalog)
        _time_layout(queries, "tables_after", tables, names, today, args.runs)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    summary = {
        layout: {n: s.summary(dts) for n, s in stats.items()} for layout, stats in files.items()
    }
    _print_files(summary)
    found = ratios(queries)
    goal_query = names[0]
    max_after = max(summary["tables_after"][n]["per_day"]["max"] for n in TABLE_NAMES)
    speedup = found[goal_query][str(LONG_WINDOW)]["landing/after"]
    same = all(r["same_answers"] for windows in found.values() for r in windows.values())
    goals = {
        "max_files_per_table_per_day_after": max_after,
        "files_goal": FILES_GOAL,
        "files_goal_met": max_after <= FILES_GOAL,
        "query": goal_query,
        "speedup_365": speedup,
        "speedup_goal": SPEEDUP_GOAL,
        "speedup_goal_met": speedup >= SPEEDUP_GOAL,
        "same_answers": same,
    }
    print(
        f"compaction: {compaction['elapsed_s']:.0f} s, {compaction['commits']:,} commits, "
        f"{compaction['seconds_per_day']['mean']:.3f} s and "
        f"{compaction['bytes_rewritten_per_day']['mean'] / 1e6:.2f} MB read per day (3 tables)"
    )
    for name, windows in found.items():
        for window, r in windows.items():
            print(
                f"ratios {name} {window} days: landing/after {r['landing/after']}x, "
                f"landing/before {r['landing/before']}x, before/after {r['before/after']}x, "
                f"warm landing/after {r['landing/after_warm']}x, same answers: "
                f"{'yes' if r['same_answers'] else 'NO'}"
            )
    print(
        f"goals: at most {FILES_GOAL} files per table per day after compaction: {max_after} "
        f"({'met' if goals['files_goal_met'] else 'NOT met'}); {goal_query} over {LONG_WINDOW} "
        f"days at least {SPEEDUP_GOAL:g}x faster than over the landing objects: {speedup}x "
        f"({'met' if goals['speedup_goal_met'] else 'NOT met'})"
    )
    report = {
        "shape": asdict(shape) | {"first_day": shape.first_day.isoformat()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "build": asdict(made) | {"rows": dict(made.rows)},
        "files": summary,
        "compaction": compaction,
        "glue_estimate": glue_estimate(shape.days),
        "queries": queries,
        "ratios": found,
        "goals": goals,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({report['elapsed_s']:.0f} s)")
    if not same:
        print("ERROR: the layouts answered differently", file=sys.stderr)
        return 1
    return 0
