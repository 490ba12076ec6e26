"""The whole archiver on embedded stand-ins, for `python -m local run` (local/run.py) and tests.

The IVS simulator and a stand-in AWS account (local/account.py: moto, with the bucket, ledger
table and queues) listen on loopback; the discover and archive handlers run through the same
entry points the Lambdas use, with the same environment variables, until the queue is empty.
The bucket can then be mirrored into a folder with the same keys.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from archiver.catalog import sqlite_uri
from archiver.runtime import BATCH_WINDOW_S, MAX_BATCH
from archiver.settings import Settings
from local.account import ACCOUNT, REGION, RETRY_AFTER_S, StandInAccount
from local.percentiles import percentiles
from local.simulator import Simulator

T = TypeVar("T")
INVOCATION_MS = 900_000  # the Lambda maximum the archive function runs with
# Messages per archive invocation, as the stack's SQS event source sends them.
BATCH_SIZE = MAX_BATCH
# A received message is held this much longer than its invocation; one not deleted comes back
# RETRY_AFTER_S after its invocation (the local queue's own visibility timeout).
HOLD_MARGIN_S = 5
IVS_QUOTA = 5.0  # calls a second per operation: what a simulated quota is a multiple of
STACK_WORKERS = 2  # the stack's archiveConcurrency default
# The longest look-back the archiver's settings accept (LOOKBACK_DAYS).
LOOKBACK_CAP: int = next(
    rule.le for rule in Settings.model_fields["lookback_days"].metadata if hasattr(rule, "le")
)


@dataclass
class LambdaContext:
    """What Powertools and the handlers read of a Lambda context, with a real deadline."""

    function_name: str
    deadline_ms: float
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return int(self.deadline_ms - time.monotonic() * 1000)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Options:
    tps: float = 5.0
    budget: float | None = None  # default: 80% of tps
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    seed: int = 0
    participant_details: str = "on"
    chunk_size: int = 500
    invocation_ms: int = INVOCATION_MS
    min_remaining_ms: int = 120_000
    prefix: str = ""
    stage_allow_list: tuple[str, ...] = ()
    quiet: bool = True  # Powertools logs at WARNING and no metric output
    worker_log: Path | None = None  # where archive worker processes' output goes (appended)
    participant_order: str = "participantId"  # the simulator's ListParticipants order
    batch_size: int = BATCH_SIZE  # messages per archive invocation
    # Where the query tables' catalog (catalog.db) and files go; None: a temporary folder.
    tables_dir: Path | None = None
    archive_concurrency: int = 1  # workers sharing the budget (each gets budget / this)
    chunk_invocation_ms: int = INVOCATION_MS  # the invocation length chunks are sized to fit
    rate_share_ms: int = 5000  # how often workers running at once renew their budget share
    # The least time between two commits of a worker: 5 s in AWS, less here, where runs are
    # short and quotas scaled up (a worker waits for its last commit before it ends).
    commit_interval_ms: int = 500
    batch_window_s: float = BATCH_WINDOW_S  # how long the event source gathers a batch
    # Replay the scenario's timeline in simulated time (local/simulator/live.py): `speed`
    # simulated seconds per wall second from `start`; IVS events lost and late at these rates.
    live: bool = False
    speed: float = 1.0
    start: datetime | None = None
    event_loss: float = 0.0
    event_delay_s: float = 0.0

    @property
    def archiver_budget(self) -> float:
        return self.budget if self.budget is not None else 0.8 * self.tps

    def as_deployed(self, scale: float, workers: int = STACK_WORKERS) -> Options:
        """These options with the stack's defaults for a quota `scale` times IVS's: its number
        of archive workers, and every time the archiver keeps (the Lambda timeout and its
        margin, budget-share renewals, commit spacing) `scale` times shorter. A slower quota
        (`scale` below 1) keeps the deployed times: Lambda allows no longer invocation."""
        scale = max(scale, 1.0)

        def default(name: str) -> int:
            return max(1, int(Settings.default_ms(name) / scale))

        return replace(
            self,
            archive_concurrency=workers,
            invocation_ms=default("invocation_ms"),
            chunk_invocation_ms=default("invocation_ms"),
            min_remaining_ms=default("min_remaining_ms"),
            rate_share_ms=default("rate_share_ms"),
            commit_interval_ms=default("commit_interval_ms"),
            batch_window_s=BATCH_WINDOW_S / scale,
        )


class EmbeddedPipeline:
    """Simulator + moto + the handlers. Use as a context manager; call `discover()` and
    `drain()` (or `run()`), then `mirror(out)` and `stats()`."""

    def __init__(self, scenario: dict[str, Any], options: Options | None = None) -> None:
        self.options = options or Options()
        self.lookback_days = _lookback_days(scenario)
        self.simulator = Simulator(
            scenario,
            tps=self.options.tps,
            latency_ms=self.options.latency_ms,
            fault_rate=self.options.fault_rate,
            seed=self.options.seed,
            participant_order=self.options.participant_order,
            live=self.options.live,
            speed=self.options.speed,
            start=self.options.start,
            event_loss=self.options.event_loss,
            event_delay_s=self.options.event_delay_s,
        )
        self.account = StandInAccount()
        self.invocations: Counter[str] = Counter()
        self.invocation_errors = 0  # archive invocations that raised (their messages come back)
        self.last_error: dict[str, str] = {}  # message body -> why its last invocation raised
        self._env: Any = None
        self.finished_at: float | None = None  # when the last archive invocation ended
        self.tables_dir: Path | None = None
        self._temporary_tables: Path | None = None
        self._started = 0.0

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> EmbeddedPipeline:
        self._open_tables()
        self.simulator.start()
        self.account.start()
        self._env = _environment(self._aws_environment())
        self._env.__enter__()
        self.account.create_resources()
        self._env_settings = _environment(self._settings_environment())
        self._env_settings.__enter__()
        self._fresh_container()
        if self.options.live:  # the whole pipeline lives in the simulated time
            from archiver import clock

            clock.use(self.simulator.now)
        self._started = time.monotonic()
        return self

    def _fresh_container(self) -> None:
        """What a new Lambda container would have: settings read anew, no metrics left over
        from earlier invocations, logs to the process's stdout at this pipeline's level."""
        from archiver import runtime
        from archiver.observability import logger, metrics

        runtime.runtime.cache_clear()
        metrics.clear_metrics()
        logger.setLevel("WARNING" if self.options.quiet else "INFO")
        handler = logger.registered_handler
        if isinstance(handler, logging.StreamHandler) and sys.__stdout__ is not None:
            handler.setStream(sys.__stdout__)  # the process's stdout, as in Lambda

    def __exit__(self, *exc: object) -> None:
        from archiver import clock, runtime

        if self.options.live:
            clock.use(None)
        runtime.runtime.cache_clear()
        self._env_settings.__exit__(None, None, None)
        self._env.__exit__(None, None, None)
        self.account.stop()
        self.simulator.stop()
        if self._temporary_tables is not None:
            shutil.rmtree(self._temporary_tables, ignore_errors=True)

    def _tables(self) -> Path:
        if self.tables_dir is None:
            raise RuntimeError("the pipeline is not running")
        return self.tables_dir

    def _open_tables(self) -> None:
        """The query tables, new and empty, in a local SQL catalog (Glue in AWS)."""
        from local.tables import open_tables, reset

        self._temporary_tables = None
        if self.options.tables_dir is None:
            self._temporary_tables = Path(tempfile.mkdtemp(prefix="ivs-archive-tables-"))
        self.tables_dir = self.options.tables_dir or self._temporary_tables
        reset(self._tables(), self.options.prefix)
        open_tables(self._tables(), prefix=self.options.prefix)

    def _aws_environment(self) -> dict[str, str]:
        env = self.account.environment() | {
            "AWS_ENDPOINT_URL_IVS_REALTIME": self.simulator.endpoint_url,
            "POWERTOOLS_SERVICE_NAME": "ivs-stage-archive",
            "POWERTOOLS_METRICS_NAMESPACE": "IVSStageArchive",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if self.options.quiet:
            env |= {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
        return env

    def _settings_environment(self) -> dict[str, str]:
        o, account = self.options, self.account
        return {
            "ARCHIVE_BUCKET": account.bucket,
            "ARCHIVE_PREFIX": o.prefix,
            "LEDGER_TABLE": account.ledger_table,
            "WORK_QUEUE_URL": account.queue_url,
            "DEAD_LETTER_QUEUE_URL": account.dlq_url,
            "API_TPS_BUDGET": str(o.archiver_budget),
            "ARCHIVE_CONCURRENCY": str(o.archive_concurrency),
            "INVOCATION_MS": str(o.chunk_invocation_ms),
            "RATE_SHARE_MS": str(o.rate_share_ms),
            "COMMIT_INTERVAL_MS": str(o.commit_interval_ms),
            "PARTICIPANT_DETAILS": o.participant_details,
            "CHUNK_SIZE": str(o.chunk_size),
            "MIN_REMAINING_MS": str(o.min_remaining_ms),
            "LOOKBACK_DAYS": str(self.lookback_days),
            "STAGE_ALLOW_LIST": ",".join(o.stage_allow_list),
            "ICEBERG_CATALOG": sqlite_uri(self._tables()),
        }

    # --- running ------------------------------------------------------------------------------
    def discover(
        self, event: dict[str, Any] | None = None, invocation_ms: int = 300_000
    ) -> dict[str, Any]:
        from archiver.handlers import discover

        event = event or {
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
        self.invocations["discover"] += 1
        context = LambdaContext("discover", time.monotonic() * 1000 + invocation_ms)
        result: dict[str, Any] = discover.handler(event, context)
        return result

    def archive_once(
        self, invocation_ms: int | None = None, window_s: float = 0.0
    ) -> dict[str, Any] | None:
        """One archive invocation on the next message, as Lambda's event source would make
        it. None when no message is visible."""
        ms = invocation_ms if invocation_ms is not None else self.options.invocation_ms
        response = archive_invocation(
            self.account.sqs, self.account.queue_url, ms, self.options.batch_size, window_s
        )
        if response is not None:
            self.count_archive_invocations(1, [response] if "errorMessage" in response else [])
        return response

    def count_archive_invocations(self, count: int, failures: list[dict[str, Any]]) -> None:
        """`count` archive invocations made, `failures` of them raised (their messages come
        back): what each failed on is the last error of its messages' bodies."""
        self.invocations["archive"] += count
        self.invocation_errors += len(failures)
        for failure in failures:
            for body in failure["bodies"]:
                self.last_error[body] = failure["errorMessage"]

    def drain(self, feeding: threading.Event | None = None) -> None:
        """Archive workers until the queue is empty (failed messages come back after their
        visibility timeout, up to MAX_RECEIVES times, then go to the dead-letter queue) and,
        with `feeding`, until it is set: discovery queues sessions while workers archive."""
        while self.account.queue_depth() or (feeding is not None and not feeding.is_set()):
            # While sessions are being queued, batches are gathered over the event source's
            # window; after, the backlog fills them at once.
            fed = feeding is None or feeding.is_set()
            if self.archive_once(window_s=0.0 if fed else self.options.batch_window_s) is None:
                time.sleep(0.2 if fed else 0.05)
        self.finished_at = time.monotonic()

    def alongside_discovery(self, discover: Callable[[], T], workers: int = 0) -> T:
        """`discover()` while archive workers take the queue, as discovery and the archive
        function run side by side in AWS, until the queue is empty; what it returned. With
        `workers`, they run in processes of their own (local/workers.py); without, on a thread
        of this process (what tests use, to reach into the worker)."""
        if workers:
            from local.workers import WorkerProcesses

            with WorkerProcesses(self, workers, window_s=self.options.batch_window_s):
                self._started = time.monotonic()  # the workers are warm: the archiving starts
                result = discover()
                while self.account.queue_depth():
                    time.sleep(0.2)
                self.finished_at = time.monotonic()
            return result
        return self._alongside_thread(discover)

    def _alongside_thread(self, discover: Callable[[], T]) -> T:
        from archiver.runtime import runtime

        runtime()  # one container's runtime for both, built before either starts
        done = threading.Event()
        result: list[T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                result.append(discover())
            except BaseException as error:
                failure.append(error)
            finally:
                done.set()

        thread = threading.Thread(target=run, name="discover", daemon=True)
        thread.start()
        try:
            self.drain(done)
        finally:
            thread.join()
        if failure:
            raise failure[0]
        return result[0]

    def run(self) -> None:
        self.alongside_discovery(self.discover)

    # --- results ------------------------------------------------------------------------------
    def mirror(self, out: Path) -> list[str]:
        """Copy the bucket into `out` with the same keys (replacing the tables' folders)."""
        return self.account.mirror(out, self.options.prefix)

    def stats(self) -> dict[str, Any]:
        simulated = self.simulator.stats()
        archived = [s for s in self.account.ledger_sessions() if s["status"] == "ARCHIVED"]
        return {
            "api_calls": simulated["api_calls"],
            "throttled": simulated["throttled"],
            "faults_injected": simulated["faults_injected"],
            "sessions_archived": len(archived),
            "participants": sum(int(s.get("participantCount", 0)) for s in archived),
            "events": sum(int(s.get("eventCount", 0)) for s in archived),
            # The archiving's, not the copy into --out that comes after.
            "elapsed_s": round((self.finished_at or time.monotonic()) - self._started, 3),
        } | ({"lag_s": percentiles(lags(archived))} if self.options.live else {})


def lags(archived: list[dict[str, Any]]) -> list[float]:
    """Seconds from each archived session's end to ARCHIVED (simulated, when live)."""
    return [
        (_time(s["archivedAt"]) - _time(s["endTime"])).total_seconds()
        for s in archived
        if s.get("archivedAt") and s.get("endTime")
    ]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _lookback_days(scenario: dict[str, Any]) -> int:
    """A look-back window that reaches the scenario's oldest session, within the archiver's
    cap (older sessions are not found by the schedule: queue them by hand, as `run` does)."""
    starts = [
        datetime.fromisoformat(session["startTime"].replace("Z", "+00:00"))
        for stage in scenario["stages"]
        for session in stage.get("sessions", [])
    ]
    oldest = min(starts, default=datetime.now(UTC))
    return min(LOOKBACK_CAP, max(1, (datetime.now(UTC) - oldest).days + 2))


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
