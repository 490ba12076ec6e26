"""Where the local stand-ins lean on a library's behaviour beyond its documented API (the
archiver's own such tricks are in lambdas/archiver/compat.py, which ships to Lambda; these do
not). Each names the version it was written against, and tests/integration/local/test_compat.py
fails the day a pinned version behaves otherwise.

- botocore 1.44.5: the wait before a retry is `time.sleep(delay)`, called through the `time`
  module as `botocore.endpoint` imported it (`Endpoint._needs_retry`): `retry_waits_scaled`
  shortens it for a live replay.

Why: a live replay runs the archiver `speed` times faster than real time (its quota, budget,
timeouts and the simulated clock all scaled), but botocore's retry backoff is in real seconds:
at speed 60, a 20-second backoff after an IVS 5xx or a 429 would last 20 simulated minutes, and
an outage's drain or a throttled session's lag would measure botocore's sleeping, not the
archiver. Scaled, it lasts what it would deployed, in simulated time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any


class _ScaledSleep:
    """The `time` module, but `sleep(seconds)` sleeps `seconds / speed`."""

    def __init__(self, module: ModuleType, speed: float) -> None:
        self._module = module
        self.speed = speed

    def sleep(self, seconds: float) -> None:
        self._module.sleep(seconds / self.speed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def scale_retry_waits(speed: float) -> None:
    """From now on, in this process, botocore waits `1 / speed` of each retry's delay (speed 1:
    as botocore does)."""
    import botocore.endpoint

    module = botocore.endpoint.time
    if isinstance(module, _ScaledSleep):
        module = module._module
    botocore.endpoint.time = module if speed == 1 else _ScaledSleep(module, speed)


@contextlib.contextmanager
def retry_waits_scaled(speed: float) -> Iterator[None]:
    """botocore's retry waits scaled by `1 / speed` while the block runs (`scale_retry_waits`)."""
    import botocore.endpoint

    before = botocore.endpoint.time
    scale_retry_waits(speed)
    try:
        yield
    finally:
        botocore.endpoint.time = before
