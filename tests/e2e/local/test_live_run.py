"""`python -m local run --live`: the scenario replayed as it happens, sessions ending while the
archiver runs; every session archived once it has ended, with its lag measured."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.fleet_scenario import fleet_scenario
from local.generator import dumps
from tests.helpers import ROOT


def _scenario(tmp_path: Path) -> Path:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    scenario = fleet_scenario(stages=3, sessions=9, seed=4, day=day, hours=0.25, large=0)
    path = tmp_path / "scenario.json"
    path.write_text(dumps(scenario), encoding="utf-8")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local", "run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_live_replay_archives_every_session_as_it_ends(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    done = _run(
        "--scenario", str(_scenario(tmp_path)), "--out", str(tmp_path / "out"),
        "--live", "--speed", "120", "--stats", str(stats),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "9 in the scenario: 9 archived" in done.stdout
    numbers = json.loads(stats.read_text())
    assert numbers["sessions_archived"] == 9
    lag = numbers["lag_s"]
    # Simulated seconds from a session's end to ARCHIVED, measured. How long it is, is the
    # benchmark's to say (`python -m bench fleet --mode live`): at --speed 120 every second of
    # a busy machine is two simulated minutes, which made a bound here fail under load.
    assert 0 < lag["p50"] <= lag["p95"] <= lag["max"]


def test_live_flags_without_live_are_refused(tmp_path: Path) -> None:
    done = _run("--scenario", str(_scenario(tmp_path)), "--speed", "60")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--speed: only with --live" in done.stderr
