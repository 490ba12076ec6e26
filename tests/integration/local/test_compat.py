"""local.compat: each trick of the stand-ins that leans on a library's behaviour, and the behaviour
it leans on. A test here failing after a version bump says which trick to look at again."""

from __future__ import annotations

import time
from typing import Any

import botocore.endpoint
import pytest
from botocore.exceptions import ClientError

from local.compat import retry_waits_scaled, scale_retry_waits
from tests.helpers.scenario import build_scenario

DELAY_S = 2.0  # what the test's retry handler asks botocore to wait before each retry


def _waits(simulator_factory: Any, ivs_client_factory: Any, speed: float) -> list[float]:
    """What botocore slept before each retry of a call that fails every time (an IVS that
    answers every call with a 5xx), its retry handler asking DELAY_S each time."""
    sim = simulator_factory(build_scenario(), tps=0, fault_rate=1.0)
    client = ivs_client_factory(sim.endpoint_url, retries={"mode": "standard", "max_attempts": 3})

    def delay(attempts: int, **_: Any) -> float | bool:
        return DELAY_S if attempts < 3 else False  # the first answer botocore gets wins

    client.meta.events.register_first("needs-retry.ivs-realtime", delay)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "sleep", sleep)
        with retry_waits_scaled(speed), pytest.raises(ClientError):
            client.list_stages()
    return slept


def test_botocore_waits_before_a_retry_through_its_endpoint_modules_time_sleep(
    simulator_factory: Any, ivs_client_factory: Any
) -> None:
    """botocore 1.44.5's Endpoint._needs_retry sleeps with `time.sleep(delay)` through the `time`
    of botocore.endpoint: scaled by 1 / speed there, a replay's retry waits are simulated time."""
    assert _waits(simulator_factory, ivs_client_factory, 1.0) == [DELAY_S, DELAY_S]
    assert _waits(simulator_factory, ivs_client_factory, 100.0) == [DELAY_S / 100] * 2
    assert botocore.endpoint.time is time  # given back after the block


def test_scaling_again_replaces_the_scale_and_speed_1_is_botocores_own() -> None:
    try:
        scale_retry_waits(60)
        scale_retry_waits(10)
        scaled = botocore.endpoint.time
        assert not isinstance(scaled, type(time)) and getattr(scaled, "speed", None) == 10
        assert scaled.monotonic is time.monotonic  # the rest of `time` as it is
        scale_retry_waits(1)
        assert botocore.endpoint.time is time
    finally:
        botocore.endpoint.time = time
