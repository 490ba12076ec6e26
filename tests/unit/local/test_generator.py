"""The scenario generator: coherent, covering, valid, deterministic, scaling."""

from __future__ import annotations

import itertools
import json
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.generator import anchor, generate_scenario, latest_time, main, vocab
from local.simulator.scenario import validate

MODEL = botocore.session.get_session().get_service_model("ivs-realtime")
EVENT = MODEL.shape_for("Event")
EVENT_NAMES = set(EVENT.members["name"].enum)
ERROR_CODES = set(EVENT.members["errorCode"].enum)
PARTICIPANT_MEMBERS = set(MODEL.shape_for("Participant").members)
ALWAYS = {
    "participantId", "userId", "state", "firstJoinTime", "attributes", "published", "ispName",
    "recordingS3BucketName", "recordingS3Prefix", "recordingState", "protocol",
    "replicationType", "redundantIngest",
}  # fmt: skip
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
STAGE_ARN = re.compile(r"arn:aws:ivs:us-east-1:123456789012:stage/[a-zA-Z0-9]{12}")
SESSION_ID = re.compile(r"st-[a-zA-Z0-9]{13}")
PARTICIPANT_ID = re.compile(r"[a-zA-Z0-9]{12}")
STAGE_NAME = re.compile(r"[a-zA-Z0-9-_]*")
SIZES = {
    "stages": st.integers(1, 3),
    "sessions": st.integers(1, 3),
    "participants": st.integers(1, 25),
    "seed": st.integers(-(2**40), 2**40),
}


def at(value: str) -> datetime:
    assert TIME.fullmatch(value), value
    return datetime.fromisoformat(value)


def all_participants(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        participant
        for stage in scenario["stages"]
        for session in stage["sessions"]
        for participant in session["participants"]
    ]


def events(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for participant in all_participants(scenario) for event in participant["events"]]


# --- the coherence rules ----------------------------------------------------------------


def problems(scenario: dict[str, Any], sessions: int, now: datetime) -> list[str]:
    """Every broken rule of a scenario, as readable lines (empty when coherent)."""
    found: list[str] = []
    stages = {stage["arn"]: stage for stage in scenario["stages"]}
    for index, stage in enumerate(scenario["stages"]):
        name = stage["arn"]
        if not STAGE_ARN.fullmatch(name) or not STAGE_NAME.fullmatch(stage["name"]):
            found.append(f"{name}: bad stage arn or name {stage['name']!r}")
        ended = [s for s in stage["sessions"] if s["endTime"] is not None]
        active = [s for s in stage["sessions"] if s["endTime"] is None]
        if len(ended) != sessions or len(active) != index % 2:
            found.append(f"{name}: {len(ended)} ended and {len(active)} active sessions")
        spans = sorted(
            (at(s["startTime"]), at(s["endTime"]) if s["endTime"] else now)
            for s in stage["sessions"]
        )
        if any(later[0] <= earlier[1] for earlier, later in itertools.pairwise(spans)):
            found.append(f"{name}: sessions of one stage overlap")
        if spans and spans[0][0] < now - timedelta(days=7):
            found.append(f"{name}: a session older than 7 days before {now}")
        for session in stage["sessions"]:
            found += session_problems(stage, session, now, stages)
    return found


def session_problems(
    stage: dict[str, Any], session: dict[str, Any], now: datetime, stages: dict[str, Any]
) -> list[str]:
    sid = session["sessionId"]
    start = at(session["startTime"])
    end = at(session["endTime"]) if session["endTime"] else now
    found = [] if SESSION_ID.fullmatch(sid) and start < end <= now else [f"{sid}: bad id/times"]
    people = {p["participantId"]: p for p in session["participants"]}
    if len(people) != len(session["participants"]):
        found.append(f"{sid}: duplicate participant ids")
    publishing = {pid: publish_spans(p) for pid, p in people.items()}
    publishers = [pid for pid, spans in publishing.items() if spans]
    if not 1 <= len(publishers) <= 12:
        found.append(f"{sid}: {len(publishers)} publishers")
    replicas = {pid for pid, p in people.items() if p["replicationType"] == "REPLICA"}
    for participant in session["participants"]:
        where = f"{sid}/{participant['participantId']}"
        found += [f"{where}: {text}" for text in member_problems(participant)]
        found += [
            f"{where}: {text}"
            for text in event_problems(participant, start, end, publishing, replicas)
        ]
        found += [
            f"{where}: {text}" for text in replication_problems(stage, session, participant, stages)
        ]
        if participant["state"] == "CONNECTED" and session["endTime"] is not None:
            found.append(f"{where}: CONNECTED in an ended session")
    return found


