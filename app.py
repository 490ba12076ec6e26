#!/usr/bin/env python3
"""CDK app: `npx cdk synth` / `npx cdk deploy` (or `make synth` / `make deploy`)."""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.bundling import BundlingError, prepare
from infra.config import ArchiveConfig, ConfigError
from infra.stack import IvsStageArchiveStack

app = cdk.App()
try:
    # The stack is named after the `name` context key (`IvsStageArchive` for the default).
    config = ArchiveConfig.from_context(app.node.try_get_context)
    prepare(app, config.stack_name)  # the Lambda bundle's dependencies, before jsii asks
except (ConfigError, BundlingError) as exc:
    sys.exit(f"error: {exc}")
IvsStageArchiveStack(
    app,
    config.stack_name,
    config=config,
    env=cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    ),
)
# cdk-nag 3: a policy validation plugin; any unacknowledged finding fails the synth.
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
