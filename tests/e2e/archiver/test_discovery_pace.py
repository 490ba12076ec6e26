"""How often discovery looks and lists. Every scheduled run (every minute) looks at ListStages
while a stage had a live session at the last look, or an IVS event named one; while none did,
every `idleLookMinutes`. And it keeps to its share of each IVS operation's quota
(`discoveryQuotaShare`): thousands of stages make it look and list less often, the customer's
application throttling it makes it back off, instead of a fixed interval's calls whatever they
cost.

Discovery runs against the IVS simulator and moto, as in AWS, with AWS's quota (5 calls a second
per operation) in its settings. Its time (the allowance's clock, archiver.clock and the
invocation's deadline) is a fake one that each scheduled run moves to the next minute, and that a
wait for the allowance moves on: an hour of runs takes seconds. The simulator itself counts the
calls (every attempt, 429s included).
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from archiver import clock
from archiver.discovery import (
    LIST_STAGE_SESSIONS,
    LIST_STAGES,
    MOST_OWED,
    SAVED_UP_S,
    Discovery,
    DiscoveryResult,
)
from archiver.discovery_state import DiscoveryState, Pace
from archiver.eventbridge import parse_discover_event
from archiver.ivs import IvsClient
from archiver.ledger import iso
from archiver.settings import IVS_TPS_QUOTA, Settings
from local.lambda_emulation import scheduled_event
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.scenario import session_id, stage_arn

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MINUTE = 60.0


class FakeTime:
    """The discovery's time: the wall clock of its allowance and archiver.clock, as one."""

    def __init__(self) -> None:
        self.t = START.timestamp()

    def wall(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)


@dataclass
class Run:
    began: float  # fake seconds from START
    ended: float
    result: DiscoveryResult
    calls: dict[str, int]  # attempts per operation the simulator saw in this run
    throttled: dict[str, int]


def _session(stage: int, index: int, start: datetime, end: datetime | None) -> dict[str, Any]:
    return {
        "sessionId": session_id(stage, index),
        "startTime": iso(start),
        "endTime": iso(end) if end else None,
        "participants": [],
    }


