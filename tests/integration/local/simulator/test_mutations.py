"""Mutation hooks: sessions expire, end and start while clients read."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.simulator import Simulator
from local.simulator.scenario import ScenarioError
from tests.helpers.scenario import build_scenario, session_id, stage_arn

ARN = stage_arn(0)


@pytest.fixture
def sim(simulator_factory: Any) -> Simulator:
    return simulator_factory(
        build_scenario(sessions=3, participants=3, events=2, active=True), tps=0
    )


@pytest.fixture
def client(sim: Simulator, ivs_client_factory: Any) -> Any:
    return ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})


def session_ids(client: Any) -> list[str]:
    return [s["sessionId"] for s in client.list_stage_sessions(stageArn=ARN)["stageSessions"]]


def test_expired_session_vanishes(sim: Simulator, client: Any) -> None:
    gone = session_id(0, 1)
    assert client.list_participants(stageArn=ARN, sessionId=gone)["participants"]
    sim.expire_session(ARN, gone)
    with pytest.raises(ClientError) as caught:
        client.get_stage_session(stageArn=ARN, sessionId=gone)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert gone not in session_ids(client)
    assert len(session_ids(client)) == 3
    assert client.list_participants(stageArn=ARN, sessionId=gone)["participants"] == []
    params = {"stageArn": ARN, "sessionId": gone, "participantId": "p-00000"}
    assert client.list_participant_events(**params)["events"] == []
    with pytest.raises(ClientError):
        client.get_participant(**params)
    with pytest.raises(KeyError):
        sim.expire_session(ARN, gone)


def test_expiring_the_active_session_clears_active_session_id(sim: Simulator, client: Any) -> None:
    sim.expire_session(ARN, session_id(0, 3))
    assert "activeSessionId" not in client.get_stage(arn=ARN)["stage"]


def test_end_active_session(sim: Simulator, client: Any) -> None:
    active = session_id(0, 3)
    assert client.list_stages()["stages"][0]["activeSessionId"] == active
    end = datetime(2026, 11, 1, 13, 30, 0, 250000, tzinfo=UTC)
    assert sim.end_active_session(ARN, end) == active
    assert "activeSessionId" not in client.list_stages()["stages"][0]
    session = client.get_stage_session(stageArn=ARN, sessionId=active)["stageSession"]
    assert session["endTime"] == end
    assert client.list_participants(stageArn=ARN, sessionId=active)["participants"]
    with pytest.raises(ValueError, match="no active session"):
        sim.end_active_session(ARN, "2026-11-01T14:00:00.000Z")


def new_session(index: int, active: bool) -> dict[str, Any]:
    data = build_scenario(sessions=index + 1, participants=2, active=False)
    session = data["stages"][0]["sessions"][index]
    session["sessionId"] = session_id(0, index)
    if active:
        session["endTime"] = None
    return session


def test_start_session(sim: Simulator, client: Any) -> None:
    sim.end_active_session(ARN, "2026-11-01T13:50:00.000Z")
    sim.start_session(ARN, new_session(4, active=True))
    assert session_ids(client)[0] == session_id(0, 4)
    assert client.get_stage(arn=ARN)["stage"]["activeSessionId"] == session_id(0, 4)
    people = client.list_participants(stageArn=ARN, sessionId=session_id(0, 4))
    assert len(people["participants"]) == 2
    with pytest.raises(ValueError, match="already has an active session"):
        sim.start_session(ARN, new_session(5, active=True))
    with pytest.raises(ValueError, match="already exists"):
        sim.start_session(ARN, new_session(4, active=False))
    bad = new_session(6, active=False)
    bad["participants"][0]["events"][0]["name"] = "JOIN"
    with pytest.raises(ScenarioError, match=r"session\.participants\[0\]\.events\[0\]\.name"):
        sim.start_session(ARN, bad)


def test_listing_stays_exact_while_a_session_starts(sim: Simulator, client: Any) -> None:
    """Keyset tokens: a session starting between pages neither repeats nor skips one."""
    sim.end_active_session(ARN, "2026-11-01T13:50:00.000Z")
    first = client.list_stage_sessions(stageArn=ARN, maxResults=2)
    sim.start_session(ARN, new_session(4, active=True))
    rest = client.list_stage_sessions(stageArn=ARN, maxResults=100, nextToken=first["nextToken"])
    listed = [s["sessionId"] for s in first["stageSessions"] + rest["stageSessions"]]
    assert listed == [session_id(0, n) for n in (3, 2, 1, 0)]


def test_mutations_while_clients_read(sim: Simulator, ivs_client_factory: Any) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        reader = ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})
        try:
            while not stop.is_set():
                for session in reader.list_stage_sessions(stageArn=ARN)["stageSessions"]:
                    reader.list_participants(stageArn=ARN, sessionId=session["sessionId"])
        except BaseException as error:
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for n in range(4, 14):
        sim.end_active_session(ARN, f"2026-11-02T{n:02d}:00:00.000Z")
        sim.start_session(
            ARN, {**new_session(n, active=True), "startTime": f"2026-11-02T{n:02d}:00:01.000Z"}
        )
        sim.expire_session(ARN, session_id(0, n - 1))
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert len(sim.store.sessions(ARN)) == 4
