"""The archiver end to end on the simulator and a moto server, through the Lambda handlers."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from archiver.schema import TABLES
from local.account import MAX_RECEIVES
from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.archive import (
    ended_sessions,
    events_by_key,
    expected_events,
    expected_participants,
    expected_sessions,
    keyed,
    read_table,
)

FAST: dict[str, Any] = {"tps": 200.0, "latency_ms": 0.0}


@pytest.fixture(scope="module")
def scenario() -> dict[str, Any]:
    return generate_scenario(stages=2, sessions=2, participants=12, seed=11)


def _archive(scenario: dict[str, Any], out: Path, **options: Any) -> dict[str, Any]:
    with EmbeddedPipeline(scenario, Options(**(FAST | options))) as pipeline:
        pipeline.run()
        pipeline.mirror(out)
        return {
            "stats": pipeline.stats(),
            "ops": pipeline.simulator.operation_stats(),
            "ledger": pipeline.account.ledger_sessions(),
            "keys": pipeline.account.landing_keys(),
            "all_keys": pipeline.account.object_keys(),
        }


def _without(rows: dict[Any, dict[str, Any]], column: str) -> dict[Any, dict[str, Any]]:
    return {k: {c: v for c, v in row.items() if c != column} for k, row in rows.items()}


@pytest.fixture(scope="module")
def archived(scenario: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("archive")
    return {"out": out, **_archive(scenario, out)}


def test_every_event_of_every_ended_session_exactly_once_and_equal_to_the_api(
    scenario: dict[str, Any], archived: dict[str, Any]
) -> None:
    events = events_by_key(archived["out"])
    expected = expected_events(scenario)
    assert len(expected) > 100
    assert events == expected


def test_participants_and_sessions_equal_to_the_api(
    scenario: dict[str, Any], archived: dict[str, Any]
) -> None:
    participants = keyed(
        read_table(archived["out"], "participants"), "stage_arn", "session_id", "participant_id"
    )
    assert participants == expected_participants(scenario, details=True)
    sessions = keyed(read_table(archived["out"], "stage_sessions"), "stage_arn", "session_id")
    assert _without(sessions, "archived_at") == expected_sessions(scenario)
    assert all(row["archived_at"] > row["end_time"] for row in sessions.values())


def test_active_sessions_are_left_alone(scenario: dict[str, Any], archived: dict[str, Any]) -> None:
    active = {
        s["sessionId"]
        for stage in scenario["stages"]
        for s in stage["sessions"]
        if not s["endTime"]
    }
    assert active, "the scenario should have an active session"
    assert not [key for key in archived["keys"] if any(a in key for a in active)]
    assert {item["sk"].removeprefix("SESSION#") for item in archived["ledger"]}.isdisjoint(active)
    assert {item["status"] for item in archived["ledger"]} == {"ARCHIVED"}


def test_keys_and_partitions_follow_the_contract(
    scenario: dict[str, Any], archived: dict[str, Any]
) -> None:
    expected = set()
    for stage, session in ended_sessions(scenario):
        dt = session["startTime"][:10]
        _, _, _, region, account, resource = stage["arn"].split(":")
        # The day, the place (account, region), the stage, the session.
        folder = f"dt={dt}/{account}/{region}/{resource.removeprefix('stage/')}"
        sid = session["sessionId"]
        expected.add(f"stage_sessions/{folder}/{sid}.parquet")
        chunks = math.ceil(len(session["participants"]) / 500)
        for n in range(chunks):
            expected.add(f"participants/{folder}/{sid}/part-{n:05d}.parquet")
            expected.add(f"participant_events/{folder}/{sid}/part-{n:05d}.parquet")
    assert set(archived["keys"]) == expected
    # Beside them, the collector's report to its home (archiver.collector_report).
    assert set(archived["all_keys"]) - expected == {"collectors/123456789012/us-east-1.json"}


def test_column_types_follow_the_contract() -> None:
    """The contract's column list, written out once more by hand, against the schema module."""
    contract = {
        "stage_sessions": "stage_arn string, stage_id string, stage_name string, session_id "
        "string, start_time timestamp, end_time timestamp, participant_count int, event_count "
        "bigint, archived_at timestamp, account_id string, region string",
        "participants": "stage_arn string, session_id string, participant_id string, user_id "
        "string, state string, first_join_time timestamp, published boolean, attributes "
        "map<string,string>, recording_state string, recording_s3_bucket_name string, "
        "recording_s3_prefix string, protocol string, os_name string, os_version string, "
        "browser_name string, browser_version string, sdk_version string, isp_name string, "
        "replication_type string, replication_state string, source_stage_arn string, "
        "source_session_id string, redundant_ingest boolean, ingest_configuration_arn string, "
        "event_count int, account_id string, region string",
        "participant_events": "stage_arn string, session_id string, participant_id string, "
        "user_id string, event_seq int, event_name string, event_time timestamp, "
        "remote_participant_id string, error_code string, replica boolean, "
        "destination_stage_arn string, destination_session_id string, previous_token TOKEN, "
        "new_token TOKEN, account_id string, region string",
    }
    token = (
        "struct<capabilities:array<string>,attributes:map<string,string>,user_id:string,"
        "expiration_time:timestamp>"
    )
    for name, spec in contract.items():
        columns = [tuple(c.strip().split(" ")) for c in spec.replace("TOKEN", token).split(", ")]
        assert [(c.name, c.type.glue) for c in TABLES[name].columns] == columns


