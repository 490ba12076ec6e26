"""Which stacks a synth defines, from the settings: one stack (home and collector in the CDK's
account and region) without `regions`; with them, the home (in `homeRegion`, unless this
account is a collector account: `homeAccount`) and a collector per region."""

from __future__ import annotations

import aws_cdk as cdk

from archiver.settings import Settings
from infra.collector import CollectorStack
from infra.home import HomeStack
from infra.places import stack_name
from infra.stack import IvsStageArchiveStack


def stack_names(settings: Settings, account: str | None = None) -> list[str]:
    """The names of the stacks `define` makes (for bundling before they are defined)."""
    if not settings.regions:
        return [settings.stack_name]
    home = [] if _elsewhere(settings, account) else [stack_name(settings, "home")]
    return home + [stack_name(settings, region) for region in settings.regions]


def define(
    app: cdk.App, settings: Settings, *, account: str | None, region: str | None
) -> list[cdk.Stack]:
    """The deployment's stacks in `app`; `account` and `region` are the CDK's defaults (the
    credentials'), either possibly unknown to an offline synth."""
    if not settings.regions:
        env = cdk.Environment(account=account, region=region)
        return [IvsStageArchiveStack(app, settings.stack_name, settings=settings, env=env)]
    stacks: list[cdk.Stack] = []
    if not _elsewhere(settings, account):
        home_region = settings.home_region or settings.regions[0]
        stacks.append(
            HomeStack(
                app,
                stack_name(settings, "home"),
                settings=settings,
                env=cdk.Environment(account=account, region=home_region),
            )
        )
    home = stacks[0] if stacks else None
    for place in settings.regions:
        collector = CollectorStack(
            app,
            stack_name(settings, place),
            settings=settings,
            home_account=settings.home_account,
            env=cdk.Environment(account=account, region=place),
        )
        if home is not None:  # deployed after the home (an order only: no reference)
            collector.add_dependency(home)
        stacks.append(collector)
    return stacks


def _elsewhere(settings: Settings, account: str | None) -> bool:
    """Whether the home is in another account (this one only has collectors)."""
    return bool(settings.home_account) and settings.home_account != account
