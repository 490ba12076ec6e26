"""`python -m local run --live`: the scenario replayed as it happens, sessions ending while the
archiver runs; every session archived once it has ended, with its lag measured."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.fleet_scenario import fleet_scenario
from local.generator import dumps
from tests.helpers import ROOT
from tests.helpers.archive import read_table


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


def test_a_live_replay_through_an_outage_beside_a_neighbour_archives_after_it(
    tmp_path: Path,
) -> None:
    """IVS down from the replay's start until half the sessions have ended (every call a 5xx:
    nothing can be archived meanwhile), and the customer's own application spending 3 of
    each operation's 5 calls a second (the archiver's budget of 4 meets 429s). The run lasts
    through the outage and ends with the account: each session archived after the outage, or
    dead-lettered (exit status 1 then; the archiver's handling of a long outage is not this
    test's to judge)."""
    scenario = _scenario(tmp_path)
    data = json.loads(scenario.read_text())
    starts = [s["startTime"] for stage in data["stages"] for s in stage["sessions"]]
    # The replay starts a minute before the first session; the outage lasts 8 minutes from
    # there: the sessions that end meanwhile wait for its end, the others end after it.
    outage_end = _time(min(starts)) + timedelta(minutes=-1 + 8)
    out, stats = tmp_path / "out", tmp_path / "stats.json"
    done = _run(
        "--scenario", str(scenario), "--out", str(out), "--live", "--speed", "240",
        "--outage", "0+8", "--neighbour-tps", "3", "--stats", str(stats),
    )  # fmt: skip
    numbers = json.loads(stats.read_text())
    archived = numbers["sessions_archived"]
    dead = 9 - archived
    assert done.returncode == (0 if dead == 0 else 1), done.stdout + done.stderr
    tail = "" if dead == 0 else f", {dead} dead-lettered"
    assert f"sessions: 9 in the scenario: {archived} archived{tail}\n" in done.stdout
    assert numbers["outage_failures"] > 0  # discovery met the outage
    assert numbers["throttled"] > 0  # and the neighbour's share of the quota
    assert f"({numbers['outage_failures']:,} of them during outages)" in done.stdout
    rows = read_table(out, "stage_sessions")
    assert len(rows) == archived
    assert all(row["archived_at"] >= outage_end for row in rows), rows
    for key in ("lag_s", "commit_latency_s"):
        spread = numbers[key]
        assert 0 <= spread["p50"] <= spread["p95"] <= spread["max"], key


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_live_flags_without_live_are_refused(tmp_path: Path) -> None:
    done = _run("--scenario", str(_scenario(tmp_path)), "--speed", "60")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "--speed: only with --live" in done.stderr
