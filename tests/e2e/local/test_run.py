"""`python -m local run` as a user runs it: the account adds up to what `generate` printed, a
failing session is retried and dead-lettered while the rest is written, old scenarios and empty
stages work, progress shows without a terminal, and nothing but the account reaches stdout."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver.observability import metrics
from tests.helpers import ROOT
from tests.helpers.cli import local, on_terminal
from tests.helpers.scenario import build_scenario, iso

PROGRESS = re.compile(r"^\[ *(\d+) s\] archiving: [\d,]+/[\d,]+ events, (\d+)/(\d+) sessions, ")


def _write(path: Path, scenario: dict[str, Any]) -> Path:
    path.write_text(json.dumps(scenario), encoding="utf-8")
    return path


def _parquet(out: Path, table: str) -> list[Path]:
    return sorted((out / table).rglob("*.parquet"))


def _counts(line: str) -> dict[str, int]:
    """'sessions: 5 in the scenario: 3 archived, 1 still active' -> {'total': 5, ...}."""
    total, parts = re.fullmatch(r"\w+: ([\d,]+) in the scenario: (.*)", line).groups()  # type: ignore[union-attr]
    counts = {"total": int(total.replace(",", ""))}
    for part in parts.split(", "):
        number, kind = part.split(" ", 1)
        counts[kind.removeprefix("in sessions ")] = int(number.replace(",", ""))
    return counts


def _section(stdout: str, title: str) -> list[str]:
    """The lines under `  <title>:` in the account (sessions, one a line, and how many more)."""
    lines = stdout.splitlines()
    start = lines.index(f"  {title}:") + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("    ")), None)
    return [x.strip() for x in lines[start:end] if not x.strip().startswith("and ")]


def _line(stdout: str, prefix: str) -> str:
    [line] = [x for x in stdout.splitlines() if x.startswith(prefix)]
    return line


def test_metrics_keep_and_print_nothing_while_disabled(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """Powertools keeps a disabled Metrics' values and prints them as EMF once one metric holds
    100; ours keeps none. Enabled, the 100th value is still flushed as Powertools does."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for _ in range(150):
        metrics.add_metric(name="EventsArchived", unit="Count", value=1)
    metrics.flush_metrics()
    assert capfd.readouterr().out == ""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    for _ in range(100):
        metrics.add_metric(name="EventsArchived", unit="Count", value=1)
    [emf] = capfd.readouterr().out.splitlines()
    assert json.loads(emf)["EventsArchived"] == [1.0] * 100


