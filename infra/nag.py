"""cdk-nag (AwsSolutions) acknowledgments, each with its reason.

Wildcard IAM findings are acknowledged resource by resource: a wildcard resource is accepted only
when every action granted on it is listed with its reason below, so a new wildcard anywhere (or a
new action on an acknowledged one) fails the synth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

# (resource pattern, actions that may use it, reason)
WILDCARD_RESOURCES: tuple[tuple[re.Pattern[str], frozenset[str], str], ...] = (
    (
        re.compile(r"^\*$"),
        frozenset(
            {
                "ivs:ListStages",
                "xray:PutTraceSegments",
                "xray:PutTelemetryRecords",
                "cloudwatch:GetMetricStatistics",
            }
        ),
        "ivs:ListStages names no stage (it lists every stage of the account and region), so it "
        "cannot be narrowed to stageAllowList's stages; the service authorization reference "
        "gives it the stage resource type, but AWS documents no ARN that authorizes a call "
        "naming none and it cannot be tested here, so it gets '*' as in the IVS user guide's "
        "policies. The X-Ray actions of Lambda active tracing and cloudwatch:"
        "GetMetricStatistics (discovery reads the collector's archive lag for its report to "
        "the home) have no resource-level permissions.",
    ),
    (
        re.compile(
            r"^arn:(<AWS::Partition>|aws[a-z-]*):ivs:(<AWS::Region>|[a-z0-9-]+):"
            r"(<AWS::AccountId>|[0-9]{12}):stage/\*$"
        ),
        frozenset(
            {
                "ivs:GetStage",
                "ivs:GetStageSession",
                "ivs:ListStageSessions",
                "ivs:ListParticipants",
                "ivs:GetParticipant",
                "ivs:ListParticipantEvents",
            }
        ),
        "Stages are found at run time: read-only IVS actions on this account and region's "
        "stages (stageAllowList narrows this to named stages).",
    ),
    (
        re.compile(
            r"/(stage_sessions|participants|participant_events)/"
            r"(dt=\*/(<AWS::AccountId>|[0-9]{12})/)?\*$"
        ),
        frozenset({"s3:PutObject", "s3:PutObjectTagging", "s3:GetObject"}),
        "Object keys carry the date, stage and session: the archive function may only put "
        "(tagged) and read back objects, and only under the three table prefixes of the "
        "archive bucket (with places, only its own account's folders of them).",
    ),
    (
        re.compile(r":kms:[a-z0-9-]+:(<AWS::AccountId>|[0-9]{12}):key/\*$"),
        frozenset({"kms:GenerateDataKey", "kms:Decrypt"}),
        "A collector finds the home's archive key by its alias, not its id (the key is in "
        "another stack, perhaps another region or account): the grant holds only for the key "
        "under the archive's alias (condition kms:ResourceAliases).",
    ),
    (
        re.compile(r"/iceberg/\*$"),
        frozenset({"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}),
        "Iceberg names its data and metadata files itself: access is limited to the query "
        "tables' folder of the archive bucket.",
    ),
    (
        re.compile(
            r":log-group:/aws-glue/iceberg-(compaction|retention|orphan-file-deletion)/logs:\*$"
        ),
        frozenset(
            {
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:PutRetentionPolicy",
            }
        ),
        "The Glue table optimizers write their runs' logs to this fixed log group (AWS Glue, "
        "Table optimization prerequisites); its streams are named by Glue. The stack's custom "
        "resource gives the group its retention.",
    ),
)
# Actions whose name is a wildcard, with the reason (none granted today).
WILDCARD_ACTIONS: dict[str, str] = {}


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def nag_text(value: Any) -> str:
    """A resolved CloudFormation value as cdk-nag prints it (`<Logical.Arn>`, `<AWS::Region>`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(nag_text(part) for part in parts)
    raise ValueError(f"cannot render {value!r} as cdk-nag does")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def acknowledge_wildcards(policy: iam.Policy) -> None:
    """Acknowledges a wildcard resource only if every action granted on it, across the policy's
    statements, is allowed with it (cdk-nag reports one finding per policy and resource)."""
    document = Stack.of(policy).resolve(policy.document)
    granted: dict[str, set[str]] = {}
    for statement in document.get("Statement", []):
        statement_actions = set(_as_list(statement.get("Action", [])))
        for resource in map(nag_text, _as_list(statement.get("Resource", []))):
            granted.setdefault(resource, set()).update(statement_actions)
        for action in statement_actions & WILDCARD_ACTIONS.keys():
            acknowledge(policy, f"AwsSolutions-IAM5[Action::{action}]", WILDCARD_ACTIONS[action])
    for resource, actions in granted.items():
        if "*" not in resource:
            continue
        for pattern, allowed, reason in WILDCARD_RESOURCES:
            if pattern.search(resource) and actions <= allowed:
                acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]", reason)


def acknowledge_stack(buckets: Iterable[s3.Bucket], functions: Iterable[lambda_.Function]) -> None:
    for bucket in buckets:
        acknowledge(
            bucket,
            "AwsSolutions-S1",
            "No server access logs: they need a further bucket and are delivered best effort. "
            "This stack creates no trail either: for a record of object reads and writes, "
            "enable CloudTrail S3 data events on this bucket in the account's trail.",
        )
    for function in functions:
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.13, not the newest Lambda runtime: the asset bundles wheels built for "
            "cp313 (pyarrow, pydantic-core) and the tests and CI run on 3.13 "
            "(.ci/find-python), so the functions run the interpreter that was tested.",
        )
        role = function.role
        policy = role.node.try_find_child("DefaultPolicy") if role else None
        if isinstance(policy, iam.Policy):
            acknowledge_wildcards(policy)
