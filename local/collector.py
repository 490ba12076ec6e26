"""One place's collector in a run over several places, in a process of its own, as a collector
is a stack of its own in AWS: `python -m local.collector CONFIG_FILE` (local/places.py starts
one per place, with a JSON file saying what it needs).

In the place's environment (its simulator's endpoint, its ledger and queues, the home's bucket
and catalog) it runs discovery on its own thread, as scheduled, beside archive workers in
processes of their own (local/workers.py), until its work queue is empty; then it writes its
report (`REPORT` below) to the file the config names. It ends at once and quietly on SIGTERM
or SIGINT, and when its standard input closes (its starter is gone): its workers go with it.

CONFIG: `{"env": {...}, "account": ID, "region": R, "scenario": FILE, "lookback_days": N,
"workers": N, "invocation_ms": N, "batch_size": N, "window_s": X, "log": FILE or null,
"report": FILE}`.
REPORT: `{"elapsed_s": X, "invocations": N, "failures": [{"bodies", "errorMessage"}],
"not_queued": "why" or "", "commit_conflicts": N, "busy_s": X}`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from local.worker import end, end_with_starter

# How often the collector asks whether its queue is empty (its elapsed time is known to this):
# four collectors asking five times a second cost the stand-ins CPU the workers share.
QUEUE_POLL_S = 0.5


def main(argv: list[str]) -> int:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, end)
    config: dict[str, Any] = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    end_with_starter()
    os.environ.update(config["env"])
    import boto3

    from local.account import queue_depth
    from local.lambda_emulation import discover_invocation, discover_scenario
    from local.report import ended_of
    from local.workers import WorkerProcesses

    scenario = json.loads(Path(config["scenario"]).read_text(encoding="utf-8"))
    sqs, queue = boto3.client("sqs"), os.environ["WORK_QUEUE_URL"]
    made: dict[str, Any] = {"invocations": 0, "failures": []}

    def reported(count: int, failures: list[dict[str, Any]]) -> None:
        made["invocations"] += count
        made["failures"] += failures

    workers = WorkerProcesses(
        config["workers"],
        invocation_ms=config["invocation_ms"],
        batch_size=config["batch_size"],
        window_s=config["window_s"],
        log=Path(config["log"]) if config["log"] else None,
        report=reported,
    )
    with workers:
        started = time.monotonic()  # the workers are warm: the archiving starts
        not_queued = discover_scenario(
            lambda event: discover_invocation(
                event, config["invocation_ms"], account=config["account"], region=config["region"]
            ),
            ended_of(scenario),
            config["lookback_days"],
        )
        while queue_depth(sqs, queue):
            time.sleep(QUEUE_POLL_S)
        elapsed = time.monotonic() - started
    report = made | {
        "elapsed_s": round(elapsed, 3),
        "not_queued": not_queued,
        "commit_conflicts": workers.commit_conflicts,
        "busy_s": round(workers.busy_s, 3),
    }
    Path(config["report"]).write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)  # threads a failed invocation left waiting must not keep it
