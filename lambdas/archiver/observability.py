"""Powertools Logger and Metrics. Traces come from Lambda's active tracing (set by infra/), which
needs no SDK in the function.

The service name and metric namespace are fixed here, not read from the environment when this
module happens to be imported: the stack's alarms and dashboard (infra/) import them from here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from archiver.ivs import IvsClient

SERVICE = "ivs-stage-archive"
NAMESPACE = "IVSStageArchive"

logger = Logger(service=SERVICE)


class _EMF(AmazonCloudWatchEMFProvider):
    """CloudWatch EMF that keeps and prints nothing while metrics are disabled
    (POWERTOOLS_METRICS_DISABLED). Powertools then stops flush_metrics from printing, but not
    from keeping the values, and add_metric prints them anyway once a metric holds 100 (in a
    warm container: at the 100th invocation)."""

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        if not is_metrics_disabled():
            super().add_metric(*args, **kwargs)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        if not is_metrics_disabled():
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


metrics = Metrics(provider=_EMF(namespace=NAMESPACE, service=SERVICE))


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
                with single_metric(
                    name=name,
                    unit=MetricUnit.Count,
                    value=delta,
                    default_dimensions=metrics.default_dimensions,
                ) as metric:
                    metric.add_dimension(name="Operation", value=operation)
