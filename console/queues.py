"""The work queue and its dead-letter queue, as SQS counts them (approximately, as SQS says)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Depth:
    waiting: int  # visible: not yet taken by a worker
    in_flight: int  # taken, not yet deleted (being archived, or failed and coming back)
    delayed: int

    @property
    def total(self) -> int:
        return self.waiting + self.in_flight + self.delayed


def depth(sqs: Any, queue_url: str) -> Depth:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return Depth(
        waiting=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )
