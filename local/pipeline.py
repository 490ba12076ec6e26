"""The whole archiver on embedded stand-ins, for `python -m local run` (local/run.py) and tests.

The IVS simulator and a stand-in AWS account (local/account.py: moto, with the bucket, ledger
table and queues) listen on loopback; the discover and archive handlers run through the same
entry points the Lambdas use, with the same environment variables, until the queue is empty.
The bucket can then be mirrored into a folder with the same keys.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from archiver.catalog import sqlite_uri
from archiver.observability import powertools_environment
from archiver.runtime import BATCH_WINDOW_S
from archiver.settings import Settings
from local.account import StandInAccount
from local.lambda_emulation import BATCH_SIZE, archive_invocation, discover_invocation
from local.simulator import Simulator
from local.simulator.outages import Outage
from local.workers import WorkerProcesses
from shared.percentiles import percentiles

T = TypeVar("T")
INVOCATION_MS: int = Settings.default("invocation_ms")  # the archive function's timeout
STACK_WORKERS: int = Settings.default("archive_concurrency")  # as the stack deploys them
# The longest look-back the archiver's settings accept (LOOKBACK_DAYS).
LOOKBACK_CAP: int = Settings.bound("lookback_days", "le")


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in this process's environment while the block runs."""
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
    neighbour_tps: float = 0.0  # of the simulated quota, the customer's own application's
    seed: int = 0
    # The archiver's settings (archiver.settings), with the stack's defaults.
    participant_details: Literal["on", "off"] = Settings.default("participant_details")
    chunk_size: int = Settings.default("chunk_size")
    invocation_ms: int = INVOCATION_MS  # each invocation's own deadline (its context's)
    min_remaining_ms: int = Settings.default("min_remaining_ms")
    prefix: str = Settings.default("prefix")
    stage_allow_list: tuple[str, ...] = ()
    quiet: bool = True  # Powertools logs at WARNING and no metric output
    worker_log: Path | None = None  # where archive worker processes' output goes (appended)
    participant_order: str = "participantId"  # the simulator's ListParticipants order
    batch_size: int = BATCH_SIZE  # messages per archive invocation
    # Where the query tables' catalog (catalog.db) and files go; None: a temporary folder.
    tables_dir: Path | None = None
    archive_concurrency: int = STACK_WORKERS  # workers that may share the budget
    chunk_invocation_ms: int = INVOCATION_MS  # the invocation length chunks are sized to fit
    rate_share_ms: int = Settings.default("rate_share_ms")
    # The least time between two commits of a worker: 5 s in AWS, less here, where runs are
    # short and quotas scaled up (a worker waits for its last commit before it ends).
    commit_interval_ms: int = 500
    # The longest wait before a failed session is tried again (15 minutes in AWS; archiver.retry).
    retry_delay_max_ms: int = 4000
    batch_window_s: float = BATCH_WINDOW_S  # how long the event source gathers a batch
    # Replay the scenario's timeline in simulated time (local/simulator/live.py): `speed`
    # simulated seconds per wall second from `start`; IVS events lost and late at these rates.
    live: bool = False
    speed: float = 1.0
    start: datetime | None = None
    event_loss: float = 0.0
    event_delay_s: float = 0.0
    # IVS down (every call a 5xx) in these windows of simulated time from the replay's start.
    outages: tuple[Outage, ...] = ()

    @property
    def archiver_budget(self) -> float:
        return self.budget if self.budget is not None else 0.8 * self.tps

    def settings(self, lookback_days: int = LOOKBACK_CAP, **wired: str) -> Settings:
        """The archiver's settings in this pipeline: these options and the resources `wired` in
        (the stand-in account's, the local catalog), against the simulated quota (0: unlimited).
        SettingsError names what is wrong."""
        return Settings.checked(
            **wired,
            prefix=self.prefix,
            ivs_tps_quota=self.tps or math.inf,
            api_tps_budget=self.archiver_budget,
            archive_concurrency=self.archive_concurrency,
            invocation_ms=self.chunk_invocation_ms,
            rate_share_ms=self.rate_share_ms,
            commit_interval_ms=self.commit_interval_ms,
            retry_delay_max_ms=self.retry_delay_max_ms,
            participant_details=self.participant_details,
            chunk_size=self.chunk_size,
            min_remaining_ms=self.min_remaining_ms,
            lookback_days=lookback_days,
            stage_allow_list=self.stage_allow_list,
            log_level="WARNING" if self.quiet else "INFO",
        )

    def as_deployed(self, scale: float, workers: int = STACK_WORKERS) -> Options:
        """These options with the stack's defaults for a quota `scale` times IVS's: its number
        of archive workers, and every time the archiver keeps (the Lambda timeout and its
        margin, budget-share renewals, commit spacing) `scale` times shorter. A slower quota
        (`scale` below 1) keeps the deployed times: Lambda allows no longer invocation."""
        scale = max(scale, 1.0)

        def default(name: str) -> int:
            return max(1, int(Settings.default(name) / scale))

        return replace(
            self,
            archive_concurrency=workers,
            invocation_ms=default("invocation_ms"),
            chunk_invocation_ms=default("invocation_ms"),
            min_remaining_ms=default("min_remaining_ms"),
            rate_share_ms=default("rate_share_ms"),
            commit_interval_ms=default("commit_interval_ms"),
            retry_delay_max_ms=default("retry_delay_max_ms"),
            batch_window_s=BATCH_WINDOW_S / scale,
        )


