"""What the handlers tell CloudWatch: EMF metrics and JSON logs with correlation keys."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest

from local.generator import generate_scenario
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.archive import ended_sessions


def _emf(lines: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Metric name -> every EMF record holding it."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "IVSStageArchive"
            for metric in directive["Metrics"]:
                found[metric["Name"]].append(record)
    return found


def test_metrics_and_logs(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    scenario = generate_scenario(stages=1, sessions=2, participants=4, seed=9)
    sessions = ended_sessions(scenario)
    gone, *kept = sessions
    events = sum(len(p["events"]) for _, s in kept for p in s["participants"])
    with EmbeddedPipeline(scenario, Options(tps=200.0, quiet=False)) as pipeline:
        pipeline.discover()
        pipeline.simulator.expire_session(gone[0]["arn"], gone[1]["sessionId"])
        pipeline.drain()
    lines = capfd.readouterr().out.splitlines()
    metrics = _emf(lines)

    def total(name: str) -> float:
        return sum(sum(r[name]) if isinstance(r[name], list) else r[name] for r in metrics[name])

    assert total("SessionsEnqueued") == len(sessions)
    assert total("SessionsArchived") == len(kept)
    assert total("SessionsExpired") == 1
    assert total("EventsArchived") == events
    assert len(metrics["ArchiveLagSeconds"]) == len(kept)
    calls = {r["Operation"]: r["ApiCalls"] for r in metrics["ApiCalls"]}
    assert {"ListStages", "ListStageSessions", "ListParticipants", "ListParticipantEvents"} <= set(
        calls
    )
    assert all(r["service"] == "ivs-stage-archive" for rs in metrics.values() for r in rs)

    logs = [json.loads(x) for x in lines if x.startswith('{"level"')]
    archived = [x for x in logs if x["message"] == "session archived"]
    assert {(x["stage_arn"], x["session_id"]) for x in archived} == {
        (st["arn"], s["sessionId"]) for st, s in kept
    }
    assert all(x["function_name"] == "archive" for x in archived)
