"""Every setting of the archive, defined once: its cdk.json context key, its environment
variable, its type, default, bounds and a one-line description.

- The stack reads the context (`Settings.from_context`: an invalid value or a mistyped key
  stops `cdk synth` with one line) and writes the functions' environment (`to_env`).
- The functions read that environment at cold start (`Settings.from_env`).
- The local pipeline builds the same model, its times and rates scaled like its simulated quota.
- `docs/configuration.md` is generated from it (`make docs`, `markdown_reference`).

A setting with no context key is not the user's to set: the stack fills it in (the ledger, the
queues, the function's timeout) or the local pipeline does (the simulated quota).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

STAGE_ARN_PATTERN = re.compile(r"^arn:aws:ivs:[a-z0-9-]+:[0-9]+:stage/[a-zA-Z0-9-]+$")
# The IVS Real-Time quota: 5 calls a second per operation per account and region, not adjustable.
IVS_TPS_QUOTA = 5.0
# The archive function's timeout, Lambda's longest: the longest an invocation can run.
INVOCATION_MS = 900_000
# ListParticipantEvents calls per participant, with a margin for paging and retries.
CALLS_PER_PARTICIPANT = 1.25
# Fewer participants per chunk than this would make a huge session thousands of chunks.
MIN_CHUNK_LIMIT = 10
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400)
LOG_RETENTION_DAYS += (545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
# The regions of IVS Real-Time (AWS docs, "Amazon IVS endpoints and quotas").
IVS_REALTIME_REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-south-1",
)
DEFAULT_NAME = "ivs-stage-archive"
# The CloudFormation stack of the default name: the one deployments before `name` existed use.
DEFAULT_STACK_NAME = "IvsStageArchive"
# A context key that replaced an older one, and what the older one must now be.
_RETIRED = {"databaseName": "name"}

_RATE = re.compile(r"^rate\((?P<n>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\(\S+( \S+){5}\)$")


def chunk_limit(worker_tps: float, *, invocation_ms: int, min_remaining_ms: int) -> int:
    """The most participants a chunk may hold so that it fits well inside one invocation: its
    calls, at one worker's rate, take at most half of the time an invocation may spend on chunks.
    A bigger chunk would time out in every invocation and end in the dead-letter queue."""
    usable_s = max(0, invocation_ms - min_remaining_ms) / 1000 / 2
    return int(worker_tps * usable_s / CALLS_PER_PARTICIPANT)


class SettingsError(ValueError):
    """A setting is invalid or missing; the message names its context key or variable."""


# --- value types: each accepts what cdk.json (JSON), `-c key=value` (a string) and the
# environment (a string) give, and refuses a boolean where a number is meant ---------------------


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


def _none_if_empty(value: object) -> object:
    return None if value == "" else value


def _arns(value: object) -> object:
    if isinstance(value, str):
        value = [arn.strip() for arn in value.split(",")]
    if isinstance(value, list | tuple):
        value = tuple(str(arn).strip() for arn in value if str(arn).strip())
        for arn in value:
            if not STAGE_ARN_PATTERN.match(arn):
                raise ValueError(f"must be a list of IVS stage ARNs: {arn!r} is not one")
    return value


PRINCIPAL_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+")


def _listed(value: object) -> object:
    """A list (JSON) or a comma-separated string (`-c key=a,b`) as a tuple of non-empty items."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, list | tuple):
        return tuple(str(item).strip() for item in value if str(item).strip())
    return value


def _regions(value: tuple[str, ...]) -> tuple[str, ...]:
    wrong = [region for region in value if region not in IVS_REALTIME_REGIONS]
    if wrong:
        raise ValueError(
            f"must be regions of IVS Real-Time ({', '.join(IVS_REALTIME_REGIONS)}): "
            f"{', '.join(map(repr, wrong))} is not one"
        )
    if len(set(value)) != len(value):
        raise ValueError("must name each region once")
    return value


def _accounts(value: tuple[str, ...]) -> tuple[str, ...]:
    wrong = [account for account in value if not re.fullmatch(r"[0-9]{12}", account)]
    if wrong:
        raise ValueError(f"must be 12-digit AWS account ids: {', '.join(map(repr, wrong))}")
    return value


