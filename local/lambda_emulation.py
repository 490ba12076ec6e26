"""Lambda, emulated for the embedded pipeline: an invocation's context (with a real deadline), a
discover invocation as the schedule (or the manual event) makes it, and an archive invocation
as the SQS event source makes it (a batch of records, the handler, then every message it did
not fail deleted). Used by the pipeline's own thread, the worker processes (local/worker.py)
and the collectors of a run over several places (local/collector.py) alike."""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from archiver.runtime import MAX_BATCH
from local.account import ACCOUNT, REGION, RETRY_AFTER_S

# Lambda tries an asynchronous (scheduled) invocation up to 3 times.
DISCOVERY_ATTEMPTS = 3
# Messages per archive invocation, as the stack's SQS event source sends them.
BATCH_SIZE = MAX_BATCH
# A received message is held this much longer than its invocation; one not deleted comes back
# RETRY_AFTER_S after its invocation (the local queue's own visibility timeout).
HOLD_MARGIN_S = 5


@dataclass
class LambdaContext:
    """What Powertools and the handlers read of a Lambda context, with a real deadline."""

    function_name: str
    deadline_ms: float
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    account: str = ACCOUNT  # the function's place: a collector's, in a run over several
    region: str = REGION

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return int(self.deadline_ms - time.monotonic() * 1000)


def archive_invocation(
    sqs: Any,
    queue_url: str,
    invocation_ms: int,
    batch_size: int = BATCH_SIZE,
    window_s: float = 0.0,
) -> dict[str, Any] | None:
    """One archive Lambda invocation on the next visible messages of `queue_url` (at most
    `batch_size`, gathered for up to `window_s` after the first), as the SQS event source makes
    it: the handler, then every message it did not fail is deleted. None when no message is
    visible. The environment must hold the archiver's settings.

    The local queue's visibility timeout is short, so that a failed message comes back at once:
    received messages are held for the invocation's length (as AWS's six invocations would), so
    that no other worker takes them meanwhile, and what is not deleted is let go at the end."""
    from archiver.handlers import archive

    hold_s = math.ceil(invocation_ms / 1000) + HOLD_MARGIN_S
    received: list[dict[str, Any]] = []
    window_ends: float | None = None
    while len(received) < batch_size:  # SQS answers at most 10 messages a call
        more = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, batch_size - len(received)),
            VisibilityTimeout=hold_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        # A batch holds each message once, with its latest receipt handle (the one that
        # deletes it).
        again = {m["MessageId"] for m in more}
        received = [m for m in received if m["MessageId"] not in again] + more
        if received and window_ends is None:
            window_ends = time.monotonic() + window_s
        if not more:
            if window_ends is None or time.monotonic() >= window_ends:
                break
            time.sleep(0.05)  # the batching window: more messages may come
    if not received:
        return None
    records = [_sqs_record(m, queue_url) for m in received]
    context = LambdaContext("archive", time.monotonic() * 1000 + invocation_ms)
    kept = received  # what comes back: all of it unless the handler answers
    try:
        response: dict[str, Any] = dict(archive.handler({"Records": records}, context))
    except Exception as error:
        # The function failed (Powertools raises BatchProcessingError when every record did):
        # the event source deletes nothing, and each message comes back after its visibility
        # timeout until the queue's redrive policy moves it to the dead-letter queue. What
        # Lambda would answer, with the batch's message bodies for the caller's report.
        return {
            "errorType": type(error).__name__,
            "errorMessage": _reason(error),
            "bodies": [message["Body"] for message in received],
        }
    else:
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        kept = [m for m in received if m["MessageId"] in failed]
        for message in received:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return response
    finally:
        for message in kept:  # back after the queue's own (short) visibility timeout
            with contextlib.suppress(ClientError):
                sqs.change_message_visibility(
                    QueueUrl=queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=RETRY_AFTER_S,
                )


def _reason(error: Exception) -> str:
    """One line on why an invocation failed: the record's own error, not the batch's."""
    children = getattr(error, "child_exceptions", None)  # Powertools' BatchProcessingError
    if children:
        _, error, _ = children[-1]
    if isinstance(error, ClientError):  # the call that failed, its error code and message
        details = error.response.get("Error", {})
        code, message = details.get("Code", "?"), details.get("Message", "")
        return f"{error.operation_name}: {code}" + (f" ({message})" if message else "")
    return f"{type(error).__name__}: {error}".splitlines()[0]


def _sqs_record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rsplit('/', 1)[-1]}",
        "awsRegion": REGION,
    }


def scheduled_event() -> dict[str, Any]:
    """What EventBridge's schedule sends the discover function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail-type": "Scheduled Event",
        "detail": {},
    }


def discover_invocation(
    event: dict[str, Any] | None,
    invocation_ms: int,
    *,
    account: str = ACCOUNT,
    region: str = REGION,
) -> dict[str, Any]:
    """One discover invocation on `event` (the schedule's when None) of the function in
    `account` and `region`; what it answered. The environment must hold its settings."""
    from archiver.handlers import discover

    deadline = time.monotonic() * 1000 + invocation_ms
    context = LambdaContext("discover", deadline, account=account, region=region)
    result: dict[str, Any] = discover.handler(event or scheduled_event(), context)
    return result


def discover_scenario(
    invoke: Callable[[dict[str, Any] | None], dict[str, Any]],
    ended: Iterable[tuple[str, str, str]],
    lookback_days: int,
) -> str:
    """Discovery as `local run` makes it: the scheduled run, then the manual event for each
    ended session older than the look-back (`ended`: stage ARN, session id, end time), each
    invocation tried again on failure, as Lambda retries an asynchronous one. Why sessions may
    have been left unqueued ('' when nothing failed)."""
    problem = _attempts(invoke, None)
    cutoff = datetime.now(UTC) - timedelta(days=lookback_days - 1)
    for stage_arn, session_id, end in ended:
        if datetime.fromisoformat(end.replace("Z", "+00:00")) < cutoff:
            event = {"stageArn": stage_arn, "sessionId": session_id}
            problem = _attempts(invoke, event) or problem
    return problem


def _attempts(
    invoke: Callable[[dict[str, Any] | None], dict[str, Any]], event: dict[str, Any] | None
) -> str:
    """One discover invocation, tried again on failure; why it failed in the end, or ''."""
    reason = ""
    for _ in range(DISCOVERY_ATTEMPTS):
        try:
            result = invoke(event)
        except Exception as error:
            reason = f"discovery failed {DISCOVERY_ATTEMPTS} times: {type(error).__name__}: "
            reason += str(error).splitlines()[0] if str(error) else ""
            continue
        return f"discovery rejected it: {result['rejected']}" if "rejected" in result else ""
    return reason
