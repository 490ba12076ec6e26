"""Benchmark sessions of an exact size: one stage, one ended session of `participants`
participants with `events` events each (a town hall: a few publishers, many subscribers).

The generator's sessions vary in size on purpose; a benchmark needs round numbers, so that
"10,000 participants, 260,000 events" means exactly that.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any

STAGE_ARN = "arn:aws:ivs:us-east-1:123456789012:stage/BenchStage0001"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PUBLISHERS = 12  # a real stage holds at most 12


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _token(user_id: str, expires: datetime, capabilities: list[str]) -> dict[str, Any]:
    return {
        "capabilities": capabilities,
        "attributes": {"tier": "standard"},
        "userId": user_id,
        "expirationTime": _iso(expires),
    }


def _events(
    index: int, joined: datetime, user_id: str, publishers: list[str], count: int
) -> list[dict[str, Any]]:
    """JOINED, TOKEN_EXCHANGED, PUBLISH_STARTED/STOPPED (publishers), SUBSCRIBE_STARTED/
    STOPPED pairs with the publishers, ..., LEFT: `count` events (at least 2)."""
    names: list[tuple[str, dict[str, Any]]] = [
        (
            "TOKEN_EXCHANGED",
            {
                "previousToken": _token(user_id, joined + timedelta(hours=1), ["SUBSCRIBE"]),
                "newToken": _token(user_id, joined + timedelta(hours=2), ["SUBSCRIBE"]),
            },
        )
    ]
    if index < PUBLISHERS:
        names += [("PUBLISH_STARTED", {}), ("PUBLISH_STOPPED", {})]
    pair = 0
    while len(names) < count - 2:
        remote = {"remoteParticipantId": publishers[pair % len(publishers)]}
        names += [("SUBSCRIBE_STARTED", remote), ("SUBSCRIBE_STOPPED", remote)]
        pair += 1
    middle = names[: max(0, count - 2)]
    if index % 50 == 49 and middle:
        middle[-1] = ("SUBSCRIBE_ERROR", {"errorCode": "INSUFFICIENT_CAPABILITIES"})
    timeline = [("JOINED", {}), *middle, ("LEFT", {})]
    return [
        {"name": name, "eventTime": _iso(joined + timedelta(seconds=2 * n)), **extra}
        for n, (name, extra) in enumerate(timeline)
    ]


def bench_scenario(participants: int, events: int = 26, seed: int = 0) -> dict[str, Any]:
    """One stage with one ended session of exactly `participants` x `events` events."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    ids = sorted({"".join(rng.choices(alphabet, k=12)) for _ in range(participants * 2)})
    ids = rng.sample(ids, participants)
    publishers = ids[: min(PUBLISHERS, participants)]
    people: list[dict[str, Any]] = []
    for index, participant_id in enumerate(ids):
        joined = START + timedelta(milliseconds=137 * index)
        user_id = f"user-{rng.randrange(10**8):08d}"
        people.append(
            {
                "participantId": participant_id,
                "userId": user_id,
                "state": "DISCONNECTED",
                "firstJoinTime": _iso(joined),
                "published": index < PUBLISHERS,
                "attributes": {"role": "host" if index < PUBLISHERS else "viewer"},
                "recordingState": "DISABLED",
                "protocol": "WHIP" if index < PUBLISHERS else "UNKNOWN",
                "osName": rng.choice(["Windows", "macOS", "iOS", "Android", "Linux"]),
                "osVersion": f"{rng.randint(10, 17)}.{rng.randint(0, 9)}",
                "browserName": rng.choice(["Chrome", "Safari", "Firefox", "Edge"]),
                "browserVersion": f"{rng.randint(100, 130)}.0",
                "sdkVersion": f"1.{rng.randint(10, 24)}.0",
                "ispName": rng.choice(["Comcast", "Verizon", "Vodafone", "Orange"]),
                "events": _events(index, joined, user_id, publishers, events),
            }
        )
    last = max(e["eventTime"] for p in people for e in p["events"])
    end = datetime.fromisoformat(last.replace("Z", "+00:00")) + timedelta(minutes=1)
    session = {
        "sessionId": f"st-{participants:013d}",
        "startTime": _iso(START),
        "endTime": _iso(end),
        "participants": people,
    }
    return {"stages": [{"arn": STAGE_ARN, "name": "bench", "tags": {}, "sessions": [session]}]}
