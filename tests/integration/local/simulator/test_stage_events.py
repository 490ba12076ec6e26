"""IVS Stage Update events in live replay: their shape, when they arrive, how many are lost,
how late the rest are, and that the archiver's discover handler takes them as they are."""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from archiver.eventbridge import StageUpdateEvent, parse_discover_event
from local.__main__ import main
from local.pipeline import EmbeddedPipeline, Options
from local.simulator import Simulator
from tests.helpers import ROOT
from tests.helpers.live import ARN, T0, A, C, D, Wall, at, timeline, travel
from tests.helpers.scenario import iso

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def published(sim: Simulator, wall: Wall, minutes: float) -> list[tuple[str, str, str]]:
    """(participant, event name, session) of each event due at `minutes` after T0."""
    travel(sim, wall, at(minutes))
    return [
        (e["detail"]["participant_id"], e["detail"]["event_name"], e["detail"]["session_id"])
        for e in sim.stage_events_due()
    ]


def test_events_have_the_documented_shape_and_parse_as_stage_updates(
    simulator_factory: Any,
) -> None:
    wall = Wall()
    sim = simulator_factory(timeline(), tps=0, live=True, speed=60, wall_clock=wall)
    travel(sim, wall, at(2.5))
    [event] = sim.stage_events_due()
    assert UUID.fullmatch(event.pop("id"))
    assert event == {
        "version": "0",
        "detail-type": "IVS Stage Update",
        "source": "aws.ivs",
        "account": "123456789012",
        "time": "2026-11-01T10:02:00Z",
        "region": "us-east-1",
        "resources": [ARN],
        "detail": {
            "session_id": A,
            "event_name": "Participant Published",
            "user_id": "alice",
            "participant_id": "p-a",
        },
    }
    travel(sim, wall, at(60))
    every = sim.stage_events_due()
    assert len(every) == 3
    for update in every:
        parsed = parse_discover_event(update)
        assert isinstance(parsed, StageUpdateEvent)
        assert parsed.stage_arn == ARN


def test_each_event_arrives_once_when_it_happens(simulator_factory: Any) -> None:
    """No loss and no delay: exactly the publish events whose time has passed, each once."""
    wall = Wall()
    sim = simulator_factory(timeline(), tps=0, live=True, speed=60, wall_clock=wall)
    assert published(sim, wall, 1.9) == []
    assert published(sim, wall, 2) == [("p-a", "Participant Published", A)]
    assert published(sim, wall, 2) == []
    assert published(sim, wall, 4) == [("p-b", "Participant Publish Error", A)]
    assert published(sim, wall, 30) == [("p-a", "Participant Unpublished", A)]
    assert published(sim, wall, 42) == [("p-e", "Participant Published", C)]
    assert published(sim, wall, 10_000) == []
    assert sim.stage_events.stats() == {"scheduled": 4, "lost": 0, "delivered": 4, "pending": 0}


def many_publishers(count: int = 100, spans: int = 2) -> dict[str, Any]:
    """One session from T0 with `count` participants who each publish `spans` times (start
    and stop: 4 events each at the default), event times on whole seconds."""
    everyone = []
    for i in range(count):
        times = [T0 + timedelta(seconds=60 + 7 * i + 30 * k) for k in range(2 * spans + 2)]
        names = ["JOINED", *["PUBLISH_STARTED", "PUBLISH_STOPPED"] * spans, "LEFT"]
        everyone.append(
            {
                "participantId": f"p-{i:04d}",
                "userId": f"user-{i}",
                "firstJoinTime": iso(times[0]),
                "events": [
                    {"name": n, "eventTime": iso(t)} for n, t in zip(names, times, strict=True)
                ],
            }
        )
    session = {"sessionId": A, "startTime": iso(T0), "endTime": None, "participants": everyone}
    return {"stages": [{"arn": ARN, "sessions": [session]}]}


def arrivals(
    simulator_factory: Any, seed: int, loss: float, delay_s: float, step_s: float = 5.0
) -> dict[str, tuple[datetime, datetime, str]]:
    """Step through the replay `step_s` simulated seconds at a time: for each event that
    arrives, (when it happened, the first step it was due at, its participant)."""
    wall = Wall()
    sim = simulator_factory(
        many_publishers(),
        tps=0,
        live=True,
        speed=60,
        wall_clock=wall,
        seed=seed,
        event_loss=loss,
        event_delay_s=delay_s,
    )
    seen: dict[str, tuple[datetime, datetime, str]] = {}
    moment = T0
    while moment < T0 + timedelta(hours=1):
        travel(sim, wall, moment)
        for event in sim.stage_events_due():
            happened = datetime.fromisoformat(event["time"])
            seen[event["id"]] = (happened, moment, event["detail"]["participant_id"])
        moment += timedelta(seconds=step_s)
    stats = sim.stage_events.stats()
    assert stats["scheduled"] == 400 and stats["pending"] == 0
    assert stats["delivered"] == len(seen) == 400 - stats["lost"]
    return seen


