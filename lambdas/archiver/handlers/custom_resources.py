"""The stack's CloudFormation custom resources, backed by the archiver's own code:

- `Custom::GlueDatabase`: the Glue database, created or adopted (a retained one).
- `Custom::IcebergTables`: the three Iceberg query tables (created, evolved, or adopted where the
  bucket and prefix put them) and the landing tables beside them.
- `Custom::CatalogPolicy` (with places): the collectors' statements in the catalog's policy.
- `Custom::LedgerSeed`: a new collector's ledger learns what the tables already hold.
- `Custom::LogRetention`: the Glue optimizers' log groups, with the stack's retention.

Delete keeps what they made (the archive outlives the stack), but for the catalog policy's
statements. Every answer, failures included, is PUT to the request's ResponseURL, and a timer
answers FAILED before the function's own timeout: a stack operation never waits for one.
"""

from __future__ import annotations

from archiver import compat

compat.pause_collector()  # until compat.handler_loaded(), this module's last line

import contextlib
import json
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from archiver.observability import logger

RESPONSE_TIMEOUT_S = 30
# CloudFormation shows at most this much of a failure's reason.
REASON_LIMIT = 1000
# The timer answers FAILED this long before the function would time out.
TIMEOUT_MARGIN_S = 20

Props = dict[str, Any]


def _database(props: Props, request: str) -> dict[str, str]:
    import boto3

    from archiver.landing_tables import ensure_database

    if request == "Delete":
        return {}
    return {"Database": ensure_database(boto3.client("glue"), str(props["DatabaseName"]))}


def _tables(props: Props, request: str) -> dict[str, str]:
    if request == "Delete":
        return {}
    import boto3

    from archiver.catalog import GLUE, open_catalog
    from archiver.landing_tables import ensure_landing_tables
    from archiver.tables import ensure_tables

    database, root = str(props["DatabaseName"]), str(props["LocationRoot"])
    if not root.endswith("/"):
        raise ValueError(f"LocationRoot must end with '/': {root!r}")
    changes = ensure_tables(open_catalog(GLUE), database, root)
    logger.info("query tables", extra={"changes": [c.__dict__ for c in changes]})
    landing = ensure_landing_tables(
        boto3.client("glue"), database, root, str(props["PartitionStartDate"])
    )
    return {c.table: c.action for c in changes} | landing


def _catalog_policy(props: Props, request: str) -> dict[str, str]:
    """The collectors' statements in the Glue catalog's resource policy: written, or (on
    delete) taken out, leaving every other statement as it was."""
    import boto3

    from archiver.catalog_policy import apply

    statements = [] if request == "Delete" else json.loads(str(props["Statements"]))
    done = apply(boto3.client("glue"), str(props["SidPrefix"]), statements)
    logger.info("catalog policy", extra={"done": done, "statements": len(statements)})
    return {"CatalogPolicy": done}


def _ledger_seed(props: Props, request: str) -> dict[str, str]:
    """Once, when the collector is created: its settings are the archive function's."""
    if request != "Create":
        return {}
    import os

    from archiver.catalog import home_properties, open_catalog
    from archiver.clock import now
    from archiver.ledger import Ledger
    from archiver.ledger_seed import lookback_start, seed_ledger
    from archiver.settings import Settings

    settings = Settings.from_env()
    marked = seed_ledger(
        open_catalog(
            settings.iceberg_catalog,
            home_properties(settings.home_account, settings.home_region),
        ),
        settings.database_name,
        Ledger(settings.ledger_table),
        account=str(props["Account"]),
        region=os.environ.get("AWS_REGION", ""),
        since=lookback_start(now(), settings.lookback_days),
    )
    logger.info("ledger seeded", extra={"archived": marked})
    return {"Archived": str(marked)}


def _log_retention(props: Props, request: str) -> dict[str, str]:
    """Shared by every optimizer of the account and region: created if missing, given the
    retention, and kept on delete."""
    if request == "Delete":
        return {}
    import boto3

    logs = boto3.client("logs")
    days = int(props["RetentionDays"])
    for name in props["LogGroupNames"]:
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=name)
        logs.put_retention_policy(logGroupName=name, retentionInDays=days)
    return {"RetentionDays": str(days)}


RESOURCES: dict[str, Callable[[Props, str], dict[str, str]]] = {
    "Custom::GlueDatabase": _database,
    "Custom::IcebergTables": _tables,
    "Custom::CatalogPolicy": _catalog_policy,
    "Custom::LedgerSeed": _ledger_seed,
    "Custom::LogRetention": _log_retention,
}


def handler(event: dict[str, Any], context: LambdaContext) -> None:
    request = str(event.get("RequestType"))
    kind = str(event.get("ResourceType"))
    physical_id = event.get("PhysicalResourceId") or f"{event.get('LogicalResourceId')}/{kind}"
    answer = _Answer(event, context, physical_id)
    timer = threading.Timer(
        max(1.0, context.get_remaining_time_in_millis() / 1000 - TIMEOUT_MARGIN_S),
        lambda: answer.send("FAILED", f"timed out: {kind} {request} did not finish in time"),
    )
    timer.daemon = True
    timer.start()
    try:
        if request not in ("Create", "Update", "Delete"):
            raise ValueError(f"unknown RequestType {request!r}")
        if kind not in RESOURCES:
            raise ValueError(f"unknown ResourceType {kind!r}")
        data = RESOURCES[kind](event.get("ResourceProperties", {}), request)
        status, reason = "SUCCESS", f"{request}: {json.dumps(data, sort_keys=True)}"
    except Exception as exc:
        logger.exception("custom resource", extra={"request": request, "type": kind})
        status, reason, data = "FAILED", f"{type(exc).__name__}: {exc}", {}
    finally:
        timer.cancel()
    answer.send(status, reason, data)


class _Answer:
    """The one answer to CloudFormation (the first of the work's and the timer's)."""

    def __init__(self, event: dict[str, Any], context: LambdaContext, physical_id: str) -> None:
        self.event, self.context, self.physical_id = event, context, physical_id
        self._lock = threading.Lock()
        self._sent = False

    def send(self, status: str, reason: str, data: dict[str, str] | None = None) -> None:
        with self._lock:
            if self._sent:
                return
            self._sent = True
        event = self.event
        body = json.dumps(
            {
                "Status": status,
                "Reason": f"{reason} (log stream {self.context.log_stream_name})"[:REASON_LIMIT],
                "PhysicalResourceId": self.physical_id,
                "StackId": event.get("StackId"),
                "RequestId": event.get("RequestId"),
                "LogicalResourceId": event.get("LogicalResourceId"),
                "NoEcho": False,
                "Data": data or {},
            }
        ).encode()
        request = urllib.request.Request(
            event["ResponseURL"],
            data=body,
            method="PUT",
            headers={"Content-Type": "", "Content-Length": str(len(body))},
        )
        with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_S) as response:
            response.read()


compat.handler_loaded()
