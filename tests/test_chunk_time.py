"""A worker starts another chunk only with the time that chunk needs at its rate."""

from __future__ import annotations

from typing import Any

from archiver.archiving import SessionArchiver
from archiver.settings import Settings


def _archiver(**env: str) -> SessionArchiver:
    base = {"ARCHIVE_BUCKET": "bucket", "LEDGER_TABLE": "ledger", "WORK_QUEUE_URL": "q"}
    settings = Settings.from_env(base | env)
    none: Any = None
    return SessionArchiver(settings, none, none, none, none)


def test_defaults_leave_a_whole_chunk_at_the_workers_share_of_the_quota() -> None:
    # 500 participants at 4 TPS shared by 2 workers: 250 s of calls, 312.5 s with the margin.
    archiver = _archiver(API_TPS_BUDGET="4", ARCHIVE_CONCURRENCY="2", CHUNK_SIZE="500")
    assert archiver._time_for(500) == 312_500


def test_min_remaining_is_a_floor() -> None:
    archiver = _archiver(API_TPS_BUDGET="100", MIN_REMAINING_MS="120000")
    assert archiver._time_for(500) == 120_000
