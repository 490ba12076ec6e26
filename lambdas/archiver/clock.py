"""The archiver's one source of the current time (UTC).

Everything that stamps or compares a time (leases, claims, discovery's look-back and reconcile,
archived_at) asks here, so that a replay of a scenario in accelerated time can give the whole
pipeline the simulated time (local/simulator/clock.py) with `use`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Source = Callable[[], datetime]


def _wall() -> datetime:
    return datetime.now(UTC)


_source: Source = _wall


def now() -> datetime:
    return _source()


def use(source: Source | None) -> Source:
    """Take the time from `source` (None: the wall clock again); the source used until now."""
    global _source
    previous, _source = _source, source or _wall
    return previous
