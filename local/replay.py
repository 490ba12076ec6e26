"""A scenario replayed as it happens (`python -m local run --live`, `python -m bench fleet`):
the schedule fires discovery every `schedule` simulated, IVS Stage Update events reach the
discover handler as the simulator delivers them (late, or never), and archive workers take the
queue, until every session of the scenario has ended and is final: archived, expired, or
dead-lettered (its message on the dead-letter queue, the work queue empty: nothing more comes of
it without a person, or a later discovery run that lists it again), and every outage of the
simulator is over. Every replay ends: once the last session has ended and the last outage is
over, nothing moving for `stall` (the work queue empty, the ledger and the dead-letter queue
unchanged) ends it too, with `stalled` set (discovery failing on every run, say).

The archive workers run in processes of their own (local/workers.py). The simulated clock is
the whole pipeline's: the handlers in this process read it through archiver.clock
(EmbeddedPipeline installs it when live), the workers through their own copy of it.
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime, timedelta
from typing import Any

from archiver.eventbridge import passes_stage_update_rule
from archiver.settings import DEFAULT_SCHEDULE_INTERVAL, Settings
from local.pipeline import EmbeddedPipeline

# How often the loop looks at the clock, the events and the ledger (wall seconds).
TICK_S = 0.05
LEDGER_EVERY_S = 1.0
FINAL = ("ARCHIVED", "EXPIRED")
# Longer than any wait of discovery's for a session: a full reconcile (which finds a session
# whose IVS events were all lost) comes within its interval, plus a schedule's run or two.
RECONCILE = timedelta(minutes=Settings.default("reconcile_interval_minutes"))


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Replay:
    def __init__(
        self,
        pipeline: EmbeddedPipeline,
        scenario: dict[str, Any],
        *,
        schedule: timedelta = DEFAULT_SCHEDULE_INTERVAL,
        discover_invocation_ms: int = 900_000,
    ) -> None:
        self.pipeline = pipeline
        self.schedule = schedule
        self.discover_invocation_ms = discover_invocation_ms
        ends = [
            _parse(session["endTime"])
            for stage in scenario["stages"]
            for session in stage.get("sessions", [])
            if session.get("endTime")
        ]
        self.ended = len(ends)
        self.last_end = max(ends, default=None)
        self.outages_end = pipeline.simulator.outages.last_end
        self.events_delivered = 0
        self.stall = RECONCILE + 2 * schedule  # simulated
        self.stalled = False  # ended because nothing moved for `stall`
        self._still: tuple[object, datetime] | None = None  # what stood still, since when

    def now(self) -> datetime:
        return self.pipeline.simulator.now()

    def run(self, *, deadline_s: float | None = None) -> bool:
        """Until every ended session of the scenario is final in the ledger; False if
        `deadline_s` wall seconds passed first."""
        started = time.monotonic()
        self.pipeline.simulator.clock.begin()  # unless the workers began it, once warm
        next_discovery = self.now()  # the schedule's first run is at the start
        next_look = 0.0
        while True:
            if self.now() >= next_discovery:
                self._discover(None)
                next_discovery += self.schedule
            for event in self.pipeline.simulator.stage_events_due():
                if passes_stage_update_rule(event):  # as the stack's rule does
                    self._discover(event)
                    self.events_delivered += 1
            if time.monotonic() >= next_look:
                next_look = time.monotonic() + LEDGER_EVERY_S
                if self.finished():
                    self.pipeline.finished_at = time.monotonic()
                    return True
            if deadline_s is not None and time.monotonic() - started > deadline_s:
                return False
            time.sleep(TICK_S)

    def finished(self) -> bool:
        """Every session of the scenario that ends has ended and is archived, expired or
        dead-lettered, and every outage is over (the ledger is read only once nothing is left
        to do: a scan holds moto up)."""
        now = self.now()
        if any(end is not None and now < end for end in (self.last_end, self.outages_end)):
            return False
        account = self.pipeline.account
        if account.queue_depth():
            self._still = None
            return False
        dead = session_keys(account.dead_letters())
        items = account.ledger_sessions()
        done = [s for s in items if s["status"] in FINAL or _key(s) in dead]
        if len(done) >= self.ended:
            return True
        state = (frozenset((*_key(s), s["status"], s.get("updatedAt")) for s in items), dead)
        if self._still is None or self._still[0] != state:
            self._still = (state, now)
            return False
        self.stalled = now - self._still[1] >= self.stall
        return self.stalled

    def _discover(self, event: dict[str, Any] | None) -> None:
        """One discover invocation; a failure is what Lambda would log: the next run redoes it."""
        with contextlib.suppress(Exception):  # a failed run is redone by the schedule
            self.pipeline.discover(event, invocation_ms=self.discover_invocation_ms)


def _key(item: dict[str, Any]) -> tuple[str, str]:
    """(stage ARN, session id) of a ledger item."""
    return item["pk"].removeprefix("STAGE#"), item["sk"].removeprefix("SESSION#")


def session_keys(bodies: list[str]) -> set[tuple[str, str]]:
    """(stage ARN, session id) of each session message among `bodies`."""
    found = set()
    for body in bodies:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = json.loads(body)
            found.add((str(message["stageArn"]), str(message["sessionId"])))
    return found
