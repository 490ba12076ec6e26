"""The stack's configuration: cdk.json context keys, each parsed and validated once at synth.

Values come from cdk.json (JSON types) or from `cdk deploy -c key=value` (strings), so every
parser accepts both. An invalid value raises ConfigError naming the key and the allowed range.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal, TypeVar

from archiver.settings import MIN_CHUNK_LIMIT, STAGE_ARN_PATTERN, chunk_limit

# The IVS Real-Time quota: 5 TPS per operation per account and region, not adjustable.
IVS_TPS_QUOTA = 5.0
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400)
LOG_RETENTION_DAYS += (545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

_BUCKET = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^(?:[A-Za-z0-9_.=-]+/)*$")
_RATE = re.compile(r"^rate\((?P<n>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\(\S+( \S+){5}\)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Lowercase, so that '-' -> '_' gives a Glue/Athena database name and no two names give one.
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
DEFAULT_NAME = "ivs-stage-archive"
# The CloudFormation stack of the default name: the one deployments before `name` existed use.
DEFAULT_STACK_NAME = "IvsStageArchive"

T = TypeVar("T")


class ConfigError(ValueError):
    """A context value is invalid; the message names the key and what it accepts."""


@dataclass(frozen=True)
class ArchiveConfig:
    """Every setting of the stack, typed. Field docs are the README's context table."""

    name: str = DEFAULT_NAME
    bucket_name: str | None = None
    prefix: str = ""
    schedule: str = "rate(10 minutes)"
    api_tps_budget: float = 4.0
    archive_concurrency: int = 2
    api_threads: int = 8
    participant_details: Literal["on", "off"] = "on"
    chunk_size: int = 500
    lookback_days: int = 14
    reconcile_interval_minutes: int = 120
    stage_allow_list: tuple[str, ...] = ()
    data_lifecycle_days: int = 30
    log_retention_days: int = 30
    log_level: str = "INFO"
    alarm_email: str | None = None
    encryption: Literal["S3_MANAGED", "KMS"] = "S3_MANAGED"
    partition_start_date: str = "2023-01-01"
    bytes_scanned_cutoff_mb: int = 10_000
    landing_retention_days: int = 30

    @property
    def database_name(self) -> str:
        """The Glue database (and Athena's): `name` with '-' as '_' (`ivs_stage_archive`)."""
        return self.name.replace("-", "_")

    @property
    def stack_name(self) -> str:
        """`IvsStageArchive` for the default name (an existing deployment keeps its stack),
        else the name itself."""
        return DEFAULT_STACK_NAME if self.name == DEFAULT_NAME else self.name

    @property
    def worker_tps(self) -> float:
        """Each archive worker's share of the budget, per IVS operation."""
        return self.api_tps_budget / self.archive_concurrency

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> ArchiveConfig:
        """Reads every key with `get` (e.g. `app.node.try_get_context`); None means default."""
        values: dict[str, Any] = {}
        for key, (field, parse, _, _) in CONTEXT_KEYS.items():
            raw = get(key)
            if raw is not None:
                values[field] = parse(key, raw)
        config = cls(**values)
        _no_database_name(config, get("databaseName"))
        return config

    def check_worker_rate(self, *, invocation_ms: int, min_remaining_ms: int) -> int:
        """The most participants a chunk may hold at each worker's rate (the archiver lowers
        chunkSize to it); ConfigError when that is below MIN_CHUNK_LIMIT, since a session would
        then need thousands of chunks and invocations."""
        limit = chunk_limit(
            self.worker_tps, invocation_ms=invocation_ms, min_remaining_ms=min_remaining_ms
        )
        if limit >= MIN_CHUNK_LIMIT:
            return limit
        fits = [
            workers
            for workers in range(2, self.archive_concurrency)
            if chunk_limit(
                self.api_tps_budget / workers,
                invocation_ms=invocation_ms,
                min_remaining_ms=min_remaining_ms,
            )
            >= MIN_CHUNK_LIMIT
        ]
        remedy = "raise apiTpsBudget"
        if fits:
            remedy = f"lower archiveConcurrency to {max(fits)} or less, or {remedy}"
        raise ConfigError(
            f"invalid context values for 'apiTpsBudget' ({self.api_tps_budget:g}) and "
            f"'archiveConcurrency' ({self.archive_concurrency}): at each worker's "
            f"{self.worker_tps:.3g} calls/s a chunk that fits well inside one invocation holds "
            f"{limit} participants, below the minimum of {MIN_CHUNK_LIMIT}: {remedy}"
        )


def _fail(key: str, allowed: str, raw: object) -> ConfigError:
    return ConfigError(f"invalid context value for '{key}': must be {allowed} (got {raw!r})")


