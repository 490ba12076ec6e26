"""Live replay: the API shows what has happened by the simulated now, through a real boto3
client; the clock is stepped by hand (a fake wall clock), except in one real-time test."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.simulator import Simulator
from local.simulator.clock import SimClock
from tests.helpers.live import ARN, OTHER, T0, A, B, C, D, Wall, at, timeline, travel
from tests.helpers.scenario import iso, session_id

Live = tuple[Simulator, Wall, Any]


@pytest.fixture
def live(simulator_factory: Any, ivs_client_factory: Any) -> Live:
    """The timeline replayed at 60x (one wall second, one simulated minute) from its default
    start, a boto3 client, and the wall clock that moves it."""
    wall = Wall()
    sim = simulator_factory(timeline(), tps=0, live=True, speed=60, wall_clock=wall)
    return sim, wall, ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})


def not_found(call: Callable[..., Any], **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ResourceNotFoundException"
        return True
    return False


def active_ids(client: Any) -> dict[str, str | None]:
    return {s["arn"]: s.get("activeSessionId") for s in client.list_stages()["stages"]}


def sessions(client: Any, arn: str = ARN) -> list[tuple[str, datetime | None]]:
    listed = client.list_stage_sessions(stageArn=arn)["stageSessions"]
    return [(s["sessionId"], s.get("endTime")) for s in listed]


def people(client: Any, session: str = A, **filters: Any) -> dict[str, tuple[str, bool]]:
    listed = client.list_participants(stageArn=ARN, sessionId=session, **filters)
    return {p["participantId"]: (p["state"], p["published"]) for p in listed["participants"]}


def event_names(client: Any, pid: str, session: str = A) -> list[str]:
    found = client.list_participant_events(stageArn=ARN, sessionId=session, participantId=pid)
    return [e["name"] for e in found["events"]]


# --- the clock ---------------------------------------------------------------------------
def test_the_clock_runs_at_speed_once_begun_and_converts_durations() -> None:
    wall = Wall()
    wall.seconds = 100.0
    clock = SimClock(T0, speed=60, wall=wall)
    wall.seconds = 105.0
    assert clock.now() == T0  # not begun: time stands at start
    clock.begin()
    wall.seconds = 115.0
    assert clock.now() == T0 + timedelta(minutes=10)
    assert clock.now_ms() == round(clock.now().timestamp() * 1000)
    clock.begin()  # a second begin() does not reset the clock
    assert clock.now() == T0 + timedelta(minutes=10)
    assert clock.wall_seconds(600) == 10.0
    assert clock.wall_seconds(timedelta(minutes=10)) == 10.0
    assert clock.simulated_seconds(2.5) == 150.0
    assert clock.wall_until(T0 + timedelta(minutes=25)) == 15.0
    assert clock.wall_until(T0) == 0.0


@pytest.mark.parametrize("speed", [0, -1.0, math.nan, math.inf, True])
def test_a_speed_that_is_not_a_positive_number_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be"):
        SimClock(T0, speed=speed)
    with pytest.raises(ValueError, match="speed must be"):
        Simulator(timeline(), live=True, speed=speed)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"event_loss": 1.5}, "event loss must be within 0..1"),
        ({"event_loss": -0.1}, "event loss must be within 0..1"),
        ({"event_delay_s": -1.0}, "event delay must be a finite number >= 0"),
        ({"event_delay_s": math.inf}, "event delay must be a finite number >= 0"),
        ({"start": datetime(2026, 11, 1)}, "start must be timezone-aware"),
    ],
)
def test_bad_live_options_are_refused(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Simulator(timeline(), live=True, **options)


def test_live_starts_a_minute_before_the_first_session_unless_told(live: Live) -> None:
    sim, wall, _ = live
    assert sim.now() == T0 - timedelta(minutes=1)
    wall.seconds = 2.0
    assert sim.now() == T0 + timedelta(minutes=1)
    assert sim.wall_seconds(timedelta(minutes=10)) == 10.0
    told = Simulator(timeline(), live=True, start=at(30), speed=2)
    assert told.now() == at(30)
    empty = Simulator({"stages": []}, live=True)
    assert abs(empty.now() - datetime.now(UTC)) < timedelta(minutes=1)


# --- sessions ------------------------------------------------------------------------------
def test_sessions_appear_become_active_and_end(live: Live) -> None:
    sim, wall, client = live
    assert sessions(client) == [] and sessions(client, OTHER) == []
    assert not_found(client.get_stage_session, stageArn=ARN, sessionId=A)
    assert active_ids(client) == {ARN: None, OTHER: None}
    assert "activeSessionId" not in client.get_stage(arn=ARN)["stage"]

    travel(sim, wall, at(7))
    assert sessions(client) == [(A, None)] and sessions(client, OTHER) == [(D, None)]
    assert "endTime" not in client.get_stage_session(stageArn=ARN, sessionId=A)["stageSession"]
    assert active_ids(client) == {ARN: A, OTHER: D}
    assert client.get_stage(arn=ARN)["stage"]["activeSessionId"] == A
    assert not_found(client.get_stage_session, stageArn=ARN, sessionId=B)

    travel(sim, wall, at(10))  # endTime <= now: ended
    assert sessions(client) == [(A, at(10))]
    assert client.get_stage_session(stageArn=ARN, sessionId=A)["stageSession"]["endTime"] == at(10)
    assert active_ids(client) == {ARN: None, OTHER: D}

    travel(sim, wall, at(25))
    assert sessions(client) == [(B, None), (A, at(10))]
    assert active_ids(client) == {ARN: B, OTHER: None}
    assert sessions(client, OTHER) == [(D, at(15))]

    travel(sim, wall, at(45))
    assert sessions(client) == [(C, None), (B, at(30)), (A, at(10))]
    assert active_ids(client)[ARN] == C


def test_the_active_session_stays_active_for_ever(live: Live) -> None:
    sim, wall, client = live
    travel(sim, wall, at(60 * 24 * 365))
    assert sessions(client)[0] == (C, None)
    assert active_ids(client) == {ARN: C, OTHER: None}
    assert people(client, C) == {"p-e": ("CONNECTED", True)}


def test_overlapping_sessions_the_newest_started_is_active(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    """IVS has one active session per stage; should a scenario overlap two, the newer wins."""
    long, short = session_id(0, 1), session_id(0, 2)
    spans = {long: (0, 60), short: (10, 20)}
    data = {
        "stages": [
            {
                "arn": ARN,
                "sessions": [
                    {"sessionId": sid, "startTime": iso(at(a)), "endTime": iso(at(b))}
                    for sid, (a, b) in spans.items()
                ],
            }
        ]
    }
    wall = Wall()
    sim = simulator_factory(data, tps=0, live=True, speed=60, wall_clock=wall)
    client = ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})
    for minutes, active in ((5, long), (15, short), (30, long), (60, None)):
        travel(sim, wall, at(minutes))
        assert client.get_stage(arn=ARN)["stage"].get("activeSessionId") == active, minutes


# --- participants and events -----------------------------------------------------------------
def test_participants_and_events_grow_with_state_and_published_so_far(live: Live) -> None:
    sim, wall, client = live
    travel(sim, wall, at(0.5))
    assert people(client) == {}
    assert event_names(client, "p-a") == []
    assert not_found(client.get_participant, stageArn=ARN, sessionId=A, participantId="p-a")

    travel(sim, wall, at(2.5))
    assert people(client) == {"p-a": ("CONNECTED", True)}
    assert event_names(client, "p-a") == ["JOINED", "PUBLISH_STARTED"]
    full = client.get_participant(stageArn=ARN, sessionId=A, participantId="p-a")["participant"]
    assert (full["state"], full["published"], full["attributes"]) == (
        "CONNECTED",
        True,
        {"role": "alice"},
    )
    assert not_found(client.get_participant, stageArn=ARN, sessionId=A, participantId="p-b")

    travel(sim, wall, at(3.75))
    assert people(client) == {"p-a": ("CONNECTED", True), "p-b": ("CONNECTED", False)}
    assert event_names(client, "p-b") == ["JOINED", "PUBLISH_ERROR"]

    travel(sim, wall, at(6.5))
    assert people(client) == {"p-a": ("DISCONNECTED", True), "p-b": ("DISCONNECTED", False)}
    assert event_names(client, "p-a") == ["JOINED", "PUBLISH_STARTED", "PUBLISH_STOPPED", "LEFT"]

    travel(sim, wall, at(8.5))  # p-b came back; p-c joined
    assert people(client) == {
        "p-a": ("DISCONNECTED", True),
        "p-b": ("CONNECTED", False),
        "p-c": ("CONNECTED", False),
    }
    assert event_names(client, "p-b") == ["JOINED", "PUBLISH_ERROR", "LEFT", "JOINED"]
    # The filters see the state and published of now.
    assert set(people(client, filterByState="CONNECTED")) == {"p-b", "p-c"}
    assert set(people(client, filterByState="DISCONNECTED")) == {"p-a"}
    assert set(people(client, filterByPublished=True)) == {"p-a"}
    assert set(people(client, filterByUserId="carol")) == {"p-c"}


def test_events_listed_out_of_time_order_show_as_a_growing_prefix(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    """An event shows once it and every event listed before it have happened, so a token
    (a position) never skips or repeats one."""
    data = timeline()
    p_a = data["stages"][0]["sessions"][0]["participants"][1]
    events = p_a["events"]
    events[1]["eventTime"], events[2]["eventTime"] = events[2]["eventTime"], events[1]["eventTime"]
    wall = Wall()
    sim = simulator_factory(data, tps=0, live=True, speed=60, wall_clock=wall)
    client = ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})
    for minutes, shown in ((1.5, 1), (2.5, 1), (5, 3), (6, 4)):
        travel(sim, wall, at(minutes))
        assert event_names(client, "p-a") == [e["name"] for e in events[:shown]], minutes


def test_an_ended_session_reads_exactly_as_without_live(
    live: Live, simulator_factory: Any, ivs_client_factory: Any
) -> None:
    """Once ended, a session shows every participant and event with its recorded members."""
    sim, wall, client = live
    plain = simulator_factory(timeline(), tps=0)
    whole = ivs_client_factory(plain.endpoint_url, retries={"max_attempts": 1})
    travel(sim, wall, at(10))
    key = {"stageArn": ARN, "sessionId": A}
    for filters in ({}, {"filterByState": "DISCONNECTED"}, {"filterByPublished": True}):
        listed = client.list_participants(**key, **filters)["participants"]
        assert listed == whole.list_participants(**key, **filters)["participants"]
    assert len(client.list_participants(**key)["participants"]) == 3
    for pid in ("p-a", "p-b", "p-c"):
        ask = {**key, "participantId": pid}
        assert (
            client.get_participant(**ask)["participant"]
            == whole.get_participant(**ask)["participant"]
        )
        assert (
            client.list_participant_events(**ask)["events"]
            == whole.list_participant_events(**ask)["events"]
        )


# --- paging while the data grows -------------------------------------------------------------
def crowd(count: int, events: int) -> dict[str, Any]:
    """One active session from T0: participant i joins at i x 10 s (ids not in join order);
    p-000 has `events` events, 10 s apart, from T0."""
    stage: dict[str, Any] = {"arn": ARN, "name": "crowd", "tags": {}}
    everyone = []
    for i in range(count):
        joined = T0 + timedelta(seconds=10 * i)
        pid = "p-000" if i == 0 else f"p-{(i * 37) % 1000:03d}"
        times = [T0 + timedelta(seconds=10 * e) for e in range(events)] if i == 0 else [joined]
        names = ["JOINED"] + ["TOKEN_EXCHANGED"] * (len(times) - 1)
        everyone.append(
            {
                "participantId": pid,
                "firstJoinTime": iso(joined),
                "events": [
                    {"name": n, "eventTime": iso(t)} for n, t in zip(names, times, strict=True)
                ],
            }
        )
    stage["sessions"] = [
        {"sessionId": A, "startTime": iso(T0), "endTime": None, "participants": everyone}
    ]
    return {"stages": [stage]}


def test_event_pages_stay_exact_while_events_happen(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    wall = Wall()
    sim = simulator_factory(crowd(1, 40), tps=0, live=True, speed=60, wall_clock=wall)
    client = ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})
    travel(sim, wall, T0 + timedelta(seconds=45))  # 5 events so far
    ask = {"stageArn": ARN, "sessionId": A, "participantId": "p-000", "maxResults": 4}
    seen: list[datetime] = []
    token = None
    while True:
        found = client.list_participant_events(**ask, **({"nextToken": token} if token else {}))
        seen += [e["eventTime"] for e in found["events"]]
        token = found.get("nextToken")
        if token is None:
            break
        wall.seconds += 0.5  # 30 simulated seconds, 3 more events, between pages
    assert seen == [T0 + timedelta(seconds=10 * e) for e in range(len(seen))]  # in order, once
    assert sim.now() - timedelta(seconds=10) < seen[-1] <= sim.now()  # up to now
    assert len(seen) > 5  # more than there were at the first page


@pytest.mark.parametrize("order", ["participantId", "firstJoinTime"])
def test_participant_pages_stay_exact_while_participants_join(
    order: str, simulator_factory: Any, ivs_client_factory: Any
) -> None:
    wall = Wall()
    sim = simulator_factory(
        crowd(60, 1), tps=0, live=True, speed=60, wall_clock=wall, participant_order=order
    )
    client = ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})
    travel(sim, wall, T0 + timedelta(seconds=95))  # 10 have joined
    ask = {"stageArn": ARN, "sessionId": A, "maxResults": 3}
    first = client.list_participants(**ask)
    present = {
        p["participantId"]
        for p in client.list_participants(stageArn=ARN, sessionId=A)["participants"]
    }
    assert len(present) == 10
    listed = [p["participantId"] for p in first["participants"]]
    token = first["nextToken"]
    while token:
        wall.seconds += 0.25  # 15 simulated seconds: one or two more join between pages
        found = client.list_participants(**ask, nextToken=token)
        listed += [p["participantId"] for p in found["participants"]]
        token = found.get("nextToken")
    assert len(listed) == len(set(listed))  # nothing twice
    assert present <= set(listed)  # nothing that was there from the start is skipped
    joined_by_now = int((sim.now() - T0).total_seconds() // 10) + 1
    if order == "firstJoinTime":  # newcomers join at the end: the listing catches up with now
        everyone = [
            p["participantId"] for p in crowd(60, 1)["stages"][0]["sessions"][0]["participants"]
        ]
        assert listed == everyone[:joined_by_now]
    else:  # a newcomer shows if its id sorts after the page it joined during
        assert listed == sorted(listed)
        everyone = [
            p["participantId"] for p in crowd(60, 1)["stages"][0]["sessions"][0]["participants"]
        ]
        assert set(listed) <= set(everyone[:joined_by_now])


def test_session_pages_stay_exact_while_sessions_start(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    starts = {session_id(0, n): T0 + timedelta(minutes=10 * n) for n in range(12)}
    data = {
        "stages": [
            {
                "arn": ARN,
                "sessions": [
                    {
                        "sessionId": sid,
                        "startTime": iso(t),
                        "endTime": iso(t + timedelta(minutes=5)),
                    }
                    for sid, t in starts.items()
                ],
            }
        ]
    }
    wall = Wall()
    sim = simulator_factory(data, tps=0, live=True, speed=600, wall_clock=wall)
    client = ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})
    travel(sim, wall, T0 + timedelta(minutes=42))  # five have started, the fifth is active
    listed, token = [], None
    while True:
        found = client.list_stage_sessions(
            stageArn=ARN, maxResults=2, **({"nextToken": token} if token else {})
        )
        listed += [s["sessionId"] for s in found["stageSessions"]]
        token = found.get("nextToken")
        if token is None:
            break
        wall.seconds += 1.0  # 10 simulated minutes: a new session starts between pages
    assert listed == [session_id(0, n) for n in (4, 3, 2, 1, 0)]  # as at the first page
    newest = (sim.now() - T0) // timedelta(minutes=10)
    assert newest > 5
    assert [s for s, _ in sessions(client)][:2] == [
        session_id(0, newest),
        session_id(0, newest - 1),
    ]


# --- not live, and the real clock ----------------------------------------------------------
def test_not_live_shows_the_whole_scenario_whatever_the_clock(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    wall = Wall()
    plain = simulator_factory(timeline(), tps=0)
    clocked = simulator_factory(
        timeline(), tps=0, speed=60, start=T0 - timedelta(days=1), wall_clock=wall
    )
    assert not plain.live and abs(plain.now() - datetime.now(UTC)) < timedelta(minutes=1)
    assert clocked.now() == T0 - timedelta(days=1)  # the clock runs; the API ignores it
    answers = []
    for sim in (plain, clocked):
        client = ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})
        answers.append(
            (
                client.list_stages()["stages"],
                sessions(client),
                people(client, A),
                people(client, C),
                event_names(client, "p-c"),
            )
        )
        assert sim.stage_events_due() == []
    assert answers[0] == answers[1]
    assert answers[0][0][0]["activeSessionId"] == C
    assert answers[0][1] == [(C, None), (B, at(30)), (A, at(10))]


def test_the_real_clock_replays_at_speed(simulator_factory: Any, ivs_client_factory: Any) -> None:
    """At 120x from 30 simulated seconds before A, A starts half a wall second in."""
    began = time.monotonic()
    sim = simulator_factory(
        timeline(), tps=0, live=True, speed=120, start=T0 - timedelta(seconds=30)
    )
    client = ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})
    deadline = began + 20
    while not_found(client.get_stage_session, stageArn=ARN, sessionId=A):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert time.monotonic() - began >= 0.25
    assert sim.now() >= T0