def test_the_account_adds_up_to_what_generate_wrote_and_nothing_else_is_printed(
    tmp_path: Path,
) -> None:
    # 102 ended sessions: over 100 archive invocations, where a disabled Metrics used to print.
    path = tmp_path / "s.json"
    generated = local(
        "generate", "--stages", 2, "--sessions", 51, "--participants", 1, "--seed", 3,
        "--out", path,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    wrote = re.fullmatch(
        r"wrote .*: 2 stages, (\d+) sessions \((\d+) ended, (\d+) still active\), "
        r"([\d,]+) participants, ([\d,]+) events\n",
        generated.stderr,
    )
    assert wrote, generated.stderr
    sessions, ended, active, participants, events = (
        int(n.replace(",", "")) for n in wrote.groups()
    )
    assert ended > 100 and active >= 1
    scenario = json.loads(path.read_text())
    active_ids = [
        s["sessionId"] for st in scenario["stages"] for s in st["sessions"] if not s["endTime"]
    ]

    result = local("run", "--scenario", path, "--out", tmp_path / "out", "--tps", 500)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert not [x for x in lines if x.lstrip().startswith("{") or "_aws" in x], lines
    assert _counts(_line(result.stdout, "sessions:")) == {
        "total": sessions,
        "archived": ended,
        "still active": active,
    }
    by_participants = _counts(_line(result.stdout, "participants:"))
    assert by_participants["total"] == participants
    assert by_participants["archived"] + by_participants["still active"] == participants
    by_events = _counts(_line(result.stdout, "events:"))
    assert by_events["total"] == events
    assert by_events["archived"] + by_events["still active"] == events
    assert "  next: " not in result.stdout  # nothing dead-lettered: nothing to do
    shown = _section(result.stdout, "still active (archived once they end)")
    assert [x.split()[0] for x in shown] == active_ids
    assert len(_parquet(tmp_path / "out", "stage_sessions")) == ended
    assert all(PROGRESS.match(x) for x in result.stderr.splitlines()), result.stderr


def _run_in(temp: Path, *args: object) -> subprocess.CompletedProcess[str]:
    """`python -m local run ARGS` with a temporary folder of its own (`temp`, made here)."""
    temp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"TMPDIR": str(temp)}
    return subprocess.run(
        [sys.executable, "-m", "local", "run", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# At --fault-rate 0.5 how many sessions are dead-lettered depends, at some seeds, on the order of
# the calls in a worker's threads (botocore's retry quota, one per worker, runs out; which call
# meets it empty is a matter of timing): with seed 1 this test archived all 6 now and then.
# Seed 3 dead-lettered 4 or 5 of the 6 in each of 11 runs on two busy cores, never none.
DEAD_LETTER_SEED = 3


def test_failing_calls_are_tried_again_until_every_session_is_archived(tmp_path: Path) -> None:
    """Half of all IVS calls fail: each call keeps its own retries, and a session that still
    fails is tried again later (archiver.retry): every session archived once, exit 0, and the
    failures in the functions' own output only."""
    path = _write(tmp_path / "s.json", build_scenario(stages=2, sessions=3, participants=12))
    out, stats, logs = tmp_path / "out", tmp_path / "stats.json", tmp_path / "lambda.log"
    result = _run_in(
        tmp_path / "tmp", "--scenario", path, "--out", out, "--tps", 100, "--fault-rate", 0.5,
        "--seed", DEAD_LETTER_SEED, "--stats", stats, "--lambda-logs", logs,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    counts = _counts(_line(result.stdout, "sessions:"))
    assert counts == {"total": 6, "archived": 6}
    assert "  next: " not in result.stdout
    data = json.loads(stats.read_text())
    assert data["sessions_archived"] == 6 and data["faults_injected"] > 50
    assert len(_parquet(out, "stage_sessions")) == 6
    records = [json.loads(x) for x in logs.read_text().splitlines()]
    assert any("_aws" in r for r in records)  # asked for, the EMF metrics are there
    assert not [x for x in result.stdout.splitlines() if x.startswith("{")]


def test_the_account_of_a_dead_lettered_session_says_what_to_do(tmp_path: Path) -> None:
    """What the run prints for a session that can never succeed by itself (a message SQS moved
    after its worker crashed on it 5 times, say): its error, and what to do next."""
    import io

    from local.report import fates, summary

    scenario = build_scenario(stages=1, sessions=2, participants=2)
    stage = scenario["stages"][0]
    ended = [s for s in stage["sessions"] if s.get("endTime")]
    done, dead = ended[0], ended[1]
    body = json.dumps({"stageArn": stage["arn"], "sessionId": dead["sessionId"]})
    ledger = [
        {"pk": f"STAGE#{stage['arn']}", "sk": f"SESSION#{done['sessionId']}", "status": "ARCHIVED"},
        {"pk": f"STAGE#{stage['arn']}", "sk": f"SESSION#{dead['sessionId']}", "status": "FAILED"},
    ]
    found = fates(scenario, ledger, [body], {body: "GetParticipant: InternalServerException (x)"})
    stats = {"participants": 2, "events": 10, "api_calls": {}, "throttled": 0}
    printed = io.StringIO()
    summary(found, stats | {"faults_injected": 3, "elapsed_s": 1.0}, tmp_path, 4, printed)
    lines = printed.getvalue().splitlines()
    assert "  dead-lettered (they cannot succeed by themselves):" in lines
    assert any(dead["sessionId"] in x and "InternalServerException" in x for x in lines)
    assert (
        "  next: deployed, `ivs-archive redrive` would requeue them, each to resume where it "
        "stopped;" in lines
    )


def test_the_same_seed_injects_the_same_faults_and_a_run_repeats(tmp_path: Path) -> None:
    """Faults are a function of the seed and the call (its parameters, a nextToken taken for the
    page it asks for, and how many times the same call was made): at a fault rate where every
    session is archived, two runs with the same --seed make the same calls and meet the same
    faults, whatever the order of their threads, pages after the first included (250 events a
    participant: three pages of ListParticipantEvents, signed by each run's own simulator)."""
    path = _write(tmp_path / "s.json", build_scenario(sessions=2, participants=4, events=250))

    def run(name: str) -> dict[str, Any]:
        stats = tmp_path / f"{name}.json"
        result = local(
            "run", "--scenario", path, "--out", tmp_path / name, "--tps", 200,
            "--fault-rate", 0.2, "--seed", 5, "--stats", stats,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        numbers: dict[str, Any] = json.loads(stats.read_text())
        return {k: numbers[k] for k in ("api_calls", "faults_injected", "sessions_archived")}

    first = run("first")
    assert first["faults_injected"] > 0 and first["api_calls"]["ListParticipantEvents"] == 24
    assert run("again") == first


def test_a_stage_without_sessions_and_a_session_ten_years_old_are_archived(
    tmp_path: Path,
) -> None:
    scenario = build_scenario(stages=2, sessions=1, participants=2)
    old = datetime.now(UTC) - timedelta(days=3650 + 400)
    session = scenario["stages"][1]["sessions"][0]
    session["startTime"], session["endTime"] = iso(old), iso(old + timedelta(minutes=50))
    for person in session["participants"]:
        person["firstJoinTime"] = iso(old + timedelta(seconds=1))
        for n, event in enumerate(person["events"]):
            event["eventTime"] = iso(old + timedelta(seconds=1 + n))
    scenario["stages"].append({"arn": scenario["stages"][0]["arn"][:-4] + "none", "name": "x"})
    path = _write(tmp_path / "s.json", scenario)
    out = tmp_path / "out"
    result = local("run", "--scenario", path, "--out", out, "--tps", 200)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _counts(_line(result.stdout, "sessions:")) == {"total": 2, "archived": 2}
    days = sorted(
        p.relative_to(out / "stage_sessions").parts[0] for p in _parquet(out, "stage_sessions")
    )
    assert days == sorted([f"dt={old:%Y-%m-%d}", "dt=2026-11-01"])


def test_without_a_terminal_a_progress_line_comes_at_least_every_10_s(tmp_path: Path) -> None:
    # 10 participants' events at 0.8 calls a second: about 13 s of archiving.
    path = _write(tmp_path / "s.json", build_scenario(participants=10))
    result = local("run", "--scenario", path, "--out", tmp_path / "out", "--tps", 1)
    assert result.returncode == 0, result.stderr
    stamps = [int(m.group(1)) for m in map(PROGRESS.match, result.stderr.splitlines()) if m]
    assert len(stamps) == len(result.stderr.splitlines()) >= 3, result.stderr
    assert stamps[0] <= 1 and stamps[-1] >= 10, stamps
    assert all(later - earlier <= 11 for earlier, later in itertools.pairwise(stamps))
    assert PROGRESS.match(result.stderr.splitlines()[-1]).groups()[1:] == ("1", "1")  # type: ignore[union-attr]


def test_on_a_terminal_the_progress_is_a_bar_redrawn_in_place(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.json", build_scenario(participants=3))
    status, shown, stdout = on_terminal(
        "run", "--scenario", path, "--out", tmp_path / "out", "--tps", 200, stream="stderr"
    )
    assert status == 0, shown
    assert "archiving" in shown and "1/1 sessions" in shown
    assert "\x1b[" in shown or "\r" in shown  # redrawn, not line after line
    assert not PROGRESS.search(shown)
    assert _counts(_line(stdout, "sessions:")) == {"total": 1, "archived": 1}