def publish_spans(participant: dict[str, Any]) -> list[tuple[datetime, datetime | None]]:
    spans: list[tuple[datetime, datetime | None]] = []
    for event in participant["events"]:
        if event["name"] == "PUBLISH_STARTED":
            spans.append((at(event["eventTime"]), None))
        elif event["name"] == "PUBLISH_STOPPED" and spans:
            spans[-1] = (spans[-1][0], at(event["eventTime"]))
    return spans


def member_problems(participant: dict[str, Any]) -> list[str]:
    found = []
    if not PARTICIPANT_ID.fullmatch(participant["participantId"]):
        found.append("participant id is not 12 alphanumerics")
    if missing := ALWAYS - set(participant):
        found.append(f"missing {sorted(missing)}")
    if extra := set(participant) - PARTICIPANT_MEMBERS - {"events"}:
        found.append(f"not Participant members: {sorted(extra)}")
    ingest = participant["protocol"] in ("RTMP", "RTMPS")
    if ingest != ("ingestConfigurationArn" in participant):
        found.append("ingestConfigurationArn iff RTMP(S)")
    kind = participant["replicationType"]
    if (kind == "REPLICA") != (
        "sourceStageArn" in participant and "sourceSessionId" in participant
    ):
        found.append("source stage/session iff REPLICA")
    if (kind != "NONE") != ("replicationState" in participant):
        found.append("replicationState iff SOURCE or REPLICA")
    names = [event["name"] for event in participant["events"]]
    if participant["published"] != ("PUBLISH_STARTED" in names):
        found.append("published is not 'has PUBLISH_STARTED'")
    if (kind == "SOURCE") != ("REPLICATION_STARTED" in names):
        found.append("SOURCE iff REPLICATION_STARTED")
    joins = [e["eventTime"] for e in participant["events"] if e["name"] == "JOINED"]
    if not joins or participant["firstJoinTime"] != joins[0]:
        found.append("firstJoinTime is not the first JOINED")
    return found


def event_problems(
    participant: dict[str, Any],
    start: datetime,
    end: datetime,
    publishing: dict[str, list[tuple[datetime, datetime | None]]],
    replicas: set[str],
) -> list[str]:
    """Replay the participant's events through the state machine of a stage connection."""
    found: list[str] = []
    pid, events = participant["participantId"], participant["events"]
    if not events or events[0]["name"] != "JOINED":
        return ["the first event is not JOINED"]
    connected, published, replicating = False, False, False
    subscribed: set[str] = set()
    previous = start
    for seq, event in enumerate(events):
        name, when = event["name"], at(event["eventTime"])
        remote = event.get("remoteParticipantId")
        what = f"events[{seq}] {name}"
        if event.get("participantId") != pid or not isinstance(event.get("replica"), bool):
            found.append(f"{what}: participantId or replica missing")
        if not previous <= when <= end:
            found.append(f"{what}: {when} out of order or outside the session")
        previous = when
        if name.endswith("_ERROR") != (event.get("errorCode") in ERROR_CODES):
            found.append(f"{what}: errorCode {event.get('errorCode')!r}")
        if (name == "TOKEN_EXCHANGED") != ("previousToken" in event and "newToken" in event):
            found.append(f"{what}: tokens")
        if name.startswith("SUBSCRIBE"):
            if not publishing.get(remote):
                found.append(f"{what}: remote {remote!r} is not a publisher of the session")
            if event["replica"] != (remote in replicas):
                found.append(f"{what}: replica flag is not the remote's")
        elif event["replica"] != (pid in replicas):
            found.append(f"{what}: replica flag is not the participant's")
        ok = True
        if name == "JOINED":
            ok, connected = not connected, True
        elif name == "JOIN_ERROR":
            ok = not connected
        elif not connected:
            ok = False
        elif name == "LEFT":
            ok = not (published or subscribed or replicating)
            connected = False
        elif name == "PUBLISH_STARTED":
            ok, published = not published, True
        elif name == "PUBLISH_STOPPED":
            ok, published = published, False
        elif name == "REPLICATION_STARTED":
            ok, replicating = published and not replicating, True
        elif name == "REPLICATION_STOPPED":
            ok, replicating = replicating, False
        elif name == "SUBSCRIBE_STARTED":
            live = any(a <= when and (b is None or when <= b) for a, b in publishing[remote])
            ok = remote not in subscribed and remote != pid and live
            subscribed.add(remote)
        elif name == "SUBSCRIBE_STOPPED":
            ok = remote in subscribed
            subscribed.discard(remote)
        elif name == "TOKEN_EXCHANGED":
            ok = all(token_ok(event[key]) for key in ("previousToken", "newToken"))
        if not ok:
            found.append(f"{what} at {when}: incoherent")
    if (participant["state"] == "DISCONNECTED") != (events[-1]["name"] == "LEFT"):
        found.append(f"state {participant['state']} but the last event is {events[-1]['name']}")
    if connected != (participant["state"] == "CONNECTED"):
        found.append(f"state {participant['state']} but connected={connected}")
    return found


