"""Archive Lambda: SQS batch of `{"stageArn", "sessionId"}` messages, one session each, with
partial batch failure reporting. A malformed message goes straight to the dead-letter queue."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from archiver.archiving import Outcome, Report
from archiver.messages import InvalidInput, parse_session_message
from archiver.observability import logger, metrics
from archiver.runtime import runtime

processor = BatchProcessor(event_type=EventType.SQS)

_OUTCOME_METRICS = {
    Outcome.ARCHIVED: "SessionsArchived",
    Outcome.EXPIRED: "SessionsExpired",
    Outcome.CONTINUED: "SessionsContinued",
}


def archive_record(record: SQSRecord, lambda_context: LambdaContext) -> None:
    rt = runtime()
    try:
        message = parse_session_message(record.body)
    except InvalidInput as exc:
        logger.error(
            "rejected message", extra={"reason": str(exc), "message_id": record.message_id}
        )
        rt.dead_letter(record.body, reason=str(exc))
        metrics.add_metric(name="MessagesRejected", unit=MetricUnit.Count, value=1)
        return
    logger.append_keys(stage_arn=message.stageArn, session_id=message.sessionId)
    try:
        report = rt.archiver.archive(
            message,
            owner=record.message_id,
            remaining_ms=lambda_context.get_remaining_time_in_millis,
        )
    except Exception:
        metrics.add_metric(name="SessionsFailed", unit=MetricUnit.Count, value=1)
        logger.exception("archive failed; the message will be retried")
        raise
    finally:
        rt.archive_api_metrics.flush()
    _record_metrics(report)
    logger.info("session " + report.outcome.value, extra=vars(report))


def _record_metrics(report: Report) -> None:
    if report.outcome in _OUTCOME_METRICS:
        metrics.add_metric(name=_OUTCOME_METRICS[report.outcome], unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="EventsArchived", unit=MetricUnit.Count, value=report.events)
    metrics.add_metric(
        name="ParticipantsArchived", unit=MetricUnit.Count, value=report.participants
    )
    if report.prefetch_discarded:
        metrics.add_metric(
            name="PrefetchDiscarded", unit=MetricUnit.Count, value=report.prefetch_discarded
        )
    if report.outcome is Outcome.ARCHIVED and report.lag_seconds is not None:
        metrics.add_metric(
            name="ArchiveLagSeconds", unit=MetricUnit.Seconds, value=report.lag_seconds
        )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=archive_record, processor=processor, context=context
    )
