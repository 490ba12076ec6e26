"""`python -m bench storage`: how many bytes the archive takes, per session, per participant and
per event, for the cost estimate of docs/deployment.md.

Realistic scenarios of several shapes (the generator's: few sessions of many participants, many
of few) are landed as the worker lands them (Parquet, zstd, one chunk a session), and the landing
objects' bytes are fitted, by least squares, to a x sessions + b x participants + c x events.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from archiver.landing import FolderLanding
from local.generator import generate_scenario
from local.landed import land_session

# (stages, sessions per stage, participants per session): small meetings to big audiences.
SHAPES = ((4, 10, 4), (4, 10, 12), (2, 5, 60), (1, 3, 300), (2, 4, 30), (1, 2, 800))


def landed_bytes(stages: int, sessions: int, participants: int, seed: int) -> tuple[int, ...]:
    """(sessions, participants, events, bytes) of one scenario's landing objects."""
    scenario = generate_scenario(
        stages=stages, sessions=sessions, participants=participants, seed=seed
    )
    counts = [0, 0, 0]
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as folder:
        root = Path(folder)
        landing = FolderLanding(root)
        for stage in scenario["stages"]:
            for record in stage["sessions"]:
                if record.get("endTime") is None:
                    continue
                land_session(
                    landing,
                    stage["arn"],
                    stage["name"],
                    record,
                    archived_at=datetime(2026, 1, 1, tzinfo=UTC),
                    chunk_size=10_000,
                )
                counts[0] += 1
                counts[1] += len(record["participants"])
                counts[2] += sum(len(p["events"]) for p in record["participants"])
        size = sum(path.stat().st_size for path in root.rglob("*.parquet"))
    return (*counts, size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench storage", description=__doc__)
    parser.add_argument("--seed", type=int, default=1, help="seed of the scenarios (default 1)")
    args = parser.parse_args(argv)
    rows = [landed_bytes(*shape, seed=args.seed) for shape in SHAPES]
    print(f"{'sessions':>8} {'participants':>12} {'events':>8} {'bytes':>11}")
    for sessions, participants, events, size in rows:
        print(f"{sessions:>8,} {participants:>12,} {events:>8,} {size:>11,}")
    counts = np.array([row[:3] for row in rows], dtype=float)
    sizes = np.array([row[3] for row in rows], dtype=float)
    (per_session, per_participant, per_event), *_ = np.linalg.lstsq(counts, sizes, rcond=None)
    fitted = counts @ np.array([per_session, per_participant, per_event])
    worst = max(abs(fit - size) / size for fit, size in zip(fitted, sizes, strict=True))
    print(
        f"fit: {per_session:,.0f} bytes a session + {per_participant:,.0f} a participant + "
        f"{per_event:,.1f} an event (within {worst:.0%} of every scenario)"
    )
    return 0
