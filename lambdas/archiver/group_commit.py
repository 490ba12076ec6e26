"""The sessions a worker has landed, committed into the query tables several at a time.

A session whose landing objects are complete waits for its commit. If no commit is under way,
its thread makes one, for itself and for every session that lands meanwhile, round after round,
until none is waiting; a session that lands during a commit joins the next round, which starts
no sooner than `interval_s` after the one before. So a worker with one session commits at once,
and a busy one makes at most one commit per table every `interval_s`, not one per session: each
commit adds a snapshot, and a table's metadata (read and written whole by every commit) holds
every snapshot until Glue's retention optimizer expires it. The commit itself is
archiver.commit.commit_sessions: exactly once per session and table, whoever retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from archiver.commit import LandedSession

CommitMany = Callable[[list[LandedSession]], object]


class GroupCommit:
    def __init__(self, commit: CommitMany, interval_s: float = 0.0) -> None:
        self._commit = commit
        self.interval_s = interval_s
        self._waiting: list[tuple[LandedSession, Future[None]]] = []
        self._leading = False
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Sessions waiting for the next round."""
        with self._lock:
            return len(self._waiting)

    def commit(self, session: LandedSession) -> None:
        """Return once `session` is in the tables; raise what its commit raised."""
        done: Future[None] = Future()
        with self._lock:
            self._waiting.append((session, done))
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        done.result()

    def _lead(self) -> None:
        next_round = 0.0
        while True:
            wait = next_round - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the sessions landing meanwhile join this round
            next_round = time.monotonic() + self.interval_s
            with self._lock:
                round_, self._waiting = self._waiting, []
                if not round_:
                    self._leading = False
                    return
            try:
                self._commit([session for session, _ in round_])
            except Exception as exc:
                for _, done in round_:
                    done.set_exception(exc)
            except BaseException as exc:  # the worker is going down: nobody waits for ever
                with self._lock:
                    round_ += self._waiting
                    self._waiting, self._leading = [], False
                for _, done in round_:
                    done.set_exception(exc)
                raise
            else:
                for _, done in round_:
                    done.set_result(None)
