"""Archive one ended stage session, as far as one invocation allows: chunked, checkpointed in the
ledger, resumable.

Participants are sorted by participantId and cut into chunks (their size fixed in the ledger on
first sight), so every invocation sees the same chunks. A chunk's Parquet objects are written,
then the chunk is marked done; a chunk marked done is never fetched again. A chunk is started
only when the invocation has the time to finish it (archiver.admission); when it has not, the
worker hands the rest of the session to a continuation message. The session row is written and
the session marked ARCHIVED last.

Calls per session, no more than correctness needs: ListParticipants, the participants' calls,
one GetStageSession per chunk just before its objects are written (it gives the session's times,
and a session IVS forgot meanwhile is not written with less), and GetStage only when discovery
did not already read the stage's name (at most once per stage per invocation).

Throughput: on a session's first invocation, participants' calls start while the
ListParticipants pages are still being read; a window of them stays in flight across chunk
boundaries; rows become Arrow batches as answers come in; a chunk is written on a writer thread
while the next one is fetched.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice

from archiver import clock
from archiver.commit import LandedSession
from archiver.fetching import Calls, Fetch
from archiver.invocation import Invocation
from archiver.ivs import ApiRecord, SessionNotFound, is_ended
from archiver.ledger import FINAL, LEASE, SessionRecord, Status
from archiver.messages import SessionMessage
from archiver.rows import Row, event_rows, participant_row, session_row
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS
from archiver.writer import RowBuffer, SessionKeys, parquet_bytes, put_object


class Outcome(StrEnum):
    ARCHIVED = "archived"
    CONTINUED = "continued"  # stopped between chunks, a continuation is queued
    DEFERRED = "deferred"  # not started: the invocation had no time left; queued again
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


class _Chunk:
    """One chunk's rows, made as its participants' answers come in."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.people: list[Row] = []
        self.events = RowBuffer(PARTICIPANT_EVENTS)

    def add(self, arn: str, session_id: str, calls: Calls) -> None:
        participant = calls.fetch.participant(calls.summary)
        rows = event_rows(
            arn,
            session_id,
            calls.summary["participantId"],
            participant.get("userId"),
            calls.fetch.events.result(),
        )
        self.people.append(participant_row(arn, session_id, participant, event_count=len(rows)))
        self.events.extend(rows)


