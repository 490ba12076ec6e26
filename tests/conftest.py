"""Shared fixtures: fake AWS credentials for every test, the IVS simulator and its clients."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from local.simulator import Simulator

# jsii starts node on the first aws_cdk import: keep its end-of-life banner out of the tests.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ACCOUNT = "123456789012"
_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never reach real AWS: fake credentials, us-east-1, no profile, no endpoint overrides."""
    for name in list(os.environ):
        if name == "AWS_PROFILE" or name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    for name, value in _FAKE_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def simulator_factory() -> Iterator[Callable[..., Simulator]]:
    """`simulator_factory(scenario, tps=5, latency_ms=0, fault_rate=0, seed=0)` -> a running
    Simulator on a free port, stopped at teardown."""
    started: list[Simulator] = []

    def start(scenario: dict[str, Any], **options: Any) -> Simulator:
        simulator = Simulator(scenario, **options).start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def ivs_client_factory() -> Callable[..., Any]:
    """`ivs_client_factory(endpoint_url, **config)` -> a boto3 ivs-realtime client; `config`
    goes to botocore's Config (e.g. retries={"mode": "adaptive"}, parameter_validation=False)."""

    def make(endpoint_url: str, **config: Any) -> Any:
        return boto3.client(
            "ivs-realtime",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            config=Config(**config),
        )

    return make


def raw_post(endpoint_url: str, operation: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    """POST /<operation> with `body` (bytes as is, anything else as JSON), unsigned, over plain
    http.client: (status, lower-cased headers, body)."""
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    address = urlsplit(endpoint_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=30)
    try:
        connection.request("POST", f"/{operation}", payload, {"Content-Type": "application/json"})
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        connection.close()


def stage_arn(index: int) -> str:
    return f"arn:aws:ivs:us-east-1:{ACCOUNT}:stage/Stage{index:04d}abcd"


def session_id(stage: int, index: int) -> str:
    return f"st-{stage:04d}{index:05d}abcd"  # 16 characters, as the model requires


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def build_scenario(
    stages: int = 1,
    sessions: int = 1,
    participants: int = 3,
    events: int = 2,
    active: bool = False,
) -> dict[str, Any]:
    """A small valid scenario: `sessions` ended sessions per stage (one hour apart, the first
    the oldest), plus an active one when `active`; every participant JOINED then LEFT ...,
    `events` events each (TOKEN_EXCHANGED filling the middle)."""
    base = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    data: dict[str, Any] = {"stages": []}
    for s in range(stages):
        stage: dict[str, Any] = {"arn": stage_arn(s), "name": f"stage-{s}", "tags": {}}
        stage["sessions"] = []
        for n in range(sessions + (1 if active else 0)):
            start = base + timedelta(hours=n)
            people = []
            for p in range(participants):
                times = [start + timedelta(seconds=1 + p, milliseconds=e) for e in range(events)]
                names = ["JOINED"] + ["TOKEN_EXCHANGED"] * max(0, events - 2) + ["LEFT"]
                people.append(
                    {
                        "participantId": f"p-{p:05d}",
                        "userId": f"user-{p % 7}",
                        "state": "DISCONNECTED" if p % 3 else "CONNECTED",
                        "firstJoinTime": iso(start + timedelta(seconds=1 + p)),
                        "published": p % 2 == 0,
                        "attributes": {"role": "host" if p == 0 else "guest"},
                        "recordingState": "STOPPED" if p % 2 == 0 else "DISABLED",
                        "protocol": "WHIP",
                        "osName": "Linux",
                        "browserName": "Firefox",
                        "sdkVersion": "1.20.0",
                        "events": [
                            {"name": name, "eventTime": iso(moment)}
                            for name, moment in zip(names[:events], times, strict=True)
                        ],
                    }
                )
            ended = n < sessions
            stage["sessions"].append(
                {
                    "sessionId": session_id(s, n),
                    "startTime": iso(start),
                    "endTime": iso(start + timedelta(minutes=50)) if ended else None,
                    "participants": people,
                }
            )
        data["stages"].append(stage)
    return data


@pytest.fixture
def scenario_builder() -> Callable[..., dict[str, Any]]:
    """`scenario_builder(stages=1, sessions=1, participants=3, events=2, active=False)`."""
    return build_scenario