def _stage_update(stage: str, session: str) -> dict[str, Any]:
    """A "Participant Unpublished" event, as the stack's rule passes it to discovery."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "IVS Stage Update",
        "source": "aws.ivs",
        "account": "123456789012",
        "time": "2026-11-20T12:00:00Z",
        "region": "us-east-1",
        "resources": [stage],
        "detail": {"session_id": session, "event_name": "Participant Unpublished"},
    }


def _scenario(stages: int) -> dict[str, Any]:
    """`stages` stages; the first has a live session (so every run has a reason to look)."""
    live = _session(0, 0, START - timedelta(hours=1), None)
    return {
        "stages": [
            {
                "arn": stage_arn(i),
                "name": f"stage-{i}",
                "tags": {},
                "sessions": [live] if i == 0 else [],
            }
            for i in range(stages)
        ]
    }


def _seed(
    table_name: str,
    scenario: dict[str, Any],
    *,
    reconciled: datetime,
    looked: datetime = START - timedelta(minutes=1),
) -> None:
    """The ledger of a discovery that has been running: every stage as its last look saw it
    (the items DiscoveryState.record_stage writes, in batches), the last complete reconcile,
    and that last look (`looked`) in its pace."""
    table = boto3.resource("dynamodb").Table(table_name)
    with table.batch_writer() as batch:
        for stage in scenario["stages"]:
            live = [s["sessionId"] for s in stage["sessions"] if s["endTime"] is None]
            batch.put_item(
                Item={
                    "pk": "STAGES",
                    "sk": stage["arn"],
                    "activeSessionId": live[0] if live else None,
                    "name": stage["name"],
                    "seenAt": iso(START - timedelta(minutes=1)),
                }
            )
    state = DiscoveryState(table_name)
    state.complete_reconcile(reconciled)
    pages = math.ceil(len(scenario["stages"]) / 100)
    busy = sum(1 for st in scenario["stages"] for s in st["sessions"] if s["endTime"] is None)
    state.save_pace(Pace(looked_at=looked, look_pages=pages, live=busy))


@contextmanager
def _discovery_runs(
    scenario: dict[str, Any], options: Options, share: float
) -> Iterator[tuple[EmbeddedPipeline, FakeTime, Any]]:
    """The pipeline, the fake time, and `run()`: one scheduled discover run at the next minute."""
    with EmbeddedPipeline(scenario, options) as pipeline:
        from archiver.runtime import runtime

        rt = runtime()
        settings = Settings.checked(
            **(
                rt.settings.model_dump()
                | {"ivs_tps_quota": IVS_TPS_QUOTA, "api_tps_budget": 4.0}
                | {"discovery_quota_share": share}
            )
        )
        # No limiter in the way: the allowance is what paces. botocore's standard retries, as
        # its adaptive ones (the functions') space the calls of a client that met a 429 by
        # themselves, so that whether a look meets one would vary from run to run.
        ivs = IvsClient(
            10_000.0,
            client=boto3.client(
                "ivs-realtime", config=Config(retries={"mode": "standard", "max_attempts": 10})
            ),
        )
        fake = FakeTime()
        previous = clock.use(fake.now)
        runs: list[Run] = []

        def run() -> Run:
            fake.t = max(fake.t, START.timestamp() + MINUTE * len(runs))
            deadline = fake.t + 900
            before = pipeline.simulator.operation_stats()
            began = fake.t
            result = Discovery(
                settings,
                ivs,
                rt.ledger,
                rt.discovery_state,
                rt.sqs,
                now=fake.now(),
                remaining_ms=lambda: int((deadline - fake.t) * 1000),
                owner=str(uuid.uuid4()),
                wall=fake.wall,
                sleep=fake.sleep,
            ).run(parse_discover_event(scheduled_event()))
            after = pipeline.simulator.operation_stats()
            calls, throttled = {}, {}
            for op in (LIST_STAGES, LIST_STAGE_SESSIONS):
                calls[op] = sum(after[op][c] - before[op][c] for c in after[op])
                throttled[op] = after[op]["throttled"] - before[op]["throttled"]
            start = START.timestamp()
            runs.append(Run(began - start, fake.t - start, result, calls, throttled))
            return runs[-1]

        try:
            yield pipeline, fake, run
        finally:
            clock.use(previous)


def test_thousands_of_stages_keep_discovery_within_its_share_of_each_operation() -> None:
    stages, share = 3000, 0.05  # 30 pages a look; 0.25 calls a second, 15 a minute
    rate, most = share * IVS_TPS_QUOTA, share * IVS_TPS_QUOTA * SAVED_UP_S
    pages = stages // 100
    scenario = _scenario(stages)
    # The simulator does not throttle: the share is all that paces discovery.
    with _discovery_runs(scenario, Options(tps=10_000.0), share) as (pipeline, _, run):
        # A reconcile is due: it lists every stage's sessions, paced like the looks.
        _seed(pipeline.account.ledger_table, scenario, reconciled=START - timedelta(hours=3))
        runs = [run() for _ in range(4)]

    assert [r.result.look for r in runs] == ["live"] * len(runs)  # each run had cause to look
    # A look takes 30 calls, the share gives 15 a minute: every other run looks, whole; the
    # others leave it to the next run (no Lambda billed to wait for the allowance).
    assert [r.calls[LIST_STAGES] for r in runs] == [pages, 0] * 2
    assert all(r.result.paced == [LIST_STAGES] for r in runs[1::2])
    assert all(r.result.stages_listed == stages for r in runs[::2])
    # The reconcile goes on in each run that looked, as far as its share of ListStageSessions
    # goes (the most saved up: half a minute's worth came since the last run that looked).
    assert [r.calls[LIST_STAGE_SESSIONS] for r in runs] == [most, 0] * 2
    assert [r.result.stages_checked for r in runs] == [most, 0] * 2
    assert all(r.result.paced == [LIST_STAGE_SESSIONS] for r in runs[::2])
    # Whatever span of runs: at most the share's calls over it, plus what was saved up, plus
    # (ListStages) one look's calls beyond that saving, as a look once begun is finished.
    for op, overdraft in ((LIST_STAGES, pages - most), (LIST_STAGE_SESSIONS, 0.0)):
        for i, first in enumerate(runs):
            for last in runs[i:]:
                made = sum(r.calls[op] for r in runs if first.began <= r.began <= last.began)
                assert made <= most + rate * (last.ended - first.began) + overdraft + 1e-6, op


def test_when_the_customers_application_takes_the_quota_discovery_backs_off() -> None:
    stages, share = 250, Settings.default("discovery_quota_share")  # 3 pages; 1 call a second
    rate, most = share * IVS_TPS_QUOTA, share * IVS_TPS_QUOTA * SAVED_UP_S
    pages = math.ceil(stages / 100)
    scenario = _scenario(stages)
    # The customer's application takes 3 of ListStages' 5 calls a second: 2 are left, 2 at once,
    # and a look of 3 pages meets a 429.
    options = Options(tps=IVS_TPS_QUOTA, neighbour_tps=3.0)
    with _discovery_runs(scenario, options, share) as (pipeline, _, run):
        _seed(pipeline.account.ledger_table, scenario, reconciled=START)
        runs = [run() for _ in range(6)]

    looked = [i for i, r in enumerate(runs) if r.calls[LIST_STAGES]]
    throttled = [i for i in looked if runs[i].throttled[LIST_STAGES]]
    # After a look that met a 429, the k-th such in a row, discovery owes SAVED_UP_S's worth of
    # calls times 1, 2, 4, 8 (MOST_OWED): no look until that and the next look's pages are made
    # up, a minute per minute of share. After a look with no 429, the next run looks.
    streak = 0
    for this, following in itertools.pairwise(looked):
        if runs[this].throttled[LIST_STAGES]:
            streak += 1
            owed = most * min(2 ** (streak - 1), MOST_OWED)
            wait_s = (owed + pages) / rate
            assert following == this + math.ceil(wait_s / MINUTE), (this, following, streak)
            assert all(r.result.paced == [LIST_STAGES] for r in runs[this + 1 : following])
        else:
            streak = 0
            assert following == this + 1
    assert looked == throttled == [0, 2, 5]  # two, then three minutes apart
    # Its calls, 429s and retries included, stay within its share over the whole span.
    span_s = runs[-1].ended - runs[0].began
    assert sum(r.calls[LIST_STAGES] for r in runs) <= most + rate * span_s


def test_while_nothing_is_live_discovery_looks_every_idle_interval_and_an_event_wakes_it() -> None:
    scenario = {
        "stages": [
            {"arn": stage_arn(i), "name": f"s{i}", "tags": {}, "sessions": []} for i in range(3)
        ]
    }
    idle = Settings.default("idle_look_minutes")
    with _discovery_runs(scenario, Options(tps=50.0), 0.2) as (pipeline, _, run):
        _seed(
            pipeline.account.ledger_table,
            scenario,
            reconciled=START,
            looked=START - timedelta(minutes=idle),
        )
        runs = [run() for _ in range(idle + 1)]  # nothing live: a look now, then `idle` later
        # A session starts, and no event names it yet: the next idle look sees it.
        live = START + timedelta(minutes=idle, seconds=30)
        pipeline.simulator.start_session(stage_arn(1), _session(1, 0, live, None))
        runs.append(run())
        # A short session on another stage, started and ended between two looks: its event
        # wakes discovery, whose next run looks and lists that stage.
        short = START + timedelta(minutes=idle + 1, seconds=10)
        pipeline.simulator.start_session(
            stage_arn(2), _session(2, 0, short, short + timedelta(seconds=20))
        )
        assert pipeline.discover(_stage_update(stage_arn(2), session_id(2, 0))) == {"enqueued": []}
        runs += [run(), run()]  # the hint's look, then the live session's
        ended = pipeline.simulator.end_active_session(
            stage_arn(1), iso(START + timedelta(minutes=idle + 3, seconds=5))
        )
        runs += [run(), run()]  # the look that finds it ended; then nothing is live

    assert [r.result.look for r in runs] == (
        ["idle"] + [None] * (idle - 1) + ["idle", None, "hint", "live", "live", None]
    )
    assert [r.calls[LIST_STAGES] for r in runs] == [1 if r.result.look else 0 for r in runs]
    assert [r.calls[LIST_STAGE_SESSIONS] for r in runs] == [0] * (idle + 2) + [1, 0, 0, 0]
    queued = [(m.stageArn, m.sessionId) for r in runs for m in r.result.enqueued]
    assert queued == [(stage_arn(2), session_id(2, 0)), (stage_arn(1), ended)]
