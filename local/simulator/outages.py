"""IVS outages: windows of simulated time during which every call fails with a 5xx.

An outage is `START+DURATION`, in simulated minutes from the replay's start (the simulator's
clock start: by default a minute before the scenario's first session), e.g. `60+120`: from an
hour in, for two hours. While one lasts, every call the simulator receives is answered 500
InternalServerException or 503 ServiceUnavailableException (the same seeded mix as the injected
faults, local/simulator/faults.py), before the quota is looked at: an IVS that is down answers
everyone alike. Windows may overlap; a call fails if any window holds the simulated now.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from local.simulator.clock import to_ms

_FORM = re.compile(r"\s*([^+\s]+)\s*\+\s*([^+\s]+)\s*")


@dataclass(frozen=True)
class Outage:
    """From `start_min` simulated minutes after the replay's start, for `duration_min`."""

    start_min: float
    duration_min: float

    def __post_init__(self) -> None:
        for name, value in (("START", self.start_min), ("DURATION", self.duration_min)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number of minutes, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number of minutes, got {value!r}")
        if self.start_min < 0:
            raise ValueError(f"START must be 0 or more minutes, got {self.start_min:g}")
        if self.duration_min <= 0:
            raise ValueError(f"DURATION must be more than 0 minutes, got {self.duration_min:g}")

    @classmethod
    def parse(cls, text: str) -> Outage:
        """`START+DURATION` (minutes, each a number); ValueError saying what is wrong."""
        found = _FORM.fullmatch(text)
        if found is None:
            raise ValueError(
                f"must be START+DURATION, simulated minutes from the replay's start "
                f"(e.g. 60+120), got {text!r}"
            )
        numbers = []
        for part in found.groups():
            try:
                numbers.append(float(part))
            except ValueError:
                raise ValueError(
                    f"must be START+DURATION, two numbers of minutes (e.g. 60+120), got {text!r}"
                ) from None
        try:
            return cls(*numbers)
        except ValueError as error:
            raise ValueError(f"{error} (in {text!r})") from None

    def window(self, origin: datetime) -> tuple[datetime, datetime]:
        """When it begins and ends, for a replay that starts at `origin`."""
        begins = origin + timedelta(minutes=self.start_min)
        return begins, begins + timedelta(minutes=self.duration_min)

    def __str__(self) -> str:
        return f"{self.start_min:g}+{self.duration_min:g}"


class Outages:
    """The windows of some outages on a replay that starts at `origin`; `now_ms` compares
    epoch milliseconds (as the simulator's clock reads them)."""

    def __init__(self, outages: Iterable[Outage], origin: datetime) -> None:
        self.outages = tuple(outages)
        self.windows = [outage.window(origin) for outage in self.outages]
        self._ms = [(to_ms(begins), to_ms(ends)) for begins, ends in self.windows]

    def __bool__(self) -> bool:
        return bool(self.outages)

    def during(self, now_ms: int) -> bool:
        """Whether an outage holds the simulated moment `now_ms`."""
        return any(begins <= now_ms < ends for begins, ends in self._ms)

    @property
    def last_end(self) -> datetime | None:
        """When the last of them ends (None without any)."""
        return max((ends for _, ends in self.windows), default=None)