class EmbeddedPipeline:
    """Simulator + moto + the handlers. Use as a context manager; call `discover()` and
    `drain()` (or `run()`), then `mirror(out)` and `stats()`."""

    def __init__(self, scenario: dict[str, Any], options: Options | None = None) -> None:
        self.options = options or Options()
        self.lookback_days = lookback_days(scenario)
        self.simulator = Simulator(
            scenario,
            tps=self.options.tps,
            latency_ms=self.options.latency_ms,
            fault_rate=self.options.fault_rate,
            neighbour_tps=self.options.neighbour_tps,
            seed=self.options.seed,
            participant_order=self.options.participant_order,
            live=self.options.live,
            speed=self.options.speed,
            start=self.options.start,
            event_loss=self.options.event_loss,
            event_delay_s=self.options.event_delay_s,
            outages=self.options.outages,
            # Live, the quota is per simulated second, and so is what it lets through at once.
            burst_s=1.0 / self.options.speed if self.options.live else 1.0,
        )
        self.account = StandInAccount(clock=self.simulator.now)
        self.invocations: Counter[str] = Counter()
        self.invocation_errors = 0  # archive invocations that raised (their messages come back)
        self.last_error: dict[str, str] = {}  # message body -> why its last invocation raised
        self._stack = ExitStack()
        self.finished_at: float | None = None  # when the last archive invocation ended
        self.tables_dir: Path | None = None
        self._temporary_tables: Path | None = None
        self._started = 0.0

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> EmbeddedPipeline:
        """Everything started; on a failure (or an interrupt) here, whatever had started is
        stopped again, and its temporary folder removed, before the exception goes on."""
        self._stack = ExitStack()
        try:
            self._start(self._stack)
        except BaseException:
            self._stack.close()
            raise
        self._started = time.monotonic()
        return self

    def _start(self, stack: ExitStack) -> None:
        stack.callback(self._remove_temporary_tables)
        self._open_tables()
        # A live replay's clock begins with the replay (local/replay.py), once its workers are
        # warm: starting the stand-ins and the workers is not the replay's time.
        self.simulator.start(begin_clock=not self.options.live)
        stack.callback(self.simulator.stop)
        self.account.start()
        stack.callback(self.account.stop)
        stack.enter_context(environment(self._aws_environment()))
        self.account.create_resources()
        stack.enter_context(environment(self._settings_environment()))
        stack.callback(self._forget_runtime)
        self._fresh_container()
        if self.options.live:  # the whole pipeline lives in the simulated time
            from archiver import clock
            from local.compat import retry_waits_scaled

            clock.use(self.simulator.now)
            stack.callback(clock.use, None)
            stack.enter_context(retry_waits_scaled(self.options.speed))  # botocore's backoff

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

    @staticmethod
    def _forget_runtime() -> None:
        from archiver import runtime

        runtime.runtime.cache_clear()

    def _remove_temporary_tables(self) -> None:
        if self._temporary_tables is not None:
            shutil.rmtree(self._temporary_tables, ignore_errors=True)
            self._temporary_tables = None

    def __exit__(self, *exc: object) -> None:
        """Everything stopped, in the reverse order of its start."""
        self._stack.close()

    def _tables(self) -> Path:
        if self.tables_dir is None:
            raise RuntimeError("the pipeline is not running")
        return self.tables_dir

    def _open_tables(self) -> None:
        """The query tables, new and empty, in a local SQL catalog (Glue in AWS)."""
        from local.tables import open_tables, reset

        if self.options.tables_dir is None:
            self._temporary_tables = Path(tempfile.mkdtemp(prefix="ivs-archive-tables-"))
        self.tables_dir = self.options.tables_dir or self._temporary_tables
        reset(self._tables(), self.options.prefix)
        open_tables(self._tables(), prefix=self.options.prefix)

    def _aws_environment(self) -> dict[str, str]:
        env = self.account.environment() | {
            "AWS_ENDPOINT_URL_IVS_REALTIME": self.simulator.endpoint_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if self.options.quiet:
            env |= {"POWERTOOLS_METRICS_DISABLED": "true"}
        return env

    def _settings_environment(self) -> dict[str, str]:
        account = self.account
        settings = self.options.settings(
            self.lookback_days,
            bucket_name=account.bucket,
            ledger_table=account.ledger_table,
            queue_url=account.queue_url,
            dead_letter_queue_url=account.dlq_url,
            iceberg_catalog=sqlite_uri(self._tables()),
        )
        # Powertools' variables of this deployment's name, as the stack sets them.
        return settings.to_env() | powertools_environment(settings.name)

    # --- running ------------------------------------------------------------------------------
    def discover(
        self, event: dict[str, Any] | None = None, invocation_ms: int = 300_000
    ) -> dict[str, Any]:
        self.invocations["discover"] += 1
        return discover_invocation(event, invocation_ms)

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
            with self.worker_processes(workers):
                self._started = time.monotonic()  # the workers are warm: the archiving starts
                result = discover()
                while self.account.queue_depth():
                    time.sleep(0.2)
                self.finished_at = time.monotonic()
            return result
        return self._alongside_thread(discover)

    def worker_processes(self, count: int, *, simulated_time: bool = False) -> WorkerProcesses:
        """`count` archive workers in processes of their own, with this pipeline's options (and,
        with `simulated_time`, its simulator's clock); what they report is counted here."""
        options = self.options
        return WorkerProcesses(
            count,
            invocation_ms=options.invocation_ms,
            batch_size=options.batch_size,
            window_s=options.batch_window_s,
            log=options.worker_log,
            clock=self.simulator.clock if simulated_time else None,
            report=self.count_archive_invocations,
        )

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
    def ledger_tables(self) -> list[str]:
        return [self.account.ledger_table]

    def api_calls(self) -> int:
        """IVS calls the simulator answered so far."""
        return sum(self.simulator.stats()["api_calls"].values())

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
            **{k: simulated[k] for k in ("outage_failures",) if k in simulated},
            "sessions_archived": len(archived),
            "participants": sum(int(s.get("participantCount", 0)) for s in archived),
            "events": sum(int(s.get("eventCount", 0)) for s in archived),
            # The archiving's, not the copy into --out that comes after.
            "elapsed_s": round((self.finished_at or time.monotonic()) - self._started, 3),
        } | (
            {
                "lag_s": percentiles(lags(archived)),
                "commit_latency_s": percentiles(self.commit_latencies(archived)),
            }
            if self.options.live
            else {}
        )

    def commit_latencies(self, archived: list[dict[str, Any]]) -> list[float]:
        """Seconds (simulated, when live) from the last landing object of each archived
        session (ledger items) written to the ledger marking it ARCHIVED (`marked_archived`)."""
        landed = self.account.last_landed(self.options.prefix)
        found = []
        for item in archived:
            stage, session = item["pk"].removeprefix("STAGE#"), item["sk"].removeprefix("SESSION#")
            last = landed.get((stage.rsplit("/", 1)[-1], session))
            if last is not None and item.get("updatedAt"):
                found.append(max(0.0, (marked_archived(item) - last).total_seconds()))
        return found


