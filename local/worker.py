"""An archive worker in a process of its own, as a Lambda container is: `python -m local.worker
STOP_FILE REPORT_FILE READY_FILE` (in a folder of the workers' own) with an embedded pipeline's
environment (local/workers.py starts it; it touches READY_FILE once its handler is loaded).

It makes archive invocations, as the SQS event source would, whenever messages are visible,
until STOP_FILE exists. Each failed invocation is a JSON line in REPORT_FILE (`{"bodies",
"errorMessage"}`), and at the end one more: `{"invocations", "busy_s"}` (wall seconds inside
invocations: what Lambda bills).

`LOCAL_WORKER_CLOCK=FILE` gives it a replay's simulated time, botocore's waits before a retry
included (local/compat.py): once warm, it waits for FILE to hold `<start ISO>,<speed>,<origin>`
(the simulator's SimClock: simulated now = start + speed x (time.time() - origin)), which its
starter writes when every worker is warm and the replay begins.

It ends quietly and at once, wherever it is, on SIGTERM or SIGINT (its starter ends it so when a
run is interrupted), and when its standard input closes: the starter keeps a pipe open to it,
which closes when the starter dies, however it dies. As a container is, it is frozen with what
its invocation left behind: once it has seen STOP_FILE it exits without waiting for the threads
a failed invocation may have left waiting.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

CLOCK = "LOCAL_WORKER_CLOCK"
INVOCATION_MS = "LOCAL_WORKER_INVOCATION_MS"
WINDOW_S = "LOCAL_WORKER_WINDOW_S"
BATCH_SIZE = "LOCAL_WORKER_BATCH_SIZE"
# An idle worker asks the queue again after IDLE_S, then twice as long each time it finds
# nothing, up to IDLE_MAX_S (a replay in simulated time keeps IDLE_S: a wall second is a
# minute there). SQS's event source long-polls; moto's long poll would keep a thread busy, and
# eight workers asking 20 times a second cost the stand-ins a good part of two CPUs.
IDLE_S = 0.05
IDLE_MAX_S = 0.25


def _use_simulated_time(stop_file: Path) -> None:
    """The replay's clock, once its starter has begun it (the file CLOCK names holds it then:
    every worker is warm, and the replay starts)."""
    path = os.environ.get(CLOCK)
    if not path:
        return
    from archiver import clock
    from local.compat import scale_retry_waits
    from local.simulator.clock import SimClock

    while not (spec := _read(Path(path))):
        if stop_file.exists():
            return
        time.sleep(0.01)
    start, speed, origin = spec.split(",")
    shared = SimClock.joined(datetime.fromisoformat(start), float(speed), float(origin), time.time)
    clock.use(shared.now)
    scale_retry_waits(float(speed))  # botocore's backoff, in simulated time too


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def end(signum: int, _frame: object = None) -> None:
    """Exit now, quietly: no traceback, no waiting for threads (what a killed container does)."""
    os._exit(128 + signum)


def end_with_starter(folder: Path | None = None) -> None:
    """Exit once standard input closes: the process that started this one is gone, killed
    outright; so is the folder it made for its workers (`folder`), which nobody needs now."""

    def watch() -> None:
        with open(sys.stdin.fileno(), "rb", buffering=0, closefd=False) as stdin:
            while stdin.read(4096):
                pass
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        os._exit(0)

    threading.Thread(target=watch, name="starter", daemon=True).start()


def main(argv: list[str]) -> int:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, end)
    starter = os.getppid()
    stop_file, report_file, ready_file = (Path(arg) for arg in argv)
    end_with_starter(report_file.parent)
    import boto3

    import archiver.handlers.archive  # noqa: F401  (a warm container: the handler loaded)
    from archiver.runtime import runtime
    from local.lambda_emulation import archive_invocation

    ready_file.touch()
    _use_simulated_time(stop_file)

    sqs = boto3.client("sqs")
    queue = os.environ["WORK_QUEUE_URL"]
    invocation_ms = int(os.environ[INVOCATION_MS])
    window_s = float(os.environ.get(WINDOW_S, "0"))
    batch_size = int(os.environ[BATCH_SIZE])
    invocations, busy = 0, 0.0
    idle, idle_max = IDLE_S, IDLE_S if os.environ.get(CLOCK) else IDLE_MAX_S
    with report_file.open("a", encoding="utf-8") as report:
        while not stop_file.exists():
            started = time.monotonic()
            try:
                response = archive_invocation(sqs, queue, invocation_ms, batch_size, window_s)
            except Exception:
                if os.getppid() != starter:  # the stand-ins went with the starter: nothing to say
                    os._exit(0)
                raise
            if response is None:
                time.sleep(idle)
                idle = min(idle * 2, idle_max)
                continue
            idle = IDLE_S
            invocations += 1
            busy += time.monotonic() - started
            if "errorMessage" in response:
                report.write(json.dumps(response) + "\n")
                report.flush()
        conflicts = runtime().shared.commit_conflicts if invocations else 0
        totals = {"invocations": invocations, "busy_s": round(busy, 3)}
        report.write(json.dumps(totals | {"commit_conflicts": conflicts}) + "\n")
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    # What the functions printed, then out at once: threads a failed invocation left waiting
    # (on a rate limiter at 0, say) must not keep the process, and its starter, waiting.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)