def token_ok(token: dict[str, Any]) -> bool:
    return (
        set(token) == {"capabilities", "attributes", "userId", "expirationTime"}
        and set(token["capabilities"]) <= {"PUBLISH", "SUBSCRIBE"}
        and isinstance(token["attributes"], dict)
        and isinstance(token["userId"], str)
        and bool(TIME.fullmatch(token["expirationTime"]))
    )


def replication_problems(
    stage: dict[str, Any],
    session: dict[str, Any],
    participant: dict[str, Any],
    stages: dict[str, Any],
) -> list[str]:
    """A replication names a session of another stage that holds the replica meanwhile."""
    found = []
    for event in participant["events"]:
        if event["name"] != "REPLICATION_STARTED":
            continue
        arn, sid = event["destinationStageArn"], event["destinationSessionId"]
        if arn == stage["arn"] or not SESSION_ID.fullmatch(sid):
            found.append(f"replicated to its own stage or a bad session {sid!r}")
        if arn not in stages:
            if len(stages) > 1:
                found.append(f"replicated to {arn}, not in the scenario")
            continue
        dest = {s["sessionId"]: s for s in stages[arn]["sessions"]}.get(sid)
        copies = (dest or {}).get("participants", [])
        replica = next(
            (p for p in copies if p["participantId"] == participant["participantId"]), None
        )
        if replica is None or replica["replicationType"] != "REPLICA":
            found.append(f"no replica in {sid}")
            continue
        if (replica["sourceStageArn"], replica["sourceSessionId"]) != (
            stage["arn"],
            session["sessionId"],
        ):
            found.append("the replica names another source")
        if at(replica["firstJoinTime"]) < at(event["eventTime"]):
            found.append("the replica joined before replication started")
    return found


# --- tests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default() -> dict[str, Any]:
    return generate_scenario()


def test_default_scenario_is_coherent_and_valid(default: dict[str, Any]) -> None:
    validate(default)
    assert problems(default, sessions=3, now=anchor(0)) == []


def test_default_scenario_covers_every_event_name_and_error_code(default: dict[str, Any]) -> None:
    every = events(default)
    assert {event["name"] for event in every} >= EVENT_NAMES
    assert {event["errorCode"] for event in every if "errorCode" in event} >= ERROR_CODES
    counts = Counter(len(p["events"]) for p in all_participants(default))
    assert counts[100] >= 1
    assert any(count > 100 for count in counts)


def test_default_scenario_uses_every_participant_member_and_more(default: dict[str, Any]) -> None:
    people = all_participants(default)
    assert set().union(*people) == PARTICIPANT_MEMBERS | {"events"}
    assert {p["protocol"] for p in people} >= {"UNKNOWN", "WHIP", "RTMPS"}
    assert {p["replicationType"] for p in people} == {"NONE", "SOURCE", "REPLICA"}
    assert {p["state"] for p in people} == {"CONNECTED", "DISCONNECTED"}
    assert any(e["replica"] for e in events(default) if e["name"] == "SUBSCRIBE_STARTED")
    stages = default["stages"]
    assert sum(1 for s in stages for x in s["sessions"] if x["endTime"] is None) == 1
    # the stage's RTMP(S) ingest configuration keeps its participant id across sessions
    first = stages[0]["sessions"][0]["participants"]
    encoder = next(p for p in first if "ingestConfigurationArn" in p)
    assert encoder["redundantIngest"] is True


