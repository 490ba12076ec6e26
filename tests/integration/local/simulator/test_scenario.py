"""The scenario loader (errors name the JSON path) and the `python -m local simulate` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.simulator import scenario
from local.simulator.model import enum_values
from local.simulator.scenario import ScenarioError
from tests.helpers import ROOT
from tests.helpers.scenario import build_scenario, session_id, stage_arn

P = "stages[0].sessions[0].participants[1]"
E = f"{P}.events[1]"


def person(data: dict[str, Any], index: int = 1) -> dict[str, Any]:
    return data["stages"][0]["sessions"][0]["participants"][index]


Edit = Callable[[dict[str, Any]], None]


def set_event(name: str, value: Any) -> Edit:
    return lambda data: person(data)["events"][1].__setitem__(name, value)


def set_person(name: str, value: Any) -> Edit:
    return lambda data: person(data).__setitem__(name, value)


def set_session(name: str, value: Any, index: int = 0) -> Edit:
    return lambda data: data["stages"][0]["sessions"][index].__setitem__(name, value)


def set_stage(name: str, value: Any) -> Edit:
    return lambda data: data["stages"][0].__setitem__(name, value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (set_event("name", "JOIN"), f"{E}.name: 'JOIN' is not an event name"),
        (set_event("errorCode", "OOPS"), f"{E}.errorCode: 'OOPS' is not an event error code"),
        (set_event("eventTime", "yesterday"), f"{E}.eventTime: 'yesterday' is not an ISO-8601"),
        (set_event("eventTime", "2026-11-01T10:00:00.123456Z"), f"{E}.eventTime:"),
        (set_event("eventTime", "2026-11-01T10:00:00"), f"{E}.eventTime:"),  # no zone
        (set_event("participantId", "p-00009"), f"{E}.participantId: 'p-00009' is not the"),
        (set_event("remoteParticipantId", "not valid!"), f"{E}.remoteParticipantId:"),
        (set_event("replica", "yes"), f"{E}.replica: 'yes' is not a boolean"),
        (set_event("colour", "red"), f"{E}.colour: unknown member of Event"),
        (set_event("name", None), f"{E}.name: missing required member"),
        (
            set_event("newToken", {"capabilities": ["WATCH"]}),
            f"{E}.newToken.capabilities[0]: 'WATCH' is not a participant token capability",
        ),
        (set_person("state", "AWAY"), f"{P}.state: 'AWAY' is not a participant state"),
        (set_person("recordingState", "ON"), f"{P}.recordingState: 'ON' is not a participant"),
        (set_person("protocol", "SRT"), f"{P}.protocol: 'SRT' is not a participant protocol"),
        (set_person("replicationType", "COPY"), f"{P}.replicationType: 'COPY' is not a"),
        (set_person("published", 1), f"{P}.published: 1 is not a boolean"),
        (set_person("attributes", {"k": 1}), f"{P}.attributes.k: 1 is not a string"),
        (set_person("osname", "Linux"), f"{P}.osname: unknown member of Participant"),
        (set_person("participantId", "p-00000"), f"{P}.participantId: duplicate participant"),
        (set_person("participantId", "x" * 65), f"{P}.participantId: length must be at most 64"),
        (set_person("events", {}), f"{P}.events: expected a list"),
        (set_session("sessionId", "st-123"), "stages[0].sessions[0].sessionId: length must be"),
        (set_session("startTime", None), "stages[0].sessions[0].startTime: missing required"),
        (
            set_session("endTime", "2026-11-01T09:00:00.000Z"),
            "stages[0].sessions[0].endTime: '2026-11-01T09:00:00.000Z' is before startTime",
        ),
        (set_session("endTime", None), "stages[0].sessions[2].endTime: a second active session"),
        (set_session("sessionId", session_id(0, 1)), "stages[0].sessions[1].sessionId: duplicate"),
        (set_stage("arn", "arn:aws:ivs:us-east-1:1:channel/x"), "stages[0].arn: 'arn:aws:ivs"),
        (set_stage("activeSessionId", session_id(0, 1)), "stages[0].activeSessionId: derived"),
        (set_stage("tags", {"": "x"}), "stages[0].tags.(key): length must be at least 1"),
        (set_stage("sessions", None), "stages[0].sessions: expected a list"),
        (lambda data: data.update(version=2), "version: unknown member"),
        (lambda data: data.pop("stages"), "stages: missing or not a list"),
    ],
)
def test_errors_name_the_path(edit: Edit, message: str) -> None:
    data = build_scenario(sessions=2, participants=3, events=3, active=True)
    edit(data)
    with pytest.raises(ScenarioError) as caught:
        scenario.validate(data)
    assert str(caught.value).startswith(message), str(caught.value)


def test_every_model_enum_value_is_accepted() -> None:
    data = build_scenario(participants=2, events=2)
    events = person(data)["events"]
    events.clear()
    for n, name in enumerate(enum_values("EventName")):
        events.append({"name": name, "eventTime": f"2026-11-01T10:00:{n:02d}.000Z"})
    for n, code in enumerate(enum_values("EventErrorCode")):
        events.append(
            {
                "name": "PUBLISH_ERROR",
                "eventTime": f"2026-11-01T10:01:{n:02d}.0Z",
                "errorCode": code,
            }
        )
    scenario.validate(data)
    for value in enum_values("ParticipantProtocol"):
        person(data)["protocol"] = value
        scenario.validate(data)


def test_valid_scenarios_load(tmp_path: Path) -> None:
    data = build_scenario(stages=2, sessions=2, participants=3, events=3, active=True)
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(data))
    assert scenario.load(path) == data
    scenario.validate({"stages": []})
    person(data)["events"][0]["participantId"] = "p-00001"  # its own id may be given
    scenario.validate(data)


def test_load_names_a_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"stages": [')
    with pytest.raises(ScenarioError, match=r"broken\.json: not valid JSON"):
        scenario.load(path)


def test_generated_scenario_is_valid(simulator_factory: Any) -> None:
    generator = pytest.importorskip("local.generator")
    data = generator.generate_scenario(stages=2, sessions=2, participants=12, seed=3)
    scenario.validate(data)
    assert simulator_factory(data).stats()["api_calls"]["ListStages"] == 0


# --- the command ---------------------------------------------------------------------------
def simulate(path: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "local", "simulate", "--scenario", str(path), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_simulate_command_serves_until_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(build_scenario(stages=2)))
    process = simulate(path, "--tps", "50", "--seed", "4")
    try:
        assert process.stdout is not None
        endpoint = process.stdout.readline().strip()
        assert endpoint.startswith("http://127.0.0.1:")
        client = boto3.client("ivs-realtime", endpoint_url=endpoint, region_name="us-east-1")
        assert [s["arn"] for s in client.list_stages()["stages"]] == [stage_arn(0), stage_arn(1)]
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert '"ListStages": 1' in stderr


def test_simulate_command_rejects_a_bad_scenario(tmp_path: Path) -> None:
    data = build_scenario()
    person(data)["events"][1]["name"] = "JOIN"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    process = simulate(path)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert stdout == ""
    assert f"{E}.name: 'JOIN' is not an event name" in stderr
