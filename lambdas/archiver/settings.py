"""Runtime settings, read from environment variables and validated once at cold start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

STAGE_ARN_PATTERN = re.compile(r"^arn:aws:ivs:[a-z0-9-]+:[0-9]+:stage/[a-zA-Z0-9-]+$")

# The archive function's timeout (infra/archiver.py): the longest an invocation can run.
INVOCATION_MS = 900_000
# ListParticipantEvents calls per participant, with a margin for paging and retries.
CALLS_PER_PARTICIPANT = 1.25
# Fewer participants per chunk than this would make a huge session thousands of chunks.
MIN_CHUNK_LIMIT = 10


def chunk_limit(worker_tps: float, *, invocation_ms: int, min_remaining_ms: int) -> int:
    """The most participants a chunk may hold so that it fits well inside one invocation: its
    calls, at one worker's rate, take at most half of the time an invocation may spend on chunks.
    A bigger chunk would time out in every invocation and end in the dead-letter queue."""
    usable_s = max(0, invocation_ms - min_remaining_ms) / 1000 / 2
    return int(worker_tps * usable_s / CALLS_PER_PARTICIPANT)


# Environment variable -> field. The CDK stack sets exactly these (infra/archiver.py).
ENV_VARS: dict[str, str] = {
    "ARCHIVE_BUCKET": "bucket",
    "ARCHIVE_PREFIX": "prefix",
    "LEDGER_TABLE": "ledger_table",
    "WORK_QUEUE_URL": "queue_url",
    "DEAD_LETTER_QUEUE_URL": "dead_letter_queue_url",
    "API_TPS_BUDGET": "api_tps_budget",
    "ARCHIVE_CONCURRENCY": "archive_concurrency",
    "API_THREADS": "api_threads",
    "PARTICIPANT_DETAILS": "participant_details",
    "CHUNK_SIZE": "chunk_size",
    "LOOKBACK_DAYS": "lookback_days",
    "RECONCILE_INTERVAL_MINUTES": "reconcile_interval_minutes",
    "STAGE_ALLOW_LIST": "stage_allow_list",
    "MIN_REMAINING_MS": "min_remaining_ms",
    "INVOCATION_MS": "invocation_ms",
    "RATE_SHARE_MS": "rate_share_ms",
    "COMMIT_INTERVAL_MS": "commit_interval_ms",
    "DATABASE_NAME": "database_name",
    "ICEBERG_CATALOG": "iceberg_catalog",
}


class SettingsError(ValueError):
    """A setting is missing or out of range; the message names the environment variable."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = ""
    ledger_table: str = Field(min_length=3)
    queue_url: str = Field(min_length=1)
    # Where a malformed message goes at once (instead of being retried until SQS moves it).
    dead_letter_queue_url: str | None = None
    # Calls per second per IVS operation for the whole deployment (the quota is 5).
    api_tps_budget: float = Field(default=4.0, gt=0)
    # Archive workers that may run at once; each gets api_tps_budget / archive_concurrency.
    archive_concurrency: int = Field(default=1, ge=1, le=100)
    # Threads per worker that keep the rate limiter's budget busy despite call latency.
    api_threads: int = Field(default=8, ge=1, le=64)
    participant_details: Literal["on", "off"] = "on"
    chunk_size: int = Field(default=500, ge=1, le=10_000)
    lookback_days: int = Field(default=14, ge=1, le=3650)
    reconcile_interval_minutes: int = Field(default=120, ge=0)
    stage_allow_list: tuple[str, ...] = ()
    # Stop between chunks (and continue in a new invocation) when less time than this, or than
    # the next chunk needs at this worker's rate, is left.
    min_remaining_ms: int = Field(default=120_000, ge=0)
    # The archive function's timeout, which chunks are sized to fit (chunk_limit).
    invocation_ms: int = Field(default=INVOCATION_MS, gt=0, le=INVOCATION_MS)
    # How often archive workers running at once renew their share of the budget
    # (archiver.rate_share).
    rate_share_ms: int = Field(default=5000, gt=0)
    # The least time between two commits of a worker into the query tables (group_commit.py).
    commit_interval_ms: int = Field(default=5000, ge=0)
    # The Glue database (the Iceberg namespace) of the query tables.
    database_name: str = Field(default="ivs_stage_archive", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    # Where the query tables are committed: `glue`, or `sqlite:///<folder>/catalog.db` locally.
    iceberg_catalog: str = Field(default="glue", pattern=r"^(glue|sqlite:///.+)$")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and (value.startswith("/") or not value.endswith("/")):
            raise ValueError("must be empty or end with '/' and not start with '/'")
        return value

    @field_validator("stage_allow_list", mode="before")
    @classmethod
    def _allow_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(arn.strip() for arn in value.split(",") if arn.strip())
        for arn in value if isinstance(value, tuple | list) else ():
            if not STAGE_ARN_PATTERN.match(arn):
                raise ValueError(f"{arn!r} is not a stage ARN")
        return value

    @property
    def worker_tps(self) -> float:
        """This worker's share of the budget, per IVS operation."""
        return self.api_tps_budget / self.archive_concurrency

    @property
    def with_participant_details(self) -> bool:
        return self.participant_details == "on"

    @property
    def tables_root(self) -> str:
        """Where the query tables' files go: `s3://<bucket>/<prefix>` in AWS."""
        from archiver.catalog import location_root

        return location_root(self.iceberg_catalog, self.bucket, self.prefix)

    def allows(self, stage_arn: str) -> bool:
        return not self.stage_allow_list or stage_arn in self.stage_allow_list

    @classmethod
    def default_ms(cls, name: str) -> int:
        """The default of the time setting `name` (..._ms): what the stack deploys."""
        value = cls.model_fields[name].default
        if not isinstance(value, int):
            raise TypeError(f"{name} has no integer default")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values = {field: env[var] for var, field in ENV_VARS.items() if var in env}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            by_field = {field: var for var, field in ENV_VARS.items()}
            problems = "; ".join(
                f"{by_field.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}"
                for err in exc.errors()
            )
            raise SettingsError(f"invalid archiver settings: {problems}") from None
