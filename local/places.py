"""A run over several places, as deployed with places (docs/deployment.md): one home (the
stand-in account's bucket and one local catalog, `OUT/catalog.db`) and a collector per place
(account, region) of the scenario's stage ARNs, each with its own simulator at its own quota,
its own ledger and queues, and its own discovery and archive workers (local/collector.py, a
process of its own), all committing into the one catalog at once.

A place that fails (its collector dies, its IVS never answers) holds up no other: each
collector ends on its own, and the account (local/report.py) says what became of every
session. `stats()` adds `places`: per place, its IVS calls, sessions archived and elapsed time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from archiver.catalog import sqlite_uri
from archiver.observability import powertools_environment
from local.account import Collector, StandInAccount
from local.pipeline import Options, environment, lookback_days
from local.simulator import Simulator
from local.tables import open_tables, reset

# A collector's process is given this long to end on SIGTERM before it is killed.
END_WITHIN_S = 1.0


@dataclass(frozen=True, order=True)
class Place:
    account: str
    region: str

    @property
    def name(self) -> str:
        """`<account>/<region>`: how `--stats` and the account name it."""
        return f"{self.account}/{self.region}"

    @classmethod
    def of(cls, stage_arn: str) -> Place:
        _, _, _, region, account, _ = stage_arn.split(":", 5)
        return cls(account, region)


def places_of(scenario: dict[str, Any]) -> dict[Place, dict[str, Any]]:
    """The scenario's stages by place (its part of the scenario), in the order they come."""
    parts: dict[Place, dict[str, Any]] = {}
    for stage in scenario["stages"]:
        parts.setdefault(Place.of(stage["arn"]), {"stages": []})["stages"].append(stage)
    return parts


