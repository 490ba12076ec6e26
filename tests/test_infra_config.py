"""cdk.json context: defaults, JSON and CLI (string) values, and errors naming the key."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archiver.settings import Settings
from infra.config import (
    CONTEXT_KEYS,
    ArchiveConfig,
    ConfigError,
    context_reference,
    defaults_as_context,
)

ROOT = Path(__file__).resolve().parent.parent
STAGE = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"


def parse(**context: object) -> ArchiveConfig:
    return ArchiveConfig.from_context(context.get)


def test_cdk_json_holds_every_key_with_its_default() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert {k: context[k] for k in CONTEXT_KEYS} == defaults_as_context()
    assert ArchiveConfig.from_context(context.get) == ArchiveConfig()


def test_defaults_agree_with_the_runtime_settings() -> None:
    config, settings = ArchiveConfig(), Settings(bucket="bkt", ledger_table="tbl", queue_url="q")
    assert config.api_tps_budget == settings.api_tps_budget
    assert config.chunk_size == settings.chunk_size
    assert config.lookback_days == settings.lookback_days
    assert config.api_threads == settings.api_threads
    assert config.participant_details == settings.participant_details
    assert config.reconcile_interval_minutes == settings.reconcile_interval_minutes


def test_cli_strings_and_json_values_parse_alike() -> None:
    from_cli = parse(
        apiTpsBudget="2.5",
        archiveConcurrency="5",
        stageAllowList=f"{STAGE}, {STAGE[:-1]}7",
        participantDetails="off",
        alarmEmail="ops@example.com",
        bucketName="my-archive.bucket",
        prefix="ivs/archive/",
        schedule="cron(0/15 * * * ? *)",
    )
    assert from_cli.api_tps_budget == 2.5
    assert from_cli.archive_concurrency == 5
    assert from_cli.worker_tps == 0.5
    assert from_cli.stage_allow_list == (STAGE, STAGE[:-1] + "7")
    assert parse(stageAllowList=[STAGE]).stage_allow_list == (STAGE,)
    assert (from_cli.participant_details, from_cli.alarm_email) == ("off", "ops@example.com")
    assert (from_cli.bucket_name, from_cli.prefix) == ("my-archive.bucket", "ivs/archive/")
    assert parse(bucketName="", alarmEmail="").bucket_name is None
    assert parse(schedule="rate(1 hour)").schedule == "rate(1 hour)"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("apiTpsBudget", 0),
        ("apiTpsBudget", 5.01),
        ("apiTpsBudget", "fast"),
        ("apiTpsBudget", True),
        ("archiveConcurrency", 1),
        ("archiveConcurrency", 21),
        ("archiveConcurrency", "2.5"),
        ("apiThreads", 0),
        ("chunkSize", 10_001),
        ("lookbackDays", 0),
        ("reconcileIntervalMinutes", -1),
        ("dataLifecycleDays", 3651),
        ("logRetentionDays", 31),
        ("logLevel", "TRACE"),
        ("participantDetails", True),
        ("participantDetails", "yes"),
        ("schedule", "rate(10 minute)"),
        ("schedule", "rate(1 minutes)"),
        ("schedule", "every 10 minutes"),
        ("schedule", "cron(0 * * *)"),
        ("stageAllowList", ["arn:aws:ivs:us-east-1:123456789012:channel/abc"]),
        ("stageAllowList", 42),
        ("bucketName", "Upper_Case"),
        ("bucketName", "ab"),
        ("prefix", "/leading/"),
        ("prefix", "no-trailing-slash"),
        ("alarmEmail", "not-an-address"),
        ("encryption", "SSE-C"),
        ("partitionStartDate", "2023-1-1"),
        ("partitionStartDate", "2999-01-01"),
        ("bytesScannedCutoffMb", 9),
        ("name", ""),
        ("name", "Has-Upper"),
        ("name", "has_underscore"),
        ("name", "9-starts-with-a-digit"),
        ("name", "x" * 64),
        ("databaseName", "other_archive"),
    ],
)
def test_an_invalid_value_names_its_key_and_the_allowed_range(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"'{key}': must be .+\(got {re.escape(repr(value))}\)"):
        parse(**{key: value})


def test_one_name_gives_the_database_workgroup_and_stack_names() -> None:
    default = ArchiveConfig()
    assert (default.name, default.database_name) == ("ivs-stage-archive", "ivs_stage_archive")
    assert default.stack_name == "IvsStageArchive"  # the stack deployed before `name` existed
    staging = parse(name="ivs-archive-staging")
    assert (staging.database_name, staging.stack_name) == (
        "ivs_archive_staging",
        "ivs-archive-staging",
    )


def test_database_name_is_replaced_by_name() -> None:
    """An old cdk.json may still set databaseName: its default (or what `name` gives) is
    accepted; anything else is refused with the name that would give it."""
    assert parse(databaseName="ivs_stage_archive").database_name == "ivs_stage_archive"
    assert parse(name="a-b", databaseName="a_b").database_name == "a_b"
    with pytest.raises(ConfigError, match=r"'databaseName': .*name='other-archive'"):
        parse(databaseName="other_archive")


def test_every_key_is_validated() -> None:
    """Each key rejects at least one value (no key is passed through unchecked)."""
    rejected = set()
    for key in CONTEXT_KEYS:
        bad: object
        for bad in (-1, "-", [], {"a": 1}):
            try:
                parse(**{key: bad})
            except ConfigError:
                rejected.add(key)
    assert rejected == set(CONTEXT_KEYS)


def test_the_readme_documents_every_key() -> None:
    readme = (ROOT / "README.md").read_text()
    assert context_reference() in readme


def test_worker_rate_limits() -> None:
    """The stack refuses settings whose chunks could not fit an invocation (see
    test_infra_stack for the synth); here, the arithmetic and the remedies."""
    timing = {"invocation_ms": 900_000, "min_remaining_ms": 120_000}
    assert ArchiveConfig().check_worker_rate(**timing) == 624
    assert parse(archiveConcurrency=20).check_worker_rate(**timing) == 62
    with pytest.raises(ConfigError, match=r"holds 3 participants.*: raise apiTpsBudget$"):
        parse(apiTpsBudget=0.02).check_worker_rate(**timing)
