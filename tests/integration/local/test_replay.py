"""A live replay ends (local/replay.py): once every ended session is archived, expired or
dead-lettered and every outage is over; and, should nothing move any more (discovery never
finding a session), after a bounded simulated time. The stand-ins are real (the simulator in
live mode, moto's SQS moving a message to the dead-letter queue after 5 receives); archive
workers are not needed to see when it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest

from local import report
from local.account import MAX_RECEIVES
from local.pipeline import EmbeddedPipeline, Options
from local.replay import Replay
from local.simulator.outages import Outage
from tests.helpers.scenario import build_scenario, stage_arn

# A simulated hour in 1.2 wall seconds: each session below lasts 50 minutes.
SPEED = 3000.0


def _pipeline(scenario: dict[str, Any], **options: Any) -> EmbeddedPipeline:
    return EmbeddedPipeline(
        scenario, Options(live=True, speed=SPEED, event_loss=0.0, event_delay_s=0.0, **options)
    )


def _ended(scenario: dict[str, Any]) -> datetime:
    return max(
        datetime.fromisoformat(s["endTime"].replace("Z", "+00:00"))
        for stage in scenario["stages"]
        for s in stage["sessions"]
        if s["endTime"]
    )


class FailingWorker:
    """Takes every message of the work queue and never deletes it, as an archive function that
    fails each time would: after MAX_RECEIVES receives, SQS moves it to the dead-letter queue."""

    def __init__(self, pipeline: EmbeddedPipeline) -> None:
        self.sqs = boto3.client("sqs")  # made here: a default session is not for threads
        self.queue = pipeline.account.queue_url
        self.received: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            answer = self.sqs.receive_message(
                QueueUrl=self.queue, MaxNumberOfMessages=10, VisibilityTimeout=0
            )
            for message in answer.get("Messages", []):
                self.received[message["Body"]] = self.received.get(message["Body"], 0) + 1
            time.sleep(0.02)

    def __enter__(self) -> FailingWorker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def scenario() -> dict[str, Any]:
    return build_scenario(stages=2, sessions=1, participants=2)


def test_a_dead_lettered_session_counts_as_finished(scenario: dict[str, Any]) -> None:
    """Before, the replay counted only ARCHIVED and EXPIRED sessions and waited for ever."""
    with _pipeline(scenario) as pipeline, FailingWorker(pipeline) as worker:
        replay = Replay(pipeline, scenario)
        assert replay.run(deadline_s=60), "the replay did not end"
        ended_at = replay.now()
        fates = report.fates(
            scenario,
            pipeline.account.ledger_sessions(),
            pipeline.account.dead_letters(),
            pipeline.last_error,
        )
    assert not replay.stalled
    assert [f.kind for f in fates] == [report.DEAD, report.DEAD]
    assert sorted(worker.received.values()) == [MAX_RECEIVES, MAX_RECEIVES]
    # It ended once the second was dead-lettered, not after waiting for anything more.
    assert (ended_at - _ended(scenario)).total_seconds() < replay.stall.total_seconds() / 2


def test_the_dead_letters_stay_for_the_account_after_the_replay_looked(
    scenario: dict[str, Any],
) -> None:
    """The replay takes them off the dead-letter queue to see them; the account still gets
    every one, each time it asks."""
    with _pipeline(scenario) as pipeline, FailingWorker(pipeline):
        assert Replay(pipeline, scenario).run(deadline_s=60)
        first = pipeline.account.dead_letters()
        assert len(first) == 2
        assert pipeline.account.dead_letters() == first


def test_a_replay_lasts_until_its_outage_is_over(scenario: dict[str, Any]) -> None:
    """Every session archived long before (none here: a scenario whose sessions never end), the
    replay still runs through the outage, so that what happens after it is seen."""
    for stage in scenario["stages"]:
        for session in stage["sessions"]:
            session["endTime"] = None
    # The replay starts a minute before the first session, 10:00; the outage ends at 11:29.
    with _pipeline(scenario, outages=(Outage(60, 30),)) as pipeline:
        replay = Replay(pipeline, scenario)
        assert replay.run(deadline_s=60)
        assert replay.now() >= pipeline.simulator.outages.windows[0][1]
        assert pipeline.simulator.stats()["outage_failures"] > 0  # discovery met it
    assert not replay.stalled


def test_a_replay_in_which_nothing_moves_ends_after_a_bounded_time(
    scenario: dict[str, Any],
) -> None:
    """Discovery never finds the sessions (their stages are not allowed): the work queue stays
    empty and the ledger unchanged; the replay ends once that has lasted `stall`, and says so."""
    with _pipeline(scenario, stage_allow_list=(stage_arn(9),)) as pipeline:
        replay = Replay(pipeline, scenario)
        assert replay.run(deadline_s=60)
        still = replay.now() - _ended(scenario)
        assert pipeline.account.ledger_sessions() == []
    assert replay.stalled
    assert replay.stall <= still <= replay.stall * 1.5


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The replay looks at the ledger every 0.2 s instead of every second."""
    monkeypatch.setattr("local.replay.LEDGER_EVERY_S", 0.2)
    yield
