"""The cold-start check of the `ivs-realtime` model botocore parses IVS answers with.

A botocore whose model lacks a member drops it from every answer without an error: the column
read from it would be null forever. These tests take the real model, drop members from it, and
expect the check, and a cold start of either function, to fail naming each one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import botocore.loaders
import pytest
from botocore.model import ServiceModel

from archiver import apimodel, rows, runtime
from archiver.apimodel import ApiModelMismatch, check, loaded_model, missing_members
from archiver.schema import TABLES
from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options

FAST: dict[str, Any] = {"tps": 200.0, "latency_ms": 0.0}


def _model_without(*members: str) -> ServiceModel:
    """The botocore model the tests run with, less `Shape.member` for each one given."""
    data = copy.deepcopy(
        botocore.loaders.create_loader().load_service_model(apimodel.SERVICE, "service-2")
    )
    for name in members:
        shape, member = name.split(".")
        del data["shapes"][shape]["members"][member]
    return ServiceModel(data, service_name=apimodel.SERVICE)


@pytest.fixture
def old_botocore(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every cold start in this test loads a model older than the replication and token
    members (and the tests restore the real one afterwards)."""
    dropped = ["Event.replica", "Participant.redundantIngest", "ExchangedParticipantToken.userId"]
    model = _model_without(*dropped)
    monkeypatch.setattr(apimodel, "loaded_model", lambda: model)
    yield dropped


def test_the_model_the_tests_run_with_declares_every_member_read() -> None:
    assert missing_members(loaded_model()) == []
    check()
    members = {f"{s.shape}.{m}" for s in rows.SOURCES for m in s.members.values()}
    # The members the issue named, as a sample of what the check covers.
    assert {
        "Event.replica",
        "Event.destinationStageArn",
        "Event.previousToken",
        "Event.name",
        "Participant.redundantIngest",
        "Participant.ingestConfigurationArn",
        "ParticipantSummary.replicationState",
        "StageSession.endTime",
        "ExchangedParticipantToken.expirationTime",
    } <= members


def test_a_model_without_members_fails_naming_every_one() -> None:
    model = _model_without("Event.replica", "Participant.recordingS3Prefix")
    assert missing_members(model) == ["Participant.recordingS3Prefix", "Event.replica"]
    with pytest.raises(ApiModelMismatch) as raised:
        check(model)
    message = str(raised.value)
    assert "\n" not in message
    assert "Event.replica" in message and "Participant.recordingS3Prefix" in message


def test_a_model_from_before_token_exchange_names_each_member_it_lacks() -> None:
    """An older model: no TOKEN_EXCHANGED members on Event, no token shape at all."""
    data = copy.deepcopy(
        botocore.loaders.create_loader().load_service_model(apimodel.SERVICE, "service-2")
    )
    del data["shapes"]["ExchangedParticipantToken"]
    for member in ("previousToken", "newToken"):
        del data["shapes"]["Event"]["members"][member]
    missing = missing_members(ServiceModel(data, service_name=apimodel.SERVICE))
    token = [f"ExchangedParticipantToken.{m}" for m in rows.TOKEN_SOURCE.members.values()]
    assert missing == ["Event.previousToken", "Event.newToken", *token]


def test_every_column_is_given_or_read_from_a_member() -> None:
    sources = {
        "stage_sessions": rows.SESSION_SOURCE,
        "participants": rows.PARTICIPANT_SOURCE,
        "participant_events": rows.EVENT_SOURCE,
    }
    for name, source in sources.items():
        assert source.fields == tuple(TABLES[name].column_names), name
        assert set(source.members) | source.given == set(source.fields), name
        assert not set(source.members) & source.given, name
    # The summary lacks exactly the columns the schema documents as GetParticipant's only.
    documented = {c.name for c in TABLES["participants"].columns if "GetParticipant only" in c.doc}
    assert documented == rows.DETAILS_ONLY
    assert set(rows.PARTICIPANT_SUMMARY_SOURCE.fields) == (
        set(rows.PARTICIPANT_SOURCE.fields) - rows.DETAILS_ONLY
    )


def test_a_column_the_archiver_gives_is_never_silently_null() -> None:
    with pytest.raises(KeyError, match="event_count"):
        rows.PARTICIPANT_SOURCE.row({"participantId": "p"}, {"stage_arn": "a", "session_id": "s"})


# The failed invocation has no metric to flush; Powertools warns so.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_discover_cold_start_with_an_old_model_fails_and_queues_nothing(
    old_botocore: list[str],
) -> None:
    scenario = generate_scenario(stages=1, sessions=1, participants=2, seed=5)
    with EmbeddedPipeline(scenario, Options(**FAST)) as pipeline:
        with pytest.raises(ApiModelMismatch) as raised:
            pipeline.discover()
        assert all(member in str(raised.value) for member in old_botocore)
        assert pipeline.account.queue_depth() == 0
        assert pipeline.account.ledger_sessions() == []
        assert sum(pipeline.simulator.stats()["api_calls"].values()) == 0


def test_an_archive_cold_start_with_an_old_model_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = generate_scenario(stages=1, sessions=1, participants=2, seed=5)
    with EmbeddedPipeline(scenario, Options(**FAST)) as pipeline:
        pipeline.discover()  # with the real model: the session is queued
        queued = pipeline.account.queue_depth()
        assert queued == 1
        monkeypatch.setattr(apimodel, "loaded_model", lambda: _model_without("Event.replica"))
        runtime.runtime.cache_clear()  # a new container, which loads the old model
        failed = pipeline.archive_once()  # the invocation fails, as Lambda reports it
        assert failed is not None and "Event.replica" in failed["errorMessage"]
        assert pipeline.account.landing_keys() == []
        assert pipeline.account.queue_depth() == queued  # still there, for a container that can
