"""Discovery at fleet scale: a reconcile of thousands of stages that no single run can finish
goes on from a cursor, each run within its time and its share of the quota, hints first."""

from __future__ import annotations

import json
import time
from typing import Any

from archiver.discovery_state import DiscoveryState
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.scenario import session_id, stage_arn

STAGES = 2000
WITH_SESSIONS = range(0, STAGES, 100)  # 20 stages with one ended session each
INVOCATION_MS = 4000
MIN_REMAINING_MS = 2000  # so each run lists for about two seconds, with room to stop


def _session(stage: int, index: int, day: int) -> dict[str, Any]:
    return {
        "sessionId": session_id(stage, index),
        "startTime": f"2026-11-{day:02d}T10:00:00.000Z",
        "endTime": f"2026-11-{day:02d}T10:30:00.000Z",
        "participants": [],
    }


def _scenario() -> dict[str, Any]:
    return {
        "stages": [
            {
                "arn": stage_arn(i),
                "name": f"stage-{i}",
                "tags": {},
                "sessions": [_session(i, 0, 20)] if i in WITH_SESSIONS else [],
            }
            for i in range(STAGES)
        ]
    }


def _queued(pipeline: EmbeddedPipeline) -> list[tuple[str, str]]:
    messages = []
    while batch := pipeline.account.sqs.receive_message(
        QueueUrl=pipeline.account.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60
    ).get("Messages", []):
        messages += [json.loads(m["Body"]) for m in batch]
    return [(m["stageArn"], m["sessionId"]) for m in messages]


def _listings(pipeline: EmbeddedPipeline) -> int:
    return int(pipeline.simulator.stats()["api_calls"].get("ListStageSessions", 0))


def test_a_reconcile_too_big_for_one_run_continues_from_its_cursor_hints_first() -> None:
    options = Options(tps=1000.0, budget=800.0, min_remaining_ms=MIN_REMAINING_MS)
    with EmbeddedPipeline(_scenario(), options) as pipeline:
        state = DiscoveryState(pipeline.account.ledger_table)
        queued: list[tuple[str, str]] = []
        per_run: list[int] = []
        durations: list[float] = []

        def run(event: dict[str, Any] | None = None) -> None:
            before = _listings(pipeline)
            started = time.monotonic()
            pipeline.discover(event, invocation_ms=INVOCATION_MS)
            durations.append(time.monotonic() - started)
            per_run.append(_listings(pipeline) - before)
            queued.extend(_queued(pipeline))

        run()
        first = state.reconcile()
        assert first.cursor is not None and first.last_complete is None  # under way
        # A short session on the very last stage, named by an IVS event: the next run lists
        # that stage first, long before the cursor gets there.
        last = STAGES - 1
        pipeline.simulator.start_session(stage_arn(last), _session(last, 1, 21))
        pipeline.discover(
            {
                "version": "0",
                "id": "00000000-0000-0000-0000-000000000001",
                "detail-type": "IVS Stage Update",
                "source": "aws.ivs",
                "account": "123456789012",
                "time": "2026-11-21T10:10:00Z",
                "region": "us-east-1",
                "resources": [stage_arn(last)],
                "detail": {
                    "session_id": session_id(last, 1),
                    "event_name": "Participant Published",
                },
            }
        )
        run()
        second = state.reconcile()
        assert second.cursor is not None and second.cursor < stage_arn(last)
        assert (stage_arn(last), session_id(last, 1)) in queued

        runs = 2
        while state.reconcile().last_complete is None:
            run()
            runs += 1
            assert runs < 50, "the reconcile does not finish"

    # Each stage listed once by the pass, and the hinted one once more for its hint.
    assert sum(per_run) == STAGES + 1
    assert runs >= 3, "the test must need several runs"
    assert all(d * 1000 <= INVOCATION_MS for d in durations), durations
    expected = {(stage_arn(i), session_id(i, 0)) for i in WITH_SESSIONS}
    expected.add((stage_arn(last), session_id(last, 1)))
    assert sorted(queued) == sorted(expected)  # each once
    assert pipeline.simulator.stats()["throttled"] == 0