def lags(archived: list[dict[str, Any]]) -> list[float]:
    """Seconds from each archived session's end to ARCHIVED (simulated, when live): to its
    `archivedAt`, the time its session row holds, which the archiver takes as it writes that row,
    before committing the session into the query tables (`commit_latencies` measures that)."""
    return [
        (_time(s["archivedAt"]) - _time(s["endTime"])).total_seconds()
        for s in archived
        if s.get("archivedAt") and s.get("endTime")
    ]


def marked_archived(item: dict[str, Any]) -> datetime:
    """When the ledger marked an ARCHIVED session so: the item's `updatedAt`, which the mark
    sets, and no later write changes (archiver.ledger: an ARCHIVED session is never taken up
    again). The archiver records no time of its own for the mark."""
    return _time(item["updatedAt"])


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def lookback_days(scenario: dict[str, Any]) -> int:
    """A look-back window that reaches the scenario's oldest session, within the archiver's
    cap (older sessions are not found by the schedule: queue them by hand, as `run` does)."""
    starts = [
        datetime.fromisoformat(session["startTime"].replace("Z", "+00:00"))
        for stage in scenario["stages"]
        for session in stage.get("sessions", [])
    ]
    oldest = min(starts, default=datetime.now(UTC))
    return min(LOOKBACK_CAP, max(1, (datetime.now(UTC) - oldest).days + 2))
