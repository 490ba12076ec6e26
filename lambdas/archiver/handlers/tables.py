"""CloudFormation custom resources: the Iceberg query tables in the Glue database, and (with
places) the collectors' statements in the Glue catalog's resource policy.

Tables: Create and Update run `ensure_tables` with the Glue catalog (create, evolve, or replace
the earlier version's Hive table of the same name); Delete keeps the tables, as the stack keeps
the archive. Catalog policy: Create and Update write the statements, Delete takes them out
(archiver.catalog_policy). The answer is PUT to the request's ResponseURL, failures included, so
that a stack operation never waits an hour for a handler that raised.
"""

from __future__ import annotations

from archiver import compat

compat.pause_collector()  # until compat.handler_loaded(), this module's last line

import json
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from archiver.observability import logger

CATALOG_POLICY = "Custom::CatalogPolicy"
RESPONSE_TIMEOUT_S = 30
# CloudFormation shows at most this much of a failure's reason.
REASON_LIMIT = 1000


def handler(event: dict[str, Any], context: LambdaContext) -> None:
    request = event.get("RequestType")
    props = event.get("ResourceProperties", {})
    policy = event.get("ResourceType") == CATALOG_POLICY
    physical_id = event.get("PhysicalResourceId") or (
        f"{props.get('SidPrefix')}/catalog-policy"
        if policy
        else f"{props.get('DatabaseName')}/iceberg-tables"
    )
    data: dict[str, str] = {}
    try:
        if request not in ("Create", "Update", "Delete"):
            raise ValueError(f"unknown RequestType {request!r}")
        if policy:
            data = _catalog_policy(props, remove=request == "Delete")
        elif request != "Delete":
            data = _ensure(props)
        status, reason = "SUCCESS", f"{request}: {json.dumps(data, sort_keys=True)}"
    except Exception as exc:
        logger.exception("query tables", extra={"request": request})
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    _respond(event, context, status, reason, physical_id, data)


def _ensure(props: dict[str, Any]) -> dict[str, str]:
    from archiver.catalog import GLUE, open_catalog
    from archiver.tables import ensure_tables

    database, root = str(props["DatabaseName"]), str(props["LocationRoot"])
    if not root.endswith("/"):
        raise ValueError(f"LocationRoot must end with '/': {root!r}")
    changes = ensure_tables(open_catalog(GLUE), database, root)
    logger.info("query tables", extra={"changes": [c.__dict__ for c in changes]})
    return {c.table: c.action for c in changes}


def _catalog_policy(props: dict[str, Any], *, remove: bool) -> dict[str, str]:
    """The collectors' statements in the Glue catalog's resource policy: written, or (on
    delete) taken out, leaving every other statement as it was."""
    import boto3

    from archiver.catalog_policy import apply

    statements = [] if remove else json.loads(str(props["Statements"]))
    done = apply(boto3.client("glue"), str(props["SidPrefix"]), statements)
    logger.info("catalog policy", extra={"done": done, "statements": len(statements)})
    return {"CatalogPolicy": done}


def _respond(
    event: dict[str, Any],
    context: LambdaContext,
    status: str,
    reason: str,
    physical_id: str,
    data: dict[str, str],
) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": f"{reason} (log stream {context.log_stream_name})"[:REASON_LIMIT],
            "PhysicalResourceId": physical_id,
            "StackId": event.get("StackId"),
            "RequestId": event.get("RequestId"),
            "LogicalResourceId": event.get("LogicalResourceId"),
            "NoEcho": False,
            "Data": data,
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
