"""The console's read-only and operator managed policies (infra/operators.py) in the synthesized
templates: exactly what `COMMANDS` needs, on the stack's own resources only, output by ARN,
named for IAM Identity Center, small enough for IAM, and documented (docs/permissions.md).
What each command really calls is checked against the same `COMMANDS` in
tests/e2e/console/test_permissions.py."""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from archiver.settings import Settings
from infra.deployment import define
from infra.home import HomeStack
from infra.operators import (
    COLLECTOR,
    COMMANDS,
    DOC,
    HOME,
    OPERATOR,
    OUTPUTS,
    READ_ONLY,
    Resource,
    collector_targets,
    home_targets,
    policy_statements,
    single_targets,
    table,
)
from infra.places import Home
from tests.helpers import ROOT
from tests.helpers.synth import STAGES, Built, as_list, text

Grant = tuple[str, str, str]  # (action, resource, condition as JSON text)
# IAM's limit on a managed policy document, in characters without white space.
MANAGED_POLICY_MAX = 6144
# Actions of the read-only policy that write anything: Athena's query results only, which
# Athena writes with the caller's credentials (encrypted with the stack's key).
RESULTS_WRITES = {
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "kms:GenerateDataKey",
    "athena:StartQueryExecution",
}


def grants(statements: list[dict[str, Any]]) -> set[Grant]:
    """Each (action, resource, condition) a list of statements allows, tokens as text."""
    found = set()
    for statement in statements:
        assert statement.get("Effect", "Allow") == "Allow"
        condition = json.dumps(statement.get("Condition", {}), sort_keys=True)
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                found.add((action, text(resource), condition))
    return found


