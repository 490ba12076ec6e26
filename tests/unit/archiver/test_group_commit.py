"""Sessions landed at once are committed together: one commit for every session that landed
while the previous one ran, each session released when its own commit is done."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from archiver.commit import LandedSession
from archiver.group_commit import GroupCommit
from archiver.writer import SessionKeys


def _session(n: int) -> LandedSession:
    from datetime import UTC, datetime

    keys = SessionKeys(
        "",
        "arn:aws:ivs:us-east-1:123456789012:stage/AbCd",
        f"st-{n:013d}",
        datetime(2026, 11, 20, tzinfo=UTC),
    )
    return LandedSession(keys, 1)


def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for `condition` to hold (another thread makes it so), failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_sessions_that_land_during_a_commit_go_together_in_the_next() -> None:
    rounds: list[list[str]] = []
    first_started, release = threading.Event(), threading.Event()

    def commit(sessions: list[LandedSession]) -> None:
        rounds.append([s.keys.session_id for s in sessions])
        if len(rounds) == 1:
            first_started.set()
            assert release.wait(5)

    group = GroupCommit(commit)
    threads = [threading.Thread(target=group.commit, args=(_session(0),))]
    threads[0].start()
    assert first_started.wait(5)
    for n in range(1, 6):  # they land while the first commit runs
        threads.append(threading.Thread(target=group.commit, args=(_session(n),)))
        threads[-1].start()
    _until(lambda: group.waiting == 5)  # all five have landed and wait for the next round
    release.set()
    for thread in threads:
        thread.join(5)
    assert rounds[0] == ["st-0000000000000"]
    assert sorted(rounds[1]) == [f"st-{n:013d}" for n in range(1, 6)]  # one commit for five
    assert len(rounds) == 2


def test_a_failed_commit_fails_every_session_of_its_round_and_the_next_round_goes_on() -> None:
    calls: list[int] = []

    def commit(sessions: list[LandedSession]) -> None:
        calls.append(len(sessions))
        if len(calls) == 1:
            raise RuntimeError("Glue said no")

    group = GroupCommit(commit)
    with pytest.raises(RuntimeError, match="Glue said no"):
        group.commit(_session(0))
    group.commit(_session(1))  # a new round, which works
    assert calls == [1, 1]


def test_a_worker_going_down_releases_every_waiting_session() -> None:
    class Down(BaseException):
        pass

    started, release = threading.Event(), threading.Event()
    outcomes: dict[int, Any] = {}

    def commit(sessions: list[LandedSession]) -> None:
        started.set()
        assert release.wait(5)
        raise Down

    group = GroupCommit(commit)

    def land(n: int) -> None:
        try:
            group.commit(_session(n))
            outcomes[n] = "committed"
        except BaseException as exc:
            outcomes[n] = type(exc).__name__

    threads = [threading.Thread(target=land, args=(n,)) for n in range(3)]
    threads[0].start()
    assert started.wait(5)
    for thread in threads[1:]:
        thread.start()
    _until(lambda: group.waiting == 2)
    release.set()
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()  # nobody waits for ever
    assert outcomes == {0: "Down", 1: "Down", 2: "Down"}
