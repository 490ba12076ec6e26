"""The collectors' statements in the Glue catalog's resource policy: merged into what else the
policy holds, replaced on update, taken out on delete, never touching another statement."""

from __future__ import annotations

import json
from typing import Any

import pytest

from archiver.catalog_policy import merged

PREFIX = "IvsStageArchiveCollectors"


def _statement(sid: str, account: str = "222222222222") -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{account}:root"]},
        "Action": ["glue:GetTable"],
        "Resource": ["arn:aws:glue:us-east-1:111111111111:catalog"],
    }


OTHERS = {"Version": "2012-10-17", "Statement": [_statement("LakeFormationSomething", "3" * 12)]}


def test_ours_are_added_beside_what_the_policy_holds() -> None:
    written = merged(json.dumps(OTHERS), PREFIX, [_statement(f"{PREFIX}0")])
    assert written is not None
    sids = [s["Sid"] for s in json.loads(written)["Statement"]]
    assert sids == ["LakeFormationSomething", f"{PREFIX}0"]


def test_ours_are_replaced_and_others_kept_on_update() -> None:
    before = merged(
        json.dumps(OTHERS), PREFIX, [_statement(f"{PREFIX}0"), _statement(f"{PREFIX}1")]
    )
    after = merged(before, PREFIX, [_statement(f"{PREFIX}0", "4" * 12)])
    assert after is not None
    statements = json.loads(after)["Statement"]
    assert [s["Sid"] for s in statements] == ["LakeFormationSomething", f"{PREFIX}0"]
    assert statements[1]["Principal"] == {"AWS": [f"arn:aws:iam::{'4' * 12}:root"]}


def test_taking_ours_out_leaves_the_others_or_nothing() -> None:
    ours = merged(None, PREFIX, [_statement(f"{PREFIX}0")])
    assert merged(ours, PREFIX, []) is None  # nothing else was there: no policy at all
    both = merged(json.dumps(OTHERS), PREFIX, [_statement(f"{PREFIX}0")])
    left = merged(both, PREFIX, [])
    assert left is not None and json.loads(left)["Statement"] == OTHERS["Statement"]


def test_a_statement_of_ours_must_carry_the_prefix() -> None:
    with pytest.raises(ValueError, match="must start with"):
        merged(None, PREFIX, [_statement("Unmarked")])
