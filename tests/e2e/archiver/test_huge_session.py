"""A session too big for one invocation is archived over several, with continuations: each
chunk fetched once, the result identical to a single uninterrupted run.

Scaled down: a 10,000-participant session at 4 TPS needs ~2,500 s against a 900 s invocation;
here ~1,000 participants in chunks of 50, as fast as the simulator serves them (several seconds),
against invocations of 2 s that stop starting chunks when less than 1 s is left.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.archive import (
    UNLIMITED,
    ended_sessions,
    events_by_key,
    expected_events,
    expected_participants,
    keyed,
    metric_total,
    read_table,
)

CHUNK = 50
FAST: dict[str, Any] = {**UNLIMITED, "chunk_size": CHUNK}


@pytest.fixture(scope="module")
def scenario() -> dict[str, Any]:
    return generate_scenario(stages=1, sessions=1, participants=1000, seed=23)


@pytest.fixture(scope="module")
def session(scenario: dict[str, Any]) -> dict[str, Any]:
    [(_, ended)] = ended_sessions(scenario)
    assert len(ended["participants"]) > 800
    return ended


def _archive(scenario: dict[str, Any], out: Path, options: Options) -> dict[str, Any]:
    with EmbeddedPipeline(scenario, options) as pipeline:
        pipeline.run()
        pipeline.mirror(out)
        [ledger] = pipeline.account.ledger_sessions()
        return {
            "calls": pipeline.stats()["api_calls"],
            "invocations": pipeline.invocations["archive"],
            "ledger": ledger,
            "objects": {
                key: pipeline.account.s3.get_object(Bucket=pipeline.account.bucket, Key=key)[
                    "Body"
                ].read()
                for key in pipeline.account.landing_keys()
                if not key.startswith("stage_sessions/")  # holds archived_at
            },
        }


@pytest.fixture(scope="module")
def uninterrupted(scenario: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("uninterrupted")
    return out, _archive(scenario, out, Options(**FAST))


def _minimum(session: dict[str, Any], invocations: int) -> dict[str, int]:
    people = session["participants"]
    return {
        # Each invocation lists the participants again to rebuild the same chunks.
        "ListParticipants": invocations * math.ceil(len(people) / 100),
        "ListParticipantEvents": sum(max(1, math.ceil(len(p["events"]) / 100)) for p in people),
        "GetParticipant": len(people),
        # One before writing each chunk (it gives the session's times): no more.
        "GetStageSession": math.ceil(len(people) / CHUNK),
    }


def test_the_uninterrupted_run_takes_one_invocation_and_equals_the_api(
    scenario: dict[str, Any], session: dict[str, Any], uninterrupted: Any
) -> None:
    out, result = uninterrupted
    assert result["invocations"] == 1
    calls = result["calls"]
    assert {op: calls[op] for op in _minimum(session, 1)} == _minimum(session, 1)
    events = events_by_key(out)
    assert events == expected_events(scenario)
    participants = keyed(
        read_table(out, "participants"), "stage_arn", "session_id", "participant_id"
    )
    assert participants == expected_participants(scenario, details=True)


def test_a_session_too_big_for_one_invocation_continues_and_ends_identical(
    session: dict[str, Any], scenario: dict[str, Any], uninterrupted: Any, tmp_path: Path
) -> None:
    options = Options(**FAST, invocation_ms=2000, min_remaining_ms=1000)
    result = _archive(scenario, tmp_path, options)
    chunks = math.ceil(len(session["participants"]) / CHUNK)
    invocations = result["invocations"]
    print(f"{chunks} chunks archived in {invocations} invocations")
    assert 2 <= invocations <= chunks
    # Every chunk fetched exactly once across the invocations: no participant's calls repeated.
    calls = result["calls"]
    assert {op: calls[op] for op in _minimum(session, invocations)} == _minimum(
        session, invocations
    )
    ledger = result["ledger"]
    assert ledger["status"] == "ARCHIVED"
    assert int(ledger["attempts"]) == invocations
    assert {int(n) for n in ledger["chunksDone"]} == set(range(chunks))
    _, reference = uninterrupted
    assert int(ledger["eventCount"]) == int(reference["ledger"]["eventCount"])
    # The same objects under the same keys, byte for byte.
    assert result["objects"].keys() == reference["objects"].keys()
    assert result["objects"] == reference["objects"]
    sessions = read_table(tmp_path, "stage_sessions")
    assert [{**row, "archived_at": None} for row in sessions] == [
        {**row, "archived_at": None} for row in read_table(uninterrupted[0], "stage_sessions")
    ]


def test_listed_in_another_order_it_ends_identical_and_counts_what_it_fetched_twice(
    session: dict[str, Any],
    scenario: dict[str, Any],
    uninterrupted: Any,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # IVS documents no ListParticipants order. Listed by first join, the participants fetched
    # while listing fall into chunks all over the session, and the first invocation leaves most
    # of those chunks to continuations: they fetch those participants again, and say so.
    options = Options(
        **FAST,
        invocation_ms=2000,
        min_remaining_ms=1000,
        participant_order="firstJoinTime",
        quiet=False,
    )
    result = _archive(scenario, tmp_path, options)
    discarded = int(metric_total(capfd.readouterr().out, "PrefetchDiscarded"))
    assert 0 < discarded <= CHUNK  # at most a chunk is fetched ahead of the listing
    minimum = _minimum(session, result["invocations"])
    minimum["ListParticipantEvents"] += discarded
    minimum["GetParticipant"] += discarded
    assert {op: result["calls"][op] for op in minimum} == minimum
    assert result["ledger"]["status"] == "ARCHIVED"
    _, reference = uninterrupted
    assert result["objects"] == reference["objects"]
