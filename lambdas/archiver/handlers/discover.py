"""Discover Lambda: EventBridge schedule, `aws.ivs` "IVS Stage Update", or a manual
`{"stageArn": ..., "sessionId": ...}` -> ended sessions claimed and queued for archiving."""

from __future__ import annotations

from archiver import compat

compat.pause_collector()  # until compat.handler_loaded(), this module's last line

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

# Every call needs archiver.discovery: loaded at init (the runtime defers it).
from archiver.discovery import DiscoveryResult
from archiver.eventbridge import ScheduledEvent, parse_discover_event
from archiver.messages import InvalidInput
from archiver.observability import logger, metrics
from archiver.runtime import runtime


def _report_to_home(result: DiscoveryResult, function_arn: str) -> None:
    """The collector's report for `ivs-archive status` on the home; a failure to write it is
    logged and counted, and leaves the run's work (its sessions are queued) as it is."""
    try:
        runtime().report_to_home(result, function_arn)
    except Exception:
        logger.exception("collector report not written; the next scheduled run writes it")
        metrics.add_metric(name="CollectorReportFailed", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    try:
        request = parse_discover_event(event)
        discovery = rt.discovery(
            remaining_ms=context.get_remaining_time_in_millis, owner=context.aws_request_id
        )
        result = discovery.run(request)
    except InvalidInput as exc:
        # Retrying a malformed event repeats the error: reject it once, clearly, write nothing.
        logger.error("rejected discover event", extra={"reason": str(exc)})
        metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=1)
        return {"rejected": str(exc)}
    finally:
        rt.discovery_api_metrics.flush()
    metrics.add_metric(name="SessionsEnqueued", unit=MetricUnit.Count, value=len(result.enqueued))
    logger.info(
        "discovery done",
        extra={
            "look": result.look,
            "stages_listed": result.stages_listed,
            "stages_checked": result.stages_checked,
            "paced": result.paced,
            "reconcile": result.reconcile,
            "skipped": result.skipped,
            "hinted": result.hinted,
            "enqueued": len(result.enqueued),
            "not_queued": result.not_queued,
        },
    )
    if result.not_queued:
        logger.error(
            "sessions claimed but not queued: a later run queues them",
            extra={"not_queued": result.not_queued},
        )
    if result.skipped:
        return {"skipped": "another discovery run holds the lease"}
    if isinstance(request, ScheduledEvent):
        _report_to_home(result, context.invoked_function_arn)
    return {"enqueued": [m.model_dump() for m in result.enqueued]}


compat.handler_loaded()
