"""The IVS boundary: rate limiting per operation and per attempt, paging, counters."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from archiver.ivs import IvsClient, RateLimiter, SessionNotFound


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 9))


def test_permits_are_evenly_spaced_without_a_burst() -> None:
    fake = FakeTime()
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        limiter.acquire()
    assert fake.waits == [0.2, 0.4, 0.6, 0.8]  # the first permit is immediate


def test_an_idle_limiter_does_not_bank_permits() -> None:
    fake = FakeTime()
    limiter = RateLimiter(4.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    fake.now += 10  # idle for 10 s: still one permit at a time
    limiter.acquire()
    limiter.acquire()
    assert fake.waits == [0.25]


def test_threads_share_one_limiter() -> None:
    fake = FakeTime()
    limiter = RateLimiter(10.0, clock=fake.clock, sleep=fake.sleep)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fake.waits) == [pytest.approx(0.1 * i) for i in range(1, 20)]


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)


def _scenario(participants: int, events: int) -> dict[str, Any]:
    def t(ms: int) -> str:
        return f"2026-11-20T10:00:{ms // 1000:02d}.{ms % 1000:03d}Z"

    return {
        "stages": [
            {
                "arn": "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456",
                "name": "town-hall",
                "tags": {},
                "sessions": [
                    {
                        "sessionId": "st-0123456789abc",
                        "startTime": t(0),
                        "endTime": t(59_000),
                        "participants": [
                            {
                                "participantId": f"p{i:04d}",
                                "userId": f"user-{i}",
                                "state": "DISCONNECTED",
                                "firstJoinTime": t(1),
                                "published": False,
                                "events": [
                                    {
                                        "name": "JOINED",
                                        "participantId": f"p{i:04d}",
                                        "eventTime": t(1 + e),
                                    }
                                    for e in range(events)
                                ],
                            }
                            for i in range(participants)
                        ],
                    }
                ],
            }
        ]
    }


@pytest.mark.parametrize(("participants", "pages"), [(1, 1), (100, 1), (101, 2), (250, 3)])
def test_participants_are_listed_in_the_fewest_pages(
    simulator_factory: Any, participants: int, pages: int
) -> None:
    sim = simulator_factory(_scenario(participants, 1), tps=1000)
    ivs = IvsClient(1000, client=_client(sim.endpoint_url))
    listed = ivs.list_participants(
        "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456", "st-0123456789abc"
    )
    assert sorted(p["participantId"] for p in listed) == [f"p{i:04d}" for i in range(participants)]
    assert ivs.calls["ListParticipants"] == pages


@pytest.mark.parametrize(("events", "pages"), [(0, 1), (100, 1), (101, 2), (200, 2), (201, 3)])
def test_events_are_listed_in_the_fewest_pages(
    simulator_factory: Any, events: int, pages: int
) -> None:
    sim = simulator_factory(_scenario(1, events), tps=1000)
    ivs = IvsClient(1000, client=_client(sim.endpoint_url))
    listed = ivs.list_participant_events(
        "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456", "st-0123456789abc", "p0000"
    )
    assert len(listed) == events
    assert ivs.calls["ListParticipantEvents"] == pages


def test_every_attempt_is_counted_and_throttles_are_seen(simulator_factory: Any) -> None:
    # The quota (2/s) is below what the client is allowed (50/s): the server throttles.
    sim = simulator_factory(_scenario(30, 1), tps=2, fault_rate=0.1, seed=4)
    ivs = IvsClient(50, client=_client(sim.endpoint_url))
    arn = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"
    for i in range(12):
        ivs.get_participant(arn, "st-0123456789abc", f"p{i:04d}")
    served = sim.operation_stats()["GetParticipant"]
    assert ivs.throttles["GetParticipant"] == served["throttled"] > 0
    assert ivs.calls["GetParticipant"] == sum(served.values())


def test_an_unknown_session_is_session_not_found(simulator_factory: Any) -> None:
    sim = simulator_factory(_scenario(1, 1), tps=1000)
    ivs = IvsClient(1000, client=_client(sim.endpoint_url))
    with pytest.raises(SessionNotFound):
        ivs.get_stage_session(
            "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456", "st-9999999999999"
        )


def _client(endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ivs-realtime",
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "adaptive", "max_attempts": 10}),
    )
