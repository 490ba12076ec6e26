"""Discover Lambda: EventBridge schedule, `aws.ivs` "IVS Stage Update", or a manual
`{"stageArn": ..., "sessionId": ...}` -> ended sessions claimed and queued for archiving."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from archiver.messages import InvalidInput, parse_discover_event
from archiver.observability import logger, metrics
from archiver.runtime import runtime


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    rt = runtime()
    try:
        request = parse_discover_event(event)
        result = rt.discovery().run(request)
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
            "stages_listed": result.stages_listed,
            "stages_checked": result.stages_checked,
            "reconciled": result.reconciled,
            "enqueued": len(result.enqueued),
        },
    )
    return {"enqueued": [m.model_dump() for m in result.enqueued]}
