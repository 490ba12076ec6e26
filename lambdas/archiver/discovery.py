"""Find ended stage sessions and hand each unarchived one to the archive workers.

IVS has no "session ended" event, so discovery asks the API, spending as few calls as it can
(they share the quota with the archive and with the customer's application):
- ListStages on every run. A stage whose activeSessionId changed since the last look has ended
  the session that was active then: that session is claimed as it is, with no further call.
- A session that started and ended between two looks, on a stage idle at both, is not seen that
  way. IVS Stage Update events (best effort) name it: the event handler records a hint, and the
  next run lists the stages whose hints name a session it does not know, before anything else.
- A periodic full reconcile lists the sessions of every stage (newest first, only those ended
  since the last complete reconcile). When it cannot finish in one run, it saves a cursor in the
  ledger and the next run goes on from there.
Each ended session is claimed with a conditional write and its message sent at once (a claim
whose message never went out is queued again by a later run). One run at a time holds the
discovery lease; every run stops listing while it still has `min_remaining_ms` left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archiver.discovery_state import DiscoveryState, StageSeen, lease_until
from archiver.eventbridge import DiscoverRequest, ScheduledEvent, StageUpdateEvent
from archiver.ivs import ApiRecord, IvsClient, SessionNotFound, is_ended
from archiver.ledger import Ledger
from archiver.messages import InvalidInput, SessionMessage
from archiver.queueing import claim_and_queue
from archiver.settings import Settings

# Sessions that ended this long before the last complete reconcile began are listed again, for
# clock skew between IVS and us.
RECONCILE_OVERLAP = timedelta(minutes=5)
# A reconcile under way saves its cursor at least this often, so a run that dies loses little.
CURSOR_EVERY = 50


@dataclass
class DiscoveryResult:
    stages_listed: int = 0  # stages ListStages returned (allowed ones)
    stages_checked: int = 0  # ListStageSessions listings made
    reconcile: str | None = None  # "complete" or "continued" when a reconcile ran
    skipped: bool = False  # another run holds discovery
    hinted: bool = False  # an IVS event, recorded for the next run
    enqueued: list[SessionMessage] = field(default_factory=list)
    not_queued: int = 0  # claimed, but SQS refused the message (a later run queues it)


class Discovery:
    def __init__(
        self,
        settings: Settings,
        ivs: IvsClient,
        ledger: Ledger,
        state: DiscoveryState,
        sqs: Any,
        *,
        now: datetime,
        remaining_ms: Callable[[], int],
        owner: str,
    ) -> None:
        self.settings = settings
        self.ivs = ivs
        self.ledger = ledger
        self.state = state
        self.sqs = sqs
        self.now = now
        self.remaining_ms = remaining_ms
        self.owner = owner
        self.cutoff = now - timedelta(days=settings.lookback_days)
        # Stage -> the earliest end this run has listed its sessions back to.
        self._listed: dict[str, datetime] = {}
        # Stages ListStages shows for the first time: recorded once listed.
        self._new: dict[str, StageSeen] = {}

    def run(self, request: DiscoverRequest) -> DiscoveryResult:
        result = DiscoveryResult()
        if isinstance(request, SessionMessage):
            self._one_session(request, result)
        elif isinstance(request, StageUpdateEvent):
            if self.settings.allows(request.stage_arn):
                self.state.add_hint(request.stage_arn, request.session_id, self.now)
                result.hinted = True
        elif isinstance(request, ScheduledEvent):
            if self.state.take_lease(
                self.owner, self.now, lease_until(self.now, self.remaining_ms())
            ):
                try:
                    self._scheduled(result)
                    self.state.record_run(
                        self.now,
                        listed=result.stages_listed,
                        checked=result.stages_checked,
                        enqueued=len(result.enqueued),
                    )
                finally:
                    self.state.release_lease(self.owner)
            else:
                result.skipped = True
        return result

    # --- a scheduled run ----------------------------------------------------------------------
    def _scheduled(self, result: DiscoveryResult) -> None:
        seen = self.state.stages()
        listed: dict[str, StageSeen] = {}
        for stage in self.ivs.list_stages():
            if self.settings.allows(stage["arn"]):
                listed[stage["arn"]] = StageSeen(stage.get("activeSessionId"), stage.get("name"))
        result.stages_listed = len(listed)
        self._new = {arn: listed[arn] for arn in sorted(listed.keys() - seen.keys())}
        self._hinted(seen, listed, result)
        self._ended_since_last_look(seen, listed, result)
        cursor = self._reconcile(seen, listed, result)
        # A stage never seen before may have had sessions already: list it once, unless the
        # reconcile under way will reach it (until listed, it stays new to the next run).
        for arn in list(self._new):
            if cursor is not None and arn > cursor:
                continue
            if self._out_of_time():
                break
            self._list_stage(arn, listed[arn].name, self.cutoff, result)

    def _ended_since_last_look(
        self, seen: dict[str, StageSeen], listed: dict[str, StageSeen], result: DiscoveryResult
    ) -> None:
        """A session active at the last look and not now has ended: claim it, no call needed
        (the archive worker reads its times)."""
        for arn, before in seen.items():
            after = listed.get(arn, StageSeen(None, before.name))  # gone: deleted or not allowed
            if before.active_session_id and before.active_session_id != after.active_session_id:
                session = {"sessionId": before.active_session_id}
                self._claim_and_queue(arn, [session], after.name, result)
            if after != before:
                self.state.record_stage(arn, after, self.now)

    def _hinted(
        self, seen: dict[str, StageSeen], listed: dict[str, StageSeen], result: DiscoveryResult
    ) -> None:
        """Stages named by IVS events come first. A hint needs a listing only when it names a
        session that is neither the stage's active one, now or at the last look (those two are
        followed through activeSessionId), nor already in the ledger."""
        for arn, hinted in self.state.hints().items():
            stage = listed.get(arn)
            if stage is not None:
                followed = {
                    stage.active_session_id,
                    seen.get(arn, StageSeen(None, None)).active_session_id,
                }
                unknown = hinted - followed
                if unknown and not unknown <= self.ledger.known_sessions(arn).keys():
                    if self._out_of_time():
                        return
                    self._list_stage(arn, stage.name, self.cutoff, result)
            self.state.clear_hint(arn, hinted)

    def _reconcile(
        self, seen: dict[str, StageSeen], listed: dict[str, StageSeen], result: DiscoveryResult
    ) -> str | None:
        """List every stage's sessions ended since the last complete reconcile, when one is due
        or under way; the cursor it leaves for the next run (None: none under way)."""
        state = self.state.reconcile()
        interval = timedelta(minutes=self.settings.reconcile_interval_minutes)
        under_way = state.cursor is not None and state.started is not None
        if not under_way and state.last_complete and self.now - state.last_complete < interval:
            return None
        started = state.started if under_way and state.started else self.now
        since = self.cutoff
        if state.last_complete is not None:
            since = max(since, state.last_complete - RECONCILE_OVERLAP)
        todo = [arn for arn in sorted(listed) if state.cursor is None or arn > state.cursor]
        last: str | None = state.cursor
        for done, arn in enumerate(todo):
            ended_after = since if arn in seen else self.cutoff  # a new stage: all of it
            if arn not in self._listed or self._listed[arn] > ended_after:  # not listed that far
                if self._out_of_time():
                    if last is not None:
                        self.state.save_cursor(last, started)
                    result.reconcile = "continued"
                    return last or ""
                self._list_stage(arn, listed[arn].name, ended_after, result)
            last = arn
            if done % CURSOR_EVERY == CURSOR_EVERY - 1:
                self.state.save_cursor(arn, started)
        self.state.complete_reconcile(started)
        result.reconcile = "complete"
        return None

    def _out_of_time(self) -> bool:
        return self.remaining_ms() < self.settings.min_remaining_ms

    # --- listing and claiming -----------------------------------------------------------------
    def _list_stage(
        self, arn: str, name: str | None, ended_after: datetime, result: DiscoveryResult
    ) -> None:
        """Claim the stage's sessions that ended after `ended_after`. The service lists them
        newest first, and a stage's sessions never overlap: the first one that ended earlier
        ends the listing."""
        result.stages_checked += 1
        self._listed[arn] = min(ended_after, self._listed.get(arn, ended_after))
        ended: list[ApiRecord] = []
        for session in self.ivs.list_stage_sessions(arn):
            if not is_ended(session):
                continue
            if session["endTime"] < ended_after:
                break
            ended.append(session)
        if arn in self._new:
            self.state.record_stage(arn, self._new.pop(arn), self.now)
        if ended:
            known = self.ledger.known_sessions(arn)
            claimable = [
                s
                for s in ended
                if s["sessionId"] not in known
                or known[s["sessionId"]].claimable(now=self.now, run_started=self.now)
            ]
            self._claim_and_queue(arn, claimable, name, result)

    def _one_session(self, request: SessionMessage, result: DiscoveryResult) -> None:
        """An operator's request: archive this session now (even one that failed before)."""
        if not self.settings.allows(request.stageArn):
            raise InvalidInput(f"stageArn: {request.stageArn} is not in the stage allow-list")
        try:
            session = self.ivs.get_stage_session(request.stageArn, request.sessionId)
        except SessionNotFound:
            raise InvalidInput(
                f"IVS does not know session {request.sessionId} of {request.stageArn}"
            ) from None
        if not is_ended(session):
            raise InvalidInput(f"session {request.sessionId} has not ended yet")
        name = self.state.stages().get(request.stageArn, StageSeen(None, None)).name
        self._claim_and_queue(request.stageArn, [session], name, result, force=True)

    def _claim_and_queue(
        self,
        stage_arn: str,
        sessions: Iterable[ApiRecord],
        stage_name: str | None,
        result: DiscoveryResult,
        *,
        force: bool = False,
    ) -> None:
        queued = claim_and_queue(
            self.ledger,
            self.sqs,
            self.settings.queue_url,
            stage_arn,
            sessions,
            stage_name=stage_name,
            run_started=self.now,
            force=force,
        )
        result.enqueued += queued.sent
        result.not_queued += queued.refused
