"""Archive workers in processes of their own (local/worker.py), beside an embedded pipeline:
what `python -m local run` and `python -m bench fleet` archive with, so that the archiver does
not share a Python interpreter (and its lock) with the stand-ins it talks to, as in AWS.

A context manager: the workers take the queue from the start, and `stop()` (or leaving the
block) ends them once their invocations are over; what they reported (invocations, billed
seconds, failed invocations) is then on the object, and handed to `report`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from local import worker
from local.simulator.clock import SimClock

WARM_TIMEOUT_S = 60.0


class WorkerProcesses:
    def __init__(
        self,
        count: int,
        *,
        invocation_ms: int,
        batch_size: int,
        window_s: float = 0.0,
        log: Path | None = None,
        clock: SimClock | None = None,
        report: Callable[[int, list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.count = count
        self.invocation_ms = invocation_ms
        self.batch_size = batch_size
        self.window_s = window_s
        self.log = log
        self.clock = clock
        self._report_to = report
        self.invocations = 0
        self.busy_s = 0.0
        self.failures: list[dict[str, Any]] = []
        self._folder = Path(tempfile.mkdtemp(prefix="ivs-archive-workers-"))
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> WorkerProcesses:
        env = dict(os.environ) | {
            worker.INVOCATION_MS: str(self.invocation_ms),
            worker.WINDOW_S: str(self.window_s),
            worker.BATCH_SIZE: str(self.batch_size),
        }
        if self.clock is not None:
            origin = self.clock.origin_on(time.time)  # the wall clock both processes read
            env[worker.CLOCK] = f"{self.clock.start.isoformat()},{self.clock.speed},{origin}"
        for n in range(self.count):
            arguments = [str(self._stop), str(self._report(n)), str(self._ready(n))]
            # What a container prints (its logs, its metrics) goes to the log or nowhere.
            with open(self.log or os.devnull, "a", encoding="utf-8") as output:
                self._processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "local.worker", *arguments], env=env, stdout=output
                    )
                )
        self._wait_until_warm()
        return self

    def _wait_until_warm(self) -> None:
        """Until every worker has loaded its handler (warm containers, as a busy account's):
        an interpreter's start is not the archiver's time."""
        deadline = time.monotonic() + WARM_TIMEOUT_S
        for n, process in enumerate(self._processes):
            while not self._ready(n).exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"archive worker {n} did not start")
                time.sleep(0.05)

    def _ready(self, n: int) -> Path:
        return self._folder / f"worker-{n}.ready"

    @property
    def _stop(self) -> Path:
        return self._folder / "stop"

    def _report(self, n: int) -> Path:
        return self._folder / f"worker-{n}.jsonl"

    def stop(self) -> None:
        """End the workers (each finishes its invocation first) and read their reports."""
        if not self._processes:
            return
        self._stop.touch()
        for process in self._processes:
            process.wait()
        self._processes = []
        for n in range(self.count):
            for line in self._report(n).read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                if "errorMessage" in entry:
                    self.failures.append(entry)
                else:
                    self.invocations += entry["invocations"]
                    self.busy_s += entry["busy_s"]
        shutil.rmtree(self._folder, ignore_errors=True)
        if self._report_to is not None:
            self._report_to(self.invocations, self.failures)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
