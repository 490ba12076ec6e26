"""What a warm Lambda container keeps between invocations: settings and AWS clients.

Each function imports only what it uses: the discover function's modules load on its first
call for them, as do the archive function's, so that neither pays for the other's at cold start.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import boto3

from archiver import apimodel, clock
from archiver.ivs import IvsClient
from archiver.ledger import Ledger
from archiver.messages import InvalidInput
from archiver.observability import ApiCallMetrics
from archiver.rate_share import RateShare
from archiver.settings import Settings

if TYPE_CHECKING:
    from archiver.discovery import Discovery, DiscoveryResult
    from archiver.discovery_state import DiscoveryState
    from archiver.invocation import Invocation, Shared

# The most messages an SQS batch of the archive function holds (infra/archiver.py): a worker
# archives them all at once, so the end of a batch (its last writes and commit, and the next
# invocation's start), when the worker's share of the quota idles, comes rarely.
MAX_BATCH = 100
# How long the event source gathers messages for a batch (SQS needs one past 10 messages).
BATCH_WINDOW_S = 1


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
    def cloudwatch(self) -> Any:
        return boto3.client("cloudwatch")

    def report_to_home(self, result: DiscoveryResult, function_arn: str) -> None:
        """This collector's report, after a scheduled discovery run, into the home's bucket
        (archiver.collector_report)."""
        import json

        from archiver import collector_report as reports

        settings, now = self.settings, clock.now()
        account, region = reports.place_of_function(function_arn)
        dead_letters = (
            reports.queue_depth(self.sqs, settings.dead_letter_queue_url)["visible"]
            if settings.dead_letter_queue_url
            else 0
        )
        body = reports.report(
            account=account,
            region=region,
            now=now,
            schedule=settings.schedule,
            discovery={
                "stages_listed": result.stages_listed,
                "stages_checked": result.stages_checked,
                "enqueued": len(result.enqueued),
                "not_queued": result.not_queued,
                "reconcile": result.reconcile,
            },
            work_queue=reports.queue_depth(self.sqs, settings.queue_url),
            dead_letters=dead_letters,
            lag_s=reports.archive_lag(self.cloudwatch, now),
        )
        self.s3.put_object(
            Bucket=settings.bucket_name,
            Key=reports.report_key(settings.prefix, account, region),
            Body=json.dumps(body).encode(),
            ContentType="application/json",
        )

    @cached_property
    def shared(self) -> Shared:
        """What every archive invocation of this container shares: clients and pools."""
        from archiver.invocation import Shared

        return Shared.create(self.settings, self.ivs, self.ledger, self.s3, self.sqs)

    def invocation(self, remaining_ms: Callable[[], int]) -> Invocation:
        from archiver.invocation import Invocation

        return Invocation(self.shared, remaining_ms)

    def rate_share(self, worker: str) -> AbstractContextManager[RateShare | None]:
        """While an archive invocation runs: its share of the budget among the workers running
        at once (with a single worker, the budget is its own)."""
        settings = self.settings
        if settings.archive_concurrency == 1:
            return nullcontext()
        return RateShare(
            settings.ledger_table,
            worker,
            budget=settings.api_tps_budget,
            refresh_s=settings.rate_share_ms / 1000,
            use=self.ivs.set_rate,
            workers=settings.archive_concurrency,
        )

    @cached_property
    def session_pool(self) -> ThreadPoolExecutor:
        """One thread per session of a batch (SQS batches hold at most MAX_BATCH messages)."""
        return ThreadPoolExecutor(MAX_BATCH, "Archive")

    def dead_letter(self, body: str, *, reason: str) -> None:
        """Park a message that can never succeed; without a dead-letter queue configured,
        fail it so that SQS's redrive policy moves it after its retries."""
        if not self.settings.dead_letter_queue_url:
            raise InvalidInput(reason)
        from archiver.queueing import dead_letter

        dead_letter(self.sqs, self.settings.dead_letter_queue_url, body, reason=reason)

    @cached_property
    def discovery_state(self) -> DiscoveryState:
        from archiver.discovery_state import DiscoveryState

        return DiscoveryState(self.settings.ledger_table)

    def discovery(self, *, remaining_ms: Callable[[], int], owner: str) -> Discovery:
        from archiver.discovery import Discovery

        return Discovery(
            self.settings,
            self.discovery_ivs,
            self.ledger,
            self.discovery_state,
            self.sqs,
            now=clock.now(),
            remaining_ms=remaining_ms,
            owner=owner,
        )


@cache
def runtime() -> Runtime:
    """Built on the first invocation of a container; invalid settings fail it with a message
    naming the environment variable, and a botocore model that lacks an API member a column is
    read from fails it naming the members (`archiver.apimodel`)."""
    apimodel.check()
    return Runtime(Settings.from_env())
