"""The simulator's operations, paging, validation and tokens, through a real boto3 client."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local.generator import generate_scenario
from local.simulator import Simulator
from local.simulator.model import service_model
from tests.helpers.scenario import build_scenario, raw_post, session_id, stage_arn

ARN = stage_arn(0)
SESSION = session_id(0, 0)


@pytest.fixture
def sim(simulator_factory: Any) -> Simulator:
    """Two stages, three ended sessions and an active one each, 5 participants, 4 events."""
    return simulator_factory(
        build_scenario(stages=2, sessions=3, participants=5, events=4, active=True), tps=0
    )


@pytest.fixture
def client(sim: Simulator, ivs_client_factory: Any) -> Any:
    return ivs_client_factory(sim.endpoint_url, retries={"max_attempts": 1})


@pytest.fixture
def unchecked(sim: Simulator, ivs_client_factory: Any) -> Any:
    """A client that skips botocore's own parameter checks, so the server's answer them."""
    return ivs_client_factory(
        sim.endpoint_url, parameter_validation=False, retries={"max_attempts": 1}
    )


def error_of(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    return status, response["Error"]["Code"], response["Error"]["Message"]


def all_pages(call: Any, key: str, **kwargs: Any) -> list[list[Any]]:
    pages, token = [], None
    while True:
        response = call(**kwargs, **({"nextToken": token} if token else {}))
        pages.append(response[key])
        token = response.get("nextToken")
        if token is None:
            return pages


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- every operation -----------------------------------------------------------------------
def test_stages_sorted_by_arn_with_active_session(client: Any) -> None:
    stages = client.list_stages()["stages"]
    assert [s["arn"] for s in stages] == [stage_arn(0), stage_arn(1)]
    assert stages[0] == {
        "arn": ARN,
        "name": "stage-0",
        "tags": {},
        "activeSessionId": session_id(0, 3),
    }
    assert client.get_stage(arn=ARN)["stage"] == stages[0]


def test_sessions_newest_first_and_active_has_no_end(client: Any) -> None:
    data = build_scenario(stages=2, sessions=3, participants=5, events=4, active=True)
    sessions = client.list_stage_sessions(stageArn=ARN)["stageSessions"]
    assert [s["sessionId"] for s in sessions] == [session_id(0, n) for n in (3, 2, 1, 0)]
    assert "endTime" not in sessions[0]
    expected = data["stages"][0]["sessions"][0]
    oldest = sessions[-1]
    assert oldest["startTime"] == when(expected["startTime"])
    assert oldest["endTime"] == when(expected["endTime"])
    assert client.get_stage_session(stageArn=ARN, sessionId=SESSION)["stageSession"] == oldest


def test_participants_are_summaries_and_get_participant_is_full(client: Any) -> None:
    people = client.list_participants(stageArn=ARN, sessionId=SESSION)["participants"]
    assert [p["participantId"] for p in people] == [f"p-{n:05d}" for n in range(5)]
    summary_members = set(service_model().shape_for("ParticipantSummary").members)
    assert all(set(p) <= summary_members for p in people)
    assert "attributes" not in people[0] and "osName" not in people[0]

    full = client.get_participant(stageArn=ARN, sessionId=SESSION, participantId="p-00000")
    participant = full["participant"]
    assert participant["attributes"] == {"role": "host"}
    assert participant["osName"] == "Linux"
    assert participant["protocol"] == "WHIP"
    assert participant["sdkVersion"] == "1.20.0"
    assert "events" not in participant


def test_events_in_order_with_participant_id_filled(client: Any) -> None:
    events = client.list_participant_events(
        stageArn=ARN, sessionId=SESSION, participantId="p-00002"
    )["events"]
    assert [e["name"] for e in events] == ["JOINED", "TOKEN_EXCHANGED", "TOKEN_EXCHANGED", "LEFT"]
    assert {e["participantId"] for e in events} == {"p-00002"}
    assert [e["eventTime"] for e in events] == sorted(e["eventTime"] for e in events)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("filterByUserId", "user-1", ["p-00001"]),
        ("filterByPublished", True, ["p-00000", "p-00002", "p-00004"]),
        ("filterByPublished", False, ["p-00001", "p-00003"]),
        ("filterByState", "CONNECTED", ["p-00000", "p-00003"]),
        ("filterByRecordingState", "STOPPED", ["p-00000", "p-00002", "p-00004"]),
    ],
)
def test_each_participant_filter(client: Any, name: str, value: Any, expected: list[str]) -> None:
    found = client.list_participants(stageArn=ARN, sessionId=SESSION, **{name: value})
    assert [p["participantId"] for p in found["participants"]] == expected


def test_two_filters_at_once_is_a_validation_error(client: Any) -> None:
    status, code, message = error_of(
        client.list_participants,
        stageArn=ARN,
        sessionId=SESSION,
        filterByPublished=True,
        filterByState="CONNECTED",
    )
    assert (status, code) == (400, "ValidationException")
    assert "filterByPublished" in message and "filterByState" in message


# --- paging --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("events", "page_size", "sizes"),
    [
        (100, 100, [100]),
        (101, 100, [100, 1]),
        (100, 50, [50, 50]),
        (101, 50, [50, 50, 1]),
        (101, None, [50, 50, 1]),  # default page size
        (7, 1, [1] * 7),
        (0, 100, [0]),
    ],
)
def test_event_pages(
    simulator_factory: Any,
    ivs_client_factory: Any,
    events: int,
    page_size: int | None,
    sizes: list[int],
) -> None:
    data = build_scenario(participants=1, events=events)
    client = ivs_client_factory(simulator_factory(data, tps=0).endpoint_url)
    extra = {"maxResults": page_size} if page_size else {}
    pages = all_pages(
        client.list_participant_events,
        "events",
        stageArn=ARN,
        sessionId=SESSION,
        participantId="p-00000",
        **extra,
    )
    assert [len(p) for p in pages] == sizes
    times = [e["eventTime"] for page in pages for e in page]
    expected = [
        when(e["eventTime"]) for e in data["stages"][0]["sessions"][0]["participants"][0]["events"]
    ]
    assert times == expected


@pytest.mark.parametrize(("participants", "page_size"), [(100, 100), (101, 100), (101, 50), (5, 1)])
def test_participant_pages_are_complete_and_sorted(
    simulator_factory: Any, ivs_client_factory: Any, participants: int, page_size: int
) -> None:
    data = build_scenario(participants=participants, events=0)
    client = ivs_client_factory(simulator_factory(data, tps=0).endpoint_url)
    pages = all_pages(
        client.list_participants,
        "participants",
        stageArn=ARN,
        sessionId=SESSION,
        maxResults=page_size,
    )
    assert all(len(p) == page_size for p in pages[:-1]) and 0 < len(pages[-1]) <= page_size
    ids = [p["participantId"] for page in pages for p in page]
    assert ids == sorted(f"p-{n:05d}" for n in range(participants))


def test_participants_may_be_listed_in_first_join_order(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    data = generate_scenario(stages=1, sessions=1, participants=150, seed=4)
    stage = data["stages"][0]
    session = next(s for s in stage["sessions"] if s["endTime"])
    sim = simulator_factory(data, tps=0, participant_order="firstJoinTime")
    pages = all_pages(
        ivs_client_factory(sim.endpoint_url).list_participants,
        "participants",
        stageArn=stage["arn"],
        sessionId=session["sessionId"],
        maxResults=40,
    )
    listed = [p["participantId"] for page in pages for p in page]
    people = session["participants"]
    by_join = sorted(people, key=lambda p: (when(p["firstJoinTime"]), p["participantId"]))
    assert listed == [p["participantId"] for p in by_join]
    assert listed != sorted(listed)  # a different order from the default one


def test_an_unknown_participant_order_is_refused() -> None:
    with pytest.raises(ValueError, match="participant_order must be one of"):
        Simulator(build_scenario(), participant_order="random")


def test_stage_and_session_pages_of_one(client: Any) -> None:
    stages = all_pages(client.list_stages, "stages", maxResults=1)
    assert [[s["arn"] for s in page] for page in stages] == [[stage_arn(0)], [stage_arn(1)]]
    sessions = all_pages(client.list_stage_sessions, "stageSessions", stageArn=ARN, maxResults=1)
    assert [page[0]["sessionId"] for page in sessions] == [session_id(0, n) for n in (3, 2, 1, 0)]


def test_page_size_may_change_between_pages(client: Any) -> None:
    first = client.list_participants(stageArn=ARN, sessionId=SESSION, maxResults=2)
    rest = client.list_participants(
        stageArn=ARN, sessionId=SESSION, maxResults=100, nextToken=first["nextToken"]
    )
    assert [p["participantId"] for p in first["participants"] + rest["participants"]] == [
        f"p-{n:05d}" for n in range(5)
    ]
    assert "nextToken" not in rest


# --- validation ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("operation", "params", "field"),
    [
        ("list_stages", {"maxResults": 0}, "maxResults"),
        ("list_stages", {"maxResults": 101}, "maxResults"),
        ("list_participant_events", {"maxResults": 101, "participantId": "p-00000"}, "maxResults"),
        ("list_stage_sessions", {"stageArn": "arn:aws:ivs:us-east-1:1:channel/x"}, "stageArn"),
        ("get_stage", {"arn": "not-an-arn"}, "arn"),
        ("get_stage", {"arn": ARN[:-4] + "x" * 120}, "arn"),  # longer than 128
        ("get_stage_session", {"sessionId": "st-short"}, "sessionId"),
        ("get_stage_session", {"sessionId": "xx-0123456789abc"}, "sessionId"),
        ("get_participant", {"participantId": "bad id!"}, "participantId"),
        ("list_participants", {"filterByState": "GONE"}, "filterByState"),
        ("list_participants", {"filterByRecordingState": "x"}, "filterByRecordingState"),
        ("list_participants", {"stageArn": None}, "stageArn"),  # missing required member
        ("get_participant", {"participantId": None}, "participantId"),
        ("list_stages", {"nextToken": "not a token!"}, "nextToken"),
    ],
)
def test_validation_errors_name_the_field(
    unchecked: Any, operation: str, params: dict[str, Any], field: str
) -> None:
    defaults = {"get_stage": {"arn": ARN}, "list_stages": {}}.get(
        operation, {"stageArn": ARN, "sessionId": SESSION, "participantId": "p-00000"}
    )
    op_model = service_model().operation_model(
        "".join(word.title() for word in operation.split("_"))
    )
    request = {k: v for k, v in {**defaults, **params}.items() if k in op_model.input_shape.members}
    request = {k: v for k, v in request.items() if v is not None}
    status, code, message = error_of(getattr(unchecked, operation), **request)
    assert (status, code) == (400, "ValidationException")
    assert re.search(rf"\b{field}\b", message), message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "Malformed JSON"),
        (b"[1, 2]", "Malformed JSON"),
        ({"stageArn": ARN, "colour": "blue"}, "colour"),
        ({"stageArn": ARN, "maxResults": "10"}, "maxResults"),
        ({}, "stageArn"),
    ],
)
def test_raw_request_errors(sim: Simulator, body: Any, words: str) -> None:
    status, headers, payload = raw_post(sim.endpoint_url, "ListStageSessions", body)
    assert status == 400
    assert headers["x-amzn-errortype"] == "ValidationException"
    assert words in payload.decode()


def test_unknown_operation_is_404(sim: Simulator) -> None:
    status, headers, _ = raw_post(sim.endpoint_url, "CreateStage", {})
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")


# --- not found -----------------------------------------------------------------------------
UNKNOWN_ARN = stage_arn(99)
UNKNOWN_SESSION = "st-ZZZZZZZZZZZZZ"


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("get_stage", {"arn": UNKNOWN_ARN}),
        ("get_stage_session", {"stageArn": UNKNOWN_ARN, "sessionId": SESSION}),
        ("get_stage_session", {"stageArn": ARN, "sessionId": UNKNOWN_SESSION}),
        ("get_participant", {"stageArn": ARN, "sessionId": SESSION, "participantId": "nobody"}),
        (
            "get_participant",
            {"stageArn": ARN, "sessionId": UNKNOWN_SESSION, "participantId": "p-00000"},
        ),
    ],
)
def test_not_found_where_the_model_declares_it(
    client: Any, operation: str, params: dict[str, str]
) -> None:
    status, code, _ = error_of(getattr(client, operation), **params)
    assert (status, code) == (404, "ResourceNotFoundException")


def test_lists_of_unknown_things_are_empty(client: Any) -> None:
    assert client.list_stage_sessions(stageArn=UNKNOWN_ARN)["stageSessions"] == []
    assert client.list_participants(stageArn=ARN, sessionId=UNKNOWN_SESSION)["participants"] == []
    events = client.list_participant_events(stageArn=ARN, sessionId=SESSION, participantId="nobody")
    assert events["events"] == [] and "nextToken" not in events


# --- tokens --------------------------------------------------------------------------------
def first_token(client: Any, **params: Any) -> str:
    token = client.list_participants(maxResults=2, **params)["nextToken"]
    assert isinstance(token, str)
    return token


def test_tokens_fit_the_model(client: Any) -> None:
    token = first_token(client, stageArn=ARN, sessionId=SESSION)
    shape = service_model().shape_for("PaginationToken")
    assert re.fullmatch(shape.metadata["pattern"], token)
    assert len(token) <= shape.metadata["max"]


def flip(token: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    char = token[index]
    return token[:index] + alphabet[(alphabet.index(char) + 1) % len(alphabet)] + token[index + 1 :]


def edited_payload(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-3] ^= 0x01  # change the key the token carries, keep the signature
    return base64.urlsafe_b64encode(bytes(raw)).decode()


def test_tampered_tokens_are_refused(client: Any) -> None:
    token = first_token(client, stageArn=ARN, sessionId=SESSION)
    for bad in (flip(token, 0), flip(token, len(token) // 2), edited_payload(token), token[:-4]):
        status, code, message = error_of(
            client.list_participants, stageArn=ARN, sessionId=SESSION, nextToken=bad
        )
        assert (status, code) == (400, "ValidationException") and "nextToken" in message


@pytest.mark.parametrize(
    "other",
    [
        {"stageArn": stage_arn(1), "sessionId": session_id(1, 0)},  # another stage
        {"stageArn": ARN, "sessionId": session_id(0, 1)},  # another session
        {"stageArn": ARN, "sessionId": SESSION, "filterByPublished": False},  # another filter
    ],
)
def test_token_from_a_different_request_is_refused(client: Any, other: dict[str, Any]) -> None:
    token = first_token(client, stageArn=ARN, sessionId=SESSION)
    status, code, message = error_of(client.list_participants, nextToken=token, **other)
    assert (status, code) == (400, "ValidationException") and "nextToken" in message


def test_token_from_another_operation_or_server_is_refused(
    client: Any, simulator_factory: Any, ivs_client_factory: Any
) -> None:
    stages_token = client.list_stages(maxResults=1)["nextToken"]
    status, code, _ = error_of(client.list_stage_sessions, stageArn=ARN, nextToken=stages_token)
    assert (status, code) == (400, "ValidationException")

    twin = simulator_factory(
        build_scenario(stages=2, sessions=3, participants=5, events=4, active=True)
    )
    twin_client = ivs_client_factory(twin.endpoint_url)
    foreign = twin_client.list_stages(maxResults=1)["nextToken"]
    status, code, _ = error_of(client.list_stages, maxResults=1, nextToken=foreign)
    assert (status, code) == (400, "ValidationException")
