"""What the sessions of one archive invocation share: the container's clients and thread pools
(`Shared`), and the invocation's own account of time, its turn to list, and the stage names it
has read (`Invocation`).

A worker archives every session of its SQS batch at once, behind the same rate limiters: while
one session waits on a dependent step (the ledger, a listing, a write), the others' calls keep
the worker's share of the quota busy. Sessions list their participants one at a time (each
needs to know what the ones before it took on), and a session is only started while the
invocation has room for it; the others are queued again, untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archiver.admission import Admission
from archiver.commit import CommitReport, LandedSession, commit_sessions
from archiver.fetching import Fetcher
from archiver.group_commit import GroupCommit
from archiver.ivs import PAGE_SIZE, IvsClient
from archiver.ledger import Ledger
from archiver.messages import SessionMessage
from archiver.settings import Settings, chunk_limit

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

# Chunks written at once (each session's own chunks stay in order).
WRITERS = 4


@dataclass
class Shared:
    """A warm container's clients and pools, used by every session it archives."""

    settings: Settings
    ivs: IvsClient
    ledger: Ledger
    s3: Any
    sqs: Any
    fetcher: Fetcher
    writer: ThreadPoolExecutor  # chunks' objects
    side: ThreadPoolExecutor  # the calls beside the participants': GetStageSession, GetStage
    _catalog: Catalog | None = field(default=None, init=False)
    # Commits redone because another writer (another worker, another place's collector)
    # committed first, since the container started.
    commit_conflicts: int = field(default=0, init=False)

    def catalog(self) -> Catalog:
        """The query tables' catalog, opened on the first commit (pyiceberg loads then: it is
        not part of a cold start)."""
        if self._catalog is None:
            from archiver.catalog import home_properties, open_catalog

            settings = self.settings
            self._catalog = open_catalog(
                settings.iceberg_catalog,
                home_properties(settings.home_account, settings.home_region),
            )
        return self._catalog

    def commit(self, sessions: list[LandedSession], written: dict[str, bytes]) -> CommitReport:
        """Add the sessions' landing rows to the query tables (exactly once). The landing
        objects this invocation wrote come from `written` (taken out of it); the others, which
        earlier invocations of a session wrote, are read back from S3."""

        def read(key: str) -> bytes:
            body = written.pop(key, None)
            if body is None:
                body = self.s3.get_object(Bucket=self.settings.bucket_name, Key=key)["Body"].read()
            return body

        report = commit_sessions(self.catalog(), self.settings.database_name, sessions, read)
        self.commit_conflicts += report.conflicts  # one commit at a time (GroupCommit)
        return report

    @classmethod
    def create(
        cls, settings: Settings, ivs: IvsClient, ledger: Ledger, s3: Any, sqs: Any
    ) -> Shared:
        fetcher = Fetcher(
            ivs, threads=settings.api_threads, details=settings.with_participant_details
        )
        return cls(
            settings,
            ivs,
            ledger,
            s3,
            sqs,
            fetcher,
            ThreadPoolExecutor(WRITERS, "ChunkWriter"),
            ThreadPoolExecutor(4, "Session"),
        )


