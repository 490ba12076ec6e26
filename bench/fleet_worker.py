"""One archive worker of the fleet benchmark, in a process of its own (as a Lambda container):
`python -m bench.fleet_worker STOP_FILE` with the pipeline's environment. It makes archive
invocations, as the SQS event source would, whenever messages are visible, until STOP_FILE
exists; then prints one JSON line: `{"invocations", "busy_s"}` (wall seconds inside
invocations: what Lambda bills).

`FLEET_CLOCK="<start ISO>,<speed>,<origin>"` gives it the replay's simulated time (the same
SimClock as the simulator's: simulated now = start + speed x (time.time() - origin)).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import local  # noqa: F401  (puts the Lambda package on sys.path)

WINDOW_S = "FLEET_WINDOW_S"


def _use_simulated_time() -> None:
    spec = os.environ.get("FLEET_CLOCK")
    if not spec:
        return
    from archiver import clock
    from local.simulator.clock import SimClock

    start, speed, origin = spec.split(",")
    shared = SimClock.joined(datetime.fromisoformat(start), float(speed), float(origin), time.time)
    clock.use(shared.now)


def main(argv: list[str]) -> int:
    (stop_file,) = argv
    _use_simulated_time()
    import boto3

    from archiver.runtime import runtime
    from local.pipeline import archive_invocation

    runtime().shared  # noqa: B018  (a warm container: clients and thread pools built)
    sqs = boto3.client("sqs")
    queue = os.environ["WORK_QUEUE_URL"]
    invocation_ms = int(os.environ["FLEET_INVOCATION_MS"])
    window_s = float(os.environ.get(WINDOW_S, "0"))
    invocations, busy = 0, 0.0
    while not Path(stop_file).exists():
        started = time.monotonic()
        if archive_invocation(sqs, queue, invocation_ms, window_s=window_s) is None:
            time.sleep(0.05)
            continue
        invocations += 1
        busy += time.monotonic() - started
    print(json.dumps({"invocations": invocations, "busy_s": round(busy, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
