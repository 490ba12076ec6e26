"""Shared by the tests: moved from test_infra_stack.py."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from archiver.settings import (
    Settings,
)
from infra.stack import IvsStageArchiveStack
from tests.helpers import ROOT

STAGES = [
    "arn:aws:ivs:us-east-1:123456789012:stage/AbCdEf123456",
    "arn:aws:ivs:us-east-1:123456789012:stage/ZyXwVu987654",
]


VARIANT = {
    "bucketName": "my-existing-archive",
    "prefix": "ivs/archive/",
    "encryption": "KMS",
    "stageAllowList": STAGES,
    "alarmEmail": "ops@example.com",
    "participantDetails": "off",
    "archiveConcurrency": 4,
    "apiTpsBudget": 3,
    "dataLifecycleDays": 0,
    "schedule": "rate(1 hour)",
    "logRetentionDays": 90,
}


# The Iceberg tables' side: a prefix, KMS, and landing objects kept for good.
TABLES_VARIANT = {"prefix": "ivs/", "encryption": "KMS", "landingRetentionDays": 0}
SECOND = {"name": "ivs-archive-staging", "archiveConcurrency": 20, "chunkSize": 10_000}


class Built:
    def __init__(self, overrides: dict[str, Any]) -> None:
        context = json.loads((ROOT / "cdk.json").read_text())["context"]
        context.update(overrides, **{"aws:cdk:bundling-stacks": []})
        self.app = cdk.App(context=context)
        # Named as app.py names it.
        name = Settings.from_context(self.app.node.get_all_context()).stack_name
        self.stack = IvsStageArchiveStack(self.app, name)
        self.template = Template.from_stack(self.stack)
        self.json: dict[str, Any] = dict(self.template.to_json())

    def resources(self, type_: str) -> dict[str, Any]:
        return dict(self.template.find_resources(type_))

    def one(self, type_: str, **match: Any) -> dict[str, Any]:
        found = [
            r
            for r in self.resources(type_).values()
            if all(r["Properties"].get(k) == v for k, v in match.items())
        ]
        assert len(found) == 1, f"{len(found)} {type_} matching {match}"
        return found[0]

    def function(self, handler_module: str) -> dict[str, Any]:
        return self.one(
            "AWS::Lambda::Function", Handler=f"archiver.handlers.{handler_module}.handler"
        )

    def logical_id(self, resource: dict[str, Any]) -> str:
        return next(k for k, v in self.json["Resources"].items() if v is resource or v == resource)

    def policy_statements(self, function: dict[str, Any]) -> list[dict[str, Any]]:
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        statements: list[dict[str, Any]] = []
        for policy in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role} in policy["Properties"]["Roles"]:
                statements += policy["Properties"]["PolicyDocument"]["Statement"]
        return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(statements: list[dict[str, Any]], prefix: str) -> set[str]:
    return {a for s in statements for a in as_list(s["Action"]) if a.startswith(prefix)}


def text(value: Any) -> str:
    """A CloudFormation value as readable text (tokens as <Logical.Attr> / <Ref>)."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Fn::Join" in value:
        return value["Fn::Join"][0].join(text(p) for p in value["Fn::Join"][1])
    raise AssertionError(value)
