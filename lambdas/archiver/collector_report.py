"""What a collector tells its home after each scheduled discovery run: one small JSON object at
`<prefix>collectors/<account>/<region>.json` in the home's bucket (each collector writes only
its own), which `ivs-archive status` reads on the home to show every collector at once, in any
account, without credentials for any but the home's.

It holds the collector's backlog (its work queue), its dead letters, its archive lag over the
last hour (the `ArchiveLagSeconds` metric of this deployment's service, from CloudWatch) and what
the run did. A report that
fails to be written is logged and counted (`CollectorReportFailed`); the run's work stands.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from archiver.observability import NAMESPACE, SERVICE

FOLDER = "collectors"
LAG_WINDOW = timedelta(hours=1)
QUEUE_ATTRIBUTES = {
    "visible": "ApproximateNumberOfMessages",
    "in_flight": "ApproximateNumberOfMessagesNotVisible",
    "delayed": "ApproximateNumberOfMessagesDelayed",  # sessions to try again later
}


def report_key(prefix: str, account: str, region: str) -> str:
    return f"{prefix}{FOLDER}/{account}/{region}.json"


def place_of_function(function_arn: str) -> tuple[str, str]:
    """(account, region) of `arn:aws:lambda:REGION:ACCOUNT:function:NAME`."""
    parts = function_arn.split(":")
    if len(parts) < 7 or not parts[3] or not parts[4]:
        raise ValueError(f"not a function ARN: {function_arn!r}")
    return parts[4], parts[3]


def queue_depth(sqs: Any, url: str) -> dict[str, int]:
    """Messages waiting (`visible`), being archived (`in_flight`) and failed sessions waiting
    for their next try (`delayed`, archiver.retry)."""
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(QUEUE_ATTRIBUTES.values()))
    values = got.get("Attributes", {})
    return {key: int(values.get(name, 0)) for key, name in QUEUE_ATTRIBUTES.items()}


def archive_lag(cloudwatch: Any, now: datetime, service: str = SERVICE) -> dict[str, float] | None:
    """`ArchiveLagSeconds` (session end to archived) over the last hour: its maximum and
    average; None when nothing was archived in that hour. `service`: the deployment whose lag
    it is, by default the running function's own (archiver.observability), the one its archive
    function emits under; another deployment's lag in the same account is not this one's."""
    got = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="ArchiveLagSeconds",
        Dimensions=[{"Name": "service", "Value": service}],
        StartTime=now - LAG_WINDOW,
        EndTime=now,
        Period=int(LAG_WINDOW.total_seconds()),
        Statistics=["Maximum", "Average"],
    )
    points = got.get("Datapoints", [])
    if not points:
        return None
    return {
        "max": round(max(float(p["Maximum"]) for p in points), 1),
        "average": round(sum(float(p["Average"]) for p in points) / len(points), 1),
    }


def report(
    *,
    account: str,
    region: str,
    now: datetime,
    schedule: str,
    discovery: dict[str, Any],
    work_queue: dict[str, int],
    dead_letters: int,
    lag_s: dict[str, float] | None,
) -> dict[str, Any]:
    return {
        "account": account,
        "region": region,
        "reported_at": now.isoformat(timespec="seconds"),
        "schedule": schedule,
        "discovery": discovery,
        "work_queue": work_queue,
        "dead_letters": dead_letters,
        "lag_s": lag_s,
    }
