"""Simulated time: a scenario's timeline replayed at `speed` times the wall clock.

simulated now = start + speed x (wall seconds since `begin()`); before `begin()` it is
`start`. The wall clock is injectable (any `() -> seconds` that never goes back), so a test
can step time instead of sleeping. Durations convert both ways, so a harness can act every
"10 simulated minutes" (`wall_seconds(600)`) and measure lag in simulated seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

WallClock = Callable[[], float]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch (the simulator compares times as these integers)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def check_speed(speed: float) -> float:
    """`speed` as a float; ValueError unless it is a finite number above 0."""
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValueError(f"speed must be a number, got {speed!r}")
    if not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed must be a finite number above 0, got {speed!r}")
    return float(speed)


class SimClock:
    """Simulated time starting at `start` (aware datetime), running `speed` times faster than
    `wall` once `begin()` is called."""

    def __init__(self, start: datetime, speed: float = 1.0, wall: WallClock = time.monotonic):
        if start.tzinfo is None:
            raise ValueError(f"start must be timezone-aware, got {start!r}")
        self.start = start.astimezone(UTC)
        self.speed = check_speed(speed)
        self._wall = wall
        self._origin: float | None = None
        self._lock = threading.Lock()

    def begin(self) -> None:
        """Start the clock now (the first call only: a restarted server keeps its time)."""
        with self._lock:
            if self._origin is None:
                self._origin = self._wall()

    @property
    def started(self) -> bool:
        return self._origin is not None

    def origin_on(self, wall: WallClock) -> float:
        """The moment `begin()` was called, read on another wall clock (time.time, for another
        process to join this clock)."""
        if self._origin is None:
            raise RuntimeError("the clock has not begun")
        return wall() - (self._wall() - self._origin)

    @classmethod
    def joined(cls, start: datetime, speed: float, origin: float, wall: WallClock) -> SimClock:
        """The same simulated time as a clock that began at wall reading `origin` (for
        another process sharing a wall clock such as time.time)."""
        clock = cls(start, speed, wall)
        clock._origin = origin
        return clock

    def elapsed_s(self) -> float:
        """Simulated seconds since `start`."""
        origin = self._origin
        return 0.0 if origin is None else max(0.0, self._wall() - origin) * self.speed

    def now(self) -> datetime:
        """The simulated time."""
        return self.start + timedelta(seconds=self.elapsed_s())

    def now_ms(self) -> int:
        """The simulated time in epoch milliseconds (`now()` rounded down to the ms)."""
        return to_ms(self.now())

    def wall_seconds(self, simulated: float | timedelta) -> float:
        """Wall seconds that last `simulated` (seconds or a timedelta) of simulated time."""
        seconds = simulated.total_seconds() if isinstance(simulated, timedelta) else simulated
        return seconds / self.speed

    def simulated_seconds(self, wall: float) -> float:
        """Simulated seconds that pass in `wall` wall seconds."""
        return wall * self.speed

    def wall_until(self, moment: datetime) -> float:
        """Wall seconds from now until the simulated `moment` (0 when it has passed)."""
        return max(0.0, self.wall_seconds(moment - self.now()))