class Invocation:
    def __init__(self, shared: Shared, remaining_ms: Any) -> None:
        settings = shared.settings
        self.shared = shared
        self.admission = Admission(settings.worker_tps, remaining_ms, settings.min_remaining_ms)
        # Participants per chunk: the configured size, or less, so that a chunk always fits
        # well inside an invocation at this worker's rate.
        limit = chunk_limit(
            settings.worker_tps,
            invocation_ms=settings.invocation_ms,
            min_remaining_ms=settings.min_remaining_ms,
        )
        self.chunk_size = max(1, min(settings.chunk_size, limit))
        # Participants whose calls a session keeps in flight: enough to keep both pools busy.
        self.window = 4 * settings.api_threads
        self.turn = threading.Lock()
        # The landing objects this invocation wrote, until committed (no reading them back).
        self._written: dict[str, bytes] = {}
        self.commit_conflicts = 0  # this invocation's (CommitConflicts)
        self.group_commit = GroupCommit(self._commit, interval_s=settings.commit_interval_ms / 1000)
        # Sessions of the batch still to fetch participants' calls for, and what to do once
        # none is (give up this worker's share of the budget: the rest is writes and commits).
        self._fetching = 0
        self._on_fetched: Callable[[], None] | None = None
        self._sessions_started = 0
        self._names: dict[str, Future[str | None]] = {}
        self._lock = threading.Lock()

    def _commit(self, sessions: list[LandedSession]) -> None:
        self.commit_conflicts += self.shared.commit(sessions, self._written).conflicts

    def expect(self, sessions: int, on_fetched: Callable[[], None]) -> None:
        """The batch holds `sessions`; call `on_fetched` once none of them fetches any more."""
        with self._lock:
            self._fetching, self._on_fetched = sessions, on_fetched
        if not sessions:
            on_fetched()

    def fetching_over(self) -> None:
        """One session of the batch makes no more participants' calls in this invocation."""
        callback = None
        with self._lock:
            self._fetching -= 1
            if self._fetching == 0:
                callback, self._on_fetched = self._on_fetched, None
        if callback is not None:
            callback()

    def landed(self, key: str, body: bytes) -> None:
        """A landing object written: its bytes are what the commit reads."""
        self._written[key] = body

    def has_room(self) -> bool:
        """Whether to start another session (the first one always starts): its listing must
        leave the time to archive at least a page of participants."""
        with self._lock:
            room = not self._sessions_started or self.admission.fits(
                min(self.chunk_size, PAGE_SIZE)
            )
            self._sessions_started += room
            return room

    def stage_name(self, arn: str) -> Future[str | None]:
        """GetStage, at most once per stage per invocation."""
        with self._lock:
            if arn not in self._names:
                self._names[arn] = self.shared.side.submit(self.shared.ivs.get_stage_name, arn)
            return self._names[arn]

    def requeue(self, message: SessionMessage, lease_owner: str | None = None) -> None:
        """Hand a session not started to a later invocation, as it is (giving up the lease
        `lease_owner` holds on it, if any)."""
        if lease_owner is not None:
            self.shared.ledger.release(message.stageArn, message.sessionId, lease_owner)
        self._send(message)

    def continue_later(self, message: SessionMessage, owner: str) -> None:
        """Hand the rest of a session to a later invocation."""
        self.shared.ledger.release(message.stageArn, message.sessionId, owner)
        self._send(message.model_copy(update={"continuation": message.continuation + 1}))

    def retry_later(self, message: SessionMessage, owner: str, error: str) -> bool:
        """A session failed for a reason that may pass: the lease `owner` (the received
        message) holds on it is given up, and a delayed copy of its message is sent
        (archiver.retry), or, retried long enough, it is dead-lettered with `error`. True when
        the received message may be deleted (False: sending failed, let SQS redeliver it)."""
        from archiver.queueing import dead_letter
        from archiver.retry import MAX_RETRIES, delay_s, next_try

        settings = self.shared.settings
        again = next_try(message)
        try:
            # The copy is another message: it could never take the lease this one holds.
            self.shared.ledger.release(message.stageArn, message.sessionId, owner)
            if again is None:
                if not settings.dead_letter_queue_url:
                    return False  # SQS's redrive policy moves it
                dead_letter(
                    self.shared.sqs,
                    settings.dead_letter_queue_url,
                    message.body(),
                    reason=f"failed {MAX_RETRIES} times in a row: {error}",
                )
            else:
                self._send(again, delay_s(again.retry, settings.retry_delay_max_ms))
        except Exception:
            return False
        return True

    def _send(self, message: SessionMessage, delay_s: int = 0) -> None:
        self.shared.sqs.send_message(
            QueueUrl=self.shared.settings.queue_url,
            MessageBody=message.body(),
            **({"DelaySeconds": delay_s} if delay_s else {}),
        )
