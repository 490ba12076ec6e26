"""`ivs-archive smoke` reads the Glue optimizers of every query table (issue 18): a missing or
disabled optimizer, or a failed last run (with its error and the last success), fails smoke; no
run yet, a run in progress after a success, and a successful last run pass. moto implements no
optimizer call: tests/helpers/glue_optimizers.py answers the two smoke reads, inside moto."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from archiver import clock
from archiver.schema import TABLES
from console.optimizers import OPTIMIZER_TYPES
from local.pipeline import EmbeddedPipeline, Options
from tests.helpers.console import Capture, Stack, deploy, run
from tests.helpers.glue_optimizers import OPTIMIZERS, FakeOptimizer
from tests.helpers.glue_optimizers import run as optimizer_run
from tests.helpers.scenario import build_scenario

NOW = datetime.now(UTC)
ERROR = "Compaction failed:\n  java.lang.IllegalStateException: unsupported type map<string,string>"


@pytest.fixture(autouse=True)
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """Smoke reads the time when it runs: at NOW, whenever the test runs (ages are exact)."""
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def stack() -> Iterator[Stack]:
    """Nothing archived: smoke reads the stack's resources, not the data."""
    with EmbeddedPipeline(build_scenario(stages=1, sessions=1), Options(tps=100)) as pipeline:
        yield deploy(pipeline)


def optimizer(stack: Stack, table: str, kind: str) -> FakeOptimizer:
    found = [
        o for (_, db, t, k), o in OPTIMIZERS.items() if (db, t, k) == (stack.database, table, kind)
    ]
    assert len(found) == 1
    return found[0]


def succeeded(hours_ago: float) -> dict[str, Any]:
    start = NOW - timedelta(hours=hours_ago)
    return optimizer_run("completed", start, start + timedelta(minutes=3))


def failed(hours_ago: float, error: str = ERROR) -> dict[str, Any]:
    start = NOW - timedelta(hours=hours_ago)
    return optimizer_run("failed", start, start + timedelta(minutes=1), error)


