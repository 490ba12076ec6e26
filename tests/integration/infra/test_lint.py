"""cfn-lint over the synthesized templates, in each of the seven regions with IVS Real-Time.

The default settings are synthesized once per region, with a concrete account and region as
`cdk deploy` synthesizes them (app.py); the variant with every optional feature on is linted,
region-agnostic, against all seven; a deployment with places (a home and a collector in each of
the seven regions, trusting another account's collectors, KMS) and a collector account's each
template in its own region. Bundling is skipped: the template does not depend on the
asset's content. Every finding fails the test unless IGNORED explains it, and every explanation
must still match a finding, so none outlives its warning.
"""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.rules import Match

from archiver.settings import IVS_REALTIME_REGIONS as REGIONS
from archiver.settings import Settings
from infra.deployment import define
from infra.stack import IvsStageArchiveStack
from tests.helpers import ROOT

PLACES = {
    "regions": ",".join(REGIONS),
    "homeRegion": "eu-central-1",
    "collectorAccounts": "222222222222",
    "encryption": "KMS",
}
COLLECTOR_ACCOUNT = {"regions": "us-west-2,ap-south-1", "homeAccount": "123456789012"}
VARIANT = {
    "bucketName": "my-existing-archive",
    "prefix": "ivs/archive/",
    "encryption": "KMS",
    "stageAllowList": ["arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456"],
    "alarmEmail": "ops@example.com",
    "participantDetails": "off",
    "dataLifecycleDays": 0,
    "bucketKmsKeyArn": (
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ),
    "lakeFormation": True,
    "athenaPrincipals": "arn:aws:iam::123456789012:role/analyst",
}
# (rule, message pattern) -> why the finding stays.
IGNORED: dict[tuple[str, re.Pattern[str]], str] = {
    (
        "W3005",
        re.compile(
            r"^'(?:Archiver(?:Discover|Archive)|CatalogResources)Role[0-9A-F]{8}' dependency "
            r"already enforced by a 'GetAtt' at 'Resources/(?:Archiver(?:Discover|Archive)|"
            r"CatalogResourcesFunction|LedgerSeedFunction)[0-9A-F]{8}/Properties/Role'$"
        ),
    ): (
        "CDK's lambda.Function always adds its role to DependsOn, besides the GetAtt of the "
        "role's ARN: redundant and harmless, and overriding CDK's DependsOn would be worse. "
        "(The ledger seed's function runs as the archive function's role.)"
    ),
}


def context(overrides: dict[str, Any]) -> dict[str, Any]:
    values = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**values, **overrides, "aws:cdk:bundling-stacks": []}


@pytest.fixture(scope="module")
def templates() -> list[tuple[str, dict[str, Any], list[str]]]:
    """(what, template, regions to lint it for)."""
    app = cdk.App(context=context({}))
    built: list[tuple[str, cdk.Stack, list[str]]] = [
        (
            f"defaults in {region}",
            IvsStageArchiveStack(
                app,
                f"IvsStageArchive-{region}",
                env=cdk.Environment(account="123456789012", region=region),
            ),
            [region],
        )
        for region in REGIONS
    ]
    variant = cdk.App(context=context(VARIANT))
    built.append(("variant", IvsStageArchiveStack(variant, "IvsStageArchive"), list(REGIONS)))
    for overrides, account in ((PLACES, "123456789012"), (COLLECTOR_ACCOUNT, "222222222222")):
        places = cdk.App(context=context(overrides))
        settings = Settings.from_context(places.node.get_all_context())
        for stack in define(places, settings, account=account, region="us-east-1"):
            built.append((f"{stack.stack_name} in {stack.region}", stack, [stack.region]))
    return [(what, dict(Template.from_stack(stack).to_json()), r) for what, stack, r in built]


def explained(match: Match) -> tuple[str, re.Pattern[str]] | None:
    for rule, pattern in IGNORED:
        if match.rule.id == rule and pattern.match(match.message):
            return rule, pattern
    return None


def test_cfn_lint_finds_nothing_unexplained_in_any_ivs_real_time_region(
    templates: list[tuple[str, dict[str, Any], list[str]]],
) -> None:
    unexplained: list[str] = []
    used: set[tuple[str, re.Pattern[str]]] = set()
    for what, template, regions in templates:
        for match in lint(json.dumps(template), config=ManualArgs(regions=regions)):
            reason = explained(match)
            if reason is None:
                unexplained.append(f"{what}: {match.rule.id} {match.message} at {match.path}")
            else:
                used.add(reason)
    assert unexplained == [], "\n".join(unexplained)
    assert used == set(IGNORED), "an explanation no longer matches any finding: drop it"


def test_the_linter_reports_a_bad_template() -> None:
    """So that an empty result above means a clean template, not a linter that checks nothing."""
    broken = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "soon"}}
        }
    }
    found = lint(json.dumps(broken), config=ManualArgs(regions=["ap-south-1"]))
    assert [m.rule.id for m in found] == ["E3012"]