@settings(max_examples=25, deadline=None)
@given(**SIZES)
def test_any_scenario_is_coherent_valid_and_covering(
    stages: int, sessions: int, participants: int, seed: int
) -> None:
    scenario = generate_scenario(
        stages=stages, sessions=sessions, participants=participants, seed=seed
    )
    validate(scenario)
    assert problems(scenario, sessions, anchor(seed)) == []
    every = events(scenario)
    assert {event["name"] for event in every} >= EVENT_NAMES
    assert {event.get("errorCode") for event in every} >= ERROR_CODES
    counts = {len(p["events"]) for p in all_participants(scenario)}
    assert 100 in counts and max(counts) > 100
    assert latest_time(scenario) < anchor(seed)


@settings(max_examples=10, deadline=None)
@given(seed=SIZES["seed"], hours=st.integers(0, 10**6))
def test_now_anchors_the_timeline(seed: int, hours: int) -> None:
    now = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(hours=hours, milliseconds=seed % 1000)
    scenario = generate_scenario(stages=2, sessions=2, participants=5, seed=seed, now=now)
    assert problems(scenario, 2, now) == []
    assert now - timedelta(hours=3) < latest_time(scenario) < now
    starts = [at(s["startTime"]) for stage in scenario["stages"] for s in stage["sessions"]]
    assert min(starts) >= now - timedelta(days=7)


@pytest.mark.parametrize("size", [20, 300])
def test_participants_scale_sessions(size: int) -> None:
    scenario = generate_scenario(stages=2, sessions=3, participants=size, seed=size)
    for stage in scenario["stages"]:
        for session in stage["sessions"]:
            people = session["participants"]
            assert 0.8 * size <= len(people) <= 1.2 * size + 1
            viewers = [p for p in people if not p["published"]]
            assert len(viewers) >= len(people) - 12


def test_cli_writes_stdout_and_rejects_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(stages=1, sessions=1, participants=3, seed=1, out=None) == 0
    validate(json.loads(capsys.readouterr().out))
    assert main(stages=0, sessions=1, participants=3, seed=1, out=None) == 2
    assert "stages" in capsys.readouterr().err
    with pytest.raises(ValueError, match="sessions"):
        generate_scenario(sessions=151)


def test_what_generate_says_counts_in_the_singular_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "one.json"
    assert main(stages=1, sessions=1, participants=1, seed=1, out=out) == 0
    scenario = json.loads(out.read_text())
    [stage] = scenario["stages"]
    [session] = stage["sessions"]
    people = session["participants"]
    events = sum(len(p["events"]) for p in people)
    said = capsys.readouterr().err.strip()
    assert said == (
        f"wrote {out}: 1 stage, 1 session (1 ended, 0 still active), "
        f"{len(people)} participant{'s' * (len(people) != 1)}, {events:,} events"
    )


def test_global_random_state_is_untouched() -> None:
    random.seed(123)
    expected = random.random()
    random.seed(123)
    generate_scenario(stages=1, sessions=1, participants=10, seed=5)
    assert random.random() == expected


def test_new_model_values_flow_through(monkeypatch: pytest.MonkeyPatch) -> None:
    codes, names = vocab.error_codes(), vocab.event_names()
    monkeypatch.setattr(vocab, "error_codes", lambda: (*codes, "SOMETHING_NEW"))
    monkeypatch.setattr(vocab, "event_names", lambda: (*names, "SOMETHING_HAPPENED"))
    scenario = generate_scenario(stages=1, sessions=1, participants=5, seed=3)
    every = events(scenario)
    assert "SOMETHING_NEW" in {event.get("errorCode") for event in every}
    assert "SOMETHING_HAPPENED" in {event["name"] for event in every}


