"""`make synth` prints no feature-flag notice: cdk.json configures every CDK feature flag that
would need attention, and configuring them changed nothing in the template.

The CDK CLI (2.1020 and later) ends `cdk synth` with "N feature flags are not configured. Run
'cdk flags --unstable=flags' to learn more." It counts the flags of the cloud assembly's feature
flag report (aws-cdk-lib writes it) that are not obsolete, that the app does not set, and whose
default (`unconfiguredBehavesLike.v2`, false when absent) differs from the recommended value:
`FlagOperations.filterNeedsAttention` in aws-cdk-cli's packages/aws-cdk/lib/commands/flags/
operations.ts. The same rule is applied here to the report of this app, as synthesized with
cdk.json; a newer aws-cdk-lib that adds such a flag fails this test, and the flag is then to be
set in cdk.json (to the recommended value when the template stays the same).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from archiver.settings import Settings
from infra.stack import IvsStageArchiveStack
from tests.helpers import ROOT

REPORT = "cdk:feature-flag-report"
# The CLI leaves these out of its count (aws-cdk-cli, commands/flags/obsolete-flags.ts).
OBSOLETE = {
    "@aws-cdk/core:enableStackNameDuplicates",
    "@aws-cdk/aws-s3:grantWriteWithoutAcl",
    "@aws-cdk/aws-kms:defaultKeyPolicies",
}
# Set in cdk.json for the notice's sake; the tests below show they change nothing.
SET_FOR_THE_NOTICE = (
    "@aws-cdk/core:target-partitions",
    "@aws-cdk/core:defaultCrossStackReferences",
)


def _context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def _synth(context: dict[str, Any], outdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the cloud assembly's manifest, the stack's template) of the app with `context`."""
    app = cdk.App(context={**context, "aws:cdk:bundling-stacks": []}, outdir=str(outdir))
    name = Settings.from_context(app.node.get_all_context()).stack_name
    IvsStageArchiveStack(app, name)
    assembly = app.synth()
    manifest: dict[str, Any] = json.loads((outdir / "manifest.json").read_text())
    template: dict[str, Any] = assembly.get_stack_by_name(name).template
    return manifest, template


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    return _synth(_context(), tmp_path_factory.mktemp("cdk.out"))


def _flags(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [report] = [a for a in manifest["artifacts"].values() if a["type"] == REPORT]
    flags: dict[str, dict[str, Any]] = report["properties"]["flags"]
    return flags


def needs_attention(flags: dict[str, dict[str, Any]]) -> list[str]:
    """The flags the CLI's notice counts."""
    return sorted(
        name
        for name, flag in flags.items()
        if name not in OBSOLETE
        and "userValue" not in flag
        and flag.get("unconfiguredBehavesLike", {}).get("v2", False) != flag["recommendedValue"]
    )


def test_no_feature_flag_needs_attention(
    synthesized: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    flags = _flags(synthesized[0])
    # The CLI says nothing when no flag carries its default: the rule would have nothing to do.
    assert any("unconfiguredBehavesLike" in flag for flag in flags.values())
    assert needs_attention(flags) == []
    for name in SET_FOR_THE_NOTICE:
        assert flags[name]["userValue"] == flags[name]["recommendedValue"], name


def test_without_them_the_notice_would_count_them_and_the_template_is_the_same(
    synthesized: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    context = {k: v for k, v in _context().items() if k not in SET_FOR_THE_NOTICE}
    manifest, template = _synth(context, tmp_path / "cdk.out")
    assert needs_attention(_flags(manifest)) == sorted(SET_FOR_THE_NOTICE)
    assert template == synthesized[1]