class SessionArchive:
    """One session's archive in one invocation."""

    def __init__(self, invocation: Invocation, message: SessionMessage, owner: str) -> None:
        self.inv = invocation
        self.shared = invocation.shared
        self.message = message
        self.owner = owner
        self.arn, self.session_id = message.stageArn, message.sessionId
        self.report = Report(Outcome.ARCHIVED)
        # The session as GetStageSession last gave it (its times).
        self.session: ApiRecord | None = None
        self._started: list[int] = []  # chunks started in this invocation
        self._done_fetching = False
        self._stage_name: Future[str | None] | None = None

    def run(self) -> Report:
        try:
            return self._run()
        finally:
            self._fetched()  # whatever happened, this session makes no more such calls

    def _fetched(self) -> None:
        """No more participants' calls from this session in this invocation (once)."""
        if not self._done_fetching:
            self._done_fetching = True
            self.inv.fetching_over()

    def _run(self) -> Report:
        ledger = self.shared.ledger
        with self.inv.turn:  # one session lists at a time: the next starts when it is known
            known = ledger.get(self.arn, self.session_id)
            if known is not None and known.status in FINAL:
                return Report(Outcome.SKIPPED)
            if not self.inv.has_room():
                # Queued again as it is; a lease this message held (its worker died) goes too,
                # or the copy could never take it.
                self.inv.requeue(
                    self.message, self.owner if known and known.lease_owner == self.owner else None
                )
                return Report(Outcome.DEFERRED)
            record = ledger.start(self.arn, self.session_id, owner=self.owner, lease=LEASE)
            if record is None:
                return Report(Outcome.SKIPPED)
            early: dict[str, Fetch] = {}
            try:
                listed = self._list(early, ahead=not record.chunks_done)
            except BaseException:
                self._withdraw(early)
                raise
        try:
            return self._archive(record, listed, early)
        except SessionNotFound:
            ledger.finish(self.arn, self.session_id, Status.EXPIRED, error="IVS no longer knows it")
            return Report(Outcome.EXPIRED)
        except _NotEnded:
            ledger.finish(self.arn, self.session_id, Status.FAILED, error="not ended yet")
            return Report(Outcome.NOT_ENDED)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            ledger.finish(self.arn, self.session_id, Status.FAILED, error=error)
            raise

    def _archive(
        self, record: SessionRecord, listed: list[ApiRecord], early: dict[str, Fetch]
    ) -> Report:
        participants = sorted(listed, key=lambda p: p["participantId"])
        size = self.shared.ledger.plan(
            self.arn, self.session_id, chunk_size=self.inv.chunk_size, participants=len(listed)
        )
        todo = [
            (number, participants[start : start + size])
            for number, start in enumerate(range(0, len(participants), size))
            if number not in record.chunks_done
        ]
        try:
            self._fetch_and_write(self._calls(record, todo, early))
        finally:
            self.report.prefetch_discarded = self._withdraw(early)
            self._fetched()
        if len(self._started) < len(todo):
            self.inv.continue_later(self.message, self.owner)
            self.report.outcome = Outcome.CONTINUED
            return self.report
        self._finish(record, len(participants), size)
        return self.report

    @staticmethod
    def _withdraw(early: dict[str, Fetch]) -> int:
        """Withdraw the calls fetched early that no chunk took; how many were made anyway."""
        return sum(not fetch.withdraw() for fetch in early.values())

    def _list(self, early: dict[str, Fetch], *, ahead: bool) -> list[ApiRecord]:
        """Every participant of the session. The ListParticipants pages come one after another
        (each needs the previous one's nextToken), so on a session's first invocation (`ahead`)
        each page's participants are fetched into `early` while the next page is read, up to a
        chunk's worth. A session that fits one invocation never waits for its listing. Once the
        participants listed outgrow what this invocation can take on, the calls not started yet
        are withdrawn: the chunks of those already made may be left to a continuation, which
        makes them again (`Report.prefetch_discarded`)."""
        listed: list[ApiRecord] = []
        for summary in self.shared.ivs.list_participants(self.arn, self.session_id):
            listed.append(summary)
            if not ahead:
                continue
            if not self.inv.admission.fits(len(listed)):
                ahead = False
                for pid, fetch in list(early.items()):
                    if fetch.withdraw():
                        del early[pid]
            elif len(early) < self.inv.chunk_size:
                early[summary["participantId"]] = self.shared.fetcher.fetch(
                    self.arn, self.session_id, summary
                )
        return listed

    def _calls(
        self,
        record: SessionRecord,
        todo: list[tuple[int, list[ApiRecord]]],
        early: dict[str, Fetch],
    ) -> Iterator[Calls]:
        """Each participant's calls, submitted to the pools as they are pulled (unless fetched
        early). A chunk is started only when the invocation admits it."""
        for number, chunk in todo:
            if not self.inv.admission.admit(len(chunk)):
                return
            self._started.append(number)
            if number == todo[-1][0] and record.stage_name is None:
                # The session row needs the stage's name: read it while the last chunk is.
                self._stage_name = self.inv.stage_name(self.arn)
            for summary in chunk:
                fetch = early.pop(summary["participantId"], None)
                yield Calls(
                    number,
                    summary,
                    fetch or self.shared.fetcher.fetch(self.arn, self.session_id, summary),
                )

    def _fetch_and_write(self, calls: Iterator[Calls]) -> None:
        """Keep a window of participants' calls in flight across chunk boundaries, so that the
        pools never run dry between chunks; make rows as answers come in, in participant order;
        write each chunk while the next one is fetched."""
        window = deque(islice(calls, self.inv.window))
        chunk: _Chunk | None = None
        writing: Future[tuple[int, int]] | None = None
        try:
            while window:
                head = window.popleft()
                window.extend(islice(calls, 1))
                if chunk is None or chunk.number != head.chunk:
                    if chunk is not None:
                        writing = self._write_after(writing, chunk)
                    chunk = _Chunk(head.chunk)
                try:
                    chunk.add(self.arn, self.session_id, head)
                finally:
                    self.inv.admission.done()
            if chunk is not None:
                writing = self._write_after(writing, chunk)
            if writing is not None:
                self._written(writing)
        except BaseException:
            for pending in window:
                pending.fetch.cancel()  # no more calls for an archive that failed
            self.inv.admission.done(len(window))
            raise
        finally:
            if writing is not None:
                wait([writing])  # never leave a write running behind a failure

    def _write_after(
        self, previous: Future[tuple[int, int]] | None, chunk: _Chunk
    ) -> Future[tuple[int, int]]:
        """A session's chunks are written one at a time, in order, on a writer thread."""
        if previous is not None:
            self._written(previous)
        return self.shared.writer.submit(self._write_chunk, chunk)

    def _write_chunk(self, chunk: _Chunk) -> tuple[int, int]:
        # Write nothing for a session that vanished while we read it (it would be less). The
        # check runs while the Parquet is encoded, and gives the session's times (its keys).
        still_there = self.shared.side.submit(self._read_session)
        people = parquet_bytes(PARTICIPANTS, chunk.people)
        events = chunk.events.parquet()
        session = still_there.result()
        keys = self._keys(session)
        bucket = self.shared.settings.bucket_name
        for key, body in (
            (keys.participants(chunk.number), people),
            (keys.events(chunk.number), events),
        ):
            put_object(self.shared.s3, bucket, key, body)
            self.inv.landed(key, body)
        self.shared.ledger.chunk_done(
            self.arn,
            self.session_id,
            chunk.number,
            chunk.events.count,
            start_time=session["startTime"],
            end_time=session["endTime"],
        )
        return len(chunk.people), chunk.events.count

    def _read_session(self) -> ApiRecord:
        """GetStageSession: raises SessionNotFound if IVS forgot it, _NotEnded if it is live."""
        session = self.shared.ivs.get_stage_session(self.arn, self.session_id)
        if not is_ended(session):
            raise _NotEnded(self.session_id)
        self.session = session
        return session

    def _keys(self, session: ApiRecord) -> SessionKeys:
        return SessionKeys(
            self.shared.settings.prefix, self.arn, self.session_id, session["startTime"]
        )

    def _written(self, writing: Future[tuple[int, int]]) -> None:
        participants, events = writing.result()
        self.report.chunks_written += 1
        self.report.participants += participants
        self.report.events += events

    def _finish(self, record: SessionRecord, participants: int, chunk_size: int) -> None:
        ledger = self.shared.ledger
        done = ledger.get(self.arn, self.session_id)
        assert done is not None  # we hold its lease
        # Nothing written in this invocation: nothing checked that IVS still has the session
        # (a listing of a forgotten session is empty, not an error).
        session = self.session or self._read_session()
        name = record.stage_name
        if name is None:
            name = (self._stage_name or self.inv.stage_name(self.arn)).result()
        archived_at = clock.now()
        row = session_row(
            self.arn,
            name,
            {"sessionId": self.session_id, **session},
            participant_count=participants,
            event_count=done.event_count,
            archived_at=archived_at,
        )
        keys = self._keys(session)
        body = parquet_bytes(STAGE_SESSIONS, [row])
        put_object(self.shared.s3, self.shared.settings.bucket_name, keys.session(), body)
        self.inv.landed(keys.session(), body)
        # The session goes into the query tables, whole, and is ARCHIVED once it is there.
        chunks = -(-participants // chunk_size)  # ceil
        self.inv.group_commit.commit(LandedSession(keys, chunks))
        ledger.finish(
            self.arn,
            self.session_id,
            Status.ARCHIVED,
            archived_at=archived_at,
            event_count=done.event_count,
            start_time=session["startTime"],
            end_time=session["endTime"],
        )
        self.report.lag_seconds = (archived_at - session["endTime"]).total_seconds()


class _NotEnded(Exception):
    """GetStageSession shows the session still live (only a hand-made message can ask that)."""
