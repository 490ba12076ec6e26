"""Participants' calls in flight: ListParticipantEvents and, with details on, GetParticipant.

The quota is per operation, so each operation runs on a thread pool of its own behind its own
rate limiter (in IvsClient): enough threads keep each budget busy despite call latency. One
Fetcher serves every session a worker archives at once; their calls queue in the same pools.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from archiver.ivs import ApiRecord, IvsClient, SessionNotFound


class Fetch:
    """One participant's calls, in flight. Until either starts, both can be withdrawn."""

    def __init__(self) -> None:
        self.events: Future[Any]
        self.details: Future[Any] | None = None
        self._lock = threading.Lock()
        self._started = 0
        self._withdrawn = False

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run one of the calls (on a pool's thread), unless withdrawn."""
        with self._lock:
            if self._withdrawn:
                return None
            self._started += 1
        return function(*args)

    def withdraw(self) -> bool:
        """Make neither call if neither has started; True if none was or will be made."""
        with self._lock:
            self._withdrawn = self._withdrawn or self._started == 0
            return self._withdrawn

    def cancel(self) -> None:
        self.events.cancel()
        if self.details is not None:
            self.details.cancel()

    def participant(self, summary: ApiRecord) -> ApiRecord:
        """The full participant (GetParticipant), or the listing's summary with details off."""
        return self.details.result() if self.details is not None else summary


@dataclass
class Calls:
    """One participant of a chunk, and its calls."""

    chunk: int
    summary: ApiRecord
    fetch: Fetch


class Fetcher:
    def __init__(self, ivs: IvsClient, *, threads: int, details: bool) -> None:
        self.ivs = ivs
        self.details = details
        self._events_pool = ThreadPoolExecutor(threads, "ListParticipantEvents")
        self._details_pool = ThreadPoolExecutor(threads, "GetParticipant")

    def fetch(self, arn: str, session_id: str, summary: ApiRecord) -> Fetch:
        pid, fetch = summary["participantId"], Fetch()
        if self.details:
            fetch.details = self._details_pool.submit(
                fetch.call, self._participant, arn, session_id, pid
            )
        fetch.events = self._events_pool.submit(
            fetch.call, self.ivs.list_participant_events, arn, session_id, pid
        )
        return fetch

    def _participant(self, arn: str, session_id: str, participant_id: str) -> ApiRecord:
        try:
            return self.ivs.get_participant(arn, session_id, participant_id)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise SessionNotFound(f"{arn} {session_id} {participant_id}") from exc
            raise
