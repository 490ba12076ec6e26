"""A token bucket: the per-operation TPS quota of IVS Real-Time."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` tokens per second, holding at most `capacity` (default one second's, at least 1),
    of which others (the customer's own application) steadily take `taken` a second.

    A rate of 0 or less (or infinity) never throttles.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        taken: float = 0.0,
    ) -> None:
        self.unlimited = rate <= 0 or math.isinf(rate)
        self.rate = max(0.0, rate - taken)  # what is left for the callers here
        self.capacity = capacity if capacity is not None else max(1.0, self.rate)
        self._clock = clock
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take one token if there is one."""
        if self.unlimited:
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False
