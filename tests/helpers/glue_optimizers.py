"""Glue's table optimizers in moto, which (5.2.5) implements none of their calls: the two that
`ivs-archive smoke` reads, GetTableOptimizer and ListTableOptimizerRuns, answered from
`OPTIMIZERS`. `deploy` (tests/helpers/console.py) puts there what the stack creates (one enabled
optimizer of each type on each table, no run yet); a test gives them runs, disables or removes one.

moto answers a JSON request with the method of the service's responses class named after the
action (the X-Amz-Target header), and serialises an `ActionResult` by botocore's model of the
operation. `install` adds the two methods to moto's Glue responses: the console's real boto3
client reaches them through moto's server like every other Glue call, and a moto that implements
them one day is overridden here, not silently mixed in. If moto dispatched otherwise, the smoke
tests that expect these answers would fail."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

PAGE = 10  # runs per ListTableOptimizerRuns page when the request names no MaxResults

# (catalog id, database, table, type) -> the optimizer
Key = tuple[str, str, str, str]


@dataclass
class FakeOptimizer:
    enabled: bool = True
    runs: list[dict[str, Any]] = field(default_factory=list)  # oldest first, as `run` makes them
    runs_denied: bool = False  # ListTableOptimizerRuns answers AccessDeniedException

    def add(self, *runs: dict[str, Any]) -> FakeOptimizer:
        self.runs.extend(runs)
        return self


OPTIMIZERS: dict[Key, FakeOptimizer] = {}


def run(
    event: str, start: datetime, end: datetime | None = None, error: str | None = None
) -> dict[str, Any]:
    """One run as Glue reports it (`eventType`: starting, in_progress, completed or failed)."""
    found: dict[str, Any] = {"eventType": event, "startTimestamp": start}
    if end is not None:
        found["endTimestamp"] = end
    if error is not None:
        found["error"] = error
    return found


def add_optimizers(
    catalog_id: str, database: str, tables: Iterable[str], kinds: Iterable[str]
) -> None:
    """What the stack creates: each type on each table, enabled, no run yet."""
    install()
    for table in tables:
        for kind in kinds:
            OPTIMIZERS[(catalog_id, database, table, kind)] = FakeOptimizer()


def _find(parameters: dict[str, Any]) -> FakeOptimizer:
    from moto.glue.exceptions import EntityNotFoundException

    catalog, database, table, kind = (
        str(parameters.get(name, "")) for name in ("CatalogId", "DatabaseName", "TableName", "Type")
    )
    found = OPTIMIZERS.get((catalog, database, table, kind))
    if found is None:
        raise EntityNotFoundException(f"no {kind} optimizer on {catalog}.{database}.{table}")
    return found


def _get_table_optimizer(self: Any) -> Any:
    from moto.core.responses import ActionResult

    parameters = self.parameters
    found = _find(parameters)
    optimizer: dict[str, Any] = {
        "type": parameters["Type"],
        "configuration": {"enabled": found.enabled, "roleArn": "arn:aws:iam::123456789012:role/x"},
    }
    if found.runs:
        optimizer["lastRun"] = found.runs[-1]
    return ActionResult(
        {
            "CatalogId": parameters["CatalogId"],
            "DatabaseName": parameters["DatabaseName"],
            "TableName": parameters["TableName"],
            "TableOptimizer": optimizer,
        }
    )


def _list_table_optimizer_runs(self: Any) -> Any:
    """Oldest first (Glue documents no order), a page at a time."""
    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult

    parameters = self.parameters
    found = _find(parameters)
    if found.runs_denied:
        raise JsonRESTError("AccessDeniedException", "not authorized: glue:ListTableOptimizerRuns")
    runs = found.runs
    start = int(parameters.get("NextToken") or 0)
    end = start + int(parameters.get("MaxResults") or PAGE)
    answer: dict[str, Any] = {
        "CatalogId": parameters["CatalogId"],
        "DatabaseName": parameters["DatabaseName"],
        "TableName": parameters["TableName"],
        "TableOptimizerRuns": runs[start:end],
    }
    if end < len(runs):
        answer["NextToken"] = str(end)
    return ActionResult(answer)


def install() -> None:
    """The two calls, in moto's Glue (in this process); again is harmless."""
    from moto.glue.responses import GlueResponse

    GlueResponse.get_table_optimizer = _get_table_optimizer  # type: ignore[attr-defined]
    GlueResponse.list_table_optimizer_runs = _list_table_optimizer_runs  # type: ignore[attr-defined]
