"""Outages and neighbours: windows of simulated time in which every call fails with a 5xx, and
the customer's own application spending part of each operation's quota. The replay's clock is
stepped by hand (a fake wall clock); the quota is real time."""

from __future__ import annotations

import re
from typing import Any

import pytest

from local.simulator import Simulator
from local.simulator.outages import Outage
from tests.helpers.live import ARN, Wall, at, timeline, travel
from tests.helpers.scenario import build_scenario, raw_post, session_id, stage_arn

CODES = {(500, "InternalServerException"), (503, "ServiceUnavailableException")}


def _answers(sim: Simulator, count: int) -> list[tuple[int, str]]:
    """(status, error code or "") of `count` GetStage calls."""
    found = []
    for _ in range(count):
        status, headers, _body = raw_post(sim.endpoint_url, "GetStage", {"arn": ARN})
        found.append((status, headers.get("x-amzn-errortype", "")))
    return found


def _outage_sim(simulator_factory: Any, *outages: str, **options: Any) -> tuple[Simulator, Wall]:
    """The live timeline at 60x from its start (a minute before its first session, `at(-1)`),
    with `outages`; no quota unless given."""
    wall = Wall()
    sim = simulator_factory(
        timeline(),
        live=True,
        speed=60,
        wall_clock=wall,
        outages=[Outage.parse(text) for text in outages],
        **({"tps": 0} | options),
    )
    return sim, wall


def test_every_call_fails_with_a_5xx_while_an_outage_lasts_and_only_then(
    simulator_factory: Any,
) -> None:
    # From 2 to 5 simulated minutes after the replay's start, which is at(-1).
    sim, wall = _outage_sim(simulator_factory, "2+3")
    assert sim.outages.windows == [(at(1), at(4))]
    assert _answers(sim, 3) == [(200, "")] * 3
    travel(sim, wall, at(1))  # the outage begins
    during = _answers(sim, 40)
    assert {status for status, _ in during} == {500, 503} and set(during) == CODES
    # Every operation alike, the lists too.
    for operation, body in (("ListStages", {}), ("ListStageSessions", {"stageArn": ARN})):
        assert raw_post(sim.endpoint_url, operation, body)[0] in (500, 503)
    travel(sim, wall, at(3.999))
    assert _answers(sim, 2)[0][0] in (500, 503)
    travel(sim, wall, at(4))  # over, at its end
    assert _answers(sim, 3) == [(200, "")] * 3
    stats = sim.stats()
    assert stats["outage_failures"] == stats["faults_injected"] == 40 + 2 + 2
    assert stats["api_calls"]["GetStage"] == 6


def test_outages_may_be_several_and_are_in_simulated_time(simulator_factory: Any) -> None:
    """At 60x a simulated minute is a wall second: `5+1` is from the 5th to the 6th wall second."""
    sim, wall = _outage_sim(simulator_factory, "1+1", "5+0.5")
    fails: list[float] = []
    for tenth in range(0, 80):
        wall.seconds = tenth / 10
        if _answers(sim, 1)[0][0] >= 500:
            fails.append(wall.seconds)
    assert fails == [n / 10 for n in [*range(10, 20), *range(50, 55)]]
    assert sim.outages.last_end == at(4.5)


def test_an_outage_fails_calls_before_the_quota_counts_them(simulator_factory: Any) -> None:
    """An IVS that is down answers everyone alike: no 429 among its answers, and calls it failed
    spend none of the quota."""
    sim, wall = _outage_sim(simulator_factory, "0+1", tps=2)
    assert {status for status, _ in _answers(sim, 20)} <= {500, 503}
    assert sim.stats()["throttled"] == 0
    travel(sim, wall, at(0))
    assert [status for status, _ in _answers(sim, 2)] == [200, 200]  # the bucket is still full


def test_the_same_seed_fails_an_outage_the_same_way(simulator_factory: Any) -> None:
    def codes(seed: int) -> list[tuple[int, str]]:
        sim, _wall = _outage_sim(simulator_factory, "0+10", seed=seed)
        return _answers(sim, 40)

    first = codes(4)
    assert codes(4) == first
    assert codes(5) != first  # another seed, other answers (500 or 503)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("60", "START+DURATION"),
        ("60+", "START+DURATION"),
        ("a+b", "two numbers"),
        ("60+0", "DURATION must be more than 0"),
        ("-1+5", "START must be 0 or more"),
        ("nan+5", "finite"),
        ("1+inf", "finite"),
        ("1+2+3", "START+DURATION"),
    ],
)
def test_an_outage_is_start_plus_duration_in_minutes(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=re.escape(said)):
        Outage.parse(text)


def test_an_outage_parses_minutes_and_says_itself() -> None:
    assert Outage.parse("60+120") == Outage(60, 120)
    assert Outage.parse(" 0.5 + 2 ") == Outage(0.5, 2)
    assert str(Outage.parse("60+120")) == "60+120"


def test_a_neighbour_spends_its_share_of_each_operations_quota(simulator_factory: Any) -> None:
    """Of a quota of 10 calls a second, the customer's own application takes 8: a burst gets the
    2 left (the bucket holds a second's worth of them), the rest is throttled; each operation
    alike, each on its own bucket."""
    scenario = build_scenario()
    body = {"stageArn": stage_arn(0), "sessionId": session_id(0, 0)}
    alone = simulator_factory(scenario, tps=10)
    shared = simulator_factory(scenario, tps=10, neighbour_tps=8)
    for operation in ("GetStageSession", "ListParticipants"):
        assert [raw_post(alone.endpoint_url, operation, body)[0] for _ in range(10)] == [200] * 10
        statuses = [raw_post(shared.endpoint_url, operation, body)[0] for _ in range(10)]
        assert statuses[:2] == [200, 200] and statuses.count(429) >= 7, statuses
    assert shared.stats()["throttled"] >= 14 and alone.stats()["throttled"] == 0


def test_a_live_quota_holds_one_simulated_second(simulator_factory: Any) -> None:
    """At 6x the quota per wall second is 6 times IVS's, and so is the burst it lets through
    unless told otherwise; `burst_s = 1 / speed` keeps that to a simulated second's worth. (At
    6x, not 60x: a refill of 300 calls a wall second keeps up with calls made one after another
    on a loaded machine, and no call would ever be refused.)"""
    tps = 5 * 6
    sim = simulator_factory(timeline(), tps=tps, live=True, speed=6, burst_s=1 / 6)
    statuses = [raw_post(sim.endpoint_url, "GetStage", {"arn": ARN})[0] for _ in range(30)]
    # 5 at once, then whatever refilled while the calls were made (30 a wall second).
    assert statuses[:5] == [200] * 5 and 429 in statuses