def _no_database_name(config: ArchiveConfig, raw: object) -> None:
    """`databaseName` was replaced by `name`: refuse a value that `name` would not give, rather
    than rename (replace) the Glue database without a word."""
    if raw is not None and raw != config.database_name:
        suggested = str(raw).replace("_", "-")
        raise _fail(
            "databaseName",
            f"unset: the Glue database is now named after 'name' (name={suggested!r} gives "
            f"{raw!r})",
            raw,
        )


def _int(low: int, high: int, allowed: str | None = None) -> Callable[[str, object], int]:
    def parse(key: str, raw: object) -> int:
        text = str(raw).strip()
        if isinstance(raw, bool) or not re.fullmatch(r"-?[0-9]+", text):
            raise _fail(key, allowed or f"an integer from {low} to {high}", raw)
        value = int(text)
        if not low <= value <= high:
            raise _fail(key, allowed or f"an integer from {low} to {high}", raw)
        return value

    return parse


def _match(pattern: re.Pattern[str], allowed: str, empty: T) -> Callable[[str, object], str | T]:
    def parse(key: str, raw: object) -> str | T:
        if not isinstance(raw, str) or (raw and not pattern.match(raw)):
            raise _fail(key, allowed, raw)
        return raw or empty

    return parse


def _choice(*choices: str) -> Callable[[str, object], Any]:
    def parse(key: str, raw: object) -> str:
        if raw not in choices:
            raise _fail(key, "one of " + ", ".join(choices), raw)
        return str(raw)

    return parse


def _name(key: str, raw: object) -> str:
    if not isinstance(raw, str) or not _NAME.match(raw):
        raise _fail(key, "1 to 63 lowercase letters, digits and '-', starting with a letter", raw)
    return raw


def _budget(key: str, raw: object) -> float:
    try:
        value = float(str(raw)) if not isinstance(raw, bool) else -1.0
    except ValueError:
        value = -1.0
    if not 0 < value <= IVS_TPS_QUOTA:
        raise _fail(key, f"a number with 0 < x <= {IVS_TPS_QUOTA:g} (the IVS quota)", raw)
    return value


def _schedule(key: str, raw: object) -> str:
    allowed = "an EventBridge expression such as 'rate(10 minutes)' or 'cron(0/15 * * * ? *)'"
    text = raw if isinstance(raw, str) else ""
    rate = _RATE.match(text)
    if rate and (rate["n"] == "1") != rate["unit"].endswith("s"):
        return text
    if _CRON.match(text):
        return text
    raise _fail(key, allowed, raw)


def _allow_list(key: str, raw: object) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    allowed = "a list (or comma-separated string) of IVS stage ARNs"
    if not isinstance(items, list | tuple):
        raise _fail(key, allowed, raw)
    arns = tuple(str(item).strip() for item in items if str(item).strip())
    if not all(STAGE_ARN_PATTERN.match(arn) for arn in arns):
        raise _fail(key, allowed, raw)
    return arns


def _date(key: str, raw: object) -> str:
    try:
        day = dt.date.fromisoformat(str(raw))
    except ValueError:
        day = None
    if day is None or len(str(raw)) != 10 or day > dt.date.today():
        raise _fail(key, "a date yyyy-MM-dd, not in the future", raw)
    return str(raw)


def _retention(key: str, raw: object) -> int:
    allowed = "a CloudWatch Logs retention in days: " + ", ".join(map(str, LOG_RETENTION_DAYS))
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.isdigit() or int(text) not in LOG_RETENTION_DAYS:
        raise _fail(key, allowed, raw)
    return int(text)


