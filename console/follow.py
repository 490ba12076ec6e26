"""Following sessions in the ledger until the archive workers are done with them: each archived
or expired, or failed with nothing left on the work queue (dead-lettered). Ctrl-C detaches:
nothing is cancelled, the archive goes on in AWS."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from archiver.ledger import Ledger, Status
from console.output import Output
from console.queues import depth
from shared.progress import Progress

Key = tuple[str, str]  # (stage ARN, session id)


@dataclass
class Followed:
    total: int
    counts: dict[str, int] = field(default_factory=dict)  # status -> sessions
    failed: list[tuple[Key, str | None]] = field(default_factory=list)  # with the last error
    detached: bool = False

    @property
    def done(self) -> int:
        return self.counts.get(Status.ARCHIVED.value, 0) + self.counts.get(Status.EXPIRED.value, 0)

    @property
    def working(self) -> int:
        return self.total - self.done - self.counts.get(Status.FAILED.value, 0)


def _read(ledger: Ledger, keys: list[Key]) -> dict[Key, Status | None]:
    """The sessions' statuses, one ledger query per stage."""
    by_stage: dict[str, list[str]] = defaultdict(list)
    for stage, session in keys:
        by_stage[stage].append(session)
    statuses: dict[Key, Status | None] = {}
    for stage, sessions in by_stage.items():
        known = ledger.known_sessions(stage)
        for session in sessions:
            statuses[(stage, session)] = known[session].status if session in known else None
    return statuses


def _describe(followed: Followed) -> str:
    failed = followed.counts.get(Status.FAILED.value, 0)
    expired = followed.counts.get(Status.EXPIRED.value, 0)
    parts = [f"{followed.working:,} waiting or in progress"]
    if failed:
        parts.append(f"{failed:,} failed")
    if expired:
        parts.append(f"{expired:,} expired")
    return "· " + " · ".join(parts)


def follow(
    ledger: Ledger, sqs: Any, queue_url: str, keys: list[Key], *, interval: float, out: Output
) -> Followed:
    followed = Followed(total=len(keys))
    statuses: dict[Key, Status | None] = {}
    with Progress("archived", len(keys), out.stderr) as progress:
        try:
            while True:
                statuses = _read(ledger, keys)
                counts = Counter(s.value for s in statuses.values() if s is not None)
                followed.counts = dict(counts)
                progress.update(followed.done, _describe(followed))
                if followed.done == followed.total:
                    break
                if followed.working == 0 and depth(sqs, queue_url).total == 0:
                    break  # the failed ones are not coming back: dead-lettered
                time.sleep(interval)
            progress.finish(followed.done, _describe(followed))
        except KeyboardInterrupt:
            followed.detached = True
    for key, status in sorted(statuses.items()):
        if status is Status.FAILED:
            record = ledger.get(*key)
            followed.failed.append((key, record.last_error if record else None))
    return followed
