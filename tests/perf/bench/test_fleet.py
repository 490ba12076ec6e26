"""`python -m bench fleet` at a tiny size: the whole pipeline (schedule, discovery, two archive
worker processes sharing the budget) archives every session, and the JSON has what the contract
names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

KEYS = {
    "sessions",
    "archived",
    "elapsed_s",
    "ideal_s",
    "ratio",
    "calls",
    "minimum_calls",
    "discovery_calls",
    "worker_seconds",
}


def _fleet(tmp_path: Path, *args: str) -> tuple[dict[str, object], str]:
    """(the JSON it wrote, what it printed)."""
    out = tmp_path / "fleet.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "fleet", "--stages", "4", "--sessions", "12",
         "--seed", "3", "--large", "150", "--out", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(out.read_text())
    return result, " ".join(done.stdout.replace("│", " ").split())


def test_a_backlog_is_archived_with_the_minimum_of_archive_calls(tmp_path: Path) -> None:
    result, printed = _fleet(tmp_path, "--mode", "backlog", "--tps", "200")
    assert result.keys() >= KEYS
    assert f"{result['elapsed_s']} s / {result['ideal_s']} s = {result['ratio']}" in printed
    assert result["archived"] == result["sessions"] == 12
    calls, minimum = result["calls"], result["minimum_calls"]
    assert isinstance(calls, dict) and isinstance(minimum, dict)
    for operation in ("ListParticipantEvents", "GetParticipant", "GetStageSession"):
        assert calls[operation] == minimum[operation], operation
    assert calls.get("GetStage", 0) == 0
    assert result["throttled"] == 0  # the workers' shares never passed the budget


def test_a_live_day_reports_the_lag(tmp_path: Path) -> None:
    """With IVS down for the day's first 9 minutes (every call a 5xx) and the customer's own
    application spending 1 of each operation's 5 calls a second: nothing can be queued before
    the outage's end, so no archive call meets it; what ended meanwhile is its backlog."""
    result, printed = _fleet(
        tmp_path, "--mode", "live", "--tps", "1000", "--hours", "0.5",
        "--outage", "0+10", "--neighbour-tps", "1",
    )  # fmt: skip
    assert KEYS | {"lag_s", "dead_lettered", "drain_s", "drain_ideal_s"} <= result.keys()
    # Live, the day sets the pace: no ratio, and the table says so instead of `= None`.
    assert result["ratio"] is None and "None" not in printed
    assert f"elapsed {result['elapsed_s']} s, the day's replay: " in printed
    assert f"no ratio to the ideal ({result['ideal_s']} s)" in printed
    assert result["archived"] == result["sessions"] == 12
    lag = result["lag_s"]
    assert isinstance(lag, dict) and 0 < lag["p50"] <= lag["p95"] <= lag["max"]
    commit = result["commit_latency_s"]
    assert isinstance(commit, dict) and 0 < commit["p50"] <= commit["p95"] <= commit["max"]
    assert f"commit latency (simulated s) p50 {commit['p50']}, p95 {commit['p95']}" in printed
    assert result["dead_lettered"] == 0 and "dead-lettered sessions 0" in printed
    # The backlog: sessions that ended before the outage's end. The archiver's calls a
    # simulated second are its budget of 4, which the neighbour's 1 leaves it.
    backlog, drained, ideal = (result[k] for k in ("backlog_sessions", "drain_s", "drain_ideal_s"))
    assert isinstance(backlog, int) and backlog > 0
    assert isinstance(ideal, float) and isinstance(drained, float) and 0 < ideal <= drained
    assert (
        f"drain after the outage 0+10 {drained} s / ideal {ideal} s ({backlog} sessions" in printed
    )


def test_a_backlog_spread_over_places_reports_each_place_and_the_conflicts(
    tmp_path: Path,
) -> None:
    result, printed = _fleet(
        tmp_path, "--tps", "200", "--regions", "us-east-1,eu-west-1", "--accounts", "2"
    )
    assert result.keys() >= KEYS | {"places", "commit_conflicts"}
    places = result["places"]
    assert isinstance(places, dict) and len(places) == 4
    assert sum(p["sessions_archived"] for p in places.values()) == result["archived"] == 12
    # The whole takes the slowest place's time, against the slowest place's ideal.
    assert result["ideal_s"] == max(p["ideal_s"] for p in places.values())
    assert result["elapsed_s"] == round(max(p["elapsed_s"] for p in places.values()), 1)
    calls, minimum = result["calls"], result["minimum_calls"]
    assert isinstance(calls, dict) and isinstance(minimum, dict)
    for operation in ("ListParticipantEvents", "GetParticipant", "GetStageSession"):
        assert calls[operation] == minimum[operation], operation
    assert calls["ListStages"] >= 4  # each place's discovery lists its own stages
    assert f"commits redone (conflicts) {result['commit_conflicts']}" in printed
    for name in places:
        assert f" {name} " in printed


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--outage", "0+10"], "argument --outage: only with --mode live"),
        (["--neighbour-tps", "1"], "argument --neighbour-tps: only with --mode live"),
        (["--mode", "live", "--outage", "10"], "argument --outage: must be START+DURATION"),
        (["--mode", "live", "--neighbour-tps", "5"], "argument --neighbour-tps: must be less"),
    ],
)
def test_outages_and_neighbours_are_live_and_checked(args: list[str], said: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "fleet", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and said in done.stderr, done.stderr


def test_places_spread_a_backlog_only(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "fleet", "--mode", "live", "--regions", "us-east-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "argument --regions: spreads a backlog only (--mode backlog)" in done.stderr
