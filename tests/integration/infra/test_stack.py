"""The synthesized CloudFormation of the stack, with cdk.json's context (feature flags included).

Three stacks are built once per module (jsii is slow to start): the defaults, a variant with
every optional feature on, and a second deployment (another name, the most workers, the largest
chunks). Bundling is skipped here; tests/test_infra_bundle.py covers it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match
from cdk_nag import AwsSolutionsChecks

from archiver.ivs import OPERATIONS
from archiver.runtime import MAX_BATCH
from archiver.schema import TABLES
from archiver.settings import (
    INVOCATION_MS,
    MIN_CHUNK_LIMIT,
    Settings,
    SettingsError,
    chunk_limit,
    env_vars,
)
from infra.archiver import ARCHIVE_TIMEOUT
from infra.stack import IvsStageArchiveStack
from queries import QueryFileError
from queries import load as load_queries
from tests.helpers import ROOT
from tests.helpers.synth import STAGES, Built, actions, as_list, text

IVS_ACTIONS = {f"ivs:{op}" for op in OPERATIONS}
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def retained(resource: dict[str, Any]) -> bool:
    return resource.get("DeletionPolicy") == "Retain"


# --- names --------------------------------------------------------------------------------

# Resource type -> the property holding its name, unique in an account and region (or account).
# Without it, CloudFormation makes one up from the stack name.
NAMED = {
    "AWS::Athena::WorkGroup": ("Name",),
    "AWS::CloudWatch::Alarm": ("AlarmName",),
    "AWS::CloudWatch::Dashboard": ("DashboardName",),
    "AWS::DynamoDB::Table": ("TableName",),
    "AWS::Events::Rule": ("Name",),
    "Custom::GlueDatabase": ("DatabaseName",),
    "AWS::IAM::ManagedPolicy": ("ManagedPolicyName",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::Lambda::Function": ("FunctionName",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::SQS::Queue": ("QueueName",),
}
# Types with no name of their own in the account, or one inside a named parent above (a Glue
# table in its database, a named query in its workgroup, an inline policy in its role).
UNNAMED = {
    # The query tables' custom resource: the tables it makes are named inside the database.
    "Custom::IcebergTables",
    "Custom::LedgerSeed",
    # The optimizers' log groups: the account and region's, shared by design (kept on delete).
    "Custom::LogRetention",
    "AWS::Glue::TableOptimizer",  # one per table and type, named by them
    "AWS::Athena::NamedQuery",
    "AWS::Glue::Table",
    "AWS::IAM::Policy",
    "AWS::KMS::Key",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Permission",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::Subscription",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
}


def physical_names(built: Built) -> set[tuple[str, str]]:
    names = {("AWS::CloudFormation::Stack", built.stack.stack_name)}
    for resource in built.json["Resources"].values():
        kind = resource["Type"]
        if kind == "AWS::CDK::Metadata":
            continue
        assert kind in NAMED or kind in UNNAMED, f"{kind}: add it to NAMED or UNNAMED"
        value: Any = resource.get("Properties", {})
        for key in NAMED.get(kind, ()):
            value = value.get(key) if isinstance(value, dict) else None
        if kind in NAMED and value is not None:
            names.add((kind, text(value)))
    return names


def test_two_deployments_with_different_names_share_no_physical_name(
    default: Built, second: Built
) -> None:
    first, other = physical_names(default), physical_names(second)
    assert first & other == set()
    assert ("AWS::CloudFormation::Stack", "IvsStageArchive") in first  # deployed stacks stay
    assert ("AWS::CloudFormation::Stack", "ivs-archive-staging") in other
    assert {k for k, _ in first} == {k for k, _ in other}
    for built, database in ((default, "ivs_stage_archive"), (second, "ivs_archive_staging")):
        name = built.stack.settings.name
        names = dict(physical_names(built))
        assert names["Custom::GlueDatabase"] == database
        assert names["AWS::Athena::WorkGroup"] == names["AWS::CloudWatch::Dashboard"] == name
        for kind, value in physical_names(built) - {
            ("AWS::CloudFormation::Stack", "IvsStageArchive")
        }:
            assert value.startswith((name, database)), (kind, value)


# --- storage ------------------------------------------------------------------------------


def test_archive_bucket_is_private_encrypted_versioned_tls_only_and_retained(
    default: Built,
) -> None:
    buckets = default.resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    archive = next(b for b in buckets.values() if b["Properties"].get("VersioningConfiguration"))
    props = archive["Properties"]
    assert archive["DeletionPolicy"] == archive["UpdateReplacePolicy"] == "Retain"
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["colder-storage"]["Transitions"] == [
        {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30}
    ]
    assert rules["noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0
    for bucket in buckets.values():
        assert bucket["DeletionPolicy"] == "Retain"
        default.template.has_resource_properties(
            "AWS::S3::BucketPolicy",
            {
                "Bucket": {"Ref": default.logical_id(bucket)},
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_athena_results_expire(default: Built) -> None:
    results = next(
        b
        for b in default.resources("AWS::S3::Bucket").values()
        if "VersioningConfiguration" not in b["Properties"]
    )
    (rule,) = results["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Prefix"] == "athena-results/"
    assert rule["ExpirationInDays"] == 30
    assert rule["Status"] == "Enabled"


def test_existing_bucket_kms_and_no_lifecycle_in_the_variant(variant: Built) -> None:
    (results,) = variant.resources("AWS::S3::Bucket").values()  # only the results bucket
    sse = results["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert sse["BucketKeyEnabled"] is True
    (key,) = [k for k in variant.resources("AWS::KMS::Key").values() if retained(k)]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    archive = variant.function("archive")
    assert archive["Properties"]["Environment"]["Variables"]["ARCHIVE_BUCKET"] == (
        "my-existing-archive"
    )


# --- catalog ------------------------------------------------------------------------------


@pytest.mark.parametrize("built_name", ["default", "variant"])
def test_cloudformation_holds_no_glue_database_or_table_it_could_delete(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    """Deleting a Glue database deletes its tables: the database and the landing tables are
    made (or adopted) by custom resources that keep them on delete
    (tests/integration/archiver/test_custom_resources.py runs them)."""
    built: Built = request.getfixturevalue(built_name)
    assert not built.resources("AWS::Glue::Database")
    assert not built.resources("AWS::Glue::Table")
    assert not built.resources("AWS::Glue::Crawler")
    (database,) = built.resources("Custom::GlueDatabase").values()
    assert database["Properties"]["DatabaseName"] == "ivs_stage_archive"
    (tables,) = built.resources("Custom::IcebergTables").values()
    assert tables["Properties"]["PartitionStartDate"] == "2023-01-01"


# --- queries ------------------------------------------------------------------------------


def test_one_named_query_per_sql_file(default: Built) -> None:
    files = sorted((ROOT / "queries").glob("*.sql"))
    named = {
        q["Properties"]["Name"]: q["Properties"]
        for q in default.resources("AWS::Athena::NamedQuery").values()
    }
    assert len(named) == len(files) == len(default.resources("AWS::Athena::NamedQuery"))
    assert set(named) == {f.stem for f in files}
    workgroup_id = default.logical_id(
        next(iter(default.resources("AWS::Athena::WorkGroup").values()))
    )
    for path in files:
        props = named[path.stem]
        assert props["QueryString"] == path.read_text(encoding="utf-8")
        assert props["Database"] == "ivs_stage_archive"
        assert props["WorkGroup"] == {"Ref": workgroup_id}
        assert props["Description"] and props["Description"] in path.read_text().splitlines()[0]


def test_a_query_file_without_its_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "good.sql").write_text("-- good: what it answers\nSELECT 1\n")
    assert list(load_queries(tmp_path)) == ["good"]
    (tmp_path / "bad.sql").write_text("SELECT 1\n")
    with pytest.raises(QueryFileError, match=r"bad\.sql: the first line must be '-- bad: "):
        load_queries(tmp_path)


def test_athena_workgroup_enforces_encrypted_results_and_a_scan_limit(
    default: Built, variant: Built
) -> None:
    (workgroup,) = default.resources("AWS::Athena::WorkGroup").values()
    config = workgroup["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == 10_000 * 1_000_000
    assert config["EngineVersion"] == {"SelectedEngineVersion": "AUTO"}
    result = config["ResultConfiguration"]
    assert result["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert text(result["OutputLocation"]).startswith("s3://<")
    assert text(result["OutputLocation"]).endswith("/athena-results/")
    (kms_workgroup,) = variant.resources("AWS::Athena::WorkGroup").values()
    encryption = kms_workgroup["Properties"]["WorkGroupConfiguration"]["ResultConfiguration"][
        "EncryptionConfiguration"
    ]
    assert encryption["EncryptionOption"] == "SSE_KMS"
    assert "KmsKey" in encryption


# --- archiver -----------------------------------------------------------------------------


@pytest.mark.parametrize("handler", ["discover", "archive"])
def test_functions_run_python_3_13_on_arm_with_exactly_the_settings_variables(
    default: Built, handler: str
) -> None:
    props = default.function(handler)["Properties"]
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["Timeout"] == 900
    assert props["TracingConfig"] == {"Mode": "Active"}
    env = props["Environment"]["Variables"]
    # Every setting the functions read, but the home's place: without places it is their own.
    written = set(env_vars()) - {"HOME_ACCOUNT", "HOME_REGION"}
    assert set(env) == written | POWERTOOLS | {"PYDANTIC_DISABLE_PLUGINS"}
    assert env["PYDANTIC_DISABLE_PLUGINS"] == "__all__"  # the asset holds none
    assert env["POWERTOOLS_SERVICE_NAME"] == "ivs-stage-archive"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "IVSStageArchive"
    # The runtime's own validation accepts what the stack sets (tokens stand for real names).
    placeholders = {
        "ARCHIVE_BUCKET": "archive-bucket",
        "LEDGER_TABLE": "ledger-table",
        "WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/work",
        "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dead",
    }
    settings = Settings.from_env(
        {k: v if isinstance(v, str) else placeholders[k] for k, v in env.items()}
    )
    assert settings.api_tps_budget == 4
    assert settings.archive_concurrency == 2


def test_variant_settings_reach_the_functions(variant: Built) -> None:
    env = variant.function("archive")["Properties"]["Environment"]["Variables"]
    settings = Settings.from_env(
        {k: v if isinstance(v, str) else "x-placeholder" for k, v in env.items()}
    )
    assert settings.stage_allow_list == tuple(STAGES)
    assert settings.prefix == "ivs/archive/"
    assert settings.participant_details == "off"
    assert settings.archive_concurrency == 4
    assert settings.api_tps_budget == 3


def test_log_groups_keep_the_configured_retention(default: Built, variant: Built) -> None:
    for built, days in ((default, 30), (variant, 90)):
        # The two functions', the custom resources' and the ledger seed's.
        groups = built.resources("AWS::Logs::LogGroup")
        assert [g["Properties"]["RetentionInDays"] for g in groups.values()] == [days] * 4
        for handler in ("discover", "archive"):
            log_group = built.function(handler)["Properties"]["LoggingConfig"]["LogGroup"]
            assert log_group["Ref"] in groups


def test_ledger_table(default: Built) -> None:
    (table,) = default.resources("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert "GlobalSecondaryIndexes" not in props


def test_work_queue_dead_letters_encryption_and_tls(default: Built) -> None:
    queues = default.resources("AWS::SQS::Queue")
    work = next(q for q in queues.values() if "RedrivePolicy" in q["Properties"])
    dlq_id = work["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert work["Properties"]["VisibilityTimeout"] >= 6 * ARCHIVE_TIMEOUT.to_seconds()
    assert work["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5
    for queue_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        default.template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue_id}],
                "PolicyDocument": {
                    "Statement": [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                },
            },
        )
    assert dlq_id in queues


@pytest.mark.parametrize("built_name", ["default", "variant"])
def test_archive_workers_times_their_budget_stay_within_the_quota(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(built_name)
    archive = built.function("archive")
    (mapping,) = built.resources("AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": built.logical_id(archive)}
    # A batch's sessions are archived at once; the handler's thread pool holds a whole batch.
    assert props["BatchSize"] == MAX_BATCH == 100
    assert props["MaximumBatchingWindowInSeconds"] == 1  # SQS needs one past 10 messages
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    env = archive["Properties"]["Environment"]["Variables"]
    workers = props["ScalingConfig"]["MaximumConcurrency"]
    assert workers == int(env["ARCHIVE_CONCURRENCY"]) >= 2
    assert workers * (float(env["API_TPS_BUDGET"]) / workers) <= 5
    # No reserved concurrency (a new account could not deploy: AWS keeps a minimum of
    # unreserved concurrency); a failed discovery waits for the next run.
    for handler in ("discover", "archive"):
        assert "ReservedConcurrentExecutions" not in built.function(handler)["Properties"]
    invoke = built.one("AWS::Lambda::EventInvokeConfig")
    assert invoke["Properties"]["MaximumRetryAttempts"] == 0


def test_chunks_are_sized_for_the_invocation_the_function_gets() -> None:
    assert ARCHIVE_TIMEOUT.to_milliseconds() == INVOCATION_MS


def test_twenty_workers_and_huge_chunks_synthesize_and_chunks_fit_an_invocation(
    second: Built,
) -> None:
    """archiveConcurrency 20 leaves each worker 0.2 calls/s: a 500-participant chunk would
    need ~2,500 s. The archiver caps each chunk at chunk_limit, 62 at that rate."""
    env = second.function("archive")["Properties"]["Environment"]["Variables"]
    settings = Settings.from_env(
        {k: v if isinstance(v, str) else "x-placeholder" for k, v in env.items()}
    )
    assert (settings.archive_concurrency, settings.chunk_size) == (20, 10_000)
    limit = chunk_limit(
        settings.worker_tps,
        invocation_ms=INVOCATION_MS,
        min_remaining_ms=settings.min_remaining_ms,
    )
    assert limit == second.stack.chunk_limit == 62
    (mapping,) = second.resources("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] == 20


def test_a_budget_too_small_for_the_workers_is_refused_naming_the_keys() -> None:
    def synth(budget: str, workers: str) -> None:
        context = {"apiTpsBudget": budget, "archiveConcurrency": workers}
        app = cdk.App(context={**context, "aws:cdk:bundling-stacks": []})
        IvsStageArchiveStack(app, "Probe")

    with pytest.raises(SettingsError) as refused:
        synth("0.5", "20")
    message = str(refused.value)
    assert "\n" not in message
    assert "'apiTpsBudget' (0.5)" in message and "'archiveConcurrency' (20)" in message
    assert f"holds 7 participants, below the minimum of {MIN_CHUNK_LIMIT}" in message
    assert message.endswith("lower archiveConcurrency to 15 or less, or raise apiTpsBudget")
    synth("0.5", "15")  # the most workers that budget allows


def test_schedule_and_ivs_stage_update_rules_fire_discovery(default: Built, variant: Built) -> None:
    for built, schedule, resources in (
        (default, "rate(1 minute)", None),
        (variant, "rate(1 hour)", STAGES),
    ):
        discover = {"Fn::GetAtt": [built.logical_id(built.function("discover")), "Arn"]}
        rules = built.resources("AWS::Events::Rule").values()
        scheduled = [r for r in rules if "ScheduleExpression" in r["Properties"]]
        patterned = [r for r in rules if "EventPattern" in r["Properties"]]
        assert [r["Properties"]["ScheduleExpression"] for r in scheduled] == [schedule]
        expected = {
            "source": ["aws.ivs"],
            "detail-type": ["IVS Stage Update"],
            # Only the events that can end a session (test_stage_update_rule.py).
            "detail": {"event_name": ["Participant Unpublished", "Participant Publish Error"]},
        }
        if resources:
            expected["resources"] = resources
        assert [r["Properties"]["EventPattern"] for r in patterned] == [expected]
        for rule in [*scheduled, *patterned]:
            assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [discover]


# --- IAM ----------------------------------------------------------------------------------


def test_ivs_actions_are_exactly_the_read_only_list(default: Built) -> None:
    discover = default.policy_statements(default.function("discover"))
    archive = default.policy_statements(default.function("archive"))
    assert actions(discover, "ivs:") | actions(archive, "ivs:") == IVS_ACTIONS
    assert actions(discover, "ivs:") == {
        "ivs:ListStages",
        "ivs:ListStageSessions",
        "ivs:GetStageSession",
    }
    assert "ivs:ListStages" not in actions(archive, "ivs:")
    stage_arn = re.compile(
        r"^arn:(aws|<AWS::Partition>):ivs:<AWS::Region>:<AWS::AccountId>:stage/\*$"
    )
    for statement in [*discover, *archive]:
        ivs = actions([statement], "ivs:")
        if not ivs:
            continue
        resources = [text(r) for r in as_list(statement["Resource"])]
        if "ivs:ListStages" in ivs:  # the only one without resource-level permissions
            assert resources == ["*"]
            assert ivs == {"ivs:ListStages"}
        else:
            assert len(resources) == 1
            assert stage_arn.match(resources[0]), resources


def test_allow_list_scopes_ivs_and_details_off_drops_get_participant(variant: Built) -> None:
    statements = [
        *variant.policy_statements(variant.function("discover")),
        *variant.policy_statements(variant.function("archive")),
    ]
    assert actions(statements, "ivs:") == IVS_ACTIONS - {"ivs:GetParticipant"}
    for statement in statements:
        ivs = actions([statement], "ivs:")
        if ivs and ivs != {"ivs:ListStages"}:
            assert sorted(as_list(statement["Resource"])) == STAGES


@pytest.mark.parametrize("built_name", ["default", "variant"])
def test_s3_access_is_limited_to_the_table_prefixes(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(built_name)
    prefix = built.stack.settings.prefix
    # Discovery writes one object: its collector's report to the home, and reads none.
    [report] = [
        s for s in built.policy_statements(built.function("discover")) if actions([s], "s3:")
    ]
    assert as_list(report["Action"]) == ["s3:PutObject"]
    [resource] = as_list(report["Resource"])
    assert text(resource).endswith(f"/{prefix}collectors/<AWS::AccountId>/<AWS::Region>.json"), (
        text(resource)
    )
    statements = built.policy_statements(built.function("archive"))
    s3_statements = [s for s in statements if actions([s], "s3:")]
    # The commit's grant (infra/tables.py): objects and listing under <prefix>iceberg/ only.
    iceberg = [s for s in s3_statements if "iceberg/" in json.dumps(s)]
    s3_statements = [s for s in s3_statements if s not in iceberg]
    assert all(
        text(r).endswith(f"/{prefix}iceberg/*")
        for s in iceberg
        for r in as_list(s["Resource"])
        if "s3:ListBucket" not in as_list(s["Action"])
    )
    assert [
        s["Condition"]["StringLike"]["s3:prefix"]
        for s in iceberg
        if "s3:ListBucket" in as_list(s["Action"])
    ] == [[f"{prefix}iceberg/*"]]
    objects = next(s for s in s3_statements if "s3:PutObject" in as_list(s["Action"]))
    # Landing objects: a single-part PutObject, tagged, read back to commit. No lists.
    assert set(as_list(objects["Action"])) == {
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:GetObject",
    }
    assert [s for s in s3_statements if s is not objects] == []
    resources = sorted(text(r) for r in objects["Resource"])
    tails = sorted(f"/{prefix}{t}/*" for t in TABLES)
    assert all(r.endswith(t) for r, t in zip(resources, tails, strict=True))
    (bucket_arn,) = {r[: -len(t)] for r, t in zip(resources, tails, strict=True)}
    assert bucket_arn.endswith(":s3:::my-existing-archive") or bucket_arn.endswith(".Arn>")


@pytest.mark.parametrize("built_name", ["default", "variant"])
def test_kms_grants_only_data_keys_and_decrypt(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(built_name)
    keys = built.resources("AWS::KMS::Key")
    storage_keys = [k for k, v in keys.items() if retained(v)]
    for handler in ("discover", "archive"):
        kms_statements = [
            s for s in built.policy_statements(built.function(handler)) if actions([s], "kms:")
        ]
        if not storage_keys:
            assert kms_statements == []
            continue
        if handler == "discover":  # its report to the home: a data key, nothing to read
            [statement] = kms_statements
            assert as_list(statement["Action"]) == ["kms:GenerateDataKey"]
            assert statement["Resource"] == {"Fn::GetAtt": [storage_keys[0], "Arn"]}
            continue
        # A data key to put objects, Decrypt to read them back (landing and Iceberg files).
        for statement in kms_statements:
            assert set(as_list(statement["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
            assert statement["Resource"] == {"Fn::GetAtt": [storage_keys[0], "Arn"]}


def test_ledger_and_queue_access_only(default: Built) -> None:
    (table_id,) = default.resources("AWS::DynamoDB::Table")
    queues = default.resources("AWS::SQS::Queue")
    work_id = next(k for k, q in queues.items() if "RedrivePolicy" in q["Properties"])
    (dead_id,) = set(queues) - {work_id}
    for handler in ("discover", "archive"):
        statements = default.policy_statements(default.function(handler))
        services = {a.split(":")[0] for s in statements for a in as_list(s["Action"])}
        assert services <= {"ivs", "s3", "dynamodb", "sqs", "logs", "xray", "glue", "cloudwatch"}
        # Discovery reads its collector's archive lag for its report; nothing else of CloudWatch.
        watched = {a for s in statements for a in as_list(s["Action"]) if a.startswith("cloud")}
        assert watched == ({"cloudwatch:GetMetricStatistics"} if handler == "discover" else set())
        for statement in statements:
            if actions([statement], "dynamodb:"):
                assert statement["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}
                assert "dynamodb:Scan" not in as_list(statement["Action"])
        sqs = {
            (resource["Fn::GetAtt"][0], action)
            for statement in statements
            for resource in as_list(statement["Resource"])
            for action in as_list(statement["Action"])
            if action.startswith("sqs:")
        }
        assert (work_id, "sqs:SendMessage") in sqs
        # Only the archive parks invalid messages in the dead-letter queue itself; discovery
        # counts both queues' messages for its report.
        assert {q for q, _ in sqs} == {work_id, dead_id}
        if handler == "discover":
            assert {a for q, a in sqs if q == dead_id} == {"sqs:GetQueueAttributes"}
        assert {a for q, a in sqs if q == dead_id} <= {
            "sqs:SendMessage",
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
        }


# --- monitoring ---------------------------------------------------------------------------


def test_alarms_cover_dead_letters_errors_throttles_retries_expiry_and_lag(default: Built) -> None:
    alarms = [a["Properties"] for a in default.resources("AWS::CloudWatch::Alarm").values()]
    assert all(a["AlarmActions"] for a in alarms), "every alarm notifies the topic"
    single = [a for a in alarms if "MetricName" in a]
    (math,) = [a for a in alarms if "Metrics" in a]
    assert sorted(a["MetricName"] for a in single) == [
        "ApproximateNumberOfMessagesVisible",
        "ArchiveLagSeconds",
        "Errors",
        "Errors",
        "SessionsExpired",
        "SessionsRetried",
    ]
    by_metric = {a["MetricName"]: a for a in single}
    # Sessions failing and tried again later (an IVS outage): on as long as they fail.
    retrying = by_metric["SessionsRetried"]
    assert (retrying["Statistic"], retrying["Threshold"], retrying["Period"]) == ("Sum", 0, 300)
    assert retrying["TreatMissingData"] == "notBreaching"
    dlq = by_metric["ApproximateNumberOfMessagesVisible"]
    assert (dlq["Namespace"], dlq["Threshold"], dlq["ComparisonOperator"]) == (
        "AWS/SQS",
        0,
        "GreaterThanThreshold",
    )
    expired = by_metric["SessionsExpired"]
    assert expired["Namespace"] == "IVSStageArchive"
    assert expired["Dimensions"] == [{"Name": "service", "Value": "ivs-stage-archive"}]
    assert expired["Threshold"] == 0
    assert by_metric["ArchiveLagSeconds"]["Statistic"] == "Maximum"
    assert by_metric["ArchiveLagSeconds"]["Threshold"] == 6 * 3600
    functions = {default.logical_id(default.function(h)) for h in ("discover", "archive")}
    assert {
        a["Dimensions"][0]["Value"]["Ref"] for a in single if a["MetricName"] == "Errors"
    } == functions
    used = [m["MetricStat"]["Metric"] for m in math["Metrics"] if "MetricStat" in m]
    assert {m["MetricName"] for m in used} == {"ApiThrottles"}
    assert {m["Namespace"] for m in used} == {"IVSStageArchive"}
    assert sorted(
        next(d["Value"] for d in m["Dimensions"] if d["Name"] == "Operation") for m in used
    ) == sorted(OPERATIONS)
    assert len(default.resources("AWS::CloudWatch::Dashboard")) == 1
    assert not default.resources("AWS::SNS::Subscription")


def test_alarm_email_subscribes_to_the_topic(variant: Built) -> None:
    (subscription,) = variant.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "ops@example.com"


@pytest.mark.parametrize("built_name", ["default", "variant"])
def test_alarms_may_publish_to_the_encrypted_topic_and_nothing_else_may(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    """The topic has a key of its own whose policy, like the topic's, lets CloudWatch use it
    only for this stack's alarms; the storage key gives CloudWatch nothing."""
    built: Built = request.getfixturevalue(built_name)
    ((topic_id, topic),) = built.resources("AWS::SNS::Topic").items()
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    keys = built.resources("AWS::KMS::Key")
    assert keys[key_id]["Properties"]["EnableKeyRotation"] is True
    alarm_names = sorted(
        a["Properties"]["AlarmName"] for a in built.resources("AWS::CloudWatch::Alarm").values()
    )
    assert alarm_names and all(n.startswith(built.stack.settings.name + "-") for n in alarm_names)
    expected = {
        "StringEquals": {"aws:SourceAccount": "<AWS::AccountId>"},
        "ArnLike": {
            "aws:SourceArn": [
                f"arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:{name}"
                for name in alarm_names
            ]
        },
    }

    def conditions(statement: dict[str, Any]) -> dict[str, Any]:
        return {
            op: {k: sorted(map(text, as_list(v))) if op == "ArnLike" else text(v)}
            for op, values in statement["Condition"].items()
            for k, v in values.items()
        }

    def cloudwatch(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        ]

    (key_statement,) = cloudwatch(keys[key_id]["Properties"]["KeyPolicy"]["Statement"])
    assert sorted(as_list(key_statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert conditions(key_statement) == expected
    (policy,) = built.resources("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    (publish,) = cloudwatch(policy["Properties"]["PolicyDocument"]["Statement"])
    assert (publish["Effect"], publish["Action"]) == ("Allow", "sns:Publish")
    assert publish["Resource"] == {"Ref": topic_id}
    assert conditions(publish) == expected
    for other_id, other in keys.items():
        if other_id != key_id:
            assert not cloudwatch(other["Properties"]["KeyPolicy"]["Statement"])


# --- cdk-nag and validation ---------------------------------------------------------------


@pytest.mark.parametrize("built_name", ["default", "variant"])
def test_cdk_nag_aws_solutions_leaves_no_finding(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(built_name)
    report = AwsSolutionsChecks(built.app).validate_scope(built.app)
    findings = [
        f"{v.rule_name} at {r.construct_path}"
        for v in report.violations
        for r in v.violating_resources
    ]
    assert findings == []
    assert report.success


def test_every_acknowledgment_has_a_reason(default: Built) -> None:
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    acknowledged = [
        entry.data
        for construct in default.app.node.find_all()
        for entry in construct.node.metadata
        if entry.type == key
    ]
    assert acknowledged
    reasons = {
        rule.removeprefix("Annotation::"): reason
        for data in acknowledged
        for rule, reason in data.items()
    }
    assert set(reasons) >= {
        "AwsSolutions-S1",
        "AwsSolutions-L1",
        "AwsSolutions-IAM5[Resource::*]",
    }
    for rule, reason in reasons.items():
        assert rule.startswith("AwsSolutions-")
        assert len(reason) > 40, rule


def test_every_acknowledged_wildcard_action_is_granted(default: Built, variant: Built) -> None:
    """An acknowledgment for an action nothing grants would no longer be true."""
    from infra.nag import WILDCARD_ACTIONS, WILDCARD_RESOURCES

    granted = {
        action
        for built in (default, variant)
        for policy in built.resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in as_list(statement["Action"])
    }
    acknowledged = set(WILDCARD_ACTIONS).union(*(allowed for _, allowed, _ in WILDCARD_RESOURCES))
    assert acknowledged <= granted, acknowledged - granted


def test_a_new_wildcard_is_not_acknowledged() -> None:
    """The acknowledgments are per statement: an unexpected wildcard still fails cdk-nag."""
    from aws_cdk import aws_iam as iam

    from infra.nag import acknowledge_wildcards

    app = cdk.App()
    stack = cdk.Stack(app, "Probe")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["ivs:ListStages"], resources=["*"]))
    role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    policy = role.node.find_child("DefaultPolicy")
    assert isinstance(policy, iam.Policy)
    acknowledge_wildcards(policy)
    report = AwsSolutionsChecks(app).validate_scope(app)
    assert [v.rule_name for v in report.violations] == ["AwsSolutions-IAM5[Resource::*]"]


def test_an_invalid_context_value_fails_the_synth_naming_the_key() -> None:
    app = cdk.App(context={"apiTpsBudget": 9, "aws:cdk:bundling-stacks": []})
    with pytest.raises(SettingsError, match="'apiTpsBudget': must be at most the IVS quota, 5 "):
        IvsStageArchiveStack(app, "Invalid")


def test_a_mistyped_context_key_fails_the_synth_naming_the_key_it_meant() -> None:
    app = cdk.App(context={"apiTpsBugdet": 3, "aws:cdk:bundling-stacks": []})
    with pytest.raises(SettingsError, match="'apiTpsBugdet': did you mean 'apiTpsBudget'"):
        IvsStageArchiveStack(app, "Typo")
