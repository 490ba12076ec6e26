"""A deployment with places (issue 17): the home and a collector per region in one account, the
home trusting other accounts' collectors (exactly those, or an organization's), and a collector
account's stacks. Each stack synthesized as `cdk deploy --all` does (infra/deployment.py);
cfn-lint over each in its own region is in test_lint.py."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks

from archiver.settings import Settings
from infra.deployment import define, stack_names
from tests.helpers import ROOT

HOME = "111111111111"
OTHER = "222222222222"
LANDING = sorted(["s3:PutObject", "s3:PutObjectTagging", "s3:GetObject"])


class Deployment:
    """The stacks `define` makes in `account` for the context `overrides`, by name."""

    def __init__(self, overrides: dict[str, Any], account: str | None = HOME) -> None:
        context = json.loads((ROOT / "cdk.json").read_text())["context"]
        context |= overrides | {"aws:cdk:bundling-stacks": []}
        self.app = cdk.App(context=context)
        self.settings = Settings.from_context(self.app.node.get_all_context())
        stacks = define(self.app, self.settings, account=account, region="us-east-1")
        self.stacks = {stack.stack_name: stack for stack in stacks}
        self.templates = {
            name: dict(Template.from_stack(stack).to_json()) for name, stack in self.stacks.items()
        }

    def resources(self, stack: str, type_: str) -> list[dict[str, Any]]:
        found = self.templates[stack]["Resources"].values()
        return [r for r in found if r["Type"] == type_]

    def archive_bucket_policy(self, stack: str) -> list[dict[str, Any]]:
        """The statements of the archive bucket's policy (not the results bucket's)."""
        [policy] = [
            p
            for p in self.resources(stack, "AWS::S3::BucketPolicy")
            if "StorageArchiveBucket" in json.dumps(p["Properties"]["Bucket"])
        ]
        statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
        return statements

    def function_env(self, stack: str, handler: str) -> dict[str, Any]:
        [function] = [
            r
            for r in self.resources(stack, "AWS::Lambda::Function")
            if r["Properties"]["Handler"] == f"archiver.handlers.{handler}.handler"
        ]
        variables: dict[str, Any] = function["Properties"]["Environment"]["Variables"]
        return variables

    def statements(self, stack: str, role_name: str) -> list[dict[str, Any]]:
        """The statements of the policies attached to the role named `role_name`."""
        template = self.templates[stack]["Resources"]
        [role_id] = [
            logical
            for logical, r in template.items()
            if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == role_name
        ]
        return [
            statement
            for r in template.values()
            if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
            for statement in r["Properties"]["PolicyDocument"]["Statement"]
        ]


def _text(value: Any) -> str:
    """A template value with its intrinsics as cdk-nag prints them."""
    from infra.nag import nag_text

    return nag_text(value)


@pytest.fixture(scope="module")
def one_account() -> Deployment:
    return Deployment({"regions": "us-east-1,ap-northeast-1,eu-west-1"})


@pytest.fixture(scope="module")
def trusting() -> Deployment:
    overrides = {
        "regions": "ap-northeast-1,us-east-1",
        "collectorAccounts": OTHER,
        "encryption": "KMS",
    }
    return Deployment(overrides)


@pytest.fixture(scope="module")
def collector_account() -> Deployment:
    overrides = {"regions": "eu-west-1", "homeAccount": HOME, "homeRegion": "ap-northeast-1"}
    return Deployment(overrides, account=OTHER)


def test_regions_give_a_home_in_the_first_region_and_a_collector_in_each(
    one_account: Deployment,
) -> None:
    regions = {name: stack.region for name, stack in one_account.stacks.items()}
    assert regions == {
        "IvsStageArchive-home": "us-east-1",
        "IvsStageArchive-us-east-1": "us-east-1",
        "IvsStageArchive-ap-northeast-1": "ap-northeast-1",
        "IvsStageArchive-eu-west-1": "eu-west-1",
    }
    assert stack_names(one_account.settings, HOME) == list(regions)
    # The home holds the archive; a collector holds no bucket, database or table of its own.
    assert one_account.resources("IvsStageArchive-home", "Custom::GlueDatabase")
    for collector in list(regions)[1:]:
        assert not one_account.resources(collector, "AWS::S3::Bucket")
        assert not one_account.resources(collector, "Custom::GlueDatabase")
        assert one_account.resources(collector, "AWS::DynamoDB::Table")
        assert one_account.resources(collector, "AWS::SQS::Queue")
        # cdk deploy --all deploys the home first: an order, not a reference between them.
        assert [d.stack_name for d in one_account.stacks[collector].dependencies] == [
            "IvsStageArchive-home"
        ]


def test_a_collector_commits_into_the_home_by_name(one_account: Deployment) -> None:
    env = one_account.function_env("IvsStageArchive-ap-northeast-1", "archive")
    assert env["HOME_REGION"] == "us-east-1"
    assert "HOME_ACCOUNT" not in env  # the same account
    buckets = {
        _text(b["Properties"].get("BucketName", ""))
        for b in one_account.resources("IvsStageArchive-home", "AWS::S3::Bucket")
    }
    expected = f"ivs-stage-archive-{HOME}-us-east-1"  # the same in every region
    assert expected in buckets
    assert _text(env["ARCHIVE_BUCKET"]) == expected
    assert env["ARCHIVE_NAME"] == "ivs-stage-archive"
    # Its role may commit into the home's tables (Glue in the home's region) and put its own
    # account's landing objects only.
    statements = one_account.statements(
        "IvsStageArchive-ap-northeast-1", "ivs-stage-archive-collector-ap-northeast-1"
    )
    glue = [s for s in statements if "glue:UpdateTable" in s["Action"]]
    [resources] = [[_text(r) for r in s["Resource"]] for s in glue]
    assert all(f":glue:us-east-1:{HOME}:" in r for r in resources)
    landing = [s for s in statements if sorted(_listed(s["Action"])) == LANDING]
    [arns] = [{_text(r) for r in s["Resource"]} for s in landing]
    assert arns == {
        f"arn:aws:s3:::{expected}/{table}/dt=*/{HOME}/*"
        for table in ("stage_sessions", "participants", "participant_events")
    }


def test_in_one_account_the_home_lets_no_other_account_in(one_account: Deployment) -> None:
    home = "IvsStageArchive-home"
    for statement in one_account.archive_bucket_policy(home):
        assert statement["Effect"] == "Deny", statement  # TLS only: nothing allowed
    assert not one_account.resources(home, "Custom::CatalogPolicy")


def test_the_home_trusts_exactly_the_collector_roles_of_the_accounts_given(
    trusting: Deployment,
) -> None:
    home = "IvsStageArchive-home"
    others = [s for s in trusting.archive_bucket_policy(home) if s["Effect"] == "Allow"]
    assert others, "no statement for the other account"
    for statement in others:
        assert _text(statement["Principal"]["AWS"]) == f"arn:aws:iam::{OTHER}:root"
        [(operator, condition)] = statement["Condition"].items()
        assert operator == "ArnLike"
        assert _text(condition["aws:PrincipalArn"]) == (
            f"arn:<AWS::Partition>:iam::{OTHER}:role/ivs-stage-archive-collector-*"
        )
    resources = {_text(r) for s in others for r in _listed(s["Resource"])}
    bucket = "<StorageArchiveBucketC50834F0.Arn>"
    assert resources == {
        f"{bucket}/{table}/dt=*/{OTHER}/*"
        for table in ("stage_sessions", "participants", "participant_events")
    } | {f"{bucket}/iceberg/*", f"{bucket}/collectors/{OTHER}/*"}
    # Only the collector reports may be put, nothing read back or listed there.
    [reports] = [s for s in others if "collectors/" in json.dumps(s["Resource"])]
    assert _listed(reports["Action"]) == ["s3:PutObject"]
    # The key lets them use it; the Glue catalog's policy names them for the three tables.
    [key] = trusting.resources(home, "AWS::KMS::Key")
    key_statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(OTHER in json.dumps(s.get("Principal")) for s in key_statements)
    [catalog] = trusting.resources(home, "Custom::CatalogPolicy")
    [statement] = json.loads(_text(catalog["Properties"]["Statements"]))
    assert statement["Action"] == ["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"]
    assert statement["Principal"] == {"AWS": [f"arn:aws:iam::{OTHER}:root"]}
    assert statement["Sid"].startswith("IvsStageArchiveCollectors")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_a_collector_account_deploys_only_its_collectors_pointing_at_the_home(
    collector_account: Deployment,
) -> None:
    assert list(collector_account.stacks) == ["IvsStageArchive-eu-west-1"]
    env = collector_account.function_env("IvsStageArchive-eu-west-1", "archive")
    assert (env["HOME_ACCOUNT"], env["HOME_REGION"]) == (HOME, "ap-northeast-1")
    assert env["ARCHIVE_BUCKET"] == f"ivs-stage-archive-{HOME}-ap-northeast-1"
    statements = collector_account.statements(
        "IvsStageArchive-eu-west-1", "ivs-stage-archive-collector-eu-west-1"
    )
    glue = [s for s in statements if "glue:UpdateTable" in s["Action"]]
    assert all(f":glue:ap-northeast-1:{HOME}:" in _text(r) for s in glue for r in s["Resource"])


@pytest.mark.parametrize("fixture", ["one_account", "trusting", "collector_account"])
def test_cdk_nag_finds_nothing(fixture: str, request: pytest.FixtureRequest) -> None:
    deployment: Deployment = request.getfixturevalue(fixture)
    report = AwsSolutionsChecks(deployment.app).validate_scope(deployment.app)
    assert [v.rule_name for v in report.violations] == []


def test_an_organization_is_trusted_by_its_id_and_the_role_names() -> None:
    deployment = Deployment({"regions": "us-east-1", "organizationId": "o-abcdefghij"})
    statements = deployment.archive_bucket_policy("IvsStageArchive-home")
    trusted = [s for s in statements if s["Effect"] == "Allow"]
    # Its own account's landing objects and reports, the tables' files.
    assert len(trusted) == 3
    for statement in trusted:
        assert statement["Principal"] == {"AWS": "*"}
        assert statement["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": "o-abcdefghij"}
        arn = _text(statement["Condition"]["ArnLike"]["aws:PrincipalArn"])
        assert arn == "arn:<AWS::Partition>:iam::*:role/ivs-stage-archive-collector-*"
    landing = {_text(r) for s in trusted for r in _listed(s["Resource"]) if "dt=" in _text(r)}
    assert all(r.endswith("/dt=*/${aws:PrincipalAccount}/*") for r in landing), landing
    reports = {
        _text(r) for s in trusted for r in _listed(s["Resource"]) if "collectors" in _text(r)
    }
    assert {r.rsplit("/", 2)[-2] for r in reports} == {"${aws:PrincipalAccount}"}
