"""`python -m bench commits`: what one commit into the Iceberg query tables costs as snapshots pile
up, and (`--committers N`) what N writers committing at once into the same tables get done.

Each commit reads and rewrites a table's metadata, which lists every snapshot kept: so the
archive keeps one day of them (infra/tables.py, SNAPSHOT_RETENTION_DAYS). Small sessions (the
generator's, a few participants each) are landed once, then committed with
`archiver.commit.commit_sessions` into a local SQL catalog (pyiceberg, SQLite), as a worker
commits them. Alone: one session a commit, and the time of each commit of the three tables is
printed at the snapshot counts asked for (`--at`). With `--committers N`: N processes commit
rounds of `--batch` sessions each back to back, as N busy collectors would (each its own
sessions); printed are the rounds a second they get done together, a round's median and
95th-percentile time, and the commits redone because another writer committed first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from archiver.commit import LandedSession, commit_sessions
from archiver.landing import FolderLanding
from local.generator import generate_scenario
from local.landed import land_session
from local.tables import NAMESPACE, open_tables

ARCHIVED_AT = "2026-01-01T00:00:00+00:00"


def _sessions(count: int, landing: FolderLanding) -> list[LandedSession]:
    """`count` small ended sessions, landed as the worker lands them."""
    from datetime import datetime

    stages = max(1, count // 50)
    scenario = generate_scenario(
        stages=stages, sessions=-(-count // stages), participants=4, seed=11
    )
    landed: list[LandedSession] = []
    for stage in scenario["stages"]:
        for record in stage["sessions"]:
            if record.get("endTime") is None or len(landed) == count:
                continue
            session, _ = land_session(
                landing,
                stage["arn"],
                stage["name"],
                record,
                archived_at=datetime.fromisoformat(ARCHIVED_AT),
                chunk_size=500,
            )
            landed.append(session)
    return landed


def measure(at: list[int], repeat: int = 5) -> dict[int, float]:
    """Seconds a commit of one session into the three tables takes when each already holds
    n snapshots, for each n of `at` (the median of `repeat` commits from n on)."""
    with tempfile.TemporaryDirectory(prefix="bench-commits-") as folder:
        root = Path(folder)
        landing = FolderLanding(root)
        sessions = _sessions(max(at) + repeat, landing)
        catalog = open_tables(root)
        times: list[float] = []
        for session in sessions:
            started = time.perf_counter()
            commit_sessions(catalog, NAMESPACE, [session], landing.read)
            times.append(time.perf_counter() - started)
    return {n: statistics.median(times[n : n + repeat]) for n in at}


def _committer(
    root: str, sessions: list[LandedSession], batch: int, start: Any
) -> tuple[list[float], int]:
    """One writer: its sessions in rounds of `batch`, committed back to back from `start` (a
    barrier all writers pass together). The time of each round, and its conflicts."""
    landing = FolderLanding(Path(root))
    catalog = open_tables(Path(root))
    start.wait()
    times, conflicts = [], 0
    for first in range(0, len(sessions), batch):
        began = time.perf_counter()
        report = commit_sessions(catalog, NAMESPACE, sessions[first : first + batch], landing.read)
        times.append(time.perf_counter() - began)
        conflicts += report.conflicts
    return times, conflicts


def concurrent(committers: int, rounds: int, batch: int) -> dict[str, float]:
    """`committers` processes each committing `rounds` rounds of `batch` sessions at once."""
    import multiprocessing

    with tempfile.TemporaryDirectory(prefix="bench-commits-") as folder:
        root = Path(folder)
        sessions = _sessions(committers * rounds * batch, FolderLanding(root))
        open_tables(root)  # created once, before the writers race
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            start = manager.Barrier(committers)
            shares = [sessions[n::committers] for n in range(committers)]
            with context.Pool(committers) as pool:
                began = time.perf_counter()
                results = pool.starmap(
                    _committer, [(folder, share, batch, start) for share in shares]
                )
                elapsed = time.perf_counter() - began
    times = sorted(t for round_times, _ in results for t in round_times)
    return {
        "rounds_per_s": round(len(times) / elapsed, 2),
        "round_s_p50": round(statistics.median(times), 2),
        "round_s_p95": round(times[max(0, int(0.95 * len(times)) - 1)], 2),
        "conflicts": sum(c for _, c in results),
        "rounds": len(times),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench commits", description=__doc__)
    parser.add_argument(
        "--at",
        default="10,300,600",
        help="snapshot counts to report, comma-separated (default 10,300,600)",
    )
    parser.add_argument(
        "--committers",
        default="",
        help="instead: writers committing at once, comma-separated counts (e.g. 1,2,4,8)",
    )
    parser.add_argument("--rounds", type=int, default=10, help="rounds per writer (default 10)")
    parser.add_argument("--batch", type=int, default=5, help="sessions a round (default 5)")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        at = sorted({int(n) for n in args.at.split(",")})
    except ValueError:
        parser.error(f"--at: whole numbers, comma-separated, got {args.at!r}")
    if not at or at[0] < 0:
        parser.error("--at: snapshot counts of 0 or more")
    if args.committers:
        try:
            counts = [int(n) for n in args.committers.split(",")]
        except ValueError:
            parser.error(f"--committers: whole numbers, comma-separated, got {args.committers!r}")
        print(
            "writers  rounds/s  round p50  round p95  conflicts  (rounds of "
            f"{args.batch} sessions, {args.rounds} a writer)"
        )
        found = {}
        for count in counts:
            found[count] = concurrent(count, args.rounds, args.batch)
            f = found[count]
            print(
                f"{count:>7}  {f['rounds_per_s']:>8.2f}  {f['round_s_p50']:>8.2f}s"
                f"  {f['round_s_p95']:>8.2f}s  {f['conflicts']:>9}"
            )
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"committers": found}, indent=2) + "\n")
        return 0
    figures = measure(at)
    print("snapshots per table  commit of the three tables (median of 5)")
    for n, seconds in figures.items():
        print(f"{n:>19,}  {seconds:.2f} s")
    if args.out:
        document: dict[str, Any] = {"commit_s": {str(n): round(s, 3) for n, s in figures.items()}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2) + "\n")
    return 0