def managed(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's managed policies, by policy (read-only, operator)."""
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        name = text(resource["Properties"]["ManagedPolicyName"])
        policy = READ_ONLY if name.endswith(READ_ONLY) else OPERATOR
        assert name.endswith(policy)
        found[policy] = resource
    assert set(found) == {READ_ONLY, OPERATOR}
    return found


def rendered(stack: cdk.Stack, value: str) -> str:
    return text(stack.resolve(value))


def single_stack_targets(built: Built) -> Any:
    """The resources of the single stack, as its template names them."""
    stack = built.stack
    storage, archiver = stack.storage, stack.archiver
    key = [Resource.of(rendered(stack, storage.key.key_arn))] if storage.key else []
    home = home_targets(
        partition="<AWS::Partition>",
        region="<AWS::Region>",
        account="<AWS::AccountId>",
        stack_id="<AWS::StackId>",
        bucket=rendered(stack, storage.bucket.bucket_name),
        prefix=stack.settings.prefix,
        results_bucket=rendered(stack, storage.results_bucket.bucket_name),
        workgroup=rendered(stack, stack.queries.workgroup.ref),
        database=stack.settings.database_name,
        keys=key,
    )
    collector = collector_targets(
        stack_id="<AWS::StackId>",
        ledger=rendered(stack, archiver.ledger.table_arn),
        work_queue=rendered(stack, archiver.queue.queue_arn),
        dead_letter_queue=rendered(stack, archiver.dead_letter_queue.queue_arn),
        discover_function=rendered(stack, archiver.discover.function_arn),
        archive_function=rendered(stack, archiver.archive.function_arn),
        stages=[rendered(stack, s) for s in archiver.stage_resources()],
        partition="<AWS::Partition>",
        home_bucket=rendered(stack, storage.bucket.bucket_name),
        prefix=stack.settings.prefix,
    )
    return single_targets(home, collector)


@pytest.mark.parametrize("built_name", ["default", "variant"])
def test_the_policies_are_exactly_the_commands_needs_on_the_stacks_resources(
    built_name: str, request: pytest.FixtureRequest
) -> None:
    built: Built = request.getfixturevalue(built_name)
    policies = managed(built.json)
    targets = single_stack_targets(built)
    for policy, resource in policies.items():
        expected = grants(policy_statements(policy, targets, (HOME, COLLECTOR)))
        assert grants(resource["Properties"]["PolicyDocument"]["Statement"]) == expected
        assert resource["Properties"].get("Roles") is None  # attached by people, not here


def test_read_only_changes_nothing_and_operator_adds_to_it(default: Built) -> None:
    policies = managed(default.json)
    read = grants(policies[READ_ONLY]["Properties"]["PolicyDocument"]["Statement"])
    operate = grants(policies[OPERATOR]["Properties"]["PolicyDocument"]["Statement"])
    assert read < operate
    reads = re.compile(r":(Get|List|Describe|Scan|Query|Decrypt)")
    for action, resource, _ in read:
        if action == "sqs:ReceiveMessage":
            # status reads each dead letter to say why it is there, hiding none (a visibility
            # timeout of 0): on the dead-letter queue only, whose receive count nothing counts.
            assert "DeadLetterQueue" in resource, resource
            continue
        if not reads.search(action):
            assert action in RESULTS_WRITES, action
            assert action.startswith(("athena:", "kms:")) or "/athena-results/" in resource
    changes = {action for action, _, _ in operate - read}
    assert {
        "lambda:InvokeFunction",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
        "sqs:DeleteMessage",
        "glue:UpdateTable",
        "s3:DeleteObjectVersion",
    } <= changes


def test_only_the_stacks_own_resources(default: Built) -> None:
    """Every resource is one of the stack's (a reference, or an ARN of its account, region
    and names); `*` only for ivs:ListStages, which names no stage."""
    own = re.compile(
        r"^(<[A-Za-z0-9]+(\.Arn)?>|<AWS::StackId>|arn:<AWS::Partition>:"
        r"(s3:::<[A-Za-z0-9]+>(/.*)?|[a-z0-9-]+:<AWS::Region>:<AWS::AccountId>:.+))$"
    )
    for resource in managed(default.json).values():
        for action, where, _ in grants(resource["Properties"]["PolicyDocument"]["Statement"]):
            if where == "*":
                assert action == "ivs:ListStages"
                continue
            assert own.match(where), where
            if ":glue:" in where:
                assert where.endswith(("catalog", "database/ivs_stage_archive")) or (
                    "table/ivs_stage_archive/" in where
                )


def test_outputs_and_names(default: Built, second: Built) -> None:
    for built in (default, second):
        policies = managed(built.json)
        outputs = built.json["Outputs"]
        for policy, output in OUTPUTS.items():
            logical_id = next(
                k for k, v in built.json["Resources"].items() if v is policies[policy]
            )
            assert outputs[output]["Value"] == {"Ref": logical_id}
            name = text(policies[policy]["Properties"]["ManagedPolicyName"])
            assert name == f"{built.stack.settings.name}-<AWS::Region>-{policy}"


def test_the_variant_scopes_stages_prefix_and_key(variant: Built) -> None:
    operate = grants(managed(variant.json)[OPERATOR]["Properties"]["PolicyDocument"]["Statement"])
    stages = {r for a, r, _ in operate if a == "ivs:ListStageSessions"}
    assert stages == set(STAGES)
    objects = {r for a, r, _ in operate if a == "s3:GetObject" and "my-existing-archive" in r}
    assert {r.rsplit("/ivs/archive/", 1)[-1] for r in objects} == {
        "collectors/*",
        "iceberg/*",
        "stage_sessions/*",
        "participants/*",
        "participant_events/*",
    }
    keys = {(a, r) for a, r, _ in operate if a.startswith("kms:")}
    assert {a for a, _ in keys} == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert len({r for _, r in keys}) == 1 and next(iter(keys))[1].startswith("<StorageKey")


def _resolve_long(value: Any) -> str:
    """A template value with every reference as long as AWS lets it be."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return {
            "AWS::Partition": "aws-us-gov",
            "AWS::Region": "ap-northeast-2",
            "AWS::AccountId": "123456789012",
            "AWS::StackId": "arn:aws-us-gov:cloudformation:ap-northeast-2:123456789012:stack/"
            + "s" * 128
            + "/"
            + "0" * 36,
        }.get(value["Ref"], "b" * 63)
    if "Fn::GetAtt" in value:
        return "arn:aws-us-gov:service:ap-northeast-2:123456789012:resource:" + "n" * 80
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolve_long(p) for p in parts)
    raise AssertionError(value)


INTRINSICS = ("Ref", "Fn::GetAtt", "Fn::Join")


def _deep(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in INTRINSICS:
        return _resolve_long(value)
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return value


@pytest.mark.parametrize("built_name", ["default", "variant", "second"])
def test_each_policy_fits_iams_size_limit(built_name: str, request: pytest.FixtureRequest) -> None:
    built: Built = request.getfixturevalue(built_name)
    for policy, resource in managed(built.json).items():
        document = _deep(resource["Properties"]["PolicyDocument"])
        size = len(json.dumps(document, separators=(",", ":")))
        assert size < MANAGED_POLICY_MAX * 0.8, (policy, size)


# --- places ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def places() -> dict[str, tuple[cdk.Stack, dict[str, Any]]]:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context |= {
        "regions": "us-east-1,eu-west-1",
        "encryption": "KMS",
        "aws:cdk:bundling-stacks": [],
    }
    app = cdk.App(context=context)
    settings = Settings.from_context(app.node.get_all_context())
    stacks = define(app, settings, account="111111111111", region="us-east-1")
    built = {s.stack_name: (s, dict(Template.from_stack(s).to_json())) for s in stacks}
    report = AwsSolutionsChecks(app).validate_scope(app)
    findings = [
        f"{v.rule_name} at {r.construct_path}"
        for v in report.violations
        for r in v.violating_resources
        if "/Operators/" in (r.construct_path or "")
    ]
    assert findings == []
    return built


def test_with_places_each_stack_grants_its_own_part(
    places: dict[str, tuple[cdk.Stack, dict[str, Any]]],
) -> None:
    home_stack, home = places["IvsStageArchive-home"]
    assert isinstance(home_stack, HomeStack)
    _, collector = places["IvsStageArchive-eu-west-1"]
    home_grants = grants(managed(home)[OPERATOR]["Properties"]["PolicyDocument"]["Statement"])
    collector_grants = grants(
        managed(collector)[OPERATOR]["Properties"]["PolicyDocument"]["Statement"]
    )
    home_services = {a.split(":")[0] for a, _, _ in home_grants}
    collector_services = {a.split(":")[0] for a, _, _ in collector_grants}
    assert home_services == {"cloudformation", "s3", "glue", "athena", "kms"}
    assert collector_services == {"cloudformation", "dynamodb", "sqs", "lambda", "ivs", "s3", "kms"}
    # A collector reads the home's reports, lists only their folder, and uses the home's key
    # by its alias only.
    bucket = Home.of(home_stack.settings, "111111111111").bucket_name
    s3 = {(a, r, c) for a, r, c in collector_grants if a.startswith("s3:")}
    assert s3 == {
        (
            "s3:ListBucket",
            f"arn:aws:s3:::{bucket}",
            json.dumps({"StringLike": {"s3:prefix": ["collectors/*"]}}, sort_keys=True),
        ),
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/collectors/*", "{}"),
    }
    kms = {(a, c) for a, _, c in collector_grants if a.startswith("kms:")}
    assert kms == {
        (
            "kms:Decrypt",
            json.dumps(
                {
                    "ForAnyValue:StringEquals": {
                        "kms:ResourceAliases": ["alias/ivs-stage-archive-archive"]
                    }
                },
                sort_keys=True,
            ),
        )
    }
    names = {
        text(r["Properties"]["ManagedPolicyName"])
        for _, template in places.values()
        for r in managed(template).values()
    }
    assert names == {
        f"ivs-stage-archive-{part}-{policy}"
        for part in ("home", "collector-us-east-1", "collector-eu-west-1")
        for policy in (READ_ONLY, OPERATOR)
    }
    # The home's status reads the reports; it has no ledger: nothing of a collector's.
    assert not any(
        a.startswith(("dynamodb:", "sqs:", "lambda:", "ivs:")) for a, _, _ in home_grants
    )


# --- the mapping and its page ---------------------------------------------------------------------
def test_every_deployment_command_has_its_needs() -> None:
    from console.parser import parser

    [commands] = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) - {"local"} == set(COMMANDS)


def test_docs_permissions_is_generated_from_the_mapping() -> None:
    """`python -m infra.operators` writes the table; this fails until it has been run."""
    page = DOC.read_text()
    assert table() in page
    readme = (ROOT / "README.md").read_text()
    assert "docs/permissions.md" in readme


def test_erase_is_granted_exactly_what_the_erasure_calls() -> None:
    """One definition: archiver.erasure.ERASE_ACTIONS (what a recorded erase calls in S3 and
    Glue) is what the operator policy grants `erase`, split by resource, besides finding the
    stack and the bucket's key."""
    from archiver.erasure import ERASE_ACTIONS
    from infra.operators import COMMANDS

    granted = {a for need in COMMANDS["erase"].needs for a in need.actions}
    own = {a for a in granted if a.startswith(("s3:", "glue:"))}
    assert own == set(ERASE_ACTIONS)
