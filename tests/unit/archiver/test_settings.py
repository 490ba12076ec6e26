"""archiver.settings, the one definition of every setting: cdk.json context (defaults, JSON and
CLI string values, errors naming the key, typos), the functions' environment, the generated
docs/configuration.md."""

from __future__ import annotations

import json
import re

import pytest

from archiver.settings import (
    Settings,
    SettingsError,
    context_keys,
    env_vars,
    markdown_reference,
)
from tests.helpers import ROOT

STAGE = "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"


def parse(**context: object) -> Settings:
    return Settings.from_context(context)


def test_cdk_json_holds_every_key_with_its_default() -> None:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    ours = {key: value for key, value in context.items() if not key.startswith("@")}
    assert ours == Settings().to_context()
    assert Settings.from_context(context) == Settings()


def test_what_the_stack_writes_the_functions_read_back() -> None:
    """One model both ways: every variable the functions read is written, and read back equal."""
    deployed = parse(apiTpsBudget="3", archiveConcurrency="3", stageAllowList=STAGE).model_copy(
        update={"bucket_name": "bkt", "ledger_table": "tbl", "queue_url": "q"}
    )
    env = deployed.to_env()
    unset = {"DEAD_LETTER_QUEUE_URL", "HOME_ACCOUNT", "HOME_REGION"}  # none given
    assert set(env) == set(env_vars()) - unset
    assert Settings.from_env(env) == deployed
    assert (env["API_TPS_BUDGET"], env["STAGE_ALLOW_LIST"]) == ("3", STAGE)


def test_the_functions_need_their_resources() -> None:
    with pytest.raises(
        SettingsError, match="ARCHIVE_BUCKET, LEDGER_TABLE, WORK_QUEUE_URL: required"
    ):
        Settings.from_env({"API_TPS_BUDGET": "2"})


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("apiTpsBugdet", "apiTpsBudget"),
        ("chunksize", "chunkSize"),
        ("stageAllowlist", "stageAllowList"),
    ],
)
def test_a_mistyped_key_stops_the_synth_naming_the_key_it_meant(typo: str, meant: str) -> None:
    with pytest.raises(
        SettingsError, match=rf"^unknown context key '{typo}': did you mean '{meant}'\?"
    ):
        parse(**{typo: 3})


def test_keys_that_are_not_ours_are_left_alone() -> None:
    context = {"@aws-cdk/core:newStyleStackSynthesis": True, "aws:cdk:bundling-stacks": []}
    assert parse(**context) == Settings()


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
    assert parse(bucketName="", alarmEmail="").bucket_name == ""
    assert parse(alarmEmail="").alarm_email is None
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
    with pytest.raises(
        SettingsError, match=rf"'{key}': must be .+\(got {re.escape(repr(value))}\)"
    ):
        parse(**{key: value})


def test_one_name_gives_the_database_workgroup_and_stack_names() -> None:
    default = Settings()
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
    with pytest.raises(SettingsError, match=r"'databaseName': .*name='other-archive'"):
        parse(databaseName="other_archive")


def test_every_key_is_validated() -> None:
    """Each key rejects at least one value (no key is passed through unchecked)."""
    rejected = set()
    for key in context_keys():
        bad: object
        for bad in (-1, "-", [], {"a": 1}):
            try:
                parse(**{key: bad})
            except SettingsError:
                rejected.add(key)
    assert rejected == set(context_keys())


def test_the_configuration_page_is_generated_from_the_model() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert markdown_reference() in page, "stale docs/configuration.md: run `make docs`"
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    for key in (k for k in context if not k.startswith("@")):
        assert f"| `{key}` |" in page, key
    for var in env_vars():
        assert f"`{var}`" in page, var


def test_worker_rate_limits() -> None:
    """Settings whose chunks could not fit an invocation are refused (test_infra_stack: at
    synth); here, the arithmetic and the remedies."""
    assert Settings().chunk_limit == 624
    assert parse(archiveConcurrency=20).chunk_limit == 62
    with pytest.raises(SettingsError, match=r"holds 3 participants.*: raise apiTpsBudget$"):
        parse(apiTpsBudget=0.02)
    with pytest.raises(
        SettingsError, match=r"holds 7 .*: lower archiveConcurrency to 1[0-9] or less"
    ):
        parse(apiTpsBudget=0.5, archiveConcurrency=20)


def test_the_budget_fits_in_the_quota() -> None:
    """5 calls a second in AWS; the local pipeline runs against its simulated quota."""
    with pytest.raises(SettingsError, match=r"'apiTpsBudget': must be at most the IVS quota, 5 "):
        parse(apiTpsBudget=5.5)
    assert Settings.checked(api_tps_budget=40, ivs_tps_quota=50).worker_tps == 20
