"""The stack has every output the console finds a deployment by (console/deployment.py), and
the tables' location the console reads the archive's prefix from."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from archiver.settings import Settings
from console.aws import Aws
from console.deployment import OUTPUTS, TABLES_LOCATION, Deployment
from infra.stack import IvsStageArchiveStack
from tests.helpers import ROOT


def _outputs(overrides: dict[str, Any]) -> dict[str, Any]:
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update(overrides, **{"aws:cdk:bundling-stacks": []})
    app = cdk.App(context=context)
    name = Settings.from_context(app.node.get_all_context()).stack_name
    template = Template.from_stack(IvsStageArchiveStack(app, name)).to_json()
    return {key: output["Value"] for key, output in template["Outputs"].items()}


def test_the_stack_has_every_output_the_console_reads() -> None:
    outputs = _outputs({})
    assert set(OUTPUTS) <= set(outputs)
    # s3://<the created bucket>/ (no prefix by default)
    assert outputs[TABLES_LOCATION] == {
        "Fn::Join": ["", ["s3://", {"Ref": next(iter(outputs[OUTPUTS[0]].values()))}, "/"]]
    }


def test_the_archive_prefix_comes_from_the_tables_location() -> None:
    outputs = _outputs({"bucketName": "my-existing-archive", "prefix": "ivs/archive/"})
    assert outputs[TABLES_LOCATION] == "s3://my-existing-archive/ivs/archive/"
    deployment = Deployment(Aws(), "IvsStageArchive", {TABLES_LOCATION: outputs[TABLES_LOCATION]})
    assert deployment.prefix == "ivs/archive/"
