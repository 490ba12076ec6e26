"""One benchmark case: a session archived by a worker process against a fresh simulator.

This process holds the stand-ins (the IVS simulator with its quota and latency, and moto) in an
`EmbeddedPipeline`; the worker (`bench.worker`) runs in a process of its own, with the same
environment variables a Lambda would get, so its peak memory and its calls are its alone.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from local.pipeline import EmbeddedPipeline, Options

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setup:
    tps: float = 100.0
    budget: float = 80.0
    latency_ms: float = 40.0
    chunk_size: int = 500
    participant_order: str = "participantId"  # the simulator's ListParticipants order


def minimum_calls(session: dict[str, Any], details: bool) -> dict[str, int]:
    """The fewest calls that read a session whole (100 items a page)."""
    people = session["participants"]
    return {
        "ListParticipants": max(1, math.ceil(len(people) / 100)),
        "ListParticipantEvents": sum(max(1, math.ceil(len(p["events"]) / 100)) for p in people),
        "GetParticipant": len(people) if details else 0,
    }


def _rows(pipeline: EmbeddedPipeline, table: str) -> int:
    total = 0
    for key in pipeline.account.object_keys():
        if key.startswith(f"{table}/"):
            body = pipeline.account.s3.get_object(Bucket=pipeline.account.bucket, Key=key)[
                "Body"
            ].read()
            total += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
    return total


def measure(scenario: dict[str, Any], mode: str, details: bool, setup: Setup) -> dict[str, Any]:
    """Archive the scenario's one session with `mode` ("archiver" or "baseline")."""
    stage = scenario["stages"][0]
    session = stage["sessions"][0]
    options = Options(
        tps=setup.tps,
        budget=setup.budget,
        latency_ms=setup.latency_ms,
        participant_details="on" if details else "off",
        chunk_size=setup.chunk_size,
        participant_order=setup.participant_order,
    )
    with EmbeddedPipeline(scenario, options) as pipeline:
        # The simulator indexes a session's events on first use (a second for 260,000 events):
        # do that now, outside the worker's clock. IVS itself has no such warm-up.
        first = session["participants"][0]["participantId"]
        store, ids = pipeline.simulator.store, (stage["arn"], session["sessionId"], first)
        store.events(*ids), store.participant(*ids)
        message = {"stageArn": stage["arn"], "sessionId": session["sessionId"]}
        pipeline.account.sqs.send_message(
            QueueUrl=pipeline.account.queue_url, MessageBody=json.dumps(message)
        )
        done = subprocess.run(
            [sys.executable, "-m", "bench.worker", mode, stage["arn"], session["sessionId"]],
            cwd=ROOT,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench worker failed:\n{done.stderr[-4000:]}")
        worker = json.loads(done.stdout.strip().splitlines()[-1])
        ops = pipeline.simulator.operation_stats()
        participants = _rows(pipeline, "participants")
        events = _rows(pipeline, "participant_events")
    people = session["participants"]
    event_count = sum(len(p["events"]) for p in people)
    calls = {op: c["served"] for op, c in ops.items() if c["served"]}
    minimum = minimum_calls(session, details)
    ideal = max(n / setup.budget for n in calls.values())  # the quota-bound time
    # No archiver can beat this: the busiest operation's permits back to back (the first at
    # 0, the last at (n - 1) / budget), after one ListParticipants answer (its participant ids
    # are needed) and before the last call's answer: two mean latencies.
    floor = (max(calls.values()) - 1) / setup.budget + 2 * setup.latency_ms / 1000
    return {
        "mode": mode,
        "participants": len(people),
        "events": event_count,
        "details": details,
        "rows": {"participants": participants, "participant_events": events},
        "rows_complete": participants == len(people) and events == event_count,
        "calls": calls,
        "minimum_calls": minimum,
        "calls_at_minimum": all(calls.get(op, 0) == n for op, n in minimum.items()),
        "throttled": sum(c["throttled"] for c in ops.values()),
        "throttled_after_1s": sum(1 for t in worker["throttle_times_s"] if t > 1.0),
        "faults": sum(c["faults_injected"] for c in ops.values()),
        "elapsed_s": worker["elapsed_s"],
        "ideal_s": round(ideal, 3),
        "elapsed_over_ideal": round(worker["elapsed_s"] / ideal, 3),
        "floor_s": round(floor, 3),
        "floor_over_ideal": round(floor / ideal, 3),
        # The ListParticipants pages come one after another (each needs the last nextToken).
        "listing_s": worker["listing_s"],
        "peak_rss_mb": worker["peak_rss_mb"],
        "ready_rss_mb": worker["ready_rss_mb"],
        "invocations": worker["invocations"],
    }
