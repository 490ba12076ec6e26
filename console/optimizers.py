"""The Glue table optimizers of the query tables, as `ivs-archive smoke` reads them: each table has
one optimizer of each type (infra/tables.py creates them), enabled, and its last run did not fail.

Glue says how an optimizer's last run went (`GetTableOptimizer`, its `lastRun`); when that run
failed, or one is still going, the runs before it (`ListTableOptimizerRuns`) say when it last
succeeded. No run yet is not a failure: retention and orphan-file deletion first run within a day
of a deploy, and compaction only once a partition holds enough small files (and perhaps never on
a table with map, struct or list columns: docs/tables.md). Nothing the archive returns depends on
compaction; retention is what removes an erased user's rows from old snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from console.errors import one_line
from console.output import when
from shared.render import duration

# The optimizer types the stack creates on every table (infra/tables.py OPTIMIZERS; a test keeps
# the two equal: the console does not import the CDK code).
OPTIMIZER_TYPES = ("compaction", "retention", "orphan_file_deletion")
# Runs of one optimizer looked through for its last success, at most (Glue keeps its history and
# documents neither its order nor its page size).
RUNS_READ = 500
FINISHED = ("completed", "failed")
# Why an enabled optimizer may not have run yet.
DAILY = "Glue runs it every 24 hours: no run is normal in the first day after a deploy"
NOT_YET = {
    "compaction": "Glue compacts a partition once it holds more than 100 files under 75% of the "
    "target size, and may never compact a table with map, struct or list columns; reads are "
    "correct without it (docs/tables.md)",
    "retention": DAILY,
    "orphan_file_deletion": DAILY,
}


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    detail: str


@dataclass
class Runs:
    listed: list[dict[str, Any]] = field(default_factory=list)
    more: bool = False  # Glue holds more than those listed


@dataclass(frozen=True)
class Optimizer:
    """One table's optimizer of one type, in one Glue Data Catalog."""

    glue: Any  # a boto3 Glue client
    catalog_id: str  # the account of the catalog
    database: str
    table: str
    kind: str  # one of OPTIMIZER_TYPES

    def verdict(self, now: datetime) -> Verdict:
        """Missing, disabled or a failed last run: unhealthy. Raises the ClientError of a
        GetTableOptimizer call that fails otherwise (no permission, say)."""
        try:
            optimizer = self.glue.get_table_optimizer(**self._names())["TableOptimizer"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "EntityNotFoundException":
                raise
            return Verdict(
                False, f"missing: the stack creates a {self.kind} optimizer on every table"
            )
        if not optimizer.get("configuration", {}).get("enabled", False):
            return Verdict(False, "disabled: Glue does not run it (the stack creates it enabled)")
        last = optimizer.get("lastRun") or {}
        state = last.get("eventType")
        if state is None:
            return Verdict(True, f"enabled, no run yet: {NOT_YET[self.kind]}")
        if state in FINISHED:
            return self._finished(last, now)
        # starting or in progress: how did the run before it end?
        since = f"since {_ago(last.get('startTimestamp'), now)}"
        try:
            runs = self._runs()
        except (ClientError, BotoCoreError) as error:
            return Verdict(False, f"a run in progress {since}; those before: {one_line(error)}")
        before = _latest(runs.listed, FINISHED)
        if before is None:
            return Verdict(True, f"first run in progress {since}")
        return self._finished(before, now, running=f"a run in progress {since}", runs=runs)

    def _finished(
        self, run: dict[str, Any], now: datetime, running: str = "", runs: Runs | None = None
    ) -> Verdict:
        """The verdict of a finished run (the last one, or the one before a run `running`)."""
        ended = _ago(run.get("endTimestamp") or run.get("startTimestamp"), now)
        head = f"{running}; the run before it" if running else "last run"
        if run["eventType"] == "completed":
            return Verdict(True, f"{head} succeeded {ended}")
        error = " ".join(str(run.get("error") or "no error given").split())
        return Verdict(False, f"{head} FAILED {ended}: {error}; {self._last_success(now, runs)}")

    def _last_success(self, now: datetime, runs: Runs | None) -> str:
        try:
            runs = self._runs() if runs is None else runs
        except (ClientError, BotoCoreError) as error:
            return f"last success unknown: {one_line(error)}"
        success = _latest(runs.listed, ("completed",))
        among = f" among the first {len(runs.listed)} runs Glue listed" if runs.more else ""
        if success is None:
            return f"no success{among}" if among else "it never succeeded"
        return f"last success {_ago(success.get('endTimestamp'), now)}{among}"

    def _runs(self) -> Runs:
        """Its runs, up to RUNS_READ (pages of Glue's size)."""
        runs = Runs()
        token: str | None = None
        while len(runs.listed) < RUNS_READ:
            page = self.glue.list_table_optimizer_runs(
                **self._names(), **({"NextToken": token} if token else {})
            )
            runs.listed += page.get("TableOptimizerRuns", [])
            token = page.get("NextToken")
            if not token:
                return runs
        runs.more = bool(token)
        return runs

    def _names(self) -> dict[str, str]:
        return {
            "CatalogId": self.catalog_id,
            "DatabaseName": self.database,
            "TableName": self.table,
            "Type": self.kind,
        }


def _latest(runs: list[dict[str, Any]], states: tuple[str, ...]) -> dict[str, Any] | None:
    """The run that started last among those in `states`."""
    chosen = [r for r in runs if r.get("eventType") in states and r.get("startTimestamp")]
    return max(chosen, key=lambda r: r["startTimestamp"], default=None)


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "(time not given)"
    return f"{when(moment)} ({duration((now - moment).total_seconds())} ago)"
