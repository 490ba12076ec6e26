"""A worker takes on only the chunks its invocation has the time to finish at its rate, and
sizes chunks so that one always fits well inside an invocation (issue: settings that could
never finish, such as archiveConcurrency=20 or chunkSize=10000)."""

from __future__ import annotations

from typing import Any

from archiver.admission import Admission
from archiver.invocation import Invocation, Shared
from archiver.settings import Settings

BASE = {"ARCHIVE_BUCKET": "bucket", "LEDGER_TABLE": "ledger", "WORK_QUEUE_URL": "q"}


def _invocation(remaining_ms: int = 900_000, **env: str) -> Invocation:
    settings = Settings.from_env(BASE | env)
    none: Any = None
    shared = Shared(settings, none, none, none, none, none, none, none)
    return Invocation(shared, lambda: remaining_ms)


def test_defaults_keep_the_configured_chunk_size() -> None:
    # 500 participants at 4 TPS shared by 2 workers: 312.5 s of calls, within half of 780 s.
    invocation = _invocation(API_TPS_BUDGET="4", ARCHIVE_CONCURRENCY="2", CHUNK_SIZE="500")
    assert invocation.chunk_size == 500
    assert invocation.admission.calls_ms(500) == 312_500


def test_twenty_workers_get_chunks_that_fit_an_invocation() -> None:
    # 0.2 calls a second per worker: 62 participants (387.5 s of calls) per chunk, not 500.
    invocation = _invocation(API_TPS_BUDGET="4", ARCHIVE_CONCURRENCY="20", CHUNK_SIZE="500")
    assert invocation.chunk_size == 62
    assert invocation.admission.calls_ms(62) <= (900_000 - 120_000) / 2


def test_a_chunk_size_of_ten_thousand_is_lowered_to_what_fits() -> None:
    invocation = _invocation(API_TPS_BUDGET="4", ARCHIVE_CONCURRENCY="2", CHUNK_SIZE="10000")
    assert invocation.chunk_size == 624


def test_a_chunk_is_admitted_only_with_the_time_to_finish_it() -> None:
    remaining = [900_000]
    admission = Admission(2.0, lambda: remaining[0], 120_000)
    assert admission.admit(500)  # 312.5 s of 780 s
    assert admission.admit(500)  # 625 s
    assert not admission.admit(500)  # 937.5 s: more than the invocation has
    admission.done(500)
    assert admission.admit(500)  # the first chunk's calls are done: room again
    remaining[0] = 100_000
    assert not admission.fits(1)  # less than min_remaining_ms left


def test_the_first_chunk_of_an_invocation_is_always_admitted() -> None:
    admission = Admission(2.0, lambda: 1, 120_000)  # no time at all
    assert admission.admit(500)  # every invocation makes progress
    assert not admission.admit(1)
