"""The stack's side of the Iceberg query tables: the custom resources that make the database and
the tables, the Glue optimizers, their roles and log groups, the commit grant of the archive
function and what waits for it, Lake Formation's grants, an existing bucket's key, and the
landing objects' lifecycle rule."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks

from archiver.landing_tables import LANDING_PREFIX
from archiver.schema import TABLES
from infra.catalog import GLUE_ACTIONS
from infra.custom_resources import HANDLER, SERVICE_TIMEOUT
from infra.tables import (
    COMMIT_GLUE_ACTIONS,
    OPTIMIZERS,
    ORPHAN_RETENTION_DAYS,
    SNAPSHOT_RETENTION_DAYS,
    schema_version,
)
from tests.helpers.synth import Built, actions, as_list, text

VARIANT = {"prefix": "ivs/", "encryption": "KMS", "landingRetentionDays": 0}


def _role_statements(built: Built, role_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in built.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _glue_arns(prefix_db: str = "ivs_stage_archive") -> set[str]:
    base = "arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:"
    return {
        f"{base}catalog",
        f"{base}database/{prefix_db}",
        *(f"{base}table/{prefix_db}/{name}" for name in TABLES),
    }


@pytest.mark.parametrize("built_name", ["default", "tables_variant"])
def test_the_tables_resource_runs_our_handler_after_the_database(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(built_name)
    prefix = built.stack.settings.prefix
    (resource,) = built.resources("Custom::IcebergTables").values()
    (database_id, database), *more = built.resources("Custom::GlueDatabase").items()
    assert not more
    props = resource["Properties"]
    function_id = props["ServiceToken"]["Fn::GetAtt"][0]
    assert database["Properties"]["ServiceToken"] == props["ServiceToken"]
    function = built.json["Resources"][function_id]
    assert function["Properties"]["Handler"] == HANDLER
    assert props["DatabaseName"] == "ivs_stage_archive"
    assert props["SchemaVersion"] == schema_version()
    assert text(props["LocationRoot"]).startswith("s3://<") and text(
        props["LocationRoot"]
    ).endswith(f">/{prefix}")
    assert database_id in resource["DependsOn"]
    assert function["Properties"]["Runtime"] == "python3.13"
    assert function["Properties"]["Architectures"] == ["arm64"]
    # Kept on stack deletion: the handler ignores Delete (test_custom_resources.py).
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _role_statements(built, role_id)
    glue = [s for s in statements if actions([s], "glue:")]
    assert actions(glue, "glue:") == set(GLUE_ACTIONS)  # nothing deleted, ever
    landing = {
        f"arn:<AWS::Partition>:glue:<AWS::Region>:<AWS::AccountId>:table/ivs_stage_archive/"
        f"{LANDING_PREFIX}{name}"
        for name in TABLES
    }
    assert {text(r) for s in glue for r in as_list(s["Resource"])} == _glue_arns() | landing
    objects = {text(r) for s in statements if actions([s], "s3:") for r in as_list(s["Resource"])}
    assert all(r.endswith(f"/{prefix}iceberg/*") or r.endswith(".Arn>") for r in objects)


def test_every_custom_resource_gives_up_before_cloudformations_hour(default: Built) -> None:
    kinds = {r["Type"]: r for r in default.json["Resources"].values()}
    custom = [k for k in kinds if k.startswith("Custom::")]
    assert set(custom) == {
        "Custom::GlueDatabase",
        "Custom::IcebergTables",
        "Custom::LogRetention",
        "Custom::LedgerSeed",
    }
    timeout = int(SERVICE_TIMEOUT.to_seconds())
    for kind in custom:
        assert kinds[kind]["Properties"]["ServiceTimeout"] == str(timeout), kind
    functions = {
        r["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
        for r in default.json["Resources"].values()
        if r["Type"].startswith("Custom::")
    }
    for function_id in functions:
        seconds = default.json["Resources"][function_id]["Properties"]["Timeout"]
        assert seconds < timeout  # the function answers (or its timer does) before it


def test_work_starts_after_the_tables_and_the_ledger_seed(default: Built) -> None:
    """On a first deploy, no commit may run before the tables exist, and discovery must not run
    before the ledger knows what they hold."""
    (seed_id, seed), *_ = default.resources("Custom::LedgerSeed").items()
    (tables_id, _), *_ = default.resources("Custom::IcebergTables").items()
    assert tables_id in seed["DependsOn"]
    waiting = [
        *default.resources("AWS::Lambda::EventSourceMapping").values(),
        *default.resources("AWS::Events::Rule").values(),
    ]
    assert len(waiting) == 3  # the work queue, the schedule, IVS events
    for resource in waiting:
        assert seed_id in resource["DependsOn"]
    # The seed runs as the archive function, with its settings.
    seed_function = default.json["Resources"][seed["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]
    archive = default.function("archive")
    assert seed_function["Properties"]["Role"] == archive["Properties"]["Role"]
    assert seed_function["Properties"]["Environment"] == archive["Properties"]["Environment"]


def test_the_optimizers_log_groups_get_the_stacks_retention(tables_variant: Built) -> None:
    (retention_id, retention), *_ = tables_variant.resources("Custom::LogRetention").items()
    names = [log_group for _, _, log_group in OPTIMIZERS.values()]
    assert retention["Properties"]["LogGroupNames"] == names
    assert retention["Properties"]["RetentionDays"] == "30"
    for optimizer in tables_variant.resources("AWS::Glue::TableOptimizer").values():
        assert retention_id in optimizer["DependsOn"]


@pytest.mark.parametrize("built_name", ["default", "tables_variant"])
def test_three_optimizers_per_table_each_type_with_its_own_least_privilege_role(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(built_name)
    prefix = built.stack.settings.prefix
    optimizers = list(built.resources("AWS::Glue::TableOptimizer").values())
    pairs = {(o["Properties"]["Type"], o["Properties"]["TableName"]) for o in optimizers}
    kinds = ("compaction", "retention", "orphan_file_deletion")
    assert pairs == {(k, t) for k in kinds for t in TABLES} and len(optimizers) == 9
    (custom,) = built.resources("Custom::IcebergTables")
    roles: dict[str, set[str]] = {}
    for optimizer in optimizers:
        props = optimizer["Properties"]
        config = props["TableOptimizerConfiguration"]
        assert config["Enabled"] is True
        assert props["DatabaseName"] == "ivs_stage_archive"
        assert custom in optimizer["DependsOn"]
        roles.setdefault(props["Type"], set()).add(config["RoleArn"]["Fn::GetAtt"][0])
        if props["Type"] == "retention":
            assert config["RetentionConfiguration"]["IcebergConfiguration"] == {
                "SnapshotRetentionPeriodInDays": SNAPSHOT_RETENTION_DAYS,
                "NumberOfSnapshotsToRetain": 1,
                "CleanExpiredFiles": True,
            }
        if props["Type"] == "orphan_file_deletion":
            iceberg = config["OrphanFileDeletionConfiguration"]["IcebergConfiguration"]
            assert iceberg["OrphanFileRetentionPeriodInDays"] == ORPHAN_RETENTION_DAYS
            assert text(iceberg["Location"]).endswith(f"/{prefix}iceberg/{props['TableName']}")
    assert all(len(ids) == 1 for ids in roles.values())
    role_ids = {kind: next(iter(ids)) for kind, ids in roles.items()}
    assert len(set(role_ids.values())) == 3
    expected = {
        "compaction": {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "glue:UpdateTable"},
        "retention": {"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "glue:UpdateTable"},
        "orphan_file_deletion": {"s3:GetObject", "s3:DeleteObject"},
    }
    logs = {
        "compaction": "iceberg-compaction",
        "retention": "iceberg-retention",
        "orphan_file_deletion": "iceberg-orphan-file-deletion",
    }
    for kind, role_id in role_ids.items():
        role = built.json["Resources"][role_id]
        trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "glue.amazonaws.com"}]
        statements = _role_statements(built, role_id)
        granted = {a for s in statements for a in as_list(s["Action"])}
        base = {
            "glue:GetTable",
            "s3:ListBucket",
            *(f"logs:{a}" for a in ("CreateLogGroup", "CreateLogStream", "PutLogEvents")),
        }
        kms = {a for a in granted if a.startswith("kms:")}
        assert granted - kms == expected[kind] | base, kind
        assert bool(kms) == (built.stack.settings.encryption == "KMS")
        for statement in statements:
            resources = [text(r) for r in as_list(statement["Resource"])]
            if actions([statement], "glue:"):
                assert set(resources) == _glue_arns()
            elif actions([statement], "logs:"):
                assert resources == [
                    f"arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws-glue/{logs[kind]}/logs:*"
                ]
            elif "s3:ListBucket" in as_list(statement["Action"]):
                assert statement["Condition"]["StringLike"]["s3:prefix"] == [f"{prefix}iceberg/*"]
            elif actions([statement], "s3:"):
                assert all(r.endswith(f"/{prefix}iceberg/*") for r in resources)


def test_the_archive_function_may_commit_to_the_tables_only(default: Built) -> None:
    statements = default.policy_statements(default.function("archive"))
    glue = [s for s in statements if actions([s], "glue:")]
    assert actions(glue, "glue:") == set(COMMIT_GLUE_ACTIONS)
    assert {text(r) for s in glue for r in as_list(s["Resource"])} == _glue_arns()
    env = default.function("archive")["Properties"]["Environment"]["Variables"]
    assert (env["ARCHIVE_NAME"], env["ICEBERG_CATALOG"]) == ("ivs-stage-archive", "glue")


def test_landing_objects_expire_only_when_tagged_and_only_if_asked(
    default: Built, tables_variant: Built
) -> None:
    archive = next(
        b
        for b in default.resources("AWS::S3::Bucket").values()
        if b["Properties"].get("VersioningConfiguration")
    )
    rules = {r["Id"]: r for r in archive["Properties"]["LifecycleConfiguration"]["Rules"]}
    rule = rules["expire-landing"]
    assert rule["ExpirationInDays"] == 30
    assert rule["Status"] == "Enabled"
    assert rule["TagFilters"] == [{"Key": "ivs-stage-archive", "Value": "landing"}]
    assert "Prefix" not in rule
    variant_archive = next(
        b
        for b in tables_variant.resources("AWS::S3::Bucket").values()
        if b["Properties"].get("VersioningConfiguration")
    )
    variant_rules = variant_archive["Properties"]["LifecycleConfiguration"]["Rules"]
    assert "expire-landing" not in {r["Id"] for r in variant_rules}


def test_cdk_nag_is_clean_with_kms_and_a_prefix(tables_variant: Built) -> None:
    report = AwsSolutionsChecks(tables_variant.app).validate_scope(tables_variant.app)
    findings = [
        f"{v.rule_name} at {r.construct_path}"
        for v in report.violations
        for r in v.violating_resources
    ]
    assert findings == []