def test_parquet_timestamps_are_milliseconds_utc_and_zstd(archived: dict[str, Any]) -> None:
    import pyarrow.parquet as pq

    path = next((archived["out"] / "participant_events").rglob("*.parquet"))
    metadata = pq.ParquetFile(path).metadata
    column = metadata.row_group(0).column(6)
    assert column.path_in_schema == "event_time"
    assert column.compression == "ZSTD"
    logical = json.loads(metadata.schema.column(6).logical_type.to_json())
    assert logical["Type"] == "Timestamp"
    assert logical["timeUnit"] == "milliseconds"
    assert logical["isAdjustedToUTC"] is True


def test_calls_are_the_minimum(scenario: dict[str, Any], archived: dict[str, Any]) -> None:
    sessions = ended_sessions(scenario)
    participants = [p for _, s in sessions for p in s["participants"]]
    ops = archived["stats"]["api_calls"]
    assert ops["ListParticipants"] == sum(
        max(1, math.ceil(len(s["participants"]) / 100)) for _, s in sessions
    )
    assert ops["ListParticipantEvents"] == sum(
        max(1, math.ceil(len(p["events"]) / 100)) for p in participants
    )
    assert ops["GetParticipant"] == len(participants)
    # One GetStageSession per chunk, before its objects (it gives the session's times); the
    # stage's name comes from discovery's ListStages: no GetStage.
    assert ops["GetStageSession"] == sum(
        max(1, math.ceil(len(s["participants"]) / 500)) for _, s in sessions
    )
    assert ops["GetStage"] == 0
    assert archived["stats"]["throttled"] == 0


def test_a_second_run_writes_the_same_keys_and_rows(
    scenario: dict[str, Any], archived: dict[str, Any], tmp_path: Path
) -> None:
    again = _archive(scenario, tmp_path)
    assert again["keys"] == archived["keys"]
    for table in ("participants", "participant_events"):
        assert read_table(tmp_path, table) == read_table(archived["out"], table)
    first = read_table(archived["out"], "stage_sessions")
    second = read_table(tmp_path, "stage_sessions")
    assert [_drop(r, "archived_at") for r in second] == [_drop(r, "archived_at") for r in first]


def _drop(row: dict[str, Any], column: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != column}


def test_faults_and_throttling_change_nothing(
    scenario: dict[str, Any], archived: dict[str, Any], tmp_path: Path
) -> None:
    # The whole quota as the budget, half of it the customer's own application's, and faults
    # at 20%: throttles, retries, the same rows.
    faulty = _archive(
        scenario, tmp_path, tps=20.0, budget=20.0, neighbour_tps=10.0, fault_rate=0.2, seed=3
    )
    assert faulty["stats"]["faults_injected"] > 10
    assert faulty["stats"]["throttled"] > 0
    assert faulty["keys"] == archived["keys"]
    for table in ("participants", "participant_events"):
        assert read_table(tmp_path, table) == read_table(archived["out"], table)


def test_participant_details_off_leaves_detail_columns_null(
    scenario: dict[str, Any], tmp_path: Path
) -> None:
    result = _archive(scenario, tmp_path, participant_details="off")
    participants = keyed(
        read_table(tmp_path, "participants"), "stage_arn", "session_id", "participant_id"
    )
    assert participants == expected_participants(scenario, details=False)
    assert result["stats"]["api_calls"].get("GetParticipant", 0) == 0


