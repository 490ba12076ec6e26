"""Shared by the tests: moved from conftest.py."""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

ACCOUNT = "123456789012"


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
