"""Archive workers in processes of their own (local/worker.py), beside an embedded pipeline:
what `python -m local run` and `python -m bench fleet` archive with, so that the archiver does
not share a Python interpreter (and its lock) with the stand-ins it talks to, as in AWS.

A context manager: the workers take the queue from the start, and `stop()` (or leaving the
block) ends them once their invocations are over; what they reported (invocations, billed
seconds, failed invocations) is then on the object, and handed to `report`. Left with an
exception (an interrupted run: KeyboardInterrupt, or a failure), it ends them at once instead
(`kill()`), as Lambda would end containers. Either way no worker and no folder of theirs is left.

With a replay's clock (`clock`), the workers join it once all of them are warm, and it begins
then if it has not already: the replay starts with its archiver ready.

Each worker runs in a process group of its own, so that a terminal's Ctrl-C reaches only the
run, which ends them; and it ends by itself when the process that started it dies (local/worker.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
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
# How long `kill()` lets a worker end on SIGTERM (it exits at once) before SIGKILL.
KILL_GRACE_S = 1.0
# How long `stop()` waits beyond an invocation's length for a worker to finish it.
STOP_MARGIN_S = 30.0


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
        self.commit_conflicts = 0  # commits redone because another writer committed first
        self.failures: list[dict[str, Any]] = []
        self._folder = Path()  # made on entering, removed on leaving
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> WorkerProcesses:
        self._folder = Path(tempfile.mkdtemp(prefix="ivs-archive-workers-"))
        try:
            self._start()
            self._wait_until_warm()
            self._begin()
        except BaseException:
            self.kill()
            raise
        return self

    def _begin(self) -> None:
        """A replay's clock begins now that every worker is warm (unless it has already), and
        the workers join it: their start is not the replay's time."""
        if self.clock is None:
            return
        self.clock.begin()
        origin = self.clock.origin_on(time.time)  # the wall clock both processes read
        spec = f"{self.clock.start.isoformat()},{self.clock.speed},{origin}"
        written = self._clock_file.with_suffix(".new")
        written.write_text(spec, encoding="utf-8")
        written.replace(self._clock_file)  # whole, at once

    @property
    def _clock_file(self) -> Path:
        return self._folder / "clock"

    def _start(self) -> None:
        env = dict(os.environ) | {
            worker.INVOCATION_MS: str(self.invocation_ms),
            worker.WINDOW_S: str(self.window_s),
            worker.BATCH_SIZE: str(self.batch_size),
        }
        if self.clock is not None:  # given once they are warm (`_begin`)
            env[worker.CLOCK] = str(self._clock_file)
        for n in range(self.count):
            arguments = [str(self._stop), str(self._report(n)), str(self._ready(n))]
            # What a container prints (its logs, its metrics) goes to the log or nowhere.
            with open(self.log or os.devnull, "a", encoding="utf-8") as output:
                self._processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "local.worker", *arguments],
                        env=env,
                        stdout=output,
                        # Held open while this process lives: the worker ends when it closes.
                        stdin=subprocess.PIPE,
                        start_new_session=True,
                    )
                )

    def _wait_until_warm(self) -> None:
        """Until every worker has loaded its handler (warm containers, as a busy account's):
        an interpreter's start is not the archiver's time."""
        deadline = time.monotonic() + WARM_TIMEOUT_S
        for n, process in enumerate(self._processes):
            while not self._ready(n).exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"archive worker {n} did not start")
                time.sleep(0.05)

    @property
    def pids(self) -> list[int]:
        """The workers' process ids, while they run."""
        return [process.pid for process in self._processes]

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
        try:
            for process in self._processes:
                # One stuck past its invocation's end is ended by kill() below.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=self.invocation_ms / 1000 + STOP_MARGIN_S)
            self._read_reports()
        finally:
            self.kill()
        if self._report_to is not None:
            self._report_to(self.invocations, self.failures)

    def _read_reports(self) -> None:
        for n in range(self.count):
            with contextlib.suppress(FileNotFoundError):  # a worker that never started
                for line in self._report(n).read_text(encoding="utf-8").splitlines():
                    entry = json.loads(line)
                    if "errorMessage" in entry:
                        self.failures.append(entry)
                    else:
                        self.invocations += entry["invocations"]
                        self.busy_s += entry["busy_s"]
                        self.commit_conflicts += entry["commit_conflicts"]

    def kill(self) -> None:
        """End the workers now, wherever they are (SIGTERM, then SIGKILL after KILL_GRACE_S),
        and remove their folder: nothing they did since their last report is counted."""
        processes, self._processes = self._processes, []
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + KILL_GRACE_S
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdin is not None:
                process.stdin.close()
        if self._folder != Path():
            shutil.rmtree(self._folder, ignore_errors=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.stop()
        else:
            self.kill()
