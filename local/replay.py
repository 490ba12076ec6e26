"""A scenario replayed as it happens (`python -m local run --live`, `python -m bench fleet`):
the schedule fires discovery every `schedule` simulated, IVS Stage Update events reach the
discover handler as the simulator delivers them (late, or never), and archive workers take the
queue, until every session of the scenario has ended and been archived (or expired).

The archive workers run in processes of their own (local/workers.py). The simulated clock is
the whole pipeline's: the handlers in this process read it through archiver.clock
(EmbeddedPipeline installs it when live), the workers through their own copy of it.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta
from typing import Any

from archiver.eventbridge import passes_stage_update_rule
from local.pipeline import EmbeddedPipeline

# How often the loop looks at the clock, the events and the ledger (wall seconds).
TICK_S = 0.05
LEDGER_EVERY_S = 1.0
FINAL = ("ARCHIVED", "EXPIRED")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Replay:
    def __init__(
        self,
        pipeline: EmbeddedPipeline,
        scenario: dict[str, Any],
        *,
        schedule: timedelta = timedelta(minutes=10),
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
        self.events_delivered = 0

    def now(self) -> datetime:
        return self.pipeline.simulator.now()

    def run(self, *, deadline_s: float | None = None) -> bool:
        """Until every ended session of the scenario is final in the ledger; False if
        `deadline_s` wall seconds passed first."""
        started = time.monotonic()
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
        """Every session of the scenario that ends has ended and is archived or expired (the
        ledger is read only once nothing is left to do: a scan holds moto up)."""
        if self.last_end is not None and self.now() < self.last_end:
            return False
        if self.pipeline.account.queue_depth():
            return False
        final = [s for s in self.pipeline.account.ledger_sessions() if s["status"] in FINAL]
        return len(final) >= self.ended

    def _discover(self, event: dict[str, Any] | None) -> None:
        """One discover invocation; a failure is what Lambda would log: the next run redoes it."""
        with contextlib.suppress(Exception):  # a failed run is redone by the schedule
            self.pipeline.discover(event, invocation_ms=self.discover_invocation_ms)
