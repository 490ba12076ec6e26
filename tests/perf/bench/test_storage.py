"""`python -m bench storage` fits the archive's bytes to sessions, participants and events."""

from __future__ import annotations

import pytest

from bench.__main__ import main
from bench.storage import landed_bytes


def test_bigger_scenarios_take_more_bytes() -> None:
    small = landed_bytes(1, 2, 4, seed=1)
    big = landed_bytes(1, 2, 60, seed=1)
    assert small[0] == big[0]  # the same sessions
    assert big[1] > small[1] and big[2] > small[2] and big[3] > small[3]


def test_storage_prints_a_fit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["storage"]) == 0
    fit = capsys.readouterr().out.splitlines()[-1]
    assert fit.startswith("fit: ") and "a session" in fit and "an event" in fit
