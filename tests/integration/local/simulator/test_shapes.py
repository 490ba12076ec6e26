"""Raw responses hold only members of the installed model's output shapes; botocore parses them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.model import Shape
from botocore.parsers import RestJSONParser

from local.simulator import Simulator
from local.simulator.model import parse_time, service_model
from tests.helpers.scenario import build_scenario, raw_post, session_id, stage_arn

ARN = stage_arn(0)
SESSION = session_id(0, 0)
TOKEN = {
    "capabilities": ["PUBLISH", "SUBSCRIBE"],
    "attributes": {"seat": "12"},
    "userId": "user-0",
    "expirationTime": "2026-11-02T10:00:00.000Z",
}


def rich_scenario() -> dict[str, Any]:
    """Every member the model has, on the stage, a participant and its events."""
    data = build_scenario(sessions=1, participants=2, events=2, active=True)
    stage = data["stages"][0]
    stage["autoParticipantRecordingConfiguration"] = {
        "storageConfigurationArn": "arn:aws:ivs:us-east-1:123456789012:storage-configuration/abc",
        "mediaTypes": ["AUDIO_VIDEO"],
    }
    stage["endpoints"] = {"whip": "https://global.whip.live-video.net"}
    stage["tags"] = {"team": "events"}
    person = stage["sessions"][0]["participants"][0]
    person.update(
        ispName="Example ISP",
        osVersion="14",
        browserVersion="120.0",
        recordingS3BucketName="recordings-bucket",
        recordingS3Prefix="prefix-1",
        replicationType="SOURCE",
        replicationState="ACTIVE",
        sourceStageArn=stage_arn(5),
        sourceSessionId=session_id(5, 0),
        redundantIngest=False,
        ingestConfigurationArn="arn:aws:ivs:us-east-1:123456789012:ingest-configuration/xyz",
    )
    person["events"] = [
        {"name": "JOINED", "eventTime": "2026-11-01T10:00:01.000Z", "participantId": "p-00000"},
        {
            "name": "SUBSCRIBE_ERROR",
            "eventTime": "2026-11-01T10:00:02.5+00:00",
            "remoteParticipantId": "p-00001",
            "errorCode": "PUBLISHER_NOT_FOUND",
        },
        {
            "name": "TOKEN_EXCHANGED",
            "eventTime": "2026-11-01T11:00:03.000+01:00",
            "previousToken": TOKEN,
            "newToken": {**TOKEN, "capabilities": ["SUBSCRIBE"]},
        },
        {
            "name": "REPLICATION_STARTED",
            "eventTime": "2026-11-01T10:00:04.000Z",
            "destinationStageArn": stage_arn(6),
            "destinationSessionId": session_id(6, 0),
            "replica": False,
        },
    ]
    return data


def assert_model_members(value: Any, shape: Shape, path: str = "$") -> int:
    """Fail on anything `shape` lacks (recursively); return how many leaves were checked."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{path}: {unknown} not in {shape.name}"
        return sum(
            assert_model_members(item, shape.members[key], f"{path}.{key}")
            for key, item in value.items()
        )
    if kind == "list":
        assert isinstance(value, list), path
        return sum(
            assert_model_members(v, shape.member, f"{path}[{i}]") for i, v in enumerate(value)
        )
    if kind == "map":
        assert isinstance(value, dict), path
        return sum(assert_model_members(v, shape.value, f"{path}.{k}") for k, v in value.items())
    if kind == "timestamp":
        assert shape.serialization.get("timestampFormat") == "iso8601"
        parse_time(value)
        assert value.endswith("Z") and len(value) == len("2026-11-01T10:00:00.000Z"), value
    elif kind == "boolean":
        assert isinstance(value, bool), path
    elif kind == "integer":
        assert isinstance(value, int), path
    else:
        assert isinstance(value, str), path
        if shape.enum:
            assert value in shape.enum, path
    return 1


REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("ListStages", {}),
    ("GetStage", {"arn": ARN}),
    ("ListStageSessions", {"stageArn": ARN}),
    ("GetStageSession", {"stageArn": ARN, "sessionId": SESSION}),
    ("ListParticipants", {"stageArn": ARN, "sessionId": SESSION, "maxResults": 1}),
    ("GetParticipant", {"stageArn": ARN, "sessionId": SESSION, "participantId": "p-00000"}),
    ("ListParticipantEvents", {"stageArn": ARN, "sessionId": SESSION, "participantId": "p-00000"}),
]


@pytest.fixture
def sim(simulator_factory: Any) -> Simulator:
    return simulator_factory(rich_scenario(), tps=0)


@pytest.mark.parametrize(("operation", "params"), REQUESTS)
def test_raw_response_holds_only_model_members_and_parses(
    sim: Simulator, ivs_client_factory: Any, operation: str, params: dict[str, Any]
) -> None:
    status, headers, body = raw_post(sim.endpoint_url, operation, params)
    assert status == 200
    assert headers["content-type"] == "application/json"
    output = service_model().operation_model(operation).output_shape
    document = json.loads(body)
    assert assert_model_members(document, output) > 0
    assert set(output.required_members) <= set(document)

    parsed = RestJSONParser().parse(
        {"status_code": status, "headers": headers, "body": body}, output
    )
    method = "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
    through_boto3 = getattr(ivs_client_factory(sim.endpoint_url), method)(**params)
    through_boto3.pop("ResponseMetadata")
    parsed.pop("ResponseMetadata", None)
    assert parsed == through_boto3


def test_summary_is_not_the_full_shape(sim: Simulator) -> None:
    """The scenario holds Stage/Participant members; listings keep only the summary ones."""
    _, _, stages = raw_post(sim.endpoint_url, "ListStages", {})
    stage = json.loads(stages)["stages"][0]
    assert set(stage) == {"arn", "name", "tags", "activeSessionId"}
    _, _, full_stage = raw_post(sim.endpoint_url, "GetStage", {"arn": ARN})
    assert "endpoints" in json.loads(full_stage)["stage"]

    _, _, people = raw_post(sim.endpoint_url, "ListParticipants", dict(REQUESTS[4][1]))
    summary = json.loads(people)["participants"][0]
    assert {"osName", "attributes", "ispName", "protocol", "events"}.isdisjoint(summary)
    assert summary["replicationType"] == "SOURCE"
    _, _, full = raw_post(sim.endpoint_url, "GetParticipant", dict(REQUESTS[5][1]))
    assert json.loads(full)["participant"]["ispName"] == "Example ISP"


def test_times_are_served_canonical_utc_milliseconds(sim: Simulator) -> None:
    _, _, body = raw_post(sim.endpoint_url, "ListParticipantEvents", dict(REQUESTS[6][1]))
    times = [e["eventTime"] for e in json.loads(body)["events"]]
    assert times == [
        "2026-11-01T10:00:01.000Z",
        "2026-11-01T10:00:02.500Z",
        "2026-11-01T10:00:03.000Z",
        "2026-11-01T10:00:04.000Z",
    ]


@pytest.mark.parametrize(
    ("operation", "params", "status", "code"),
    [
        ("GetStage", {"arn": stage_arn(9)}, 404, "ResourceNotFoundException"),
        ("ListStages", {"maxResults": 0}, 400, "ValidationException"),
    ],
)
def test_error_responses_parse_with_botocore(
    sim: Simulator, operation: str, params: dict[str, Any], status: int, code: str
) -> None:
    got_status, headers, body = raw_post(sim.endpoint_url, operation, params)
    assert got_status == status
    error_shape = service_model().shape_for(code)
    assert error_shape.metadata["error"]["httpStatusCode"] == status
    assert set(json.loads(body)) <= {*error_shape.members, "message"}
    parsed = RestJSONParser().parse(
        {"status_code": status, "headers": headers, "body": body},
        service_model().operation_model(operation).output_shape,
    )
    assert parsed["Error"]["Code"] == code
    assert parsed["Error"]["Message"]