def test_events_are_lost_at_the_rate_and_late_within_the_bound_the_same_for_a_seed(
    simulator_factory: Any,
) -> None:
    seen = arrivals(simulator_factory, seed=7, loss=0.25, delay_s=120)
    lost = 1 - len(seen) / 400
    assert 0.15 < lost < 0.35  # 400 draws at 0.25: 4.6 standard deviations either side
    late = [(due - happened).total_seconds() for happened, due, _ in seen.values()]
    assert all(0 <= s <= 120 + 5 for s in late)  # never early, never beyond the bound (+ a step)
    assert min(late) < 20 and max(late) > 100  # spread over the bound
    in_arrival_order = sorted(seen.values(), key=lambda v: v[1])
    assert any(a[0] > b[0] for a, b in itertools.pairwise(in_arrival_order))  # out of order
    assert arrivals(simulator_factory, seed=7, loss=0.25, delay_s=120) == seen
    assert arrivals(simulator_factory, seed=8, loss=0.25, delay_s=120).keys() != seen.keys()


@pytest.mark.parametrize(("loss", "expected"), [(0.0, 400), (1.0, 0)])
def test_no_loss_delivers_all_and_full_loss_none(
    simulator_factory: Any, loss: float, expected: int
) -> None:
    assert len(arrivals(simulator_factory, seed=1, loss=loss, delay_s=0, step_s=60)) == expected


def test_a_session_started_while_live_gets_its_events(simulator_factory: Any) -> None:
    wall = Wall()
    sim = simulator_factory(timeline(), tps=0, live=True, speed=60, wall_clock=wall)
    sim.end_active_session(ARN, at(50))
    later = many_publishers(count=1, spans=1)["stages"][0]["sessions"][0]
    moved = {"sessionId": "st-0000000009zzz", "startTime": iso(at(55)), "endTime": None}
    for event in later["participants"][0]["events"]:
        event["eventTime"] = iso(datetime.fromisoformat(event["eventTime"]) + timedelta(hours=1))
    sim.start_session(ARN, {**later, **moved})
    assert {session for _, _, session in published(sim, wall, 50)} == {A, C}
    assert published(sim, wall, 65) == [
        ("p-0000", "Participant Published", "st-0000000009zzz"),
        ("p-0000", "Participant Unpublished", "st-0000000009zzz"),
    ]


def test_the_discover_handler_takes_the_events_as_they_are() -> None:
    """An event straight from the simulator is accepted by the discover handler, and with the
    scheduled run after it, every session ended by now is queued once (the pipeline's
    simulator swapped for a live one)."""
    wall = Wall()
    pipeline = EmbeddedPipeline(timeline(), Options(tps=200.0))
    pipeline.simulator = Simulator(timeline(), tps=200.0, live=True, speed=60, wall_clock=wall)
    with pipeline:
        travel(pipeline.simulator, wall, at(16))  # A and D have ended, B has not started
        events = pipeline.simulator.stage_events_due()
        assert [e["detail"]["session_id"] for e in events] == [A, A, A]
        result = pipeline.discover(events[0])
        assert "rejected" not in result
        queued = result["enqueued"] + pipeline.discover()["enqueued"]
    assert sorted(m["sessionId"] for m in queued) == sorted([A, D])


# --- the command ---------------------------------------------------------------------------
def simulate(path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "local", "simulate", "--scenario", str(path), *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--live", "--speed", "0"], "argument --speed: must be a number greater than 0"),
        (["--live", "--speed", "-60"], "argument --speed: must be a number greater than 0"),
        (["--live", "--event-loss", "2"], "argument --event-loss: must be a number from 0 to 1"),
        (
            ["--live", "--event-delay-s", "-5"],
            "argument --event-delay-s: must be a number of at least 0",
        ),
        (["--speed", "60", "--event-loss", "0.1"], "--speed, --event-loss: only with --live"),
    ],
)
def test_simulate_refuses_bad_live_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], words: str
) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(timeline()))
    try:
        status = main(["simulate", "--scenario", str(path), *flags])
    except SystemExit as exit_:  # refused while parsing
        status = int(exit_.code or 0)
    assert status == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and words in err, err


def test_simulate_live_prints_stage_update_events_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(timeline()))
    # 10^6 x: the whole timeline (an hour) replays in a few milliseconds.
    process = simulate(path, "--live", "--speed", "1000000", "--tps", "50")
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        assert lines.get(timeout=30).startswith("http://127.0.0.1:")
        events = [json.loads(lines.get(timeout=30)) for _ in range(4)]
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0
    assert process.stderr is not None
    assert "live replay from 2026-11-01T09:59:00.000Z at 1000000.0x" in process.stderr.read()
    assert sorted(e["detail"]["event_name"] for e in events) == [
        "Participant Publish Error",
        "Participant Published",
        "Participant Published",
        "Participant Unpublished",
    ]
    assert all(isinstance(parse_discover_event(e), StageUpdateEvent) for e in events)