def test_a_worker_stopped_between_chunks_resumes_and_ends_with_the_same_rows(
    scenario: dict[str, Any], archived: dict[str, Any], tmp_path: Path
) -> None:
    options = Options(**FAST, chunk_size=5, invocation_ms=1)  # no time left after one chunk
    with EmbeddedPipeline(scenario, options) as pipeline:
        pipeline.run()
        pipeline.mirror(tmp_path)
        stats = pipeline.stats()
        invocations = pipeline.invocations["archive"]
    chunks = sum(math.ceil(len(s["participants"]) / 5) for _, s in ended_sessions(scenario))
    assert invocations == chunks  # one chunk per invocation, none done twice
    assert (
        stats["api_calls"]["ListParticipantEvents"]
        == archived["stats"]["api_calls"]["ListParticipantEvents"]
    )
    for table in ("participants", "participant_events"):
        assert sorted(map(repr, read_table(tmp_path, table))) == sorted(
            map(repr, read_table(archived["out"], table))
        )


def test_an_expired_session_keeps_its_earlier_archive(
    scenario: dict[str, Any], tmp_path: Path
) -> None:
    stage, session = ended_sessions(scenario)[0]
    arn, sid = stage["arn"], session["sessionId"]
    options = Options(**FAST, chunk_size=5, invocation_ms=1)
    with EmbeddedPipeline(scenario, options) as pipeline:
        pipeline.discover({"stageArn": arn, "sessionId": sid})
        pipeline.archive_once()  # chunk 0 written, a continuation queued
        before = {
            k: pipeline.account.s3.get_object(Bucket=pipeline.account.bucket, Key=k)["Body"].read()
            for k in pipeline.account.landing_keys()
        }
        assert len(before) == 2
        pipeline.simulator.expire_session(arn, sid)
        pipeline.drain()
        after = {
            k: pipeline.account.s3.get_object(Bucket=pipeline.account.bucket, Key=k)["Body"].read()
            for k in pipeline.account.landing_keys()
        }
        [item] = pipeline.account.ledger_sessions()
    assert after == before
    assert item["status"] == "EXPIRED"


def test_a_session_that_fails_is_tried_again_later_and_archived_once_it_can_be(
    scenario: dict[str, Any],
) -> None:
    """A failure that may pass (here every write fails: the bucket is gone) is not the
    message's: a delayed copy is sent and the received one deleted, so nothing counts towards
    the dead-letter queue, however long it lasts; once writes work again the session is
    archived (archiver.retry)."""
    stage, session = ended_sessions(scenario)[0]
    ids = {"stageArn": stage["arn"], "sessionId": session["sessionId"]}
    with EmbeddedPipeline(scenario, Options(**FAST)) as pipeline:
        account = pipeline.account
        pipeline.discover(ids)
        account.s3.delete_bucket(Bucket=account.bucket)  # every write fails from now on
        for _ in range(3):
            while pipeline.archive_once() is None:  # the copy is delayed: wait for it
                time.sleep(0.2)
        assert pipeline.invocation_errors == 0  # no invocation failed: nothing redelivered
        [item] = account.ledger_sessions()
        assert item["status"] == "FAILED" and "NoSuchBucket" in item["lastError"]
        assert account.queue_depth() == 1  # its next try, delayed
        assert account.dead_letters() == []
        account.s3.create_bucket(Bucket=account.bucket)  # writes work again
        pipeline.drain()
        [item] = account.ledger_sessions()
        assert account.dead_letters() == []
    assert item["status"] == "ARCHIVED"


def test_a_message_whose_worker_cannot_even_send_its_retry_is_dead_lettered_in_the_end(
    scenario: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with SQS and Lambda: an invocation that raised deletes nothing, its message comes back
    after the visibility timeout, and after the queue's receive count it is dead-lettered."""
    from archiver.invocation import Invocation

    monkeypatch.setattr(Invocation, "retry_later", lambda *_: False)  # SQS refuses it too
    stage, session = ended_sessions(scenario)[0]
    ids = {"stageArn": stage["arn"], "sessionId": session["sessionId"]}
    with EmbeddedPipeline(scenario, Options(**FAST)) as pipeline:
        pipeline.discover(ids)
        pipeline.account.s3.delete_bucket(
            Bucket=pipeline.account.bucket
        )  # every write fails from now on
        first = pipeline.archive_once()
        assert first is not None and "NoSuchBucket" in first["errorMessage"]
        assert pipeline.account.queue_depth() == 1  # not deleted: it comes back
        pipeline.drain()
        assert pipeline.invocations["archive"] == MAX_RECEIVES
        assert pipeline.invocation_errors == MAX_RECEIVES
        [body] = pipeline.account.dead_letters()
        [item] = pipeline.account.ledger_sessions()
    assert json.loads(body) == ids
    assert "NoSuchBucket" in pipeline.last_error[body]
    assert item["status"] == "FAILED" and "NoSuchBucket" in item["lastError"]
