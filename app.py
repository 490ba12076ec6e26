#!/usr/bin/env python3
"""CDK app: `npx cdk synth` / `npx cdk deploy` (or `make synth` / `make deploy`)."""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from archiver.settings import Settings, SettingsError
from infra.bundling import BundlingError, prepare
from infra.stack import IvsStageArchiveStack

app = cdk.App()
try:
    # Every setting from the context (cdk.json, `-c key=value`): docs/configuration.md.
    settings = Settings.from_context(app.node.get_all_context())
    prepare(app, settings.stack_name)  # the Lambda bundle's dependencies, before jsii asks
except (SettingsError, BundlingError) as exc:
    sys.exit(f"error: {exc}")
IvsStageArchiveStack(
    app,
    settings.stack_name,  # `IvsStageArchive` for the default name
    settings=settings,
    env=cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    ),
)
# cdk-nag 3: a policy validation plugin; any unacknowledged finding fails the synth.
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
