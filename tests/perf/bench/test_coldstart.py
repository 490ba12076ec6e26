"""`python -m bench coldstart` measures every case in fresh processes and writes its figures.
(The figures themselves are the benchmark's to print, not a test's to check.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.coldstart import BASELINE, CASES


def test_coldstart_runs_through_bench_main(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "coldstart.json"
    assert main(["coldstart", "--runs", "1", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())["cases"]
    assert set(figures) == set(CASES)
    assert figures[BASELINE]["cpu_ratio"] == figures[BASELINE]["wall_ratio"] == 1.0
    assert all(f["wall_s"] > 0 and f["cpu_s"] > 0 for f in figures.values())
    printed = capsys.readouterr().out
    assert "goal: each handler at most 1.5x the baseline" in printed


def test_a_case_that_fails_to_import_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import coldstart

    monkeypatch.setattr(coldstart, "CASES", {BASELINE: "import no_such_module_here"})
    with pytest.raises(RuntimeError, match="no_such_module_here"):
        coldstart.main(["--runs", "1"])
