"""What a function of a named deployment emits and reads: its metrics carry service=<its name>,
and the archive lag its collector report reads is that service's. Each case imports the
archiver in a fresh process with the environment the stack gives (as a Lambda container does):
the service is read once, at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from archiver.observability import NAMESPACE, powertools_environment
from tests.helpers import ROOT

# Emits one metric through `metrics` (as the handlers do) and one through ApiCallMetrics, then
# reads the archive lag with a CloudWatch client that records its call.
PROBE = """
import json
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace

from archiver import collector_report
from archiver.observability import SERVICE, ApiCallMetrics, metrics

metrics.add_metric(name="SessionsArchived", unit="Count", value=1)
metrics.flush_metrics()
ivs = SimpleNamespace(calls=Counter({"ListStages": 2}), throttles=Counter())
ApiCallMetrics(ivs).flush()

asked = []
class CloudWatch:
    def get_metric_statistics(self, **kwargs):
        asked.append(kwargs["Dimensions"])
        return {"Datapoints": []}
collector_report.archive_lag(CloudWatch(), datetime.now(UTC))
print(json.dumps({"service": SERVICE, "lag_dimensions": asked[0]}))
"""


def _run(environment: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The EMF records the probe printed, and its last line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT / "lambdas",
        env=env | environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    emf = [json.loads(line) for line in lines if line.startswith('{"_aws"')]
    return emf, json.loads(lines[-1])


@pytest.mark.parametrize("name", ["ivs-archive-a", "ivs-archive-b"])
def test_a_function_emits_and_reads_metrics_under_its_deployment_name(name: str) -> None:
    emf, probe = _run(powertools_environment(name))
    assert probe["service"] == name
    assert [(r.get("SessionsArchived"), r.get("ApiCalls")) for r in emf] == [
        ([1.0], None),
        (None, [2.0]),
    ]
    for record in emf:
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        assert any("service" in dimensions for dimensions in directive["Dimensions"])
        assert record["service"] == name
    assert probe["lag_dimensions"] == [{"Name": "service", "Value": name}]


def test_without_a_name_the_default_deployment_keeps_its_metrics() -> None:
    emf, probe = _run({})
    assert probe["service"] == "ivs-stage-archive"
    assert {r["service"] for r in emf} == {"ivs-stage-archive"}
    assert probe["lag_dimensions"] == [{"Name": "service", "Value": "ivs-stage-archive"}]
