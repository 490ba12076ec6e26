"""Archive one ended stage session: chunked, checkpointed in the ledger, resumable.

Participants are sorted by participantId and cut into chunks of `chunk_size` (fixed in the
ledger on first sight), so every invocation sees the same chunks. A chunk's Parquet objects are
written, then the chunk is marked done; a chunk marked done is never fetched again. When the
invocation's remaining time runs short, the worker stops between chunks and enqueues a
continuation. The session row is written and the session marked ARCHIVED last.

Throughput: the quota is per operation, so ListParticipantEvents and GetParticipant each run on
a thread pool of their own behind their own rate limiter. Participants' calls start while the
ListParticipants pages are still being read, a window of them stays in flight across chunk
boundaries, rows become Arrow batches as answers come in, and a chunk is written on a writer
thread while the next one is fetched: the budgets never wait on the listing or on S3, and memory
holds one chunk being written, one chunk's worth fetched early and the window, whatever the
session's size.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from archiver.ivs import ApiRecord, IvsClient, SessionNotFound, is_ended
from archiver.ledger import FINAL, Ledger, Status
from archiver.messages import SessionMessage
from archiver.rows import Row, event_rows, participant_row, session_row
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from archiver.settings import Settings
from archiver.writer import RowBuffer, SessionKeys, parquet_bytes, put_object, put_parquet

# Longer than one invocation (15 min): a live worker never loses its lease to a duplicate.
LEASE = timedelta(minutes=16)


class Outcome(StrEnum):
    ARCHIVED = "archived"
    CONTINUED = "continued"  # stopped between chunks, a continuation is queued
    EXPIRED = "expired"  # IVS no longer knows the session
    SKIPPED = "skipped"  # already archived or expired, or another worker holds it
    NOT_ENDED = "not_ended"


@dataclass
class Report:
    outcome: Outcome
    chunks_written: int = 0
    participants: int = 0
    events: int = 0
    lag_seconds: float | None = None
    # Participants fetched while listing whose chunks were left to a continuation, which fetches
    # them again (only a session that turns out too big for one invocation has any).
    prefetch_discarded: int = 0


class _Fetch:
    """One participant's calls, in flight. Until either starts, both can be withdrawn."""

    def __init__(self) -> None:
        self.events: Future[Any]
        self.details: Future[Any] | None = None
        self._lock = threading.Lock()
        self._started = 0
        self._withdrawn = False

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run one of the calls (on a pool's thread), unless withdrawn."""
        with self._lock:
            if self._withdrawn:
                return None
            self._started += 1
        return function(*args)

    def withdraw(self) -> bool:
        """Make neither call if neither has started; True if none was or will be made."""
        with self._lock:
            self._withdrawn = self._withdrawn or self._started == 0
            return self._withdrawn

    def cancel(self) -> None:
        self.events.cancel()
        if self.details is not None:
            self.details.cancel()


@dataclass
class _Calls:
    """One participant of a chunk, and its calls."""

    chunk: int
    summary: ApiRecord
    fetch: _Fetch


@dataclass
class _Progress:
    """What `_calls` has started so far."""

    chunks: list[int] = field(default_factory=list)
    stage_name: Future[str | None] | None = None


class _Chunk:
    """One chunk's rows, made as its participants' answers come in."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.people: list[Row] = []
        self.events = RowBuffer(PARTICIPANT_EVENTS)

    def add(self, arn: str, session_id: str, calls: _Calls) -> None:
        fetch = calls.fetch
        participant = fetch.details.result() if fetch.details else calls.summary
        rows = event_rows(
            arn,
            session_id,
            calls.summary["participantId"],
            participant.get("userId"),
            fetch.events.result(),
        )
        self.people.append(participant_row(arn, session_id, participant, event_count=len(rows)))
        self.events.extend(rows)


class SessionArchiver:
    def __init__(
        self, settings: Settings, ivs: IvsClient, ledger: Ledger, s3: Any, sqs: Any
    ) -> None:
        self.settings = settings
        self.ivs = ivs
        self.ledger = ledger
        self.s3 = s3
        self.sqs = sqs
        # One pool per operation: each keeps its own rate limiter busy despite call latency.
        self._events_pool = ThreadPoolExecutor(settings.api_threads, "ListParticipantEvents")
        self._details_pool = ThreadPoolExecutor(settings.api_threads, "GetParticipant")
        self._writer = ThreadPoolExecutor(1, "ChunkWriter")
        # The per-session calls (GetStage, GetStageSession) that run beside the others.
        self._side = ThreadPoolExecutor(2, "Session")
        # Participants whose calls are in flight at once: enough to keep both pools busy.
        self.window = 4 * settings.api_threads

    def archive(
        self, message: SessionMessage, *, owner: str, remaining_ms: Callable[[], int]
    ) -> Report:
        arn, session_id = message.stageArn, message.sessionId
        known = self.ledger.get(arn, session_id)
        if known is not None and known.status in FINAL:
            return Report(Outcome.SKIPPED)
        try:
            session = self.ivs.get_stage_session(arn, session_id)
        except SessionNotFound:
            self.ledger.finish(arn, session_id, Status.EXPIRED, error="IVS no longer knows it")
            return Report(Outcome.EXPIRED)
        if not is_ended(session):
            return Report(Outcome.NOT_ENDED)
        record = self.ledger.start(arn, session_id, owner=owner, lease=LEASE)
        if record is None:
            return Report(Outcome.SKIPPED)
        try:
            return self._archive(message, session, record.chunks_done, owner, remaining_ms)
        except SessionNotFound:
            self.ledger.finish(arn, session_id, Status.EXPIRED, error="vanished while archiving")
            return Report(Outcome.EXPIRED)
        except Exception as exc:
            self.ledger.finish(arn, session_id, Status.FAILED, error=f"{type(exc).__name__}: {exc}")
            raise

    def _archive(
        self,
        message: SessionMessage,
        session: ApiRecord,
        chunks_done: set[int],
        owner: str,
        remaining_ms: Callable[[], int],
    ) -> Report:
        arn, session_id = message.stageArn, message.sessionId
        keys = SessionKeys(self.settings.prefix, arn, session_id, session["startTime"])
        report = Report(Outcome.ARCHIVED)
        progress = _Progress()
        early: dict[str, _Fetch] = {}
        try:
            listed = self._list(arn, session_id, early, not chunks_done, remaining_ms)
            participants = sorted(listed, key=lambda p: p["participantId"])
            size = self.ledger.plan(
                arn, session_id, chunk_size=self.settings.chunk_size, participants=len(listed)
            )
            todo = [
                (number, participants[start : start + size])
                for number, start in enumerate(range(0, len(participants), size))
                if number not in chunks_done
            ]
            calls = self._calls(arn, session_id, todo, early, progress, remaining_ms)
            self._fetch_and_write(calls, keys, report)
        finally:
            report.prefetch_discarded = sum(not fetch.withdraw() for fetch in early.values())
        if len(progress.chunks) < len(todo):
            self._continue_later(message, owner)
            report.outcome = Outcome.CONTINUED
            return report
        self._finish(arn, session, keys, len(participants), progress.stage_name)
        report.lag_seconds = (datetime.now(UTC) - session["endTime"]).total_seconds()
        return report

    def _list(
        self,
        arn: str,
        session_id: str,
        early: dict[str, _Fetch],
        ahead: bool,
        remaining_ms: Callable[[], int],
    ) -> list[ApiRecord]:
        """Every participant of the session. The ListParticipants pages come one after another
        (each needs the previous one's nextToken), so on a session's first invocation (`ahead`)
        each page's participants are fetched into `early` while the next page is read, up to a
        chunk's worth. A session that fits one invocation never waits for its listing. Once the
        participants listed outgrow what this invocation can archive, the calls not started yet
        are withdrawn: the chunks of those already made may be left to a continuation, which
        makes them again (`Report.prefetch_discarded`)."""
        listed: list[ApiRecord] = []
        for summary in self.ivs.list_participants(arn, session_id):
            listed.append(summary)
            if not ahead:
                continue
            if remaining_ms() < self.settings.min_remaining_ms + self._calls_ms(len(listed)):
                ahead = False
                for pid, fetch in list(early.items()):
                    if fetch.withdraw():
                        del early[pid]
            elif len(early) < self.settings.chunk_size:
                early[summary["participantId"]] = self._fetch(arn, session_id, summary)
        return listed

    def _calls(
        self,
        arn: str,
        session_id: str,
        todo: list[tuple[int, list[ApiRecord]]],
        early: dict[str, _Fetch],
        progress: _Progress,
        remaining_ms: Callable[[], int],
    ) -> Iterator[_Calls]:
        """Each participant's calls, submitted to the pools as they are pulled (unless fetched
        early). A chunk is started only while enough time is left, but the first always is:
        every invocation makes progress, however short it is."""
        for number, chunk in todo:
            if progress.chunks and remaining_ms() < self._time_for(len(chunk)):
                return
            progress.chunks.append(number)
            if number == todo[-1][0]:
                # The session row needs the stage's name: read it while the last chunk is.
                progress.stage_name = self._side.submit(self.ivs.get_stage_name, arn)
            for summary in chunk:
                fetch = early.pop(summary["participantId"], None)
                yield _Calls(number, summary, fetch or self._fetch(arn, session_id, summary))

    def _fetch(self, arn: str, session_id: str, summary: ApiRecord) -> _Fetch:
        pid, fetch = summary["participantId"], _Fetch()
        if self.settings.with_participant_details:
            fetch.details = self._details_pool.submit(
                fetch.call, self._participant, arn, session_id, pid
            )
        fetch.events = self._events_pool.submit(
            fetch.call, self.ivs.list_participant_events, arn, session_id, pid
        )
        return fetch

    def _calls_ms(self, participants: int) -> float:
        """Milliseconds the calls of `participants` take: at least one ListParticipantEvents
        call each at this worker's rate, with a quarter more for paging and retries."""
        return 1.25 * 1000 * participants / self.settings.worker_tps

    def _time_for(self, participants: int) -> float:
        """Milliseconds a chunk needs, never less than MIN_REMAINING_MS. A chunk started with
        less time left could outlive the invocation."""
        return max(self.settings.min_remaining_ms, self._calls_ms(participants))

    def _fetch_and_write(self, calls: Iterator[_Calls], keys: SessionKeys, report: Report) -> None:
        """Keep a window of participants' calls in flight across chunk boundaries, so that the
        pools never run dry between chunks; make rows as answers come in, in participant order;
        write each chunk while the next one is fetched."""
        window = deque(islice(calls, self.window))
        chunk: _Chunk | None = None
        writing: Future[tuple[int, int]] | None = None
        try:
            while window:
                head = window.popleft()
                window.extend(islice(calls, 1))
                if chunk is None or chunk.number != head.chunk:
                    if chunk is not None:
                        writing = self._write_after(writing, keys, chunk, report)
                    chunk = _Chunk(head.chunk)
                chunk.add(keys.stage_arn, keys.session_id, head)
            if chunk is not None:
                writing = self._write_after(writing, keys, chunk, report)
            if writing is not None:
                self._written(writing, report)
        except BaseException:
            for pending in window:
                pending.fetch.cancel()  # no more calls for an archive that failed
            raise
        finally:
            if writing is not None:
                wait([writing])  # never leave a write running behind a failure

    def _write_after(
        self,
        previous: Future[tuple[int, int]] | None,
        keys: SessionKeys,
        chunk: _Chunk,
        report: Report,
    ) -> Future[tuple[int, int]]:
        """Chunks are written one at a time, in order, on the writer thread."""
        if previous is not None:
            self._written(previous, report)
        return self._writer.submit(self._write_chunk, keys, chunk)

    def _write_chunk(self, keys: SessionKeys, chunk: _Chunk) -> tuple[int, int]:
        arn, session_id, bucket = keys.stage_arn, keys.session_id, self.settings.bucket
        # Write nothing for a session that vanished while we read it (it would be less). The
        # check runs while the Parquet is encoded.
        still_there = self._side.submit(self.ivs.get_stage_session, arn, session_id)
        people = parquet_bytes(PARTICIPANTS, chunk.people)
        events = chunk.events.parquet()
        still_there.result()
        put_object(self.s3, bucket, keys.participants(chunk.number), people)
        put_object(self.s3, bucket, keys.events(chunk.number), events)
        self.ledger.chunk_done(arn, session_id, chunk.number, chunk.events.count)
        return len(chunk.people), chunk.events.count

    @staticmethod
    def _written(writing: Future[tuple[int, int]], report: Report) -> None:
        participants, events = writing.result()
        report.chunks_written += 1
        report.participants += participants
        report.events += events

    def _participant(self, arn: str, session_id: str, participant_id: str) -> ApiRecord:
        try:
            return self.ivs.get_participant(arn, session_id, participant_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise SessionNotFound(f"{arn} {session_id} {participant_id}") from exc
            raise

    def _continue_later(self, message: SessionMessage, owner: str) -> None:
        self.ledger.release(message.stageArn, message.sessionId, owner)
        follow_up = message.model_copy(update={"continuation": message.continuation + 1})
        self.sqs.send_message(QueueUrl=self.settings.queue_url, MessageBody=follow_up.body())

    def _finish(
        self,
        arn: str,
        session: ApiRecord,
        keys: SessionKeys,
        participants: int,
        stage_name: Future[str | None] | None,
    ) -> None:
        record = self.ledger.get(arn, keys.session_id)
        assert record is not None  # we hold its lease
        archived_at = datetime.now(UTC)
        row = session_row(
            arn,
            stage_name.result() if stage_name else self.ivs.get_stage_name(arn),
            session,
            participant_count=participants,
            event_count=record.event_count,
            archived_at=archived_at,
        )
        put_parquet(self.s3, self.settings.bucket, keys.session(), STAGE_SESSIONS, [row])
        self.ledger.finish(
            arn,
            keys.session_id,
            Status.ARCHIVED,
            archived_at=archived_at,
            event_count=record.event_count,
        )
