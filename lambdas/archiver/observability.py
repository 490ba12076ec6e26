"""Powertools Logger and Metrics. Traces come from Lambda's active tracing (set by infra/), which
needs no SDK in the function.

Every metric is in the namespace `IVSStageArchive` with the dimension `service` = the
deployment's `name` (archiver.settings), so that two deployments in one account and region keep
apart: each one's alarms and dashboard (infra/monitoring.py) watch its own metrics only. The
stack and the local pipeline give a function its name through Powertools' own variable
(`powertools_environment`), and this module reads it once, at import; unset, it is the default
name, under which the metrics of a deployment made before names existed stay.
"""

from __future__ import annotations

import os
from collections import Counter

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from archiver.compat import quiet_emf_provider
from archiver.ivs import IvsClient

NAMESPACE = "IVSStageArchive"
# The default `name` of archiver.settings (DEFAULT_NAME), spelled again here because importing
# the settings would load pydantic into the custom resources' function, which logs through this
# module and reads no settings; tests/unit/archiver/test_observability.py holds them equal.
DEFAULT_SERVICE = "ivs-stage-archive"
SERVICE_VARIABLE = "POWERTOOLS_SERVICE_NAME"
NAMESPACE_VARIABLE = "POWERTOOLS_METRICS_NAMESPACE"


def powertools_environment(name: str) -> dict[str, str]:
    """Powertools' own variables for a function of the deployment `name`: its service (the
    `service` dimension of every metric, the `service` key of every log line) and the namespace.
    The stack (infra/archiver.py) and the local pipeline (local/) set exactly these."""
    return {SERVICE_VARIABLE: name, NAMESPACE_VARIABLE: NAMESPACE}


# This function's service: its deployment's name, as the stack set it.
SERVICE = os.environ.get(SERVICE_VARIABLE) or DEFAULT_SERVICE
# The default deployment's variables (bench/coldstart.py runs the handlers with them).
ENVIRONMENT = powertools_environment(DEFAULT_SERVICE)

logger = Logger(service=SERVICE)


# Metrics disabled (POWERTOOLS_METRICS_DISABLED, locally) keeps none: archiver.compat.
metrics = Metrics(provider=quiet_emf_provider(namespace=NAMESPACE, service=SERVICE))


class ApiCallMetrics:
    """Emits ApiCalls and ApiThrottles per IVS operation since the last flush (a warm
    container keeps its client, so counters are cumulative)."""

    def __init__(self, ivs: IvsClient) -> None:
        self.ivs = ivs
        self._calls: Counter[str] = Counter()
        self._throttles: Counter[str] = Counter()

    def flush(self) -> None:
        if is_metrics_disabled():  # single_metric does not check it itself
            return
        for name, total, sent in (
            ("ApiCalls", self.ivs.calls, self._calls),
            ("ApiThrottles", self.ivs.throttles, self._throttles),
        ):
            for operation, count in list(total.items()):
                delta = count - sent[operation]
                if delta <= 0:
                    continue
                sent[operation] = count
                # The namespace and service of `metrics`, whatever the environment says now.
                with single_metric(
                    name=name,
                    unit=MetricUnit.Count,
                    value=delta,
                    namespace=NAMESPACE,
                    default_dimensions={"service": SERVICE, **metrics.default_dimensions},
                ) as metric:
                    metric.add_dimension(name="Operation", value=operation)
