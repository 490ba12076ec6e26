"""Every collector of a deployment, as `ivs-archive status` shows them on the home: the reports
each collector's discovery writes into the home's bucket after its scheduled runs
(archiver.collector_report), read with the home's credentials alone, in any account.

A collector whose last report is older than three of its discovery intervals is *silent*: its
region's IVS or its stack is down, or it was deleted. A report that cannot be read is shown as
such, never as a crash.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from archiver.collector_report import FOLDER

SILENT_AFTER = 3  # discovery intervals without a report
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT = {"minute": "minutes", "hour": "hours", "day": "days"}


def interval(schedule: str) -> timedelta:
    """How often discovery runs: a `rate(...)` schedule's rate; a day for a `cron(...)` one
    (the longest it may reasonably be)."""
    rate = _RATE.match(schedule.strip())
    if not rate:
        return timedelta(days=1)
    unit = rate[2] if rate[2].endswith("s") else _UNIT[rate[2]]
    return timedelta(**{unit: int(rate[1])})


@dataclass(frozen=True)
class Collector:
    """One place's collector, as its last report says."""

    account: str
    region: str
    reported_at: datetime | None = None
    schedule: str = ""
    waiting: int = 0
    in_flight: int = 0
    dead_letters: int = 0
    lag_max_s: float | None = None
    discovery: dict[str, Any] = field(default_factory=dict)
    problem: str = ""  # why its report could not be read

    @property
    def place(self) -> str:
        return f"{self.account}/{self.region}"

    def silent(self, now: datetime) -> bool:
        if self.reported_at is None:
            return True
        return now - self.reported_at > SILENT_AFTER * interval(self.schedule)

    @classmethod
    def parse(cls, account: str, region: str, body: bytes) -> Collector:
        try:
            report = json.loads(body)
            queue = report["work_queue"]
            lag = report.get("lag_s") or {}
            return cls(
                account=account,
                region=region,
                reported_at=datetime.fromisoformat(report["reported_at"]),
                schedule=str(report.get("schedule", "")),
                waiting=int(queue["visible"]),
                in_flight=int(queue["in_flight"]),
                dead_letters=int(report["dead_letters"]),
                lag_max_s=float(lag["max"]) if "max" in lag else None,
                discovery=dict(report.get("discovery") or {}),
            )
        except (ValueError, KeyError, TypeError) as error:
            return cls(account, region, problem=f"unreadable report ({type(error).__name__})")


def read(s3: Any, bucket: str, prefix: str) -> list[Collector]:
    """Every collector that has reported into the home, by place."""
    found: list[Collector] = []
    paginator = s3.get_paginator("list_objects_v2")
    folder = f"{prefix}{FOLDER}/"
    for page in paginator.paginate(Bucket=bucket, Prefix=folder):
        for item in page.get("Contents", []):
            place = item["Key"].removeprefix(folder).removesuffix(".json")
            account, _, region = place.partition("/")
            if not region or "/" in region:
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found.append(Collector.parse(account, region, body))
    return sorted(found, key=lambda c: (c.account, c.region))


def chosen(collectors: list[Collector], account: str | None, region: str | None) -> list[Collector]:
    """Those of `account` and `region` (either None: any)."""
    return [
        c
        for c in collectors
        if (account is None or c.account == account) and (region is None or c.region == region)
    ]


def document(collector: Collector, now: datetime) -> dict[str, Any]:
    age = None if collector.reported_at is None else (now - collector.reported_at).total_seconds()
    return {
        "account": collector.account,
        "region": collector.region,
        "reported_at": collector.reported_at,
        "report_age_s": None if age is None else round(age, 1),
        "silent": collector.silent(now),
        "work_queue": {"waiting": collector.waiting, "in_flight": collector.in_flight},
        "dead_letters": collector.dead_letters,
        "archive_lag_max_s_1h": collector.lag_max_s,
        "last_discovery": collector.discovery,
        "problem": collector.problem or None,
    }