# context key -> (dataclass field, parser, allowed values for the README, meaning)
CONTEXT_KEYS: dict[str, tuple[str, Callable[[str, Any], Any], str, str]] = {
    "name": (
        "name",
        _name,
        "`[a-z][a-z0-9-]*`, up to 63",
        "Names this deployment: the Glue database (with `_` for `-`), Athena workgroup, "
        "dashboard and alarms, and the stack (`IvsStageArchive` for the default). Give a "
        "second stack in the same account and region its own.",
    ),
    "bucketName": (
        "bucket_name",
        _match(_BUCKET, "an S3 bucket name (3-63 lowercase letters, digits, '.', '-')", None),
        "empty or an existing bucket's name",
        "Archive into this existing bucket instead of creating one (its settings are yours).",
    ),
    "prefix": (
        "prefix",
        _match(_PREFIX, "empty or path segments each ending with '/', e.g. 'ivs/'", ""),
        "empty or `segment/...`, ending with `/`",
        "Key prefix of the three table folders in the bucket.",
    ),
    "schedule": (
        "schedule",
        _schedule,
        "`rate(...)` or `cron(...)`",
        "How often discovery runs (IVS has no session-ended event).",
    ),
    "apiTpsBudget": (
        "api_tps_budget",
        _budget,
        "0 < x <= 5",
        "Calls per second per IVS operation for the whole deployment (the quota is 5, shared "
        "with your own application).",
    ),
    "archiveConcurrency": (
        "archive_concurrency",
        _int(2, 20, "an integer from 2 (the SQS event source minimum) to 20"),
        "2 to 20",
        "Archive workers at once; each gets apiTpsBudget / archiveConcurrency. Refused at synth "
        "when that rate leaves room for fewer than 10 participants per chunk (see chunkSize).",
    ),
    "apiThreads": (
        "api_threads",
        _int(1, 64),
        "1 to 64",
        "Threads per worker that keep the rate budget busy despite call latency.",
    ),
    "participantDetails": (
        "participant_details",
        _choice("on", "off"),
        "`on`, `off`",
        "Call GetParticipant for each participant (client, OS, SDK, attributes).",
    ),
    "chunkSize": (
        "chunk_size",
        _int(1, 10_000),
        "1 to 10000",
        "Most participants per Parquet chunk (and ledger checkpoint). The archiver lowers it to "
        "what fits well inside one invocation at a worker's rate: 624 with the defaults, 62 "
        "with archiveConcurrency 20.",
    ),
    "lookbackDays": (
        "lookback_days",
        _int(1, 3650),
        "1 to 3650",
        "How far back discovery looks for ended sessions.",
    ),
    "reconcileIntervalMinutes": (
        "reconcile_interval_minutes",
        _int(0, 10_080),
        "0 to 10080",
        "How often discovery lists the sessions of every stage (0: on every run): the longest "
        "a session that started and ended between two runs, on a stage idle at both, whose IVS "
        "events were all lost, waits to be found. Each reconcile is one ListStageSessions call "
        "per stage.",
    ),
    "stageAllowList": (
        "stage_allow_list",
        _allow_list,
        "list of stage ARNs",
        "Archive only these stages (IAM is scoped to them too); empty: every stage.",
    ),
    "dataLifecycleDays": (
        "data_lifecycle_days",
        _int(0, 3650),
        "0 to 3650",
        "Move archived objects to S3 Intelligent-Tiering after N days (0: never).",
    ),
    "logRetentionDays": (
        "log_retention_days",
        _retention,
        "a CloudWatch Logs retention value",
        "Retention of the two functions' log groups.",
    ),
    "logLevel": (
        "log_level",
        _choice("DEBUG", "INFO", "WARNING", "ERROR"),
        "`DEBUG`, `INFO`, `WARNING`, `ERROR`",
        "Powertools log level of the functions.",
    ),
    "alarmEmail": (
        "alarm_email",
        _match(_EMAIL, "empty or an e-mail address", None),
        "empty or an e-mail address",
        "Subscribe this address to the alarm topic.",
    ),
    "encryption": (
        "encryption",
        _choice("S3_MANAGED", "KMS"),
        "`S3_MANAGED`, `KMS`",
        "Encryption of the created buckets and Athena results (KMS: a new key, rotated).",
    ),
    "partitionStartDate": (
        "partition_start_date",
        _date,
        "`yyyy-MM-dd`, not in the future",
        "First `dt` of the partition projection range (it ends at NOW).",
    ),
    "bytesScannedCutoffMb": (
        "bytes_scanned_cutoff_mb",
        _int(10, 10_000_000),
        "10 to 10000000",
        "Athena workgroup limit on data scanned per query, in MB (10^6 bytes).",
    ),
    "landingRetentionDays": (
        "landing_retention_days",
        _int(0, 3650),
        "0 to 3650",
        "Delete the archiver's landing objects N days after they were written (0: keep them); "
        "the Iceberg query tables hold every committed session.",
    ),
}


if {f.name for f in fields(ArchiveConfig)} != {v[0] for v in CONTEXT_KEYS.values()}:
    raise AssertionError("CONTEXT_KEYS and ArchiveConfig disagree")


def defaults_as_context() -> dict[str, Any]:
    """The default of every key, as cdk.json writes it."""
    config = ArchiveConfig()
    out: dict[str, Any] = {}
    for key, (field, _, _, _) in CONTEXT_KEYS.items():
        value = getattr(config, field)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out[key] = list(value) if isinstance(value, tuple) else ("" if value is None else value)
    return out


def context_reference() -> str:
    """The README's context table, generated from CONTEXT_KEYS."""
    rows = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    for key, value in defaults_as_context().items():
        _, _, allowed, meaning = CONTEXT_KEYS[key]
        shown = f"`{value}`" if value not in ("", []) else "(empty)"
        rows.append(f"| `{key}` | {shown} | {allowed} | {meaning} |")
    return "\n".join(rows)
