"""What a warm Lambda container keeps between invocations: settings and AWS clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import Any

import boto3

from archiver import apimodel
from archiver.archiving import SessionArchiver
from archiver.discovery import Discovery
from archiver.ivs import IvsClient
from archiver.ledger import Ledger
from archiver.messages import InvalidInput
from archiver.observability import ApiCallMetrics
from archiver.settings import Settings


@dataclass
class Runtime:
    settings: Settings

    @cached_property
    def ivs(self) -> IvsClient:
        """For an archive worker: its share of the budget (workers run side by side)."""
        return IvsClient(self.settings.worker_tps)

    @cached_property
    def discovery_ivs(self) -> IvsClient:
        """Discovery uses ListStages and ListStageSessions, which no worker calls: the whole
        budget is its own."""
        return IvsClient(self.settings.api_tps_budget)

    @cached_property
    def archive_api_metrics(self) -> ApiCallMetrics:
        return ApiCallMetrics(self.ivs)

    @cached_property
    def discovery_api_metrics(self) -> ApiCallMetrics:
        return ApiCallMetrics(self.discovery_ivs)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.settings.ledger_table)

    @cached_property
    def s3(self) -> Any:
        return boto3.client("s3")

    @cached_property
    def sqs(self) -> Any:
        return boto3.client("sqs")

    @cached_property
    def archiver(self) -> SessionArchiver:
        return SessionArchiver(self.settings, self.ivs, self.ledger, self.s3, self.sqs)

    def dead_letter(self, body: str, *, reason: str) -> None:
        """Park a message that can never succeed; without a dead-letter queue configured,
        fail it so that SQS's redrive policy moves it after its retries."""
        if not self.settings.dead_letter_queue_url:
            raise InvalidInput(reason)
        self.sqs.send_message(
            QueueUrl=self.settings.dead_letter_queue_url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
        )

    def discovery(self) -> Discovery:
        return Discovery(
            self.settings, self.discovery_ivs, self.ledger, self.sqs, now=datetime.now(UTC)
        )


@cache
def runtime() -> Runtime:
    """Built on the first invocation of a container; invalid settings fail it with a message
    naming the environment variable, and a botocore model that lacks an API member a column is
    read from fails it naming the members (`archiver.apimodel`)."""
    apimodel.check()
    return Runtime(Settings.from_env())
