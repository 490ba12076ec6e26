"""The IVS Real-Time boundary: every call the archiver makes to IVS goes through here.

- nextToken loops (the service has no botocore paginators), always at maxResults=100;
- one rate limiter per operation, shared by every thread of the process, applied to each HTTP
  attempt (retries included), so the archiver stays under the 5 TPS per-operation quota;
- botocore's adaptive retries for throttling (429) and 5xx, each call with its own attempts (no
  retry quota shared by the sessions of a batch: archiver.compat);
- counters per operation (calls, throttles) for metrics and the local run's stats.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from archiver import compat

ApiRecord = dict[str, Any]
PAGE_SIZE = 100
OPERATIONS = (
    "ListStages",
    "GetStage",
    "ListStageSessions",
    "GetStageSession",
    "ListParticipants",
    "GetParticipant",
    "ListParticipantEvents",
)


# The longest a call waits for its limiter to get a rate (at 0 while the worker's share of the
# budget is renegotiated: archiver.rate_share); then it fails, as a transient error, and its
# session is tried again later (archiver.invocation).
MAX_RATE_WAIT_S = 120.0


class RateUnavailable(RuntimeError):
    """A call's limiter had no rate for MAX_RATE_WAIT_S: this worker holds no share of the
    budget (the others use all of it)."""


class RateLimiter:
    """Evenly spaced permits at `rate` per second: no burst past the quota, no idle slot.

    Each caller reserves the next free slot under a lock and sleeps outside it, so many threads
    can wait at once and are released one per 1/rate seconds. The rate can change while calls
    wait (archiver.rate_share); at a rate of 0 they wait until it is raised, for `max_wait_s` at
    most, and then raise RateUnavailable: no call waits forever.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_s: float = MAX_RATE_WAIT_S,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.interval: float | None = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self.max_wait_s = max_wait_s
        self._next = 0.0
        self._lock = threading.Condition()

    def set_rate(self, rate: float) -> None:
        """From now on, `rate` permits a second (0: none until it is raised again)."""
        with self._lock:
            self.interval = 1.0 / rate if rate > 0 else None
            self._lock.notify_all()

    @property
    def rate(self) -> float:
        return 0.0 if self.interval is None else 1.0 / self.interval

    def acquire(self) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self.interval is not None, self.max_wait_s):
                raise RateUnavailable(
                    f"no share of the IVS budget for {self.max_wait_s:g} s: the other workers "
                    "use all of it"
                )
            assert self.interval is not None
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)


class SessionNotFound(Exception):
    """IVS no longer knows the stage session (never existed, or aged out)."""


class IvsClient:
    """A boto3 `ivs-realtime` client with per-operation rate limits and call counters."""

    def __init__(self, tps_per_operation: float, *, client: Any = None) -> None:
        self.client = client or compat.without_retry_quota(
            boto3.client(
                "ivs-realtime",
                config=Config(
                    retries={"mode": "adaptive", "max_attempts": 10},
                    max_pool_connections=64,
                    connect_timeout=5,
                    read_timeout=30,
                ),
            )
        )
        self.limiters = {op: RateLimiter(tps_per_operation) for op in OPERATIONS}
        self.calls: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        events = self.client.meta.events
        events.register("before-send.ivs-realtime", self._before_send)
        events.register("response-received.ivs-realtime", self._response_received)

    def set_rate(self, tps_per_operation: float) -> None:
        """Every operation's limiter at this rate from now on (archiver.rate_share)."""
        for limiter in self.limiters.values():
            limiter.set_rate(tps_per_operation)

    def _before_send(self, event_name: str, **_: Any) -> None:
        self.limiters[event_name.rsplit(".", 1)[-1]].acquire()

    def _response_received(
        self, event_name: str, response_dict: dict[str, Any] | None = None, **_: Any
    ) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        throttled = response_dict is not None and response_dict.get("status_code") == 429
        with self._count_lock:
            self.calls[operation] += 1
            if throttled:
                self.throttles[operation] += 1

    def _pages(self, operation: str, key: str, **params: Any) -> Iterator[ApiRecord]:
        call = getattr(self.client, _snake(operation))
        token: str | None = None
        while True:
            page = call(maxResults=PAGE_SIZE, **params, **({"nextToken": token} if token else {}))
            yield from page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return

    def list_stages(self) -> Iterator[ApiRecord]:
        return self._pages("ListStages", "stages")

    def list_stage_sessions(self, stage_arn: str) -> Iterator[ApiRecord]:
        """Newest first, as the service returns them; stop iterating to stop paging."""
        return self._pages("ListStageSessions", "stageSessions", stageArn=stage_arn)

    def get_stage_session(self, stage_arn: str, session_id: str) -> ApiRecord:
        try:
            response = self.client.get_stage_session(stageArn=stage_arn, sessionId=session_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise SessionNotFound(f"{stage_arn} {session_id}") from exc
            raise
        session: ApiRecord = response["stageSession"]
        return session

    def get_stage_name(self, stage_arn: str) -> str | None:
        try:
            name: str | None = self.client.get_stage(arn=stage_arn)["stage"].get("name")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        return name

    def list_participants(self, stage_arn: str, session_id: str) -> Iterator[ApiRecord]:
        """Page by page, as they come: a caller can act on one page while the next is read."""
        return self._pages(
            "ListParticipants", "participants", stageArn=stage_arn, sessionId=session_id
        )

    def get_participant(self, stage_arn: str, session_id: str, participant_id: str) -> ApiRecord:
        response = self.client.get_participant(
            stageArn=stage_arn, sessionId=session_id, participantId=participant_id
        )
        participant: ApiRecord = response["participant"]
        return participant

    def list_participant_events(
        self, stage_arn: str, session_id: str, participant_id: str
    ) -> list[ApiRecord]:
        return list(
            self._pages(
                "ListParticipantEvents",
                "events",
                stageArn=stage_arn,
                sessionId=session_id,
                participantId=participant_id,
            )
        )


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def is_ended(session: ApiRecord) -> bool:
    return session.get("endTime") is not None
