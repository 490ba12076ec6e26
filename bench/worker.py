"""One benchmark worker, in a process of its own so that its peak memory is its own:
`python -m bench.worker archiver|baseline STAGE_ARN SESSION_ID` with the pipeline's environment
(AWS endpoints, archiver settings, WORK_QUEUE_URL). Prints one JSON line:
`{"elapsed_s", "peak_rss_mb", "ready_rss_mb", "throttle_times_s", "listing_s", "invocations"}`.

- archiver: archive Lambda invocations (the real handler) on the work queue until it is empty;
- baseline: `bench.baseline.archive_session`, the loop a user would write first.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: on Linux a spawned child inherits
    its parent's high-water mark through exec, so read the memory map's own (VmHWM)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class CallClock:
    """Seconds after `start` at which a boto3 client got each 429, and how long its
    ListParticipants paging took (a nextToken chain: one page after another)."""

    def __init__(self, client: Any) -> None:
        self.start = time.monotonic()
        self.throttle_times: list[float] = []
        self.listing: list[float] = []
        events = client.meta.events
        events.register("before-send.ivs-realtime.ListParticipants", self._listing)
        events.register("response-received.ivs-realtime", self._received)

    def _listing(self, **_: Any) -> None:
        self.listing.append(time.monotonic())

    def _received(
        self, event_name: str, response_dict: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if event_name.endswith(".ListParticipants"):
            self.listing.append(time.monotonic())
        if response_dict is not None and response_dict.get("status_code") == 429:
            self.throttle_times.append(round(time.monotonic() - self.start, 3))

    @property
    def listing_s(self) -> float:
        return round(max(self.listing) - min(self.listing), 3) if self.listing else 0.0


def _archiver() -> tuple[CallClock, int]:
    import boto3

    from archiver.runtime import runtime
    from local.lambda_emulation import archive_invocation
    from local.pipeline import INVOCATION_MS

    rt = runtime()
    rt.shared  # noqa: B018  (a warm container: clients and thread pools built)
    sqs = boto3.client("sqs")
    queue = os.environ["WORK_QUEUE_URL"]
    clock = CallClock(rt.ivs.client)
    invocations = 0
    while archive_invocation(sqs, queue, INVOCATION_MS) is not None:
        invocations += 1
    return clock, invocations


def _baseline(stage_arn: str, session_id: str) -> tuple[CallClock, int]:
    from bench.baseline import archive_session, clients

    ivs, s3 = clients()
    clock = CallClock(ivs)
    archive_session(
        ivs,
        s3,
        bucket=os.environ["ARCHIVE_BUCKET"],
        stage_arn=stage_arn,
        session_id=session_id,
        details=os.environ["PARTICIPANT_DETAILS"] == "on",
    )
    return clock, 1


def main(argv: list[str]) -> int:
    mode, stage_arn, session_id = argv
    # Everything a worker loads before its first call, so that "ready" is the floor.
    import archiver.handlers.archive  # noqa: F401
    import bench.baseline  # noqa: F401

    ready = _rss_mb()
    if mode == "archiver":
        clock, invocations = _archiver()
    else:
        clock, invocations = _baseline(stage_arn, session_id)
    result = {
        "elapsed_s": round(time.monotonic() - clock.start, 3),
        "peak_rss_mb": round(_rss_mb(), 1),
        "ready_rss_mb": round(ready, 1),
        "throttle_times_s": clock.throttle_times,
        "listing_s": clock.listing_s,
        "invocations": invocations,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
