"""`ivs-archive archive STAGE_ARN SESSION_ID`: archive one session now, through the same path as
the manual event: the discover function, invoked with `{"stageArn", "sessionId"}`, checks the
session with IVS, claims it in the ledger (even one that failed before) and queues it."""

from __future__ import annotations

import json
from typing import Any

from archiver.ledger import Ledger
from archiver.messages import SessionMessage
from console.deployment import DISCOVER_FUNCTION, LEDGER, Deployment
from console.errors import ConsoleError
from console.output import Output


def invoke(deployment: Deployment, function: str, event: dict[str, Any]) -> dict[str, Any]:
    """The function's answer; a function error is a ConsoleError naming its type and message."""
    response = deployment.client("lambda").invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps(event).encode(),
    )
    payload = response["Payload"].read()
    try:
        answer = json.loads(payload or b"null")
    except json.JSONDecodeError:
        answer = payload.decode("utf-8", "replace")
    if response.get("FunctionError"):
        detail = answer if isinstance(answer, dict) else {"errorMessage": str(answer)}
        kind = detail.get("errorType", response["FunctionError"])
        raise ConsoleError(
            f"the function {function} failed: {kind}: {detail.get('errorMessage', '')}"
            " (its log group has the details)"
        )
    if not isinstance(answer, dict):
        raise ConsoleError(f"the function {function} answered {str(answer)[:200]!r}")
    return answer


def run(deployment: Deployment, out: Output, message: SessionMessage) -> int:
    deployment.require(DISCOVER_FUNCTION, LEDGER)
    event = {"stageArn": message.stageArn, "sessionId": message.sessionId}
    answer = invoke(deployment, deployment[DISCOVER_FUNCTION], event)
    queued = any(
        m.get("stageArn") == message.stageArn and m.get("sessionId") == message.sessionId
        for m in answer.get("enqueued", [])
    )
    ledger = Ledger(deployment[LEDGER], resource=deployment.aws.resource("dynamodb"))
    record = None if queued or "rejected" in answer else ledger.get(*event.values())
    status = record.status.value if record else None
    out.data({"queued": queued, "answer": answer, "status": status})
    if queued:
        out.line(
            f"queued {message.sessionId}: the archive workers take it from the work queue "
            f"(`ivs-archive sessions --stage {message.stageArn}` follows it)"
        )
        return 0
    if "rejected" in answer:
        out.line(f"rejected: {answer['rejected']}")
        return 1
    if record is not None:  # the claim found it archived, expired, or in a worker's hands
        out.line(f"not queued: the ledger has {message.sessionId} as {status}")
        return 0
    out.line(f"not queued; the discover function answered {json.dumps(answer)}")
    return 1