def _publisher_and_viewer(scenario: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    people = scenario["stages"][0]["sessions"][0]["participants"]
    host = people[0]
    viewer = next(p for p in people if not p["published"] and p["state"] == "DISCONNECTED")
    return host, viewer


def _swap_first_two(p: dict[str, Any]) -> None:
    p["events"][0], p["events"][1] = p["events"][1], p["events"][0]


def _subscribe_to_viewer(host: dict[str, Any], viewer: dict[str, Any]) -> None:
    event = next(e for e in host["events"] if e["name"] == "SUBSCRIBE_STARTED")
    event["remoteParticipantId"] = viewer["participantId"]


CORRUPTIONS = {
    "order": lambda host, viewer: _swap_first_two(viewer),
    "published": lambda host, viewer: host.update(published=False),
    "no LEFT": lambda host, viewer: viewer["events"].pop(),
    "remote": _subscribe_to_viewer,
    "replica": lambda host, viewer: viewer["events"][0].update(replica=True),
    "late": lambda host, viewer: viewer["events"][-1].update(eventTime="2099-01-01T00:00:00.000Z"),
    "state": lambda host, viewer: viewer.update(state="CONNECTED"),
    "error code": lambda host, viewer: viewer["events"][0].update(errorCode="QUOTA_EXCEEDED"),
    "first join": lambda host, viewer: viewer.update(
        firstJoinTime=viewer["events"][-1]["eventTime"]
    ),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_the_coherence_rules_catch_a_corrupted_scenario(corruption: str) -> None:
    scenario = generate_scenario(stages=1, sessions=1, participants=20, seed=11)
    assert problems(scenario, 1, anchor(11)) == []
    CORRUPTIONS[corruption](*_publisher_and_viewer(scenario))
    assert problems(scenario, 1, anchor(11)) != []


@pytest.mark.parametrize(("stages", "sessions", "participants"), [(2, 150, 1), (12, 1, 2)])
def test_extreme_sizes_stay_coherent(stages: int, sessions: int, participants: int) -> None:
    scenario = generate_scenario(stages=stages, sessions=sessions, participants=participants)
    validate(scenario)
    assert problems(scenario, sessions, anchor(0)) == []
    assert len({stage["name"] for stage in scenario["stages"]}) == stages


# --- places (issue 17) ----------------------------------------------------------------------
def test_a_scenario_spread_over_places_moves_each_stage_with_its_resources() -> None:
    from local.generator.places import spread

    plain = generate_scenario(stages=5, sessions=2, participants=6, seed=4)
    spread_out = spread(plain, ["us-east-1", "ap-northeast-1"], 2)
    validate(spread_out)
    places = [tuple(stage["arn"].split(":")[3:5]) for stage in spread_out["stages"]]
    assert places == [
        ("us-east-1", "123456789012"),
        ("ap-northeast-1", "123456789012"),
        ("us-east-1", "234567890121"),
        ("ap-northeast-1", "234567890121"),
        ("us-east-1", "123456789012"),
    ]
    # The same stages, sessions and events; only where they are changed.
    for before, after in zip(plain["stages"], spread_out["stages"], strict=True):
        assert before["arn"].rsplit("/", 1)[1] == after["arn"].rsplit("/", 1)[1]
        assert len(before["sessions"]) == len(after["sessions"])
    moved = {b["arn"]: a["arn"] for b, a in zip(plain["stages"], spread_out["stages"], strict=True)}
    text = json.dumps(spread_out)
    assert not any(old in text for old, new in moved.items() if old != new)
    for stage in spread_out["stages"]:  # a stage's own resources are in its place
        prefix = stage["arn"].rsplit(":", 1)[0]
        arns = re.findall(r'"(arn:aws:ivs:[^"]+)"', json.dumps(stage))
        own = [a for a in arns if ":stage/" not in a]
        assert all(a.startswith(prefix) for a in own), stage["arn"]


@pytest.mark.parametrize(
    ("regions", "accounts", "named"),
    [
        (["us-east-9"], 1, "us-east-9"),
        (["us-east-1", "us-east-1"], 1, "once"),
        (["eu-west-1"], 13, "accounts"),
    ],
)
def test_places_that_cannot_be_are_refused(regions: list[str], accounts: int, named: str) -> None:
    from local.generator.places import spread

    with pytest.raises(ValueError, match=named):
        spread(generate_scenario(stages=1, sessions=1, participants=2), regions, accounts)