def _principals(value: tuple[str, ...]) -> tuple[str, ...]:
    wrong = [arn for arn in value if not PRINCIPAL_ARN.fullmatch(arn)]
    if wrong:
        raise ValueError(
            "must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name>): "
            f"{', '.join(map(repr, wrong))} is not one"
        )
    return value


def _schedule(value: str) -> str:
    rate = _RATE.match(value)
    if (rate and (rate["n"] == "1") != rate["unit"].endswith("s")) or _CRON.match(value):
        return value
    raise ValueError("must be an EventBridge expression such as 'rate(1 minute)'")


def schedule_interval(expression: str) -> dt.timedelta:
    """How often an EventBridge schedule fires: a `rate(...)`'s interval; for a `cron(...)`, a
    day, the longest it may reasonably be."""
    rate = _RATE.match(expression.strip())
    if not rate:
        return dt.timedelta(days=1)
    unit = rate["unit"] if rate["unit"].endswith("s") else rate["unit"] + "s"
    return dt.timedelta(**{unit: int(rate["n"])})


def _retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError("must be a CloudWatch Logs retention period")
    return value


def _past_date(value: str) -> str:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or len(value) != 10 or day > dt.date.today():
        raise ValueError("must be a date yyyy-MM-dd, not in the future")
    return value


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]
OptionalText = Annotated[str | None, BeforeValidator(_none_if_empty)]
Text = Annotated[str, BeforeValidator(lambda value: "" if value is None else value)]


def setting(
    default: Any,
    *,
    key: str | None,
    env: str | None,
    description: str,
    allowed: str | None = None,
    **bounds: Any,
) -> Any:
    """A field with its context `key`, its environment variable `env` (None: not the user's /
    not the functions'), and `allowed` (how the docs state a rule that no bound shows)."""
    extra: dict[str, str | None] = {"key": key, "env": env, "allowed": allowed}
    return Field(default, description=description, json_schema_extra=extra, **bounds)  # type: ignore[arg-type]