def smoke(stack: Stack, capsys: Capture) -> tuple[int, dict[str, dict[str, Any]], str]:
    """Exit status, the checks by name (--json), and the last line of the table."""
    status, out, _ = run(capsys, "smoke", *stack.args, "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    text_status, text, _ = run(capsys, "smoke", *stack.args)
    assert text_status == status
    return status, checks, text.strip().splitlines()[-1]


def optimizer_checks(checks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: c for name, c in checks.items() if " optimizer of " in name}


def test_the_console_checks_the_optimizer_types_the_stack_creates() -> None:
    from infra.tables import OPTIMIZERS as CREATED

    assert tuple(CREATED) == OPTIMIZER_TYPES


def test_a_failed_last_run_fails_smoke(stack: Stack, capsys: Capture) -> None:
    for table in TABLES:
        for kind in OPTIMIZER_TYPES:
            optimizer(stack, table, kind).add(succeeded(30))
    optimizer(stack, "participant_events", "compaction").add(succeeded(26), failed(2))
    status, checks, last = smoke(stack, capsys)
    assert status == 1
    failures = [name for name, c in checks.items() if not c["passed"]]
    assert failures == ["compaction optimizer of participant_events"]
    detail = checks["compaction optimizer of participant_events"]["detail"]
    assert detail.startswith(
        f"last run FAILED {(NOW - timedelta(hours=2, minutes=-1)):%Y-%m-%d %H:%M}"
    )
    # the error on one line, then when it last succeeded
    assert "ago): Compaction failed: java.lang.IllegalStateException: unsupported type " in detail
    assert re.search(r"; last success \S+ \S+ UTC \(1d 1h ago\)$", detail), detail
    assert last.endswith(" passed, 1 failed")


def test_healthy_optimizers_pass(stack: Stack, capsys: Capture) -> None:
    for table in TABLES:
        for kind in OPTIMIZER_TYPES:
            optimizer(stack, table, kind).add(failed(50), succeeded(3))
    status, checks, last = smoke(stack, capsys)
    assert status == 0, [c for c in checks.values() if not c["passed"]]
    found = optimizer_checks(checks)
    assert set(found) == {f"{k} optimizer of {t}" for t in TABLES for k in OPTIMIZER_TYPES}
    for check in found.values():
        assert re.fullmatch(r"last run succeeded \S+ \S+ UTC \(2h 5\dm ago\)", check["detail"])
    assert last.endswith(" passed, 0 failed")


def test_smoke_names_each_state_of_an_optimizer(stack: Stack, capsys: Capture) -> None:
    def at(table: str, kind: str) -> FakeOptimizer:
        return optimizer(stack, table, kind)

    # passes: no run yet, a successful last run, a first run in progress, a run after a success
    at("stage_sessions", "retention").add(succeeded(5))
    at("stage_sessions", "orphan_file_deletion").add(optimizer_run("in_progress", NOW))
    at("participants", "orphan_file_deletion").add(
        succeeded(24), optimizer_run("starting", NOW - timedelta(minutes=5))
    )
    # failures: missing, disabled, failed (its last success on the second page of runs), a run
    # in progress after one that failed, and a failed run whose history cannot be read
    del OPTIMIZERS[
        next(k for k in OPTIMIZERS if k[1:] == (stack.database, "participants", "compaction"))
    ]
    at("participants", "retention").enabled = False
    at("participant_events", "compaction").add(
        succeeded(40), *(failed(h) for h in range(14, 1, -1))
    )
    at("participant_events", "retention").add(
        failed(30, "AccessDenied on s3://bucket/iceberg/"), optimizer_run("in_progress", NOW)
    )
    at("participant_events", "orphan_file_deletion").add(failed(1)).runs_denied = True

    status, checks, last = smoke(stack, capsys)
    assert status == 1
    found = {name: (c["passed"], c["detail"]) for name, c in optimizer_checks(checks).items()}
    passed, detail = found.pop("compaction optimizer of stage_sessions")
    assert passed and detail.startswith("enabled, no run yet: Glue compacts a partition once")
    assert "may never compact a table with map, struct or list columns" in detail
    passed, detail = found.pop("retention optimizer of stage_sessions")
    assert passed and detail.startswith("last run succeeded ")
    passed, detail = found.pop("orphan_file_deletion optimizer of stage_sessions")
    assert passed and re.fullmatch(r"first run in progress since \S+ \S+ UTC \([^)]+ ago\)", detail)
    passed, detail = found.pop("orphan_file_deletion optimizer of participants")
    assert passed and re.fullmatch(
        r"a run in progress since \S+ \S+ UTC \(5m \d+s ago\); the run before it succeeded "
        r"\S+ \S+ UTC \(23h 5\dm ago\)",
        detail,
    )
    assert found.pop("compaction optimizer of participants") == (
        False,
        "missing: the stack creates a compaction optimizer on every table",
    )
    assert found.pop("retention optimizer of participants") == (
        False,
        "disabled: Glue does not run it (the stack creates it enabled)",
    )
    passed, detail = found.pop("compaction optimizer of participant_events")
    assert not passed and detail.startswith("last run FAILED ")
    assert re.search(r"; last success \S+ \S+ UTC \(1d 15h ago\)$", detail), detail  # page 2
    passed, detail = found.pop("retention optimizer of participant_events")
    assert not passed
    assert re.fullmatch(
        r"a run in progress since .+; the run before it FAILED \S+ \S+ UTC \(1d 5h ago\): "
        r"AccessDenied on s3://bucket/iceberg/; it never succeeded",
        detail,
    ), detail
    passed, detail = found.pop("orphan_file_deletion optimizer of participant_events")
    assert not passed and detail.startswith("last run FAILED ")
    assert detail.endswith(
        "; last success unknown: ListTableOptimizerRuns: AccessDeniedException "
        "(not authorized: glue:ListTableOptimizerRuns)"
    ), detail
    assert found == {}
    others = [n for n, c in checks.items() if not c["passed"] and " optimizer of " not in n]
    assert others == []
    assert last.endswith(" passed, 5 failed")


def test_a_long_history_is_read_in_part(
    stack: Stack, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("console.optimizers.RUNS_READ", 30)  # three pages of the fake's 10
    optimizer(stack, "stage_sessions", "compaction").add(*(failed(h) for h in range(35, 0, -1)))
    _, checks, _ = smoke(stack, capsys)
    detail = checks["compaction optimizer of stage_sessions"]["detail"]
    assert detail.endswith("; no success among the first 30 runs Glue listed"), detail
