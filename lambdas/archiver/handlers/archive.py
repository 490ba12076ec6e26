"""Archive Lambda: an SQS batch of `{"stageArn", "sessionId"}` messages, archived all at once
behind the same rate limiters (archiver.invocation), with partial batch failure reporting. A
malformed message goes straight to the dead-letter queue; a session that fails is tried again
later, with growing delays (archiver.retry), and fails none of its neighbours."""

from __future__ import annotations

from archiver import compat

compat.pause_collector()  # until compat.handler_loaded(), this module's last line

import asyncio
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from archiver.archiving import Outcome, Report, SessionArchive
from archiver.invocation import Invocation
from archiver.messages import InvalidInput, SessionMessage, parse_session_message
from archiver.observability import logger, metrics
from archiver.runtime import runtime

processor = AsyncBatchProcessor(event_type=EventType.SQS)

_OUTCOME_METRICS = {
    Outcome.ARCHIVED: "SessionsArchived",
    Outcome.EXPIRED: "SessionsExpired",
    Outcome.CONTINUED: "SessionsContinued",
    Outcome.DEFERRED: "SessionsDeferred",
}


def archive_session(invocation: Invocation, message: SessionMessage, owner: str) -> Report:
    """One session, on a thread of its own; its log lines carry its stage and session."""
    logger.thread_safe_append_keys(stage_arn=message.stageArn, session_id=message.sessionId)
    try:
        report = SessionArchive(invocation, message, owner).run()
        logger.info("session " + report.outcome.value, extra=vars(report))
        return report
    except Exception:
        logger.exception("archive failed; the message will be retried")
        raise
    finally:
        logger.thread_safe_clear_keys()


def _none() -> None:
    pass


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
    rt = runtime()
    invocation = rt.invocation(context.get_remaining_time_in_millis)
    # A session thread that dies with more than an Exception (the worker is going down) fails
    # the invocation, but only once every other session has stopped: no thread may outlive its
    # invocation (it would resume, holding leases, inside another).
    fatal: list[BaseException] = []

    async def archive_record(record: SQSRecord) -> None:
        try:
            message = parse_session_message(record.body)
        except InvalidInput as exc:
            invocation.fetching_over()
            logger.error(
                "rejected message", extra={"reason": str(exc), "message_id": record.message_id}
            )
            rt.dead_letter(record.body, reason=str(exc))
            metrics.add_metric(name="MessagesRejected", unit=MetricUnit.Count, value=1)
            return
        loop = asyncio.get_running_loop()
        try:
            report = await loop.run_in_executor(
                rt.session_pool, archive_session, invocation, message, record.message_id
            )
        except Exception as exc:
            metrics.add_metric(name="SessionsFailed", unit=MetricUnit.Count, value=1)
            # Whatever failed may pass (an IVS outage): tried again later, with growing delays,
            # never failing this message towards the dead-letter queue (archiver.retry).
            error = f"{type(exc).__name__}: {exc}"
            if invocation.retry_later(message, record.message_id, error):
                metrics.add_metric(name="SessionsRetried", unit=MetricUnit.Count, value=1)
                return
            raise
        except BaseException as exc:
            fatal.append(exc)
            raise RuntimeError(f"worker going down: {exc!r}") from exc
        _record_metrics(report)

    share = None
    try:
        with rt.rate_share(context.aws_request_id) as share:
            # Once the batch's sessions fetch no more, the rest (writes, commits) leaves this
            # worker's share of the budget to the others.
            invocation.expect(len(event.get("Records", [])), share.release if share else _none)
            return async_process_partial_response(
                event=event, record_handler=archive_record, processor=processor, context=context
            )
    finally:
        if share is not None and share.renewal_failures:
            metrics.add_metric(
                name="RateShareRenewalFailed", unit=MetricUnit.Count, value=share.renewal_failures
            )
        if invocation.commit_conflicts:
            metrics.add_metric(
                name="CommitConflicts", unit=MetricUnit.Count, value=invocation.commit_conflicts
            )
        rt.archive_api_metrics.flush()
        if fatal:
            raise fatal[0]


compat.handler_loaded()
