"""Powertools Logger and Metrics. Traces come from Lambda's active tracing (set by infra/), which
needs no SDK in the function.

The service name and metric namespace are fixed here, not read from the environment when this
module happens to be imported: the stack's alarms and dashboard (infra/) import them from here.
"""

from __future__ import annotations

from collections import Counter

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from archiver.compat import quiet_emf_provider
from archiver.ivs import IvsClient

SERVICE = "ivs-stage-archive"
NAMESPACE = "IVSStageArchive"
# Powertools' own variables, as the stack and the local pipeline set them.
ENVIRONMENT = {"POWERTOOLS_SERVICE_NAME": SERVICE, "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}

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
                with single_metric(
                    name=name,
                    unit=MetricUnit.Count,
                    value=delta,
                    default_dimensions=metrics.default_dimensions,
                ) as metric:
                    metric.add_dimension(name="Operation", value=operation)
