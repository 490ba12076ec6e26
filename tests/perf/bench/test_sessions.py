"""`python -m bench` runs end to end on a small session: the real handler in a worker process
and the baseline make the minimum calls and archive every row. (Its numbers are not checked
here: they are the benchmark's to print, not a test's to time.)"""

from __future__ import annotations

import json
from pathlib import Path

from bench.__main__ import main


def test_a_small_benchmark_archives_every_row_with_the_minimum_calls(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    argv = ["--sizes", "120", "--details", "on", "--participant-order", "firstJoinTime"]
    assert main([*argv, "--events", "3", "--baseline-max", "120", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    archived, baseline = report["cases"]
    assert (archived["mode"], baseline["mode"]) == ("archiver", "baseline")
    for case in (archived, baseline):
        assert case["rows"] == {"participants": 120, "participant_events": 360}
        assert case["calls_at_minimum"]
    assert archived["calls"]["ListParticipants"] == 2
    assert archived["invocations"] == 1
    assert archived["floor_s"] < archived["ideal_s"] * 1.1
