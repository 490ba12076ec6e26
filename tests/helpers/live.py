"""A small timeline with known times, and a wall clock a test steps by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from local.simulator import Simulator
from tests.helpers.scenario import iso, session_id, stage_arn

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
ARN, OTHER = stage_arn(0), stage_arn(1)
A, B, C = session_id(0, 0), session_id(0, 1), session_id(0, 2)  # ended, ended, active
D = session_id(1, 0)  # OTHER's one session, ended


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def person(pid: str, user: str, events: list[tuple[str, float]], **recorded: Any) -> dict[str, Any]:
    """A participant whose events (name, minutes after T0) are in time order; `recorded` are
    its final members (state, published, ...) as a scenario records them."""
    return {
        "participantId": pid,
        "userId": user,
        "firstJoinTime": iso(at(events[0][1])),
        "attributes": {"role": user},
        "protocol": "WHIP",
        **recorded,
        "events": [{"name": name, "eventTime": iso(at(minutes))} for name, minutes in events],
    }


def timeline() -> dict[str, Any]:
    """Stage 0: A from +0 to +10 min, B from +20 to +30, C from +40 and still active.
    Stage 1: D from +5 to +15. In A, p-a publishes from +2 to +5 and leaves at +6; p-b fails
    to publish at +3.5, leaves at +4 and rejoins from +7 to +9; p-c joins at +8."""
    p_a = person(
        "p-a",
        "alice",
        [("JOINED", 1), ("PUBLISH_STARTED", 2), ("PUBLISH_STOPPED", 5), ("LEFT", 6)],
        state="DISCONNECTED",
        published=True,
    )
    p_b = person(
        "p-b",
        "bob",
        [("JOINED", 3), ("PUBLISH_ERROR", 3.5), ("LEFT", 4), ("JOINED", 7), ("LEFT", 9)],
        state="DISCONNECTED",
        published=False,
    )
    p_b["events"][1]["errorCode"] = "INSUFFICIENT_CAPABILITIES"
    p_c = person(
        "p-c", "carol", [("JOINED", 8), ("LEFT", 10)], state="DISCONNECTED", published=False
    )
    p_d = person(
        "p-d", "dan", [("JOINED", 21), ("LEFT", 29)], state="DISCONNECTED", published=False
    )
    p_e = person(
        "p-e", "eve", [("JOINED", 41), ("PUBLISH_STARTED", 42)], state="CONNECTED", published=True
    )
    p_f = person("p-f", "fay", [("JOINED", 6), ("LEFT", 14)], state="DISCONNECTED", published=False)

    def session(sid: str, start: float, end: float | None, people: list[Any]) -> dict[str, Any]:
        ends = None if end is None else iso(at(end))
        return {
            "sessionId": sid,
            "startTime": iso(at(start)),
            "endTime": ends,
            "participants": people,
        }

    return {
        "stages": [
            {
                "arn": ARN,
                "name": "main",
                "tags": {},
                "sessions": [
                    session(A, 0, 10, [p_b, p_a, p_c]),
                    session(B, 20, 30, [p_d]),
                    session(C, 40, None, [p_e]),
                ],
            },
            {"arn": OTHER, "name": "other", "tags": {}, "sessions": [session(D, 5, 15, [p_f])]},
        ]
    }


class Wall:
    """A wall clock that moves only when told (seconds)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


def travel(sim: Simulator, wall: Wall, moment: datetime) -> None:
    """Move the (started) simulator's wall clock so that its simulated now is `moment`."""
    wall.seconds = (moment - sim.clock.start).total_seconds() / sim.clock.speed
    assert sim.now() == moment