class Settings(BaseModel):
    # Python's regular expressions: the bucket name's rules need look-ahead.
    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")

    # --- the deployment: cdk.json context -----------------------------------------------------
    name: str = setting(
        DEFAULT_NAME,
        key="name",
        env="ARCHIVE_NAME",
        pattern=r"^[a-z][a-z0-9-]{0,62}$",
        allowed="`[a-z][a-z0-9-]*`, up to 63",
        description="Names this deployment: the Glue database (with `_` for `-`), Athena "
        "workgroup, dashboard and alarms, and the stack (`IvsStageArchive` for the default). "
        "Give a second stack in the same account and region its own.",
    )
    bucket_name: Text = setting(
        "",
        key="bucketName",
        env="ARCHIVE_BUCKET",
        pattern=r"^$|^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        allowed="empty, or an existing bucket's name",
        description="Archive into this existing bucket instead of creating one (its settings "
        "are yours). The functions get the archive bucket's name either way.",
    )
    prefix: str = setting(
        "",
        key="prefix",
        env="ARCHIVE_PREFIX",
        pattern=r"^(?:[A-Za-z0-9_.=-]+/)*$",
        allowed="empty, or `segment/...` ending with `/`",
        description="Key prefix of the archive's folders in the bucket.",
    )
    schedule: Annotated[str, AfterValidator(_schedule)] = setting(
        "rate(1 minute)",
        key="schedule",
        env="DISCOVERY_SCHEDULE",
        allowed="`rate(...)` or `cron(...)`",
        description="How often discovery runs (IVS has no session-ended event): a run looks at "
        "ListStages (one call per 100 stages) while a stage has a live session or an IVS event "
        "named one, else every idleLookMinutes, and always within discoveryQuotaShare. A run "
        "lists for at most 80% of this interval, so that the next one looks on time.",
    )
    discovery_quota_share: Float = setting(
        0.2,
        key="discoveryQuotaShare",
        env="DISCOVERY_QUOTA_SHARE",
        ge=0.02,
        le=0.5,
        description="The most of each IVS operation's quota discovery spends (ListStages, "
        "ListStageSessions): 0.2 is 1 call a second, with a minute's worth (60 calls) saved up "
        "at most. What it does not cover is left to a later run (only the first pass after a "
        "deployment waits for it). A run that meets a 429 (your application using the quota) "
        "owes a minute's worth, twice as much for each such run in a row, up to eight minutes'.",
    )
    idle_look_minutes: Int = setting(
        5,
        key="idleLookMinutes",
        env="IDLE_LOOK_MINUTES",
        ge=1,
        le=60,
        description="How often discovery looks at ListStages while no stage has a live session "
        "and no IVS event named one (a session that starts and ends meanwhile is found through "
        "its IVS events, or by the reconcile).",
    )
    api_tps_budget: Float = setting(
        4.0,
        key="apiTpsBudget",
        env="API_TPS_BUDGET",
        gt=0,
        allowed="0 < x <= 5 (the IVS quota)",
        description="Calls per second per IVS operation for the whole deployment (the quota "
        "is 5, shared with your own application).",
    )
    archive_concurrency: Int = setting(
        2,
        key="archiveConcurrency",
        env="ARCHIVE_CONCURRENCY",
        ge=2,
        le=20,
        description="Archive workers at once (at least 2, the SQS event source's minimum); "
        "those running at one moment share apiTpsBudget. Refused when a worker's share, "
        "apiTpsBudget / archiveConcurrency, leaves room for fewer than 10 participants per "
        "chunk.",
    )
    api_threads: Int = setting(
        8,
        key="apiThreads",
        env="API_THREADS",
        ge=1,
        le=64,
        description="Threads per worker that keep the rate budget busy despite call latency.",
    )
    participant_details: Literal["on", "off"] = setting(
        "on",
        key="participantDetails",
        env="PARTICIPANT_DETAILS",
        description="Call GetParticipant for each participant (client, OS, SDK, attributes).",
    )
    chunk_size: Int = setting(
        500,
        key="chunkSize",
        env="CHUNK_SIZE",
        ge=1,
        le=10_000,
        description="Most participants per Parquet chunk (and ledger checkpoint). The archiver "
        "lowers it to what fits well inside one invocation at a worker's rate: 624 with the "
        "defaults, 62 with archiveConcurrency 20.",
    )
    lookback_days: Int = setting(
        14,
        key="lookbackDays",
        env="LOOKBACK_DAYS",
        ge=1,
        le=3650,
        description="How far back discovery looks for ended sessions.",
    )
    reconcile_interval_minutes: Int = setting(
        120,
        key="reconcileIntervalMinutes",
        env="RECONCILE_INTERVAL_MINUTES",
        ge=0,
        le=10_080,
        description="How often discovery lists the sessions of every stage (0: on every run): "
        "the longest a session that started and ended between two runs, on a stage idle at "
        "both, whose IVS events were all lost, waits to be found. Each reconcile is one "
        "ListStageSessions call per stage.",
    )
    stage_allow_list: Annotated[tuple[str, ...], BeforeValidator(_arns)] = setting(
        (),
        key="stageAllowList",
        env="STAGE_ALLOW_LIST",
        allowed="a list (or comma-separated string) of stage ARNs",
        description="Archive only these stages (IAM is scoped to them too); empty: every stage.",
    )
    data_lifecycle_days: Int = setting(
        30,
        key="dataLifecycleDays",
        env=None,
        ge=0,
        le=3650,
        description="Move archived objects to S3 Intelligent-Tiering after N days (0: never).",
    )
    log_retention_days: Annotated[Int, AfterValidator(_retention)] = setting(
        30,
        key="logRetentionDays",
        env=None,
        allowed="a CloudWatch Logs retention: " + ", ".join(map(str, LOG_RETENTION_DAYS)),
        description="Retention of the functions' log groups.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = setting(
        "INFO",
        key="logLevel",
        env="POWERTOOLS_LOG_LEVEL",
        description="Powertools log level of the functions.",
    )
    alarm_email: OptionalText = setting(
        None,
        key="alarmEmail",
        env=None,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        allowed="empty, or an e-mail address",
        description="Subscribe this address to the alarm topic.",
    )
    encryption: Literal["S3_MANAGED", "KMS"] = setting(
        "S3_MANAGED",
        key="encryption",
        env=None,
        description="Encryption of the created buckets and Athena results (KMS: a new key, "
        "rotated).",
    )
    bucket_kms_key_arn: OptionalText = setting(
        None,
        key="bucketKmsKeyArn",
        env=None,
        pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$",
        allowed="empty, or a KMS key ARN",
        description="With bucketName: the KMS key that bucket's default encryption (SSE-KMS) "
        "uses. Every role that reads or writes the bucket gets kms:Decrypt and "
        "kms:GenerateDataKey on it; its key policy must let the account's IAM policies grant "
        "them (docs/deployment.md).",
    )
    lake_formation: bool = setting(
        False,
        key="lakeFormation",
        env=None,
        allowed="`true` or `false`",
        description="The Glue catalog is governed by Lake Formation: the stack grants its own "
        "roles (tables resource, archive function, optimizers) what they need through Lake "
        "Formation, and athenaPrincipals SELECT on the three tables (docs/deployment.md).",
    )
    athena_principals: Annotated[
        tuple[str, ...], BeforeValidator(_listed), AfterValidator(_principals)
    ] = setting(
        (),
        key="athenaPrincipals",
        env=None,
        allowed="IAM role or user ARNs, comma-separated",
        description="With lakeFormation: these principals may SELECT from the three query "
        "tables (and describe their database).",
    )
    partition_start_date: Annotated[str, AfterValidator(_past_date)] = setting(
        "2023-01-01",
        key="partitionStartDate",
        env=None,
        allowed="`yyyy-MM-dd`, not in the future",
        description="First `dt` of the landing tables' partition projection (it ends at NOW).",
    )
    bytes_scanned_cutoff_mb: Int = setting(
        10_000,
        key="bytesScannedCutoffMb",
        env=None,
        ge=10,
        le=10_000_000,
        description="Athena workgroup limit on data scanned per query, in MB (10^6 bytes).",
    )
    landing_retention_days: Int = setting(
        30,
        key="landingRetentionDays",
        env=None,
        ge=0,
        le=3650,
        description="Delete the archiver's landing objects N days after they were written (0: "
        "keep them); the Iceberg query tables hold every committed session.",
    )

    # --- places: one home, a collector per (account, region) ---------------------------------
    regions: Annotated[tuple[str, ...], BeforeValidator(_listed), AfterValidator(_regions)] = (
        setting(
            (),
            key="regions",
            env=None,
            allowed="IVS Real-Time regions, comma-separated",
            description="A collector stack in each of these regions, all committing into one home "
            "(`cdk deploy --all`). Empty: one stack in the CDK's region, home and collector in "
            "one.",
        )
    )
    home_region: OptionalText = setting(
        None,
        key="homeRegion",
        env="HOME_REGION",
        pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$",
        allowed="empty, or an AWS region",
        description="The home's region (bucket, Glue database and tables, Athena): the first of "
        "`regions` when empty.",
    )
    home_account: OptionalText = setting(
        None,
        key="homeAccount",
        env="HOME_ACCOUNT",
        pattern=r"^[0-9]{12}$",
        allowed="empty, or a 12-digit account id",
        description="In a collector account: the home's account (only collectors are deployed "
        "here). Empty: this account is the home.",
    )
    collector_accounts: Annotated[
        tuple[str, ...], BeforeValidator(_listed), AfterValidator(_accounts)
    ] = setting(
        (),
        key="collectorAccounts",
        env=None,
        allowed="12-digit account ids, comma-separated",
        description="Other accounts whose collectors the home lets write into it (bucket, key "
        "and Glue catalog policies name exactly these).",
    )
    organization_id: OptionalText = setting(
        None,
        key="organizationId",
        env=None,
        pattern=r"^o-[a-z0-9]{10,32}$",
        allowed="empty, or an organization id `o-...`",
        description="Instead of collectorAccounts: let the collectors of every account of this "
        "AWS Organization write into the home.",
    )

    # --- filled in by the stack (or the local pipeline) ----------------------------------------
    ledger_table: str = setting(
        "", key=None, env="LEDGER_TABLE", description="The DynamoDB ledger table."
    )
    queue_url: str = setting("", key=None, env="WORK_QUEUE_URL", description="The SQS work queue.")
    dead_letter_queue_url: OptionalText = setting(
        None,
        key=None,
        env="DEAD_LETTER_QUEUE_URL",
        description="Where a malformed message goes at once (instead of being retried until "
        "SQS moves it).",
    )
    iceberg_catalog: str = setting(
        "glue",
        key=None,
        env="ICEBERG_CATALOG",
        pattern=r"^(glue|sqlite:///.+)$",
        allowed="`glue`, or `sqlite:///<folder>/catalog.db`",
        description="Where the query tables are committed: Glue, or a local SQL catalog.",
    )
    invocation_ms: Int = setting(
        INVOCATION_MS,
        key=None,
        env="INVOCATION_MS",
        gt=0,
        le=INVOCATION_MS,
        description="The archive function's timeout (the stack sets it from this), which "
        "chunks are sized to fit.",
    )
    min_remaining_ms: Int = setting(
        120_000,
        key=None,
        env="MIN_REMAINING_MS",
        ge=0,
        description="Stop between chunks (and continue in a new invocation) when less time "
        "than this, or than the next chunk needs at the worker's rate, is left; discovery too.",
    )
    rate_share_ms: Int = setting(
        5000,
        key=None,
        env="RATE_SHARE_MS",
        gt=0,
        description="How often archive workers running at once renew their share of the "
        "budget in the ledger.",
    )
    commit_interval_ms: Int = setting(
        5000,
        key="commitIntervalMs",
        env="COMMIT_INTERVAL_MS",
        ge=0,
        le=60_000,
        description="The least time between two commits of a worker into the query tables "
        "(each adds a snapshot). With many places committing into one home, a longer one "
        "commits more sessions a round and fewer rounds (docs/places.md).",
    )
    retry_delay_max_ms: Int = setting(
        900_000,
        key=None,
        env="RETRY_DELAY_MAX_MS",
        ge=1,
        le=900_000,
        description="The longest wait before a session that failed is tried again (SQS's "
        "longest message delay, 15 minutes); the first is a thirtieth of it, doubling "
        "(archiver.retry).",
    )
    ivs_tps_quota: Float = setting(
        IVS_TPS_QUOTA,
        key=None,
        env="IVS_TPS_QUOTA",
        gt=0,
        description="The IVS quota apiTpsBudget must fit in: 5 in AWS (not adjustable); the "
        "local pipeline's simulated quota.",
    )

    @model_validator(mode="after")
    def _fits(self) -> Settings:
        if self.collector_accounts and self.organization_id:
            raise ValueError(
                "'collectorAccounts' and 'organizationId': give one, the accounts or the "
                "organization the home trusts"
            )
        if self.home_account and (self.collector_accounts or self.organization_id):
            raise ValueError(
                "'homeAccount' is for a collector account, 'collectorAccounts' and "
                "'organizationId' for the home's: give them in their own accounts' deployments"
            )
        if self.home_account and not self.regions:
            raise ValueError("'homeAccount': the collectors of this account need 'regions'")
        if self.bucket_kms_key_arn and not self.bucket_name:
            raise ValueError(
                "'bucketKmsKeyArn': the key of an existing bucket; give that bucket's "
                "'bucketName' too"
            )
        if self.athena_principals and not self.lake_formation:
            raise ValueError(
                "'athenaPrincipals': granted through Lake Formation; set 'lakeFormation' to "
                "true (without it, IAM policies grant Athena users)"
            )
        if self.api_tps_budget > self.ivs_tps_quota:
            raise ValueError(
                f"'apiTpsBudget': must be at most the IVS quota, {self.ivs_tps_quota:g} calls a "
                f"second per operation (got {self.api_tps_budget:g})"
            )
        if self.chunk_limit < MIN_CHUNK_LIMIT:
            raise ValueError(self._too_slow())
        return self

    def _too_slow(self) -> str:
        def limit(workers: int) -> int:
            return chunk_limit(
                self.api_tps_budget / workers,
                invocation_ms=self.invocation_ms,
                min_remaining_ms=self.min_remaining_ms,
            )

        fits = [n for n in range(2, self.archive_concurrency) if limit(n) >= MIN_CHUNK_LIMIT]
        remedy = "raise apiTpsBudget"
        if fits:
            remedy = f"lower archiveConcurrency to {max(fits)} or less, or {remedy}"
        return (
            f"'apiTpsBudget' ({self.api_tps_budget:g}) and 'archiveConcurrency' "
            f"({self.archive_concurrency}): at each worker's {self.worker_tps:.3g} calls/s a "
            f"chunk that fits well inside one invocation holds {self.chunk_limit} participants, "
            f"below the minimum of {MIN_CHUNK_LIMIT}: {remedy}"
        )

    # --- what follows from the settings -------------------------------------------------------
    @property
    def database_name(self) -> str:
        """The Glue database (and Athena's, the Iceberg namespace): `name` with '-' as '_'."""
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

    @property
    def chunk_limit(self) -> int:
        """The most participants a chunk may hold at each worker's rate (the archiver lowers
        chunkSize to it)."""
        return chunk_limit(
            self.worker_tps,
            invocation_ms=self.invocation_ms,
            min_remaining_ms=self.min_remaining_ms,
        )

    @property
    def with_participant_details(self) -> bool:
        return self.participant_details == "on"

    def allows(self, stage_arn: str) -> bool:
        return not self.stage_allow_list or stage_arn in self.stage_allow_list

    # --- reading and writing ----------------------------------------------------------------
    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Settings:
        """The deployment's settings from the CDK context (cdk.json and `-c key=value`). A key
        that looks like one of ours but is not (a typo) is refused, naming the key it probably
        meant; keys that are not ours (CDK's feature flags) are left alone."""
        import difflib  # the stack's, not the functions': not loaded at their cold start

        keys = context_keys()
        for given in context:
            if given in keys:
                continue
            if given in _RETIRED:
                continue
            close = difflib.get_close_matches(given, [*keys, *_RETIRED], n=1, cutoff=0.8)
            if close:
                raise SettingsError(
                    f"unknown context key {given!r}: did you mean {close[0]!r}? "
                    "(docs/configuration.md lists every key)"
                )
        values = {keys[key]: raw for key, raw in context.items() if key in keys and raw is not None}
        settings = _validated(values, by=keys, kind="context")
        if "databaseName" in context and context["databaseName"] != settings.database_name:
            _retired("databaseName", context, settings.database_name)
        return settings

    @classmethod
    def checked(cls, **values: Any) -> Settings:
        """Settings from field values, or SettingsError naming each field that was wrong."""
        return _validated(values, by={name: name for name in values}, kind="settings")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The functions' settings from their environment, as the stack (or the local
        pipeline) wrote it: the archive bucket, ledger and work queue are required."""
        env = os.environ if environ is None else environ
        variables = env_vars()
        values = {name: env[var] for var, name in variables.items() if var in env}
        settings = _validated(values, by=variables, kind="archiver settings")
        missing = [
            var
            for var in ("ARCHIVE_BUCKET", "LEDGER_TABLE", "WORK_QUEUE_URL")
            if not getattr(settings, variables[var])
        ]
        if missing:
            raise SettingsError(f"invalid archiver settings: {', '.join(missing)}: required")
        return settings

    def to_env(self) -> dict[str, str]:
        """Every setting the functions read, as environment variables (unset: left out)."""
        out = {}
        for name, var in _fields("env").items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, float):
                value = f"{value:g}" if value != float("inf") else "inf"
            out[var] = str(value)
        return out

    def to_context(self) -> dict[str, Any]:
        """Every context key and its value, as cdk.json writes it."""
        out: dict[str, Any] = {}
        for name, key in _fields("key").items():
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            out[key] = list(value) if isinstance(value, tuple) else ("" if value is None else value)
        return out

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of the setting `name` (what the stack deploys)."""
        return cls.model_fields[name].default

    @classmethod
    def bound(cls, name: str, which: Literal["ge", "le", "gt", "lt"]) -> Any:
        """A bound of the setting `name` (`le`: its most), None if it has none."""
        return next(
            (
                getattr(rule, which)
                for rule in cls.model_fields[name].metadata
                if hasattr(rule, which)
            ),
            None,
        )


