"""The archiver's one source of the current time (UTC).

Everything that stamps or compares a time (leases, claims, discovery's look-back and reconcile,
archived_at) asks here, so that a replay of a scenario in accelerated time can give the whole
pipeline the simulated time (local/simulator/clock.py) by replacing `now`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
