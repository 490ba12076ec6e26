"""How the archive workers running at one moment share `apiTpsBudget`, through the ledger.

Each worker at work keeps an item ("WORKERS", <its id>) with the rate it uses and how long the
item holds (a heartbeat, renewed every `refresh_s`). At each renewal a worker reads the others'
and takes an equal share of the budget, but never more than what the others leave: a worker that
joins waits (at most one renewal) for those running alone to give up part of theirs, so together
they never pass the budget. A worker that ends deletes its item; one that dies leaves an item
that lapses after three renewals. So a worker alone (the common case, and the tail of a backlog
or a session of thousands) runs at the whole budget instead of its 1/archiveConcurrency.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key

from archiver import clock
from archiver.ledger import iso, items, table_of

PK = "WORKERS"
LAPSE = 3  # renewals a worker's item outlives its last one


class RateShare:
    def __init__(
        self,
        table_name: str,
        worker: str,
        *,
        budget: float,
        refresh_s: float,
        use: Callable[[float], None],
        resource: Any = None,
    ) -> None:
        self.table = table_of(table_name, resource)
        self.worker = worker
        self.budget = budget
        self.refresh_s = refresh_s
        self._use = use
        self.rate = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="RateShare", daemon=True)

    def __enter__(self) -> RateShare:
        self.refresh()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Give the share up for good (the worker's limiters keep their rate, for the few
        calls of an invocation's end: GetStageSession before the last writes)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.table.delete_item(Key={"pk": PK, "sk": self.worker})

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception:
                continue

    def refresh(self) -> float:
        """Read the others' rates, take this worker's share, say so; the rate it uses now."""
        now = clock.now()
        others = self._others(now)
        fair = self.budget / (len(others) + 1)
        rate = max(0.0, min(fair, self.budget - sum(others)))
        self.table.put_item(
            Item={
                "pk": PK,
                "sk": self.worker,
                "rate": Decimal(str(round(rate, 6))),
                "until": iso(now + timedelta(seconds=LAPSE * self.refresh_s)),
            }
        )
        if rate != self.rate:
            self.rate = rate
            self._use(rate)
        return rate

    def _others(self, now: datetime) -> list[float]:
        """The rates of the other workers whose items have not lapsed."""
        return [
            float(item["rate"])
            for item in items(
                self.table.query, KeyConditionExpression=Key("pk").eq(PK), ConsistentRead=True
            )
            if item["sk"] != self.worker and str(item["until"]) > iso(now)
        ]
