"""Claim ended sessions in the ledger and queue each claimed one for the archive workers: what
discovery does, and the operator's `ivs-archive backfill`.

The claim comes first (a conditional write: one claimant per session), the message at once
after, then the claim is marked queued; a claimant that dies between the two leaves a claim that
a later discovery run queues again (archiver.ledger.Ledger.claim).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.ivs import ApiRecord
from archiver.ledger import Ledger
from archiver.messages import SessionMessage

SQS_BATCH = 10  # messages per SendMessageBatch


@dataclass
class Queued:
    sent: list[SessionMessage] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # session ids another claimant holds
    refused: int = 0  # claimed, but SQS refused the message (a later run queues it)


def claim_and_queue(
    ledger: Ledger,
    sqs: Any,
    queue_url: str,
    stage_arn: str,
    sessions: Iterable[ApiRecord],
    *,
    stage_name: str | None,
    run_started: datetime,
    force: bool = False,
) -> Queued:
    """Claim each session (`force`: even one that failed too often) and queue those claimed."""
    result = Queued()
    claimed: list[SessionMessage] = []
    for session in sessions:
        if ledger.claim(
            stage_arn, session, stage_name=stage_name, run_started=run_started, force=force
        ):
            claimed.append(SessionMessage(stageArn=stage_arn, sessionId=session["sessionId"]))
        else:
            result.taken.append(session["sessionId"])
    for start in range(0, len(claimed), SQS_BATCH):
        batch = claimed[start : start + SQS_BATCH]
        response = sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "MessageBody": m.body()} for i, m in enumerate(batch)],
        )
        for entry in response.get("Successful", []):
            message = batch[int(entry["Id"])]
            ledger.mark_queued(stage_arn, message.sessionId)
            result.sent.append(message)
        result.refused += len(response.get("Failed", []))
    return result


def dead_letter(sqs: Any, queue_url: str, body: str, *, reason: str) -> None:
    """Park a message on the dead-letter queue with why (`ivs-archive status` shows it)."""
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )
