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


def test_from_source_compiles_every_module_and_takes_longer(tmp_path: Path) -> None:
    """Without byte code every import compiles its module: the handler takes longer."""
    from bench import coldstart

    cached = coldstart.report(coldstart.measure(1))
    compiled = coldstart.report(coldstart.measure(1, from_source=True))
    handler = "archive handler"
    assert compiled[handler]["cpu_s"] > 1.5 * cached[handler]["cpu_s"]


def test_split_names_where_the_import_time_goes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coldstart", "--split", "archive handler", "--runs", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    packages = {line.split()[0] for line in printed[1:]}
    assert {"archiver", "pydantic", "aws_lambda_powertools", "botocore", "pyarrow"} <= packages
