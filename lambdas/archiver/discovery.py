"""Find ended stage sessions and hand each unarchived one to the archive workers.

IVS has no "session ended" event, so discovery asks the API, spending as few calls as it can
(they share the quota with the archive and with the customer's application):
- A look at ListStages (one call per 100 stages) on every scheduled run (every minute) while a
  stage had a live session at the last look, an IVS event named a session since, or a reconcile
  is due; else every `idleLookMinutes`. A stage whose activeSessionId changed since the last look
  has ended the session that was active then: that session is claimed as it is, with no further
  call.
- A session that started and ended between two looks, on a stage idle at both, is not seen that
  way. IVS Stage Update events (best effort) name it: the event handler records a hint, and the
  next run (within a minute) looks and lists the stages whose hints name a session it does not
  know, before anything else.
- A periodic full reconcile lists the sessions of every stage (newest first, only those ended
  since the last complete reconcile). When it cannot finish in one run, it saves a cursor in the
  ledger and the next run goes on from there.
Each ended session is claimed with a conditional write and its message sent at once (a claim
whose message never went out is queued again by a later run). One run at a time holds the
discovery lease; every run stops listing while it still has `min_remaining_ms` left, and after
80% of the schedule's interval (but the first pass, which may take its whole invocation).

Every call discovery makes is taken from its share of that operation's quota (QuotaShare,
`discoveryQuotaShare`): thousands of stages, or the customer's application throttling it, make it
look and list less often rather than take more of the quota. A run whose share does not cover a
look, or the next listing, leaves it to a later run (but the first pass, which waits for it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archiver import clock
from archiver.discovery_state import (
    Allowance,
    DiscoveryState,
    Pace,
    ReconcileState,
    StageSeen,
    lease_until,
)
from archiver.eventbridge import DiscoverRequest, ScheduledEvent, StageUpdateEvent
from archiver.ivs import PAGE_SIZE, ApiRecord, IvsClient, SessionNotFound, is_ended
from archiver.ledger import Ledger
from archiver.messages import InvalidInput, SessionMessage
from archiver.queueing import claim_and_queue
from archiver.settings import IVS_TPS_QUOTA, Settings, schedule_interval

# Sessions that ended this long before the last complete reconcile began are listed again, for
# clock skew between IVS and us.
RECONCILE_OVERLAP = timedelta(minutes=5)
# A reconcile under way saves its cursor at least this often, so a run that dies loses little.
CURSOR_EVERY = 50
# A scheduled run lists for at most this share of the schedule's interval, so that the next run
# finds the lease free and looks on time.
RUN_SHARE_OF_INTERVAL = 0.8
LIST_STAGES = "ListStages"
LIST_STAGE_SESSIONS = "ListStageSessions"
# Discovery's allowance of an operation's calls holds at most this long a time's share of AWS's
# quota: 60 calls at the default share of 0.2, whatever quota a local run simulates.
SAVED_UP_S = 60.0
# A run that meets a 429 owes SAVED_UP_S's worth of calls, twice as much for each such run in a
# row, up to this many times as much.
MOST_OWED = 8
# The longest one sleep while a call waits for the allowance (the run's time is checked between).
WAIT_STEP_S = 1.0


class QuotaShare:
    """Discovery's share of each IVS operation's quota: an allowance of calls per operation that
    grows by `discoveryQuotaShare` x the quota a second, up to SAVED_UP_S's worth, and is kept in
    the ledger from run to run (runs take turns through the lease). Every call discovery makes
    is taken from it, retries and 429s included (IvsClient counts every attempt), so that over
    any span of T seconds discovery makes at most share x quota x T calls of an operation, plus
    what was saved up (share x SAVED_UP_S x AWS's 5 a second: as many calls whatever quota a
    local run simulates, in as many of its scaled seconds). A listing that has begun is finished
    and may leave the allowance owing; a run that meets a 429 owes more (`_spend`). What the
    allowance does not cover is left to a later run (Discovery._may_wait). Time here is the real
    time (the wall clock), as the quota is per real second, in AWS and in the local simulator
    alike, whatever time archiver.clock gives a replay."""

    def __init__(
        self,
        settings: Settings,
        ivs: IvsClient,
        saved: dict[str, Allowance],
        *,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        share = settings.discovery_quota_share
        self.rate = share * settings.ivs_tps_quota  # calls a second (inf: an unlimited quota)
        self.most = share * IVS_TPS_QUOTA * SAVED_UP_S  # calls
        self.ivs = ivs
        self._saved = dict(saved)
        self._wall = wall
        self._sleep = sleep
        self._used: set[str] = set()  # operations called in this run
        self._met_429: set[str] = set()  # of them, those that met a 429

    def available(self, operation: str) -> float:
        """The calls of `operation` discovery may make now (below 0: what it owes)."""
        saved = self._saved.get(operation)
        if saved is None or math.isinf(self.rate):
            return self.most
        return min(self.most, saved.calls + max(0.0, self._wall() - saved.at) * self.rate)

    def wait_for(self, operation: str, calls: int, seconds_left: Callable[[], float]) -> bool:
        """Whether `calls` calls of `operation` (at most the most saved up) may be made now or,
        after waiting for them, within `seconds_left()`; False at once if not. (A run that must
        not wait gives 0.)"""
        need = min(float(calls), self.most)
        while (have := self.available(operation)) < need:
            wait = (need - have) / self.rate
            if wait > seconds_left():
                return False
            self._sleep(min(wait, WAIT_STEP_S))
        return True

    @contextmanager
    def spending(self, operation: str) -> Iterator[None]:
        """The calls of `operation` made in the block, taken from its allowance."""
        calls, throttles = self.ivs.calls[operation], self.ivs.throttles[operation]
        try:
            yield
        finally:
            made = self.ivs.calls[operation] - calls
            self._spend(operation, made, self.ivs.throttles[operation] - throttles)

    def _spend(self, operation: str, calls: int, throttles: int) -> None:
        """`calls` made; on a run's first 429 of `operation`, it owes at least SAVED_UP_S's
        worth, twice as much for each run before in a row that met one (up to MOST_OWED times):
        the customer's application is using that quota, and discovery leaves it alone a while."""
        self._used.add(operation)
        now = self._wall()
        left = self.available(operation) - calls
        throttled = self._saved[operation].throttled if operation in self._saved else 0
        if throttles and operation not in self._met_429:
            self._met_429.add(operation)
            throttled += 1
            left = min(left, -self.most * min(2 ** min(throttled - 1, 8), MOST_OWED))
        self._saved[operation] = Allowance(left, now, throttled)

    def allowances(self) -> dict[str, Allowance]:
        """What to keep for the next run: an operation this run called without a 429 ends its
        run of throttled runs."""
        return {
            operation: (
                Allowance(saved.calls, saved.at)
                if operation in self._used and operation not in self._met_429
                else saved
            )
            for operation, saved in self._saved.items()
        }


