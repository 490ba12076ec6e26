"""Two deployments (two `name`s) in one account and region keep their metrics apart: each one's
functions run as the service `name`, and each one's alarms and dashboard read that service only.
Before, both shared the service `ivs-stage-archive`, and each one's alarms watched the other's
metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from archiver.observability import NAMESPACE, powertools_environment
from tests.helpers.synth import Built, text


def _alarm_metrics(built: Built) -> list[dict[str, Any]]:
    """Every custom metric an alarm reads, as CloudFormation writes it (Namespace, MetricName,
    Dimensions), whether the alarm reads it alone or in math."""
    found = []
    for alarm in built.resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        single = [props] if "MetricName" in props else []
        used = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
        found += [m for m in single + used if m["Namespace"] == NAMESPACE]
    return found


def _dashboard_lines(built: Built) -> tuple[list[list[Any]], list[str]]:
    """The dashboard's custom metrics (["IVSStageArchive", name, dim, value, ...]) and its
    SEARCH expressions."""
    (dashboard,) = built.resources("AWS::CloudWatch::Dashboard").values()
    body = json.loads(text(dashboard["Properties"]["DashboardBody"]))
    metrics, searches = [], []
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):
                searches.append(line[0]["expression"])
            elif line[0] == NAMESPACE:
                metrics.append(line)
    return metrics, searches


@pytest.fixture(scope="module")
def deployments(default: Built, second: Built) -> list[tuple[Built, str, str]]:
    """(stack, its name, the other's name)."""
    first, other = default.stack.settings.name, second.stack.settings.name
    assert first != other
    return [(default, first, other), (second, other, first)]


def test_every_alarm_on_a_custom_metric_reads_its_own_deployment_only(
    deployments: list[tuple[Built, str, str]],
) -> None:
    for built, own, other in deployments:
        read = _alarm_metrics(built)
        # SessionsExpired, ArchiveLagSeconds, and ApiThrottles of every IVS operation.
        assert {m["MetricName"] for m in read} == {
            "SessionsExpired",
            "SessionsRetried",
            "ArchiveLagSeconds",
            "ApiThrottles",
        }
        for m in read:
            services = [d["Value"] for d in m["Dimensions"] if d["Name"] == "service"]
            assert services == [own], (own, m)
        alarms = json.dumps(list(built.resources("AWS::CloudWatch::Alarm").values()))
        assert other not in alarms


def test_every_dashboard_metric_and_search_names_its_own_deployment_only(
    deployments: list[tuple[Built, str, str]],
) -> None:
    for built, own, other in deployments:
        metrics, searches = _dashboard_lines(built)
        assert len(metrics) == 9 and len(searches) == 2
        for line in metrics:  # namespace, metric name, then dimension name and value pairs
            assert "service" in line[2::2] and line[line.index("service") + 1] == own, line
        for expression in searches:
            assert f'service="{own}"' in expression, expression
        (dashboard,) = built.resources("AWS::CloudWatch::Dashboard").values()
        assert other not in text(dashboard["Properties"]["DashboardBody"])


@pytest.mark.parametrize("handler", ["discover", "archive"])
def test_a_function_runs_as_the_service_of_its_deployment(
    deployments: list[tuple[Built, str, str]], handler: str
) -> None:
    for built, own, _ in deployments:
        env = built.function(handler)["Properties"]["Environment"]["Variables"]
        assert env["ARCHIVE_NAME"] == own
        assert {k: env[k] for k in powertools_environment(own)} == powertools_environment(own)
        assert env["POWERTOOLS_SERVICE_NAME"] == own
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
