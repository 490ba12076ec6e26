"""`ivs-archive redrive`: move the dead-lettered messages back to the work queue, and say why each
was there: the `reason` the archiver gave a message it rejected, or else the ledger's last error
of the message's session (one the workers failed on until SQS moved it). Each message is sent
to the work queue before it is deleted from the dead-letter queue: an interrupted redrive may
leave a copy in both, which the archiver's idempotence makes harmless, never none."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from archiver.ledger import Ledger
from archiver.messages import InvalidInput, parse_session_message
from archiver.retry import MAX_RECEIVES
from console.deployment import DEAD_LETTER_QUEUE, LEDGER, WORK_QUEUE, Deployment
from console.output import Output

BATCH = 10
# While a redrive reads the dead-letter queue, what it has read stays hidden this long (a dry
# run puts it back at the end).
HIDE_S = 300


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt: str
    body: str
    reason: str
    stage_arn: str | None
    session_id: str | None


@dataclass
class Redrive:
    letters: list[DeadLetter] = field(default_factory=list)
    moved: int = 0
    failed: list[str] = field(default_factory=list)  # why a message could not be moved

    def reasons(self) -> Counter[str]:
        return Counter(letter.reason for letter in self.letters)


def _reason(message: dict[str, Any], ledger: Ledger) -> tuple[str, str | None, str | None]:
    """Why the message was dead-lettered, and the session it names (if it names one)."""
    given = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue")
    try:
        session = parse_session_message(message["Body"])
    except InvalidInput as error:
        return given or f"rejected: {error}", None, None
    if given:
        return given, session.stageArn, session.sessionId
    # No reason given: SQS moved it after its worker failed without answering 5 times (the
    # archiver re-sends a session that merely failed, archiver.retry).
    record = ledger.get(session.stageArn, session.sessionId)
    if record is None:
        last = "the session is not in the ledger"
    else:
        last = record.last_error or f"no error recorded (ledger: {record.status.value})"
    why = (
        f"SQS moved it after {MAX_RECEIVES} receives its worker crashed or timed out on; "
        f"last error: {last}"
    )
    return why, session.stageArn, session.sessionId


def peek(sqs: Any, queue_url: str, ledger: Ledger, *, limit: int) -> list[DeadLetter]:
    """Up to `limit` dead-lettered messages with why each is there, read without hiding or
    moving any (what `status` shows: the read-only policy allows it)."""
    seen: dict[str, DeadLetter] = {}
    for _ in range(-(-limit // BATCH) + 2):  # visible messages come back: stop on no news
        fresh = 0
        for message in _receive(sqs, queue_url, 0):
            if message["MessageId"] in seen or len(seen) >= limit:
                continue
            reason, stage, session = _reason(message, ledger)
            seen[message["MessageId"]] = DeadLetter(
                message["MessageId"], "", message["Body"], reason, stage, session
            )
            fresh += 1
        if not fresh:
            break
    return list(seen.values())


def _receive(sqs: Any, queue_url: str, hide_s: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=BATCH,
        MessageAttributeNames=["All"],
        AttributeNames=["SentTimestamp"],
        VisibilityTimeout=hide_s,
        WaitTimeSeconds=1 if hide_s else 0,
    ).get("Messages", [])
    return messages


def _release(sqs: Any, queue_url: str, receipts: list[str]) -> None:
    """Make messages read but not moved visible again at once."""
    for start in range(0, len(receipts), BATCH):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
                for i, receipt in enumerate(receipts[start : start + BATCH])
            ],
        )


def _move(sqs: Any, source: str, target: str, batch: list[DeadLetter], result: Redrive) -> None:
    """Send a batch to the work queue, then delete what was sent from the dead-letter queue."""
    sent = sqs.send_message_batch(
        QueueUrl=target,
        Entries=[{"Id": str(i), "MessageBody": letter.body} for i, letter in enumerate(batch)],
    )
    kept = []
    for failure in sent.get("Failed", []):
        letter = batch[int(failure["Id"])]
        kept.append(letter.receipt)
        result.failed.append(
            f"{letter.message_id}: {failure.get('Code')}: {failure.get('Message')}"
        )
    done = [batch[int(entry["Id"])] for entry in sent.get("Successful", [])]
    if done:
        sqs.delete_message_batch(
            QueueUrl=source,
            Entries=[{"Id": str(i), "ReceiptHandle": d.receipt} for i, d in enumerate(done)],
        )
    result.moved += len(done)
    _release(sqs, source, kept)


def redrive(sqs: Any, source: str, target: str, ledger: Ledger, *, dry_run: bool) -> Redrive:
    """Every message of the dead-letter queue, read (and moved) a batch at a time. Messages
    dead-lettered after the run began (one it moved and the archiver rejected again at once)
    are left where they are: the run ends rather than loop on them."""
    result = Redrive()
    started_ms = time.time() * 1000
    unmoved: list[str] = []  # receipts to make visible again
    while True:
        fresh = []
        for message in _receive(sqs, source, HIDE_S):
            if int(message.get("Attributes", {}).get("SentTimestamp", 0)) >= started_ms:
                unmoved.append(message["ReceiptHandle"])
                continue
            reason, stage, session = _reason(message, ledger)
            fresh.append(
                DeadLetter(
                    message["MessageId"],
                    message["ReceiptHandle"],
                    message["Body"],
                    reason,
                    stage,
                    session,
                )
            )
        if not fresh:
            break
        result.letters += fresh
        if dry_run:
            unmoved += [letter.receipt for letter in fresh]
        else:
            _move(sqs, source, target, fresh, result)
    _release(sqs, source, unmoved)
    return result


def run(deployment: Deployment, out: Output, *, dry_run: bool) -> int:
    deployment.require(LEDGER, WORK_QUEUE, DEAD_LETTER_QUEUE)
    sqs = deployment.client("sqs")
    ledger = Ledger(deployment[LEDGER], resource=deployment.aws.resource("dynamodb"))
    source, target = deployment[DEAD_LETTER_QUEUE], deployment[WORK_QUEUE]
    result = redrive(sqs, source, target, ledger, dry_run=dry_run)
    out.data(
        {
            "dead_letters": len(result.letters),
            "moved": result.moved,
            "dry_run": dry_run,
            "reasons": dict(result.reasons().most_common()),
            "messages": [
                {
                    "stage_arn": d.stage_arn,
                    "session_id": d.session_id,
                    "reason": d.reason,
                    "body": d.body,
                }
                for d in result.letters
            ],
            "failed": result.failed,
        }
    )
    if not result.letters:
        out.line("the dead-letter queue is empty")
        return 0
    verb = "would move" if dry_run else "moved"
    count = len(result.letters) if dry_run else result.moved
    out.line(
        f"{verb} {count:,} of {len(result.letters):,} dead-lettered messages back to the work queue"
    )
    out.table(
        "why they were dead-lettered",
        ["messages", "reason"],
        [[n, reason] for reason, n in result.reasons().most_common()],
    )
    out.table(
        "messages",
        ["session", "stage", "reason"],
        [
            [d.session_id or "(not a session)", (d.stage_arn or "").rsplit("/", 1)[-1], d.reason]
            for d in result.letters
        ],
    )
    for failure in result.failed:
        out.line(f"not moved: {failure}")
    return 1 if result.failed else 0
