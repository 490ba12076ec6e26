"""How much work one archive invocation takes on: chunks of participants' calls, admitted only
while the invocation still has the time to make all the calls admitted so far at the worker's
rate, and `min_remaining_ms` to spare for writing and handing over.

A chunk started is a chunk finished within the invocation, whichever of the worker's sessions it
belongs to: they share the worker's rate, so they share one account of the time. The first chunk
of an invocation is always admitted, so every invocation makes progress however short it is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from archiver.settings import CALLS_PER_PARTICIPANT


class Admission:
    def __init__(self, rate: float, remaining_ms: Callable[[], int], min_remaining_ms: int) -> None:
        self.rate = rate  # ListParticipantEvents calls a second this worker may count on
        self.remaining_ms = remaining_ms
        self.min_remaining_ms = min_remaining_ms
        self._pending = 0  # participants admitted whose calls have not finished
        self._admitted = 0
        self._lock = threading.Lock()

    def calls_ms(self, participants: int) -> float:
        """Milliseconds the calls of `participants` take at this worker's rate (at least one
        ListParticipantEvents call each, with a margin for paging and retries)."""
        return CALLS_PER_PARTICIPANT * 1000 * participants / self.rate

    def _fits(self, participants: int) -> bool:
        spare = self.remaining_ms() - self.min_remaining_ms
        return spare >= self.calls_ms(self._pending + participants)

    def fits(self, participants: int) -> bool:
        """Whether `participants` more could still be admitted now (nothing is reserved)."""
        with self._lock:
            return self._fits(participants)

    def admit(self, participants: int) -> bool:
        """Reserve the time for `participants`' calls; False if the invocation lacks it."""
        with self._lock:
            if self._admitted and not self._fits(participants):
                return False
            self._pending += participants
            self._admitted += participants
            return True

    def done(self, participants: int = 1) -> None:
        """Their calls are answered (or will never be made)."""
        with self._lock:
            self._pending = max(0, self._pending - participants)
