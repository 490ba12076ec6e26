"""Quota (429 ThrottlingException), injected faults, latency and counters."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.parsers import RestJSONParser
from botocore.retries.standard import (
    RetryContext,
    ThrottledRetryableChecker,
    ThrottlingStatusCodeChecker,
)

from local.simulator import Simulator
from local.simulator.model import service_model
from local.simulator.quota import TokenBucket
from tests.helpers.scenario import build_scenario, raw_post, session_id, stage_arn

ARN = stage_arn(0)
SESSION = session_id(0, 0)


def burst(sim: Simulator, operation: str, body: dict[str, Any], count: int) -> list[int]:
    return [raw_post(sim.endpoint_url, operation, body)[0] for _ in range(count)]


# --- quota ---------------------------------------------------------------------------------
def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(5, clock=lambda: now[0])
    assert [bucket.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.2
    assert [bucket.try_acquire() for _ in range(2)] == [True, False]
    now[0] += 10  # never more than one second's worth
    assert sum(bucket.try_acquire() for _ in range(10)) == 5
    assert TokenBucket(0.5).capacity == 1


def test_burst_above_the_quota_gets_429s(simulator_factory: Any) -> None:
    sim = simulator_factory(build_scenario(), tps=5)
    statuses = burst(sim, "ListStages", {}, 20)
    assert statuses.count(429) >= 10 and statuses[:5] == [200] * 5
    assert set(statuses) == {200, 429}
    # The quota is per operation: another operation still has its own bucket.
    assert burst(sim, "GetStage", {"arn": ARN}, 3) == [200, 200, 200]
    stats = sim.stats()
    assert stats["throttled"] == statuses.count(429)
    assert stats["api_calls"]["ListStages"] == statuses.count(200)
    assert sim.operation_stats()["ListStages"]["throttled"] == statuses.count(429)


def test_throttling_answer_is_what_botocore_retries_as_throttling(simulator_factory: Any) -> None:
    sim = simulator_factory(build_scenario(), tps=1)
    raw_post(sim.endpoint_url, "ListStages", {})
    status, headers, body = raw_post(sim.endpoint_url, "ListStages", {})
    assert (status, headers["x-amzn-errortype"]) == (429, "ThrottlingException")
    output = service_model().operation_model("ListStages").output_shape
    parsed = RestJSONParser().parse(
        {"status_code": status, "headers": headers, "body": body}, output
    )
    http = AWSResponse(sim.endpoint_url, status, headers, None)
    context = RetryContext(attempt_number=1, parsed_response=parsed, http_response=http)
    assert ThrottledRetryableChecker().is_retryable(context)
    assert ThrottlingStatusCodeChecker().is_retryable(context)


def test_client_without_retries_sees_throttling_exception(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    sim = simulator_factory(build_scenario(), tps=1)
    client = ivs_client_factory(sim.endpoint_url, retries={"mode": "standard", "max_attempts": 1})
    client.list_stages()
    with pytest.raises(ClientError) as caught:
        client.list_stages()
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


@pytest.mark.parametrize("mode", ["adaptive", "standard"])
def test_retrying_client_completes_every_call_above_the_quota(
    simulator_factory: Any, ivs_client_factory: Any, mode: str
) -> None:
    tps, calls, threads = 10, 40, 4
    sim = simulator_factory(build_scenario(participants=3), tps=tps)
    client = ivs_client_factory(sim.endpoint_url, retries={"mode": mode, "max_attempts": 20})
    started = time.monotonic()

    def call(index: int) -> int:
        response = client.list_participant_events(
            stageArn=ARN, sessionId=SESSION, participantId=f"p-{index % 3:05d}"
        )
        return len(response["events"])

    with ThreadPoolExecutor(threads) as pool:
        assert list(pool.map(call, range(calls))) == [2] * calls
    elapsed = time.monotonic() - started
    stats = sim.stats()
    assert stats["api_calls"]["ListParticipantEvents"] == calls
    assert stats["throttled"] > 0
    # Served at no more than the quota: a full bucket (tps) then tps per second.
    assert elapsed >= (calls - tps) / tps * 0.9


# --- faults --------------------------------------------------------------------------------
def fault_pattern(sim: Simulator, bodies: list[dict[str, Any]]) -> list[int]:
    return [raw_post(sim.endpoint_url, "GetParticipant", body)[0] for body in bodies]


def participant_requests(count: int) -> list[dict[str, Any]]:
    return [
        {"stageArn": ARN, "sessionId": SESSION, "participantId": f"p-{n % 4:05d}"}
        for n in range(count)
    ]


def test_fault_rate_and_codes(simulator_factory: Any) -> None:
    sim = simulator_factory(build_scenario(participants=4), tps=0, fault_rate=0.3, seed=1)
    statuses, codes = [], set()
    for body in participant_requests(400):
        status, headers, payload = raw_post(sim.endpoint_url, "GetParticipant", body)
        statuses.append(status)
        if status >= 500:
            codes.add((status, headers["x-amzn-errortype"]))
            assert json.loads(payload)["message"]
    faults = sum(s >= 500 for s in statuses)
    assert 0.22 * 400 <= faults <= 0.38 * 400
    assert codes == {(500, "InternalServerException"), (503, "ServiceUnavailableException")}
    assert set(statuses) == {200, 500, 503}
    stats = sim.stats()
    assert stats["faults_injected"] == faults
    assert stats["api_calls"]["GetParticipant"] == 400 - faults


def test_faults_are_deterministic_under_a_seed(simulator_factory: Any) -> None:
    bodies = participant_requests(60)
    scenario = build_scenario(participants=4)
    first = fault_pattern(simulator_factory(scenario, tps=0, fault_rate=0.3, seed=7), bodies)
    again = fault_pattern(simulator_factory(scenario, tps=0, fault_rate=0.3, seed=7), bodies)
    other = fault_pattern(simulator_factory(scenario, tps=0, fault_rate=0.3, seed=8), bodies)
    assert first == again
    assert first != other
    assert 0 < first.count(200) < 60


def test_faults_do_not_depend_on_thread_interleaving(simulator_factory: Any) -> None:
    """Which occurrence of each distinct request fails is the same, sequential or threaded."""
    scenario = build_scenario(participants=4)
    bodies = participant_requests(80)
    sequential = simulator_factory(scenario, tps=0, fault_rate=0.4, seed=3)
    threaded = simulator_factory(scenario, tps=0, fault_rate=0.4, seed=3)

    def per_participant(statuses: list[tuple[str, int]]) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = {}
        for participant, status in statuses:
            grouped.setdefault(participant, []).append(status)
        return grouped

    expected = per_participant(
        [
            (b["participantId"], s)
            for b, s in zip(bodies, fault_pattern(sequential, bodies), strict=True)
        ]
    )

    # Threads send each participant's requests in order, but interleave participants freely.
    def run(participant: str) -> list[tuple[str, int]]:
        mine = [b for b in bodies if b["participantId"] == participant]
        return [(participant, s) for s in fault_pattern(threaded, mine)]

    with ThreadPoolExecutor(4) as pool:
        results = [pair for chunk in pool.map(run, sorted(expected)) for pair in chunk]
    assert per_participant(results) == expected


def test_retrying_client_completes_through_faults(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    sim = simulator_factory(build_scenario(participants=4), tps=0, fault_rate=0.2, seed=5)
    client = ivs_client_factory(sim.endpoint_url, retries={"mode": "standard", "max_attempts": 10})
    for body in participant_requests(30):
        assert (
            client.get_participant(**body)["participant"]["participantId"] == body["participantId"]
        )
    stats = sim.stats()
    assert stats["api_calls"]["GetParticipant"] == 30 and stats["faults_injected"] > 0


# --- latency -------------------------------------------------------------------------------
def test_latency_with_jitter(simulator_factory: Any) -> None:
    sim = simulator_factory(build_scenario(), tps=0, latency_ms=60, seed=2)
    durations = []
    for _ in range(12):
        started = time.perf_counter()
        assert raw_post(sim.endpoint_url, "ListStages", {})[0] == 200
        durations.append(time.perf_counter() - started)
    assert min(durations) >= 0.030  # jitter is 0.5x..1.5x
    assert 0.045 <= sum(durations) / len(durations) <= 0.120
    assert max(durations) - min(durations) > 0.005  # jittered, not constant


def test_latency_overlaps_across_concurrent_requests(simulator_factory: Any) -> None:
    sim = simulator_factory(build_scenario(), tps=0, latency_ms=200)
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda _: raw_post(sim.endpoint_url, "ListStages", {})[0], range(8))
        )
    assert statuses == [200] * 8
    assert time.perf_counter() - started < 0.8  # 8 x ~200 ms served side by side


# --- counters ------------------------------------------------------------------------------
def test_counters_count_2xx_as_api_calls_and_4xx_apart(simulator_factory: Any) -> None:
    sim = simulator_factory(build_scenario(), tps=0)
    raw_post(sim.endpoint_url, "GetStage", {"arn": ARN})
    raw_post(sim.endpoint_url, "GetStage", {"arn": stage_arn(9)})  # 404
    raw_post(sim.endpoint_url, "ListStages", {"maxResults": 0})  # 400
    stats = sim.stats()
    assert stats == {
        "api_calls": {
            "ListStages": 0,
            "GetStage": 1,
            "ListStageSessions": 0,
            "GetStageSession": 0,
            "ListParticipants": 0,
            "GetParticipant": 0,
            "ListParticipantEvents": 0,
        },
        "throttled": 0,
        "faults_injected": 0,
    }
    per_op = sim.operation_stats()
    assert per_op["GetStage"] == {
        "served": 1,
        "client_errors": 1,
        "throttled": 0,
        "faults_injected": 0,
    }
    assert per_op["ListStages"]["client_errors"] == 1


def test_sustains_concurrent_clients(simulator_factory: Any) -> None:
    """Throughput without a quota, 8 threads of raw HTTP: well above 100 requests/s."""
    sim = simulator_factory(build_scenario(participants=20, events=100), tps=0)
    bodies = [
        {
            "stageArn": ARN,
            "sessionId": SESSION,
            "participantId": f"p-{n % 20:05d}",
            "maxResults": 100,
        }
        for n in range(400)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda b: raw_post(sim.endpoint_url, "ListParticipantEvents", b)[0], bodies)
        )
    rate = len(bodies) / (time.perf_counter() - started)
    assert statuses == [200] * len(bodies)
    assert rate > 100, f"{rate:.0f} requests/s"
