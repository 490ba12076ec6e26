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
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.year_build import NAMESPACE, TABLE_NAMES, build, compact, landing_files, table_files
from bench.year_data import YearShape
from bench.year_queries import Timing, named, time_query, widened

__all__ = ["LAYOUTS", "LONG_WINDOW", "NAMESPACE", "TABLE_NAMES", "main"]

ROOT = Path(__file__).resolve().parent.parent
FILES_GOAL = 3  # at most this many files per table per day after compaction
SPEEDUP_GOAL = 10.0  # the 365-day query over the compacted tables vs the landing objects
LONG_WINDOW = 365
LAYOUTS = ("landing", "tables_before", "tables_after")
# AWS Glue pricing: table optimizers are billed $0.44 per DPU-hour, per second, 1-minute minimum.
GLUE_USD_PER_DPU_HOUR = 0.44
GLUE_MINIMUM_HOURS = 1 / 60


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


def _work_folder(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Path:
    if args.dir is None:
        return Path(tempfile.mkdtemp(prefix="bench-year-"))
    if args.dir.exists() and (not args.dir.is_dir() or any(args.dir.iterdir())):
        parser.error(f"argument --dir: {args.dir} exists and is not an empty folder")
    args.dir.mkdir(parents=True, exist_ok=True)
    return Path(args.dir)


def measure(
    shape: YearShape, work: Path, names: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    """Builds the year under `work`, compacts it, and measures the three layouts."""
    from local.tables import open_tables

    landing, tables = work / "landing", work / "tables"
    dts = [(shape.first_day + timedelta(days=i)).isoformat() for i in range(shape.days)]
    catalog = open_tables(tables)
    # One process commits; the others write landing objects.
    writers = max(1, args.workers - 1)
    made = build(shape, landing, catalog, writers, args.retention_days)
    print(
        f"built: {made.sessions:,} sessions, {made.commits:,} commits in {made.elapsed_s:.0f} s "
        f"(landing {made.land_s:.0f} s over {writers} process(es), commits "
        f"{made.commit_s:.0f} s, snapshot expiry {made.expire_s:.0f} s)",
        flush=True,
    )
    files = {"landing": landing_files(landing), "tables_before": table_files(catalog)}
    queries: dict[str, Any] = {}
    print(
        f"queries (median of {args.runs}; seconds)   "
        f"{'connect':>8} {'cold':>8} {'warm':>8} {'total':>8} {'rows':>6}"
    )
    _time_layout(queries, "landing", landing, names, shape.last_day, args.runs)
    _time_layout(queries, "tables_before", tables, names, shape.last_day, args.runs)
    print("compacting every day's partition of every table ...", flush=True)
    compaction = compact(catalog, tables, dts, args.workers)
    files["tables_after"] = table_files(catalog)
    _time_layout(queries, "tables_after", tables, names, shape.last_day, args.runs)
    summary = {
        layout: {n: s.summary(dts) for n, s in stats.items()} for layout, stats in files.items()
    }
    found = ratios(queries)
    return {
        "shape": asdict(shape) | {"first_day": shape.first_day.isoformat()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "build": asdict(made) | {"rows": dict(made.rows)},
        "files": summary,
        "compaction": compaction,
        "glue_estimate": glue_estimate(shape.days),
        "queries": queries,
        "ratios": found,
        "goals": goals(summary, found, names[0]),
    }


def goals(summary: dict[str, Any], found: dict[str, Any], query: str) -> dict[str, Any]:
    max_after = max(summary["tables_after"][n]["per_day"]["max"] for n in TABLE_NAMES)
    speedup = found[query][str(LONG_WINDOW)]["landing/after"]
    return {
        "max_files_per_table_per_day_after": max_after,
        "files_goal": FILES_GOAL,
        "files_goal_met": max_after <= FILES_GOAL,
        "query": query,
        "speedup_365": speedup,
        "speedup_goal": SPEEDUP_GOAL,
        "speedup_goal_met": speedup >= SPEEDUP_GOAL,
        "same_answers": all(
            r["same_answers"] for windows in found.values() for r in windows.values()
        ),
    }


def _print_summary(report: dict[str, Any]) -> None:
    _print_files(report["files"])
    compaction = report["compaction"]
    print(
        f"compaction: {compaction['elapsed_s']:.0f} s in {compaction['processes']} processes, "
        f"{compaction['commits']:,} commits; per day (3 tables) "
        f"{compaction['seconds_per_day']['mean']:.2f} s, "
        f"{compaction['bytes_rewritten_per_day']['mean'] / 1e6:.2f} MB read"
    )
    for name, windows in report["ratios"].items():
        for window, r in windows.items():
            print(
                f"ratios {name} {window} days: landing/after {r['landing/after']}x, "
                f"landing/before {r['landing/before']}x, before/after {r['before/after']}x, "
                f"warm landing/after {r['landing/after_warm']}x, same answers: "
                f"{'yes' if r['same_answers'] else 'NO'}"
            )
    g = report["goals"]
    print(
        f"goals: at most {FILES_GOAL} files per table per day after compaction: "
        f"{g['max_files_per_table_per_day_after']} ({'met' if g['files_goal_met'] else 'NOT met'}"
        f"); {g['query']} over {LONG_WINDOW} days at least {SPEEDUP_GOAL:g}x faster than over "
        f"the landing objects: {g['speedup_365']}x "
        f"({'met' if g['speedup_goal_met'] else 'NOT met'})"
    )
    glue = report["glue_estimate"]
    print(
        f"Glue optimizers in AWS, an estimate ({glue['assumption']}): for "
        f"{report['shape']['days']} days, compaction {glue['compaction_dpu_hours']:.2f} "
        f"DPU-hours, ${glue['compaction_usd']:.2f}; the three optimizers "
        f"${glue['all_optimizers_usd']:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    shape = _shape(args, parser)
    names = [n for n in args.queries.split(",") if n]
    if not names:
        parser.error("argument --queries: give at least one named query")
    for name in names:
        try:
            widened(named(name), LONG_WINDOW)
        except (KeyError, ValueError) as error:
            parser.error(f"argument --queries: {name}: {error}")
    work = _work_folder(args, parser)
    print(
        f"{shape.days} days from {shape.first_day}, {shape.sessions_per_day} sessions a day on "
        f"{shape.stages} stages (~{shape.participants} participants each), commits of "
        f"{shape.batch} sessions; {os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    started = time.perf_counter()
    try:
        report = measure(shape, work, names, args)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    report["elapsed_s"] = round(time.perf_counter() - started, 1)
    _print_summary(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({report['elapsed_s']:.0f} s)")
    if not report["goals"]["same_answers"]:
        print("ERROR: the layouts answered differently", file=sys.stderr)
        return 1
    return 0
