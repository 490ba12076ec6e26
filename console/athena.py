"""Queries in the deployment's Athena workgroup (which enforces its result location and scan
limit), and their results as Python values, typed by the columns' Athena types."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.errors import ConsoleError

DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
TIMEOUT_S = 600.0
_INTEGERS = ("tinyint", "smallint", "integer", "int", "bigint")
_DECIMALS = ("double", "float", "real", "decimal")


@dataclass(frozen=True)
class Execution:
    id: str
    state: str
    reason: str  # why it failed, when it did


def value(text: str | None, athena_type: str) -> Any:
    """One result cell (always text in Athena's answer) as a Python value."""
    if text is None:
        return None
    kind = athena_type.lower().split("(", 1)[0].strip()
    if kind in _INTEGERS:
        return int(text)
    if kind in _DECIMALS:
        return float(text)
    if kind == "boolean":
        return text.lower() == "true"
    if kind.startswith("timestamp"):
        return datetime.fromisoformat(text.replace(" UTC", ""))  # naive: UTC, as archived
    if kind == "json":
        return json.loads(text)
    return text


class Athena:
    def __init__(
        self,
        client: Any,
        workgroup: str,
        database: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.workgroup = workgroup
        self.database = database
        self.sleep = sleep

    def start(self, sql: str) -> str:
        response = self.client.start_query_execution(
            QueryString=sql,
            WorkGroup=self.workgroup,
            QueryExecutionContext={"Database": self.database},
        )
        return str(response["QueryExecutionId"])

    def wait(self, execution_id: str, timeout_s: float = TIMEOUT_S) -> Execution:
        delay, waited = 0.2, 0.0
        while True:
            status = self.client.get_query_execution(QueryExecutionId=execution_id)[
                "QueryExecution"
            ]["Status"]
            state = status["State"]
            if state in DONE:
                return Execution(execution_id, state, status.get("StateChangeReason", ""))
            if waited >= timeout_s:
                raise ConsoleError(
                    f"Athena query {execution_id} still {state} after {timeout_s:g} s"
                )
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)

    def rows(self, execution_id: str) -> list[dict[str, Any]]:
        """Every row of a finished query, as {column: value}."""
        rows: list[dict[str, Any]] = []
        columns: list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": 1000}
        first = True
        while True:
            page = self.client.get_query_results(**kwargs)
            if not columns:
                info = page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
                columns = [(c.get("Label") or c["Name"], c["Type"]) for c in info]
            data = page["ResultSet"]["Rows"]
            if first and data and _is_header(data[0], columns):
                data = data[1:]  # a SELECT's first row holds the column names
            first = False
            for row in data:
                cells = [cell.get("VarCharValue") for cell in row["Data"]]
                rows.append(
                    {
                        name: value(text, kind)
                        for (name, kind), text in zip(columns, cells, strict=True)
                    }
                )
            token = page.get("NextToken")
            if not token:
                return rows
            kwargs["NextToken"] = token

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run `sql` and return its rows; a failed query is a ConsoleError with Athena's reason."""
        execution = self.wait(self.start(sql))
        if execution.state != "SUCCEEDED":
            raise ConsoleError(
                f"Athena query {execution.state}: {execution.reason or 'no reason given'}"
            )
        return self.rows(execution.id)


def _is_header(row: dict[str, Any], columns: list[tuple[str, str]]) -> bool:
    return [cell.get("VarCharValue") for cell in row["Data"]] == [name for name, _ in columns]
