"""The simulator's injected faults are a function of the seed and the request, pages included:
a page after the first asks with a nextToken that each simulator signs with a secret of its own,
so the token differs from one run to the next, yet the page it asks for, and whether that request
fails, does not."""

from __future__ import annotations

import json
from typing import Any

from local.simulator import Simulator
from tests.helpers.scenario import build_scenario, raw_post

SCENARIO = build_scenario(participants=2, events=450)  # five pages of events each
STAGE = SCENARIO["stages"][0]
SESSION = STAGE["sessions"][0]["sessionId"]


def _listing(sim: Simulator) -> tuple[list[tuple[str, int, int]], list[str]]:
    """Every participant's events, page after page, each request repeated until it succeeds:
    (participant, page, status) of each request, and the tokens the simulator gave."""
    statuses, tokens = [], []
    for participant in ("p-00000", "p-00001"):
        token, page = None, 0
        while True:
            body: dict[str, Any] = {
                "stageArn": STAGE["arn"],
                "sessionId": SESSION,
                "participantId": participant,
                "maxResults": 100,
            } | ({"nextToken": token} if token else {})
            status, _, payload = raw_post(sim.endpoint_url, "ListParticipantEvents", body)
            statuses.append((participant, page, status))
            if status != 200:
                continue  # the same request again, as a retry makes it
            token, page = json.loads(payload).get("nextToken"), page + 1
            if not token:
                break
            tokens.append(token)
    return statuses, tokens


def test_the_same_seed_fails_the_same_pages_whatever_their_tokens(simulator_factory: Any) -> None:
    first, first_tokens = _listing(simulator_factory(SCENARIO, tps=0, fault_rate=0.4, seed=11))
    again, again_tokens = _listing(simulator_factory(SCENARIO, tps=0, fault_rate=0.4, seed=11))
    assert len(first_tokens) == 8  # four pages after the first, for each participant
    assert not set(first_tokens) & set(again_tokens)  # each simulator signs its own
    assert first == again
    failed_pages = {page for _, page, status in first if status != 200}
    assert failed_pages - {0}  # requests with a token failed, and failed the same
