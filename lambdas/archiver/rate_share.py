"""How the archive workers running at one moment share `apiTpsBudget`, through the ledger.

Each worker at work keeps an item ("WORKERS", <its id>) with the rate it uses and how long the
item holds (a heartbeat, renewed every `refresh_s`). At each renewal a worker reads the others'
and takes an equal share of the budget, but never more than what the others leave: a worker that
joins waits (at most one renewal) for those running alone to give up part of theirs, so together
they never pass the budget. A worker that ends deletes its item; one that dies leaves an item
that lapses after three renewals. So a worker alone (the common case, and the tail of a backlog
or a session of thousands) runs at the whole budget instead of its 1/archiveConcurrency.

A renewal that fails (the ledger unreachable) is logged and counted, and the worker drops to at
most its static split, budget / archiveConcurrency, while its item still holds (the others count
it at its last rate, which is no less); once its item has lapsed the others may have taken its
share, so it waits at 0 for its next successful renewal. A call never waits for a rate longer
than archiver.ivs.MAX_RATE_WAIT_S: it fails and its session is tried again later. A worker that
gives up its share keeps a rate for its invocation's last calls: its own, or the static split if
it had none.
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
from archiver.observability import logger

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
        workers: int,
        resource: Any = None,
    ) -> None:
        """`workers`: the most that run at once (archiveConcurrency)."""
        self.table = table_of(table_name, resource)
        self.worker = worker
        self.budget = budget
        self.split = budget / workers  # what each gets when all run: no coordination needed
        self.refresh_s = refresh_s
        self._use = use
        self.rate = 0.0
        self.until = clock.now()  # when this worker's item lapses
        self.renewal_failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="RateShare", daemon=True)

    def __enter__(self) -> RateShare:
        self.refresh()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Give the share up for good. The worker's limiters keep a rate for the few calls of
        an invocation's end (GetStageSession before the last writes): its own, or the static
        split if it had none, so that they never wait for a renewal that will not come."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        if self.rate <= 0:
            self._set(self.split)
        try:
            self.table.delete_item(Key={"pk": PK, "sk": self.worker})
        except Exception:  # the item lapses by itself
            logger.warning("rate share: could not delete this worker's item", exc_info=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception:
                self.renewal_failed()

    def renewal_failed(self) -> None:
        """Logged, counted, and the worker drops to what cannot overrun the budget."""
        self.renewal_failures += 1
        lapsed = clock.now() >= self.until
        rate = 0.0 if lapsed else min(self.rate, self.split)
        logger.warning(
            "rate share: renewal failed",
            exc_info=True,
            extra={"rate": rate, "lapsed": lapsed, "failures": self.renewal_failures},
        )
        self._set(rate)

    def _set(self, rate: float) -> None:
        if rate != self.rate:
            self.rate = rate
            self._use(rate)

    def refresh(self) -> float:
        """Read the others' rates, take this worker's share, say so; the rate it uses now."""
        now = clock.now()
        others = self._others(now)
        fair = self.budget / (len(others) + 1)
        rate = max(0.0, min(fair, self.budget - sum(others)))
        until = now + timedelta(seconds=LAPSE * self.refresh_s)
        self.table.put_item(
            Item={
                "pk": PK,
                "sk": self.worker,
                "rate": Decimal(str(round(rate, 6))),
                "until": iso(until),
            }
        )
        self.until = until
        self._set(rate)
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