# How often the stack's schedule runs discovery (what the local live replay and the fleet
# benchmark fire it at, in simulated time).
DEFAULT_SCHEDULE_INTERVAL = schedule_interval(Settings.default("schedule"))


def context_keys() -> dict[str, str]:
    """Every context key (cdk.json) -> its setting's field name."""
    return {key: name for name, key in _fields("key").items()}


def env_vars() -> dict[str, str]:
    """Every environment variable the functions read -> its setting's field name."""
    return {var: name for name, var in _fields("env").items()}


def _fields(kind: Literal["key", "env"]) -> dict[str, str]:
    """Field name -> its context key or environment variable, for those that have one."""
    found = {}
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra
        value = extra.get(kind) if isinstance(extra, dict) else None
        if isinstance(value, str):
            found[name] = value
    return found


def _validated(values: dict[str, Any], *, by: dict[str, str], kind: str) -> Settings:
    """`values` (field name -> raw) as Settings, or one line naming each key or variable (`by`:
    key -> field name) that was wrong and what it must be."""
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        named = {name: key for key, name in by.items()}
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if not error["loc"]:  # a rule of several settings: its message names them
                problems.append(message)
                continue
            field = str(error["loc"][0])
            if error["type"] != "value_error":  # a bound, a pattern, a type: what it accepts
                message = f"must be {_allowed(field)}"
            problems.append(f"{named.get(field, field)!r}: {message} (got {values.get(field)!r})")
        raise SettingsError(f"invalid {kind}: " + "; ".join(problems)) from None


