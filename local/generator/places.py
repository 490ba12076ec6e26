"""A generated scenario spread over places (account, region), as `generate --regions R,...
--accounts N` writes it: the stages take the places in turn (account by account, region by
region within each), and every ARN of a stage's own resources moves with it; a reference to
another stage (replication) follows that stage to its place."""

from __future__ import annotations

from typing import Any

from archiver.settings import IVS_REALTIME_REGIONS
from local.generator.vocab import ACCOUNT, ARN_PREFIX

MOST_ACCOUNTS = 12


def accounts(count: int) -> list[str]:
    """`count` distinct 12-digit account ids, the generator's own first."""
    if not 1 <= count <= MOST_ACCOUNTS:
        raise ValueError(f"accounts must be within 1..{MOST_ACCOUNTS}, got {count}")
    return [ACCOUNT[n:] + ACCOUNT[:n] for n in range(count)]


def places(regions: list[str], count: int) -> list[tuple[str, str]]:
    """(account, region) pairs, account by account."""
    unknown = [region for region in regions if region not in IVS_REALTIME_REGIONS]
    if unknown or not regions:
        raise ValueError(
            f"regions must be IVS Real-Time regions ({', '.join(IVS_REALTIME_REGIONS)}), "
            f"got {', '.join(unknown) or 'none'}"
        )
    if len(set(regions)) != len(regions):
        raise ValueError("regions must name each region once")
    return [(account, region) for account in accounts(count) for region in regions]


def spread(scenario: dict[str, Any], regions: list[str], count: int) -> dict[str, Any]:
    """`scenario` with its stages over the places of `regions` and `count` accounts."""
    where = places(regions, count)
    stages = scenario["stages"]
    prefixes = [
        f"arn:aws:ivs:{region}:{account}"
        for account, region in (where[i % len(where)] for i in range(len(stages)))
    ]
    moved = {
        stage["arn"]: prefix + stage["arn"].removeprefix(ARN_PREFIX)
        for stage, prefix in zip(stages, prefixes, strict=True)
    }

    def move(value: Any, prefix: str) -> Any:
        if isinstance(value, str):
            if value in moved:
                return moved[value]
            return (
                prefix + value.removeprefix(ARN_PREFIX) if value.startswith(ARN_PREFIX) else value
            )
        if isinstance(value, list):
            return [move(item, prefix) for item in value]
        if isinstance(value, dict):
            return {key: move(item, prefix) for key, item in value.items()}
        return value

    return {
        **scenario,
        "stages": [move(stage, prefix) for stage, prefix in zip(stages, prefixes, strict=True)],
    }
