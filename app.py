#!/usr/bin/env python3
"""CDK app: `npx cdk synth` / `npx cdk deploy` (or `make synth` / `make deploy`); with places
(`-c regions=...`), `cdk deploy --all` deploys the home and a collector per region."""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from archiver.settings import Settings, SettingsError
from infra.bundling import BundlingError, prepare
from infra.deployment import define, stack_names
from infra.places import PlacesError

app = cdk.App()
account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
try:
    # Every setting from the context (cdk.json, `-c key=value`): docs/configuration.md.
    settings = Settings.from_context(app.node.get_all_context())
    for name in stack_names(settings, account):
        prepare(app, name)  # the Lambda bundle's dependencies, before jsii asks
    define(app, settings, account=account, region=region)
except (SettingsError, PlacesError, BundlingError) as exc:
    sys.exit(f"error: {exc}")
# cdk-nag 3: a policy validation plugin; any unacknowledged finding fails the synth.
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