def _allowed(name: str) -> str:
    """What the setting `name` accepts, in words: its `allowed`, its choices or its bounds."""
    field = Settings.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if extra.get("allowed"):
        return str(extra["allowed"])
    choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
    if choices:
        return ", ".join(f"`{choice}`" for choice in choices)
    low, high = Settings.bound(name, "ge"), Settings.bound(name, "le")
    above = Settings.bound(name, "gt")
    if low is not None and high is not None:
        return f"{low} to {high}"
    if low is not None:
        return f"at least {low}"
    if above is not None:
        return f"more than {above}" + (f", at most {high}" if high is not None else "")
    return "any"


def markdown_reference() -> str:
    """docs/configuration.md's tables: every setting, from this model."""

    def default(name: str) -> str:
        value = Settings.default(name)
        if value in (None, "", ()):
            return "(empty)"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return f"`{value}`"

    def table(names: list[str], first: Literal["key", "env"]) -> list[str]:
        keys, variables = _fields("key"), _fields("env")
        rows = [
            f"| {'key' if first == 'key' else 'variable'} | "
            + ("variable | " if first == "key" else "")
            + "default | allowed | meaning |",
            "|---|---|---|---|" + ("---|" if first == "key" else ""),
        ]
        for name in names:
            field = Settings.model_fields[name]
            cells = [f"`{keys[name]}`"] if first == "key" else []
            cells.append(f"`{variables[name]}`" if name in variables else "(none)")
            cells += [default(name), _allowed(name), field.description or ""]
            rows.append("| " + " | ".join(cells) + " |")
        return rows

    context = list(_fields("key"))
    wired = [name for name in _fields("env") if name not in context]
    return "\n".join(
        [
            "### cdk.json context",
            "",
            *table(context, "key"),
            "",
            "### Set by the stack",
            "",
            *table(wired, "env"),
            "",
        ]
    )


def _retired(key: str, context: Mapping[str, Any], allowed: str | None = None) -> None:
    """`databaseName` was replaced by `name`: refuse a value that `name` would not give, rather
    than rename (replace) the Glue database without a word."""
    raw = context[key]
    if allowed is not None and raw != allowed:
        suggested = str(raw).replace("_", "-")
        raise SettingsError(
            f"invalid context: {key!r}: must be unset: the Glue database is now named after "
            f"{_RETIRED[key]!r} (name={suggested!r} gives {raw!r}) (got {raw!r})"
        )
