"""`python -m bench commits`: what one commit into the Iceberg query tables costs as snapshots pile
up. Each commit reads and rewrites a table's metadata, which lists every snapshot kept: so the
archive keeps one day of them (infra/tables.py, SNAPSHOT_RETENTION_DAYS).

Small sessions (the generator's, a few participants each) are landed once, then committed one at
a time with `archiver.commit.commit_sessions` into a local SQL catalog (pyiceberg, SQLite), as a
worker commits them; the time of each commit of the three tables is kept, and printed at the
snapshot counts asked for (`--at`).
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench commits", description=__doc__)
    parser.add_argument(
        "--at",
        default="10,300,600",
        help="snapshot counts to report, comma-separated (default 10,300,600)",
    )
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
    figures = measure(at)
    print("snapshots per table  commit of the three tables (median of 5)")
    for n, seconds in figures.items():
        print(f"{n:>19,}  {seconds:.2f} s")
    if args.out:
        document: dict[str, Any] = {"commit_s": {str(n): round(s, 3) for n, s in figures.items()}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document, indent=2) + "\n")
    return 0
