"""The embedded pipeline and its archive worker processes, when something fails: whatever had
started is stopped, no worker process outlives its block, and no temporary folder is left."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from local.account import StandInAccount
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.scenario import build_scenario


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder of this test alone (what the pipeline and workers make go there)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))  # the worker processes' too
    return folder


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_left_with_an_exception_are_ended_at_once_with_their_folder(temp: Path) -> None:
    with EmbeddedPipeline(build_scenario(), Options(tps=200.0)) as pipeline:
        [tables] = [p.name for p in temp.iterdir()]
        assert tables.startswith("ivs-archive-tables-")
        pids: list[int] = []
        with pytest.raises(RuntimeError, match="the run failed"), pipeline.worker_processes(2) as w:
            pids = w.pids
            assert len(pids) == 2 and all(map(_alive, pids))
            raise RuntimeError("the run failed")
        assert not any(map(_alive, pids))
        assert [p.name for p in temp.iterdir() if p.name.startswith("ivs-archive-workers-")] == []
    assert list(temp.iterdir()) == []


def test_workers_stopped_normally_report_and_leave_nothing(temp: Path) -> None:
    with EmbeddedPipeline(build_scenario(sessions=2), Options(tps=200.0)) as pipeline:
        with pipeline.worker_processes(2) as workers:
            pipeline.discover()
            while pipeline.account.queue_depth():
                time.sleep(0.1)
            pids = workers.pids
        assert workers.invocations >= 1 and workers.failures == []
        assert not any(map(_alive, pids))
    assert list(temp.iterdir()) == []


def test_a_pipeline_that_fails_to_start_stops_what_had_started(
    temp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: StandInAccount) -> None:
        raise RuntimeError("no bucket today")

    monkeypatch.setattr(StandInAccount, "create_resources", fail)
    pipeline = EmbeddedPipeline(build_scenario(), Options(tps=200.0))
    with pytest.raises(RuntimeError, match="no bucket today"), pipeline:
        pass
    assert list(temp.iterdir()) == []  # its temporary tables' folder went with it
    with pytest.raises(RuntimeError, match="not running"):
        pipeline.simulator.endpoint_url  # noqa: B018  (stopped again)
