"""Archive one ended stage session: chunked, checkpointed in the ledger, resumable.

Participants are sorted by participantId and cut into chunks of `chunk_size` (fixed in the
ledger on first sight), so every invocation sees the same chunks. A chunk's Parquet objects are
written, then the chunk is marked done; a chunk marked done is never fetched again. When the
invocation's remaining time runs short, the worker stops between chunks and enqueues a
continuation. The session row is written and the session marked ARCHIVED last.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from archiver.ivs import ApiRecord, IvsClient, SessionNotFound, is_ended
from archiver.ledger import FINAL, Ledger, Status
from archiver.messages import SessionMessage
from archiver.rows import Row, event_rows, participant_row, session_row
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from archiver.settings import Settings
from archiver.writer import SessionKeys, put_parquet

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
        participants = sorted(
            self.ivs.list_participants(arn, session_id), key=lambda p: p["participantId"]
        )
        size = self.ledger.plan(
            arn, session_id, chunk_size=self.settings.chunk_size, participants=len(participants)
        )
        chunks = [participants[i : i + size] for i in range(0, len(participants), size)]
        report = Report(Outcome.ARCHIVED)
        for number, chunk in enumerate(chunks):
            if number in chunks_done:
                continue
            # Between chunks only: every invocation makes progress, however short it is.
            if report.chunks_written and remaining_ms() < self.settings.min_remaining_ms:
                self._continue_later(message, owner)
                report.outcome = Outcome.CONTINUED
                return report
            participant_rows, events = self._fetch_chunk(arn, session_id, chunk)
            # Write nothing for a session that vanished while we read it (it would be less).
            self.ivs.get_stage_session(arn, session_id)
            put_parquet(
                self.s3,
                self.settings.bucket,
                keys.participants(number),
                PARTICIPANTS,
                participant_rows,
            )
            put_parquet(
                self.s3, self.settings.bucket, keys.events(number), PARTICIPANT_EVENTS, events
            )
            self.ledger.chunk_done(arn, session_id, number, len(events))
            report.chunks_written += 1
            report.participants += len(participant_rows)
            report.events += len(events)
        self._finish(arn, session, keys, len(participants))
        report.lag_seconds = (datetime.now(UTC) - session["endTime"]).total_seconds()
        return report

    def _fetch_chunk(
        self, arn: str, session_id: str, chunk: list[ApiRecord]
    ) -> tuple[list[Row], list[Row]]:
        ids = [p["participantId"] for p in chunk]
        events = [
            self._events_pool.submit(self.ivs.list_participant_events, arn, session_id, pid)
            for pid in ids
        ]
        details: list[Future[ApiRecord]] | None = None
        if self.settings.with_participant_details:
            details = [
                self._details_pool.submit(self._participant, arn, session_id, pid) for pid in ids
            ]
        participant_rows: list[Row] = []
        all_events: list[Row] = []
        for i, summary in enumerate(chunk):
            participant = details[i].result() if details else summary
            rows = event_rows(
                arn, session_id, ids[i], participant.get("userId"), events[i].result()
            )
            participant_rows.append(
                participant_row(arn, session_id, participant, event_count=len(rows))
            )
            all_events += rows
        return participant_rows, all_events

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

    def _finish(self, arn: str, session: ApiRecord, keys: SessionKeys, participants: int) -> None:
        record = self.ledger.get(arn, keys.session_id)
        assert record is not None  # we hold its lease
        archived_at = datetime.now(UTC)
        row = session_row(
            arn,
            self.ivs.get_stage_name(arn),
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