@dataclass
class DiscoveryResult:
    stages_listed: int = 0  # stages ListStages returned (allowed ones)
    stages_checked: int = 0  # ListStageSessions listings made
    # Why a scheduled run looked at ListStages ("first", "hint", "live", "reconcile", "idle");
    # None: it did not (nothing live, nothing named, the last look recent).
    look: str | None = None
    paced: list[str] = field(default_factory=list)  # operations whose allowance held it back
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
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
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
        self._wall, self._sleep = wall, sleep
        self.share = QuotaShare(settings, ivs, {}, wall=wall, sleep=sleep)
        self._interval = schedule_interval(settings.schedule)
        # When a scheduled run stops listing (archiver.clock; None: when its invocation must).
        self._run_ends: datetime | None = now + self._interval * RUN_SHARE_OF_INTERVAL
        self._look_pages = 1
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
                finally:
                    self.state.release_lease(self.owner)
            else:
                result.skipped = True
        return result

    # --- a scheduled run ----------------------------------------------------------------------
    def _scheduled(self, result: DiscoveryResult) -> None:
        pace = self.state.pace()
        self.share = QuotaShare(
            self.settings, self.ivs, pace.allowances, wall=self._wall, sleep=self._sleep
        )
        reconcile = self.state.reconcile()
        if reconcile.last_complete is None:  # the first pass lists for its whole invocation
            self._run_ends = None
        hints = self.state.hints()
        # What the next run reads: as it was, but for what this run changes.
        after = Pace(looked_at=pace.looked_at, look_pages=pace.look_pages, live=pace.live)
        try:
            result.look = self._why_look(pace, hints, reconcile)
            if result.look is None:
                return
            listed = self._look(pace.look_pages, result)
            if listed is None:
                return
            seen = self.state.stages()
            # Until this look's changes are all recorded, the next run looks again.
            after.looked_at, after.look_pages = None, self._look_pages
            self._new = {arn: listed[arn] for arn in sorted(listed.keys() - seen.keys())}
            self._hinted(hints, seen, listed, result)
            self._ended_since_last_look(seen, listed, result)
            cursor = self._reconcile(reconcile, seen, listed, result)
            # A stage never seen before may have had sessions already: list it once, unless the
            # reconcile under way will reach it (until listed, it stays new to the next run).
            for arn in list(self._new):
                if cursor is not None and arn > cursor:
                    continue
                if not self._may_list(result):
                    break
                self._list_stage(arn, listed[arn].name, self.cutoff, result)
            after.looked_at = self.now
            after.live = sum(1 for stage in listed.values() if stage.active_session_id)
            self.state.record_run(
                self.now,
                listed=result.stages_listed,
                checked=result.stages_checked,
                enqueued=len(result.enqueued),
            )
        finally:
            after.allowances = self.share.allowances()
            self.state.save_pace(after)

    def _why_look(
        self, pace: Pace, hints: dict[str, set[str]], reconcile: ReconcileState
    ) -> str | None:
        """Why this run looks at ListStages; None: no need. A look can only find sessions that
        ended on stages live at the last look, those IVS events named, or (the reconcile's) any;
        while none is live, a session that starts is seen at the next idle look (or named by
        its events, or found by the reconcile, if it ends before)."""
        if pace.looked_at is None:
            return "first"
        if hints:
            return "hint"
        if pace.live:
            return "live"
        if self._reconcile_due(reconcile):
            return "reconcile"
        idle = timedelta(minutes=self.settings.idle_look_minutes)
        # Runs come a schedule's interval apart, give or take a little: the one closest to the
        # idle interval looks.
        slack = min(self._interval, idle) / 2
        return "idle" if self.now - pace.looked_at + slack >= idle else None

    def _look(self, pages: int, result: DiscoveryResult) -> dict[str, StageSeen] | None:
        """Every allowed stage -> its activeSessionId and name, from ListStages (whole: a stage
        missing from it would be taken as deleted); None when the allowance of its `pages` calls
        (as many as the last look took) does not come within the run's time."""
        if not self.share.wait_for(LIST_STAGES, pages, self._may_wait):
            result.paced.append(LIST_STAGES)
            return None
        listed: dict[str, StageSeen] = {}
        stages = 0
        with self.share.spending(LIST_STAGES):
            for stage in self.ivs.list_stages():
                stages += 1
                if self.settings.allows(stage["arn"]):
                    listed[stage["arn"]] = StageSeen(
                        stage.get("activeSessionId"), stage.get("name")
                    )
        self._look_pages = max(1, math.ceil(stages / PAGE_SIZE))
        result.stages_listed = len(listed)
        return listed

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
        self,
        hints: dict[str, set[str]],
        seen: dict[str, StageSeen],
        listed: dict[str, StageSeen],
        result: DiscoveryResult,
    ) -> None:
        """Stages named by IVS events come first. A hint needs a listing only when it names a
        session that is neither the stage's active one, now or at the last look (those two are
        followed through activeSessionId), nor already in the ledger."""
        for arn, hinted in hints.items():
            stage = listed.get(arn)
            if stage is not None:
                followed = {
                    stage.active_session_id,
                    seen.get(arn, StageSeen(None, None)).active_session_id,
                }
                unknown = hinted - followed
                if unknown and not unknown <= self.ledger.known_sessions(arn).keys():
                    if not self._may_list(result):
                        return
                    self._list_stage(arn, stage.name, self.cutoff, result)
            self.state.clear_hint(arn, hinted)

    def _reconcile_due(self, state: ReconcileState) -> bool:
        """A reconcile is under way, or due: none complete yet, or the last one an interval ago."""
        if state.cursor is not None and state.started is not None:
            return True
        interval = timedelta(minutes=self.settings.reconcile_interval_minutes)
        return state.last_complete is None or self.now - state.last_complete >= interval

    def _reconcile(
        self,
        state: ReconcileState,
        seen: dict[str, StageSeen],
        listed: dict[str, StageSeen],
        result: DiscoveryResult,
    ) -> str | None:
        """List every stage's sessions ended since the last complete reconcile, when one is due
        or under way; the cursor it leaves for the next run (None: none under way)."""
        if not self._reconcile_due(state):
            return None
        under_way = state.cursor is not None and state.started is not None
        started = state.started if under_way and state.started else self.now
        since = self.cutoff
        if state.last_complete is not None:
            since = max(since, state.last_complete - RECONCILE_OVERLAP)
        todo = [arn for arn in sorted(listed) if state.cursor is None or arn > state.cursor]
        last: str | None = state.cursor
        for done, arn in enumerate(todo):
            ended_after = since if arn in seen else self.cutoff  # a new stage: all of it
            if arn not in self._listed or self._listed[arn] > ended_after:  # not listed that far
                if not self._may_list(result):
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

    def _seconds_left(self) -> float:
        """How long this run may go on listing: until `min_remaining_ms` is left of its
        invocation and, but in the first pass, until RUN_SHARE_OF_INTERVAL of the schedule's
        interval (archiver.clock's time: a replay's simulated one) has gone."""
        left = (self.remaining_ms() - self.settings.min_remaining_ms) / 1000
        if self._run_ends is not None:
            left = min(left, (self._run_ends - clock.now()).total_seconds())
        return left

    def _may_wait(self) -> float:
        """How long a call may wait for the allowance: in the first pass (the backfill, which
        takes its whole invocation where it can), the run's time left; else none: what the
        allowance does not cover now is left to the next run, at the same pace over time,
        without a Lambda billed to sleep."""
        return self._seconds_left() if self._run_ends is None else 0.0

    def _may_list(self, result: DiscoveryResult) -> bool:
        """Whether the run may list one more stage's sessions: it has time left, and a call of
        its share of ListStageSessions."""
        if self._seconds_left() <= 0:
            return False
        if self.share.wait_for(LIST_STAGE_SESSIONS, 1, self._may_wait):
            return True
        if LIST_STAGE_SESSIONS not in result.paced:
            result.paced.append(LIST_STAGE_SESSIONS)
        return False

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
        with self.share.spending(LIST_STAGE_SESSIONS):
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