class PlacesRun:
    """Use as a context manager; `run()`, then `mirror(out)`, `stats()` and what the account
    needs (`ledger_sessions()`, `dead_letters()`, `last_error`, `not_queued`)."""

    def __init__(self, scenario: dict[str, Any], options: Options) -> None:
        if options.tables_dir is None:
            raise ValueError("a run over several places needs the folder of its catalog")
        self.options = options
        self.parts = places_of(scenario)
        self.simulators = {
            place: Simulator(
                part,
                tps=options.tps,
                latency_ms=options.latency_ms,
                fault_rate=options.fault_rate,
                neighbour_tps=options.neighbour_tps,
                seed=options.seed,
                participant_order=options.participant_order,
            )
            for place, part in self.parts.items()
        }
        self.account = StandInAccount()
        self.collectors: dict[Place, Collector] = {}
        self.reports: dict[Place, dict[str, Any]] = {}
        self.invocation_errors = 0
        # Where each place's IVS answers (its simulator's address, kept if it stops).
        self.endpoints: dict[Place, str] = {}
        self._stack = ExitStack()
        self._folder: Path | None = None
        self._processes: dict[Place, subprocess.Popen[bytes]] = {}

    # --- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> PlacesRun:
        self._stack = ExitStack()
        try:
            self._start(self._stack)
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self, stack: ExitStack) -> None:
        folder = Path(tempfile.mkdtemp(prefix="ivs-archive-places-"))
        self._folder = folder
        stack.callback(shutil.rmtree, folder, True)
        tables = self._tables()
        reset(tables, self.options.prefix)
        open_tables(tables, prefix=self.options.prefix)
        for place, simulator in self.simulators.items():
            simulator.start()
            stack.callback(simulator.stop)
            self.endpoints[place] = simulator.endpoint_url
        self.account.start()
        stack.callback(self.account.stop)
        stack.enter_context(environment(self.account.environment()))
        self.account.create_resources()
        for place in self.parts:
            self.collectors[place] = self.account.add_collector(f"{place.account}-{place.region}")
        stack.callback(self._end_collectors)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _tables(self) -> Path:
        assert self.options.tables_dir is not None
        return self.options.tables_dir

    def _end_collectors(self) -> None:
        """Every collector's process ended (SIGTERM, then SIGKILL): its workers go with it."""
        for process in self._processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + END_WITHIN_S
        for process in self._processes.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdin is not None:
                process.stdin.close()

    # --- running ------------------------------------------------------------------------------
    def environment_of(self, place: Place) -> dict[str, str]:
        """What a place's functions run with: the home's bucket and catalog, its simulator,
        its ledger and queues, the stand-in account's endpoint."""
        collector = self.collectors[place]
        settings = self.options.settings(
            lookback_days(self.parts[place]),
            bucket_name=self.account.bucket,
            ledger_table=collector.ledger_table,
            queue_url=collector.queue_url,
            dead_letter_queue_url=collector.dlq_url,
            iceberg_catalog=sqlite_uri(self._tables()),
        )
        env = (
            self.account.environment()
            | powertools_environment(settings.name)  # as the stack sets them
            | settings.to_env()
            | {
                "AWS_ENDPOINT_URL_IVS_REALTIME": self.endpoints[place],
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        if self.options.quiet:
            env |= {"POWERTOOLS_METRICS_DISABLED": "true"}
        return env

    def run(self) -> None:
        """Every place's collector at once, until each has emptied its queue (or died)."""
        assert self._folder is not None
        options = self.options
        for index, (place, part) in enumerate(self.parts.items()):
            scenario = self._folder / f"scenario-{index}.json"
            scenario.write_text(json.dumps(part), encoding="utf-8")
            config = {
                "env": self.environment_of(place),
                "account": place.account,
                "region": place.region,
                "scenario": str(scenario),
                "lookback_days": lookback_days(part),
                "workers": options.archive_concurrency,
                "invocation_ms": options.invocation_ms,
                "batch_size": options.batch_size,
                "window_s": options.batch_window_s,
                "log": str(options.worker_log) if options.worker_log else None,
                "report": str(self._folder / f"report-{index}.json"),
            }
            path = self._folder / f"collector-{index}.json"
            path.write_text(json.dumps(config), encoding="utf-8")
            with open(options.worker_log or os.devnull, "a", encoding="utf-8") as output:
                self._processes[place] = subprocess.Popen(
                    [sys.executable, "-m", "local.collector", str(path)],
                    stdin=subprocess.PIPE,  # closed when this process goes: the collector ends
                    stdout=output,
                    stderr=output if options.worker_log else subprocess.DEVNULL,
                    start_new_session=True,  # a terminal's Ctrl-C reaches only the run
                )
        for place, process in self._processes.items():
            process.wait()
            index = list(self.parts).index(place)
            written = self._folder / f"report-{index}.json"
            if written.is_file():
                self.reports[place] = json.loads(written.read_text(encoding="utf-8"))
            else:  # it died: what it did is in its ledger; say why nothing more is known
                self.reports[place] = {
                    "elapsed_s": 0.0,
                    "invocations": 0,
                    "failures": [],
                    "not_queued": f"the collector of {place.name} ended with status "
                    f"{process.returncode}",
                    "commit_conflicts": 0,
                }
        self.invocation_errors = sum(len(r["failures"]) for r in self.reports.values())

    # --- what a run left ----------------------------------------------------------------------
    def ledger_tables(self) -> list[str]:
        return [collector.ledger_table for collector in self.collectors.values()]

    def api_calls(self) -> int:
        """IVS calls every place's simulator answered so far."""
        return sum(sum(s.stats()["api_calls"].values()) for s in self.simulators.values())

    def ledger_sessions(self) -> list[dict[str, Any]]:
        return [
            item
            for collector in self.collectors.values()
            for item in self.account.ledger_sessions(collector.ledger_table)
        ]

    def dead_letters(self) -> list[str]:
        return [
            body
            for collector in self.collectors.values()
            for body in self.account.dead_letters(collector.dlq_url)
        ]

    @property
    def last_error(self) -> dict[str, str]:
        """Message body -> why its last invocation failed, over every place."""
        return {
            body: failure["errorMessage"]
            for report in self.reports.values()
            for failure in report["failures"]
            for body in failure["bodies"]
        }

    @property
    def not_queued(self) -> str:
        return "; ".join(r["not_queued"] for r in self.reports.values() if r["not_queued"])

    def mirror(self, out: Path) -> list[str]:
        return self.account.mirror(out, self.options.prefix)

    def stats(self) -> dict[str, Any]:
        """The run's numbers, as `local run --stats` writes them, with `places`."""
        places: dict[str, Any] = {}
        calls: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        for place, simulator in self.simulators.items():
            simulated = simulator.stats()
            calls.update(simulated["api_calls"])
            totals.update(throttled=simulated["throttled"], faults=simulated["faults_injected"])
            items = self.account.ledger_sessions(self.collectors[place].ledger_table)
            archived = [s for s in items if s["status"] == "ARCHIVED"]
            totals.update(
                sessions=len(archived),
                participants=sum(int(s.get("participantCount", 0)) for s in archived),
                events=sum(int(s.get("eventCount", 0)) for s in archived),
            )
            places[place.name] = {
                "api_calls": {op: n for op, n in simulated["api_calls"].items() if n},
                "sessions_archived": len(archived),
                "elapsed_s": self.reports.get(place, {}).get("elapsed_s", 0.0),
            }
            totals.update(conflicts=self.reports.get(place, {}).get("commit_conflicts", 0))
        return {
            "api_calls": dict(calls),
            "throttled": totals["throttled"],
            "faults_injected": totals["faults"],
            "sessions_archived": totals["sessions"],
            "participants": totals["participants"],
            "events": totals["events"],
            # The places archive at once: the run's archiving takes its slowest place's time.
            "elapsed_s": max((p["elapsed_s"] for p in places.values()), default=0.0),
            # Commits redone because another writer (another place's) committed first.
            "commit_conflicts": totals["conflicts"],
            "places": places,
        }
