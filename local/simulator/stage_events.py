"""`aws.ivs` "IVS Stage Update" events, delivered as EventBridge would: best effort.

Every PUBLISH_STARTED, PUBLISH_STOPPED and PUBLISH_ERROR participant event of the scenario
becomes one "Participant Published", "Participant Unpublished" or "Participant Publish Error"
event, in the shape AWS documents (IVS Real-Time User Guide, "Using Amazon EventBridge with
IVS Real-Time Streaming"): `source` "aws.ivs", `detail-type` "IVS Stage Update",
`resources` [stage ARN], `time` the moment it happened, and `detail` {`session_id`,
`event_name`, `user_id`, `participant_id`}.

Each is lost with probability `loss`; the rest arrive `delay` simulated seconds after they
happened, `delay` uniform in [0, `max_delay_s`]. Both draws are a hash of (seed, stage,
session, participant, event position), so a seed gives the same losses and delays whatever
the order of scheduling or polling. `due(now_ms)` hands over, once each, in order of arrival,
the events that have arrived by `now_ms`.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import threading
import uuid
from typing import Any

from local.simulator.clock import from_ms
from local.simulator.store import Record, time_ms

SOURCE = "aws.ivs"
DETAIL_TYPE = "IVS Stage Update"
EVENT_NAMES = {
    "PUBLISH_STARTED": "Participant Published",
    "PUBLISH_STOPPED": "Participant Unpublished",
    "PUBLISH_ERROR": "Participant Publish Error",
}


def check_delivery(loss: float, max_delay_s: float) -> None:
    """ValueError unless 0 <= loss <= 1 and max_delay_s is a finite number >= 0."""
    if not 0.0 <= loss <= 1.0:
        raise ValueError(f"event loss must be within 0..1, got {loss!r}")
    if not math.isfinite(max_delay_s) or max_delay_s < 0:
        raise ValueError(f"event delay must be a finite number >= 0, got {max_delay_s!r}")


def stage_update(
    stage_arn: str,
    session_id: str,
    user_id: str,
    participant_id: str,
    name: str,
    at_ms: int,
    event_id: str,
) -> dict[str, Any]:
    """The EventBridge event for one participant event `name` that happened at `at_ms`."""
    _, _, _, region, account, _ = stage_arn.split(":", 5)
    moment = from_ms(at_ms)
    return {
        "version": "0",
        "id": event_id,
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [stage_arn],
        "detail": {
            "session_id": session_id,
            "event_name": EVENT_NAMES[name],
            "user_id": user_id,
            "participant_id": participant_id,
        },
    }


class StageEventFeed:
    """The schedule of Stage Update events and what has been handed over."""

    def __init__(self, loss: float = 0.0, max_delay_s: float = 0.0, seed: int = 0) -> None:
        check_delivery(loss, max_delay_s)
        self.loss, self.max_delay_s, self.seed = loss, max_delay_s, seed
        # (arrival ms, time it happened ms, (stage, session, participant, event position),
        # (user id, event name, 16 bytes of its id)): a heap, popped in order of arrival.
        self._pending: list[tuple[int, int, tuple[str, ...], tuple[str, str, bytes]]] = []
        self._counts = {"scheduled": 0, "lost": 0, "delivered": 0}
        self._lock = threading.Lock()

    def schedule_session(self, stage_arn: str, session: Record) -> None:
        """Schedule the Stage Update events of one session (scenario format)."""
        entries = []
        lost = 0
        scale = float(1 << 64)
        for participant in session.get("participants", []):
            for index, event in enumerate(participant.get("events", [])):
                if event["name"] not in EVENT_NAMES:
                    continue
                key = (stage_arn, session["sessionId"], participant["participantId"], str(index))
                digest = hashlib.sha256("|".join((str(self.seed), *key)).encode()).digest()
                if int.from_bytes(digest[:8], "big") / scale < self.loss:
                    lost += 1
                    continue
                delay_ms = int.from_bytes(digest[8:16], "big") / scale * self.max_delay_s * 1000
                at = time_ms(event["eventTime"])
                about = (participant.get("userId") or "", event["name"], digest[16:32])
                entries.append((at + math.floor(delay_ms), at, key, about))
        with self._lock:
            for entry in entries:
                heapq.heappush(self._pending, entry)
            self._counts["scheduled"] += len(entries) + lost
            self._counts["lost"] += lost

    def due(self, now_ms: int) -> list[dict[str, Any]]:
        """The events that have arrived by `now_ms` and were not handed over yet, in order of
        arrival (so not always in the order they happened)."""
        ready = []
        with self._lock:
            while self._pending and self._pending[0][0] <= now_ms:
                _, at, (arn, session_id, pid, _), (user_id, name, raw_id) = heapq.heappop(
                    self._pending
                )
                event_id = str(uuid.UUID(bytes=raw_id, version=4))
                ready.append(stage_update(arn, session_id, user_id, pid, name, at, event_id))
            self._counts["delivered"] += len(ready)
        return ready

    def stats(self) -> dict[str, int]:
        """`scheduled` (every publish event of the timeline), `lost`, `delivered` (handed
        over so far) and `pending` (still to arrive)."""
        with self._lock:
            return {**self._counts, "pending": len(self._pending)}
