"""Archive workers running at once share the budget through the ledger: alone, a worker gets all
of it; a newcomer waits until the others give up part of theirs, so that together they never
pass it; a worker that ends or dies leaves its share to the others."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from archiver import clock
from archiver.ivs import RateLimiter, RateUnavailable
from archiver.rate_share import RateShare
from local.account import create_ledger
from local.moto_server import MotoServer

BUDGET = 4.0


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = MotoServer()
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    name = f"ledger-{uuid.uuid4().hex[:8]}"  # moto keeps its tables for the whole process
    create_ledger(boto3.client("dynamodb"), name)
    yield name
    server.stop()


class Worker:
    """A RateShare renewed by hand (refresh_s long: its own thread never renews in a test)."""

    def __init__(self, table: str, name: str) -> None:
        self.rates: list[float] = []
        self.share = RateShare(
            table, name, budget=BUDGET, refresh_s=3600, use=self.rates.append, workers=2
        )

    def __enter__(self) -> Worker:
        self.share.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.share.__exit__(*exc)

    @property
    def rate(self) -> float:
        return self.share.rate


def test_a_worker_alone_gets_the_whole_budget(table: str) -> None:
    with Worker(table, "a") as a:
        assert a.rate == BUDGET
        assert a.rates == [BUDGET]  # its limiters were told


def test_a_newcomer_waits_for_the_others_and_together_they_never_pass_the_budget(
    table: str,
) -> None:
    with Worker(table, "a") as a, Worker(table, "b") as b:
        assert (a.rate, b.rate) == (BUDGET, 0.0)  # a still runs alone: b waits
        a.share.refresh()
        assert (a.rate, b.rate) == (BUDGET / 2, 0.0)  # a gives up half
        b.share.refresh()
        assert (a.rate, b.rate) == (BUDGET / 2, BUDGET / 2)
        with Worker(table, "c") as c:
            for worker in (a, b, c, a, b, c):
                worker.share.refresh()
                assert a.rate + b.rate + c.rate <= BUDGET + 1e-9
            assert {round(w.rate, 6) for w in (a, b, c)} == {round(BUDGET / 3, 6)}
        a.share.refresh()  # c ended: its share is free again
        assert a.rate == BUDGET / 2  # (b still holds its half)
        b.share.refresh()
        a.share.refresh()
        assert a.rate + b.rate == BUDGET


def test_a_dead_workers_share_lapses(table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = RateShare(table, "dead", budget=BUDGET, refresh_s=1, use=lambda _: None, workers=2)
    dead.refresh()  # it says it works... and is never heard of again
    with Worker(table, "alive") as alive:
        assert alive.rate == 0.0
        later = clock.now() + timedelta(seconds=3.5)  # three renewals of the dead one missed
        monkeypatch.setattr(clock, "now", lambda: later)
        alive.share.refresh()
        assert alive.rate == BUDGET


def test_a_worker_whose_renewals_lapsed_still_finishes_after_giving_up_its_share(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's reproduction: two workers at 2.0; one stops renewing for 3.5 intervals; the
    other takes 4.0; the first's renewal gives 0.0; after release() its calls still pass."""
    limiter = RateLimiter(BUDGET, max_wait_s=5)
    first = RateShare(table, "first", budget=BUDGET, refresh_s=1, use=limiter.set_rate, workers=2)
    second = RateShare(table, "second", budget=BUDGET, refresh_s=1, use=lambda _: None, workers=2)
    for share in (first, second, first, second):
        share.refresh()
    assert (first.rate, second.rate) == (BUDGET / 2, BUDGET / 2)
    later = clock.now() + timedelta(seconds=3.5)  # first renews nothing for 3.5 intervals
    monkeypatch.setattr(clock, "now", lambda: later)
    second.refresh()
    assert second.rate == BUDGET
    first.refresh()
    assert first.rate == 0.0 and limiter.rate == 0.0
    first.release()
    started = time.monotonic()
    limiter.acquire()  # at once: the invocation's last calls have a rate
    assert time.monotonic() - started < 1.0
    assert limiter.rate == BUDGET / 2  # the static split


def test_a_failed_renewal_is_counted_and_drops_to_a_rate_within_the_budget(
    table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rates: list[float] = []
    alone = RateShare(table, "alone", budget=BUDGET, refresh_s=1, use=rates.append, workers=2)
    alone.refresh()
    assert alone.rate == BUDGET

    def unreachable(**_: Any) -> Any:
        raise ConnectionError("the ledger is unreachable")

    monkeypatch.setattr(alone.table, "query", unreachable)
    with pytest.raises(ConnectionError):
        alone.refresh()
    alone.renewal_failed()  # what the renewal thread does with that error
    assert alone.renewal_failures == 1
    assert rates[-1] == alone.rate == BUDGET / 2  # its item still holds: the static split
    later = clock.now() + timedelta(seconds=3.5)  # its item lapsed: others may have its share
    monkeypatch.setattr(clock, "now", lambda: later)
    alone.renewal_failed()
    assert rates[-1] == alone.rate == 0.0 and alone.renewal_failures == 2


def test_a_limiter_without_a_rate_gives_up_after_its_deadline() -> None:
    limiter = RateLimiter(10.0, max_wait_s=0.3)
    limiter.set_rate(0)
    started = time.monotonic()
    with pytest.raises(RateUnavailable, match=r"no share of the IVS budget for 0\.3 s"):
        limiter.acquire()
    assert 0.25 < time.monotonic() - started < 2.0


def test_a_limiter_at_rate_zero_holds_its_callers_until_the_rate_is_raised() -> None:
    limiter = RateLimiter(10.0)
    limiter.set_rate(0)
    passed = threading.Event()

    def call() -> None:
        limiter.acquire()
        passed.set()

    thread = threading.Thread(target=call)
    thread.start()
    assert not passed.wait(0.3)
    limiter.set_rate(1000.0)
    assert passed.wait(5)
    thread.join()


def test_a_limiter_spaces_permits_at_its_new_rate() -> None:
    """On a clock of the test's own, whose sleeps move it on: no wall-clock timing."""
    now = [100.0]
    granted: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    limiter.acquire()  # at once, then one permit a second
    limiter.set_rate(200.0)
    for _ in range(41):
        limiter.acquire()
        granted.append(now[0])
    # The first at the old rate's next slot, then 40 intervals of 5 ms, not of 1 s.
    assert granted[0] == pytest.approx(101.0)
    gaps = [later - earlier for earlier, later in itertools.pairwise(granted)]
    assert gaps == pytest.approx([0.005] * 40)
