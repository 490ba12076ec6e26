"""Participants' calls start while ListParticipants is still paging, whatever order IVS lists
them in, at most a chunk's worth ahead, and never twice for a session that fits one invocation."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options
from local.simulator import Simulator
from tests.helpers.archive import (
    UNLIMITED,
    ended_sessions,
    events_by_key,
    expected_events,
    metric_total,
)


@dataclass(frozen=True)
class Request:
    operation: str
    body: dict[str, Any]
    status: int
    arrived: float  # monotonic, when the simulator got it
    answered: float  # monotonic, when its answer was ready (after the simulated latency)


class RequestLog:
    """Every request the simulator answers, with when it came and when it was answered."""

    def __init__(self, simulator: Simulator) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._respond = simulator.respond
        simulator.respond = self  # type: ignore[method-assign]

    def __call__(self, operation: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        arrived = time.monotonic()
        status, headers, answer = self._respond(operation, body)
        request = Request(operation, json.loads(body or b"{}"), status, arrived, time.monotonic())
        with self._lock:
            self.requests.append(request)
        return status, headers, answer

    def served(self, operation: str) -> list[Request]:
        return [r for r in self.requests if r.operation == operation and r.status == 200]

    def first_event_pages(self) -> Counter[str]:
        """How often each participant's events were read from the start."""
        return Counter(
            r.body["participantId"]
            for r in self.served("ListParticipantEvents")
            if "nextToken" not in r.body
        )

    def listing_answered(self) -> float:
        return max(r.answered for r in self.served("ListParticipants"))


@pytest.fixture(scope="module")
def scenario() -> dict[str, Any]:
    """One ended session of a few hundred participants: several ListParticipants pages."""
    data = generate_scenario(stages=1, sessions=1, participants=300, seed=31)
    [(_, session)] = ended_sessions(data)
    assert len(session["participants"]) > 200
    return data


def _archive(
    scenario: dict[str, Any], out: Path, **options: Any
) -> tuple[RequestLog, EmbeddedPipeline]:
    """Archive with a request log; 20 ms a call, and no quota unless `tps` says otherwise."""
    base: dict[str, Any] = {**UNLIMITED, "latency_ms": 20.0}
    with EmbeddedPipeline(scenario, Options(**(base | options))) as pipeline:
        log = RequestLog(pipeline.simulator)
        pipeline.run()
        pipeline.mirror(out)
    return log, pipeline


@pytest.mark.parametrize("order", ["participantId", "firstJoinTime"])
def test_events_are_fetched_while_participants_are_listed(
    scenario: dict[str, Any], tmp_path: Path, order: str
) -> None:
    log, pipeline = _archive(scenario, tmp_path, participant_order=order)
    [(_, session)] = ended_sessions(scenario)
    assert pipeline.invocations["archive"] == 1
    fetches = [r.arrived for r in log.served("ListParticipantEvents")]
    assert min(fetches) < log.listing_answered()  # the listing did not hold the fetching back
    # Each participant's events read once, in whatever order IVS lists them; rows all there.
    assert log.first_event_pages() == Counter(p["participantId"] for p in session["participants"])
    assert len(log.served("GetParticipant")) == len(session["participants"])
    assert events_by_key(tmp_path) == expected_events(scenario)


def test_at_most_a_chunk_is_fetched_ahead_of_the_listing(
    scenario: dict[str, Any], tmp_path: Path
) -> None:
    chunk = 10
    log, _ = _archive(scenario, tmp_path, chunk_size=chunk, participant_order="firstJoinTime")
    listed = log.listing_answered()
    ahead = {
        r.body["participantId"] for r in log.served("ListParticipantEvents") if r.arrived < listed
    }
    assert 0 < len(ahead) <= chunk
    assert max(log.first_event_pages().values()) == 1
    assert events_by_key(tmp_path) == expected_events(scenario)


def test_nothing_is_fetched_ahead_without_the_time_to_archive_it(
    scenario: dict[str, Any], tmp_path: Path
) -> None:
    # Every invocation ends after its first chunk: fetching ahead would fetch twice.
    log, pipeline = _archive(scenario, tmp_path, chunk_size=50, invocation_ms=1)
    assert pipeline.invocations["archive"] > 1
    assert max(log.first_event_pages().values()) == 1
    assert events_by_key(tmp_path) == expected_events(scenario)


def test_calls_not_started_are_withdrawn_once_the_session_outgrows_the_invocation(
    scenario: dict[str, Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # 40 calls a second: 31 ms of the invocation's 1 s to spare per participant listed, so
    # fetching ahead stops at the 33rd participant of the first page, with 32 fetches queued
    # and at most 8 per operation (the worker's threads) started.
    log, pipeline = _archive(
        scenario,
        tmp_path,
        budget=40.0,
        chunk_size=50,
        invocation_ms=2000,
        min_remaining_ms=1000,
        participant_order="firstJoinTime",
        quiet=False,
    )
    discarded = int(metric_total(capfd.readouterr().out, "PrefetchDiscarded"))
    [(_, session)] = ended_sessions(scenario)
    assert pipeline.invocations["archive"] > 2
    fetched = log.first_event_pages()
    assert set(fetched) == {p["participantId"] for p in session["participants"]}
    twice = sum(count - 1 for count in fetched.values())
    assert twice == discarded  # each participant fetched twice is counted, none more
    assert discarded <= 16 < 32  # the queued calls were withdrawn, not made
    assert max(fetched.values()) <= 2
    assert events_by_key(tmp_path) == expected_events(scenario)


def test_a_withdrawn_fetch_makes_no_call_and_a_started_one_is_not_withdrawn() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from archiver.fetching import Fetch

    made: list[str] = []
    release = threading.Event()

    def call(name: str) -> str:
        made.append(name)
        release.wait(5)
        return name

    with ThreadPoolExecutor(1) as pool:
        busy, queued = Fetch(), Fetch()
        busy.events = pool.submit(busy.call, call, "busy")
        queued.events = pool.submit(queued.call, call, "queued")
        while not made:
            time.sleep(0.001)
        assert queued.withdraw()  # not started: withdrawn
        assert not busy.withdraw()  # started: kept whole
        release.set()
        assert busy.events.result() == "busy"
        assert queued.events.result() is None
    assert made == ["busy"]
