"""`python -m bench commits` times commits into the local Iceberg tables as snapshots pile up.
(The figures are the benchmark's to print, not a test's to check.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main


def test_commits_reports_each_snapshot_count_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "commits.json"
    assert main(["commits", "--at", "0,3", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())["commit_s"]
    assert set(figures) == {"0", "3"}
    assert all(seconds > 0 for seconds in figures.values())


def test_bad_snapshot_counts_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["commits", "--at", "many"])
    assert exit_.value.code == 2
    assert "--at" in capsys.readouterr().err
