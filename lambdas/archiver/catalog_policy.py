"""The home's Glue catalog resource policy: the statements that let other accounts' collectors
commit into the query tables (infra/home.py, `Trust`), merged into whatever else the policy
holds. A catalog has one resource policy for everything in it, so this deployment's statements
are told apart by their Sid's prefix: they are replaced on every update and removed on delete,
and no other statement is touched. Concurrent writers are caught by Glue's hash condition.
"""

from __future__ import annotations

import json
from typing import Any

ATTEMPTS = 5


def merged(current: str | None, sid_prefix: str, statements: list[dict[str, Any]]) -> str | None:
    """The policy `current` (JSON, or None for none) with its statements whose Sid starts with
    `sid_prefix` replaced by `statements`; None when nothing is left."""
    policy: dict[str, Any] = (
        json.loads(current) if current else {"Version": "2012-10-17", "Statement": []}
    )
    found = policy.get("Statement", [])
    listed: list[dict[str, Any]] = [found] if isinstance(found, dict) else list(found)
    kept = [s for s in listed if not str(s.get("Sid", "")).startswith(sid_prefix)]
    for statement in statements:
        if not str(statement.get("Sid", "")).startswith(sid_prefix):
            raise ValueError(f"a statement's Sid must start with {sid_prefix!r}: {statement}")
    policy["Statement"] = kept + statements
    return json.dumps(policy, sort_keys=True) if policy["Statement"] else None


def apply(glue: Any, sid_prefix: str, statements: list[dict[str, Any]]) -> str:
    """Writes the catalog's policy with `statements` as this deployment's; what was done."""
    for _ in range(ATTEMPTS):
        try:
            found = glue.get_resource_policy()
            current, policy_hash = found.get("PolicyInJson"), found.get("PolicyHash")
        except glue.exceptions.EntityNotFoundException:
            current, policy_hash = None, None
        wanted = merged(current, sid_prefix, statements)
        if wanted == (json.dumps(json.loads(current), sort_keys=True) if current else None):
            return "unchanged"
        try:
            if wanted is None:
                condition = {"PolicyHashCondition": policy_hash} if policy_hash else {}
                glue.delete_resource_policy(**condition)
                return "deleted"
            condition = (
                {"PolicyHashCondition": policy_hash, "PolicyExistsCondition": "MUST_EXIST"}
                if policy_hash
                else {"PolicyExistsCondition": "NOT_EXIST"}
            )
            glue.put_resource_policy(PolicyInJson=wanted, EnableHybrid="TRUE", **condition)
            return "written"
        except glue.exceptions.ConcurrentModificationException:
            continue  # another writer changed it meanwhile: read it again
        except glue.exceptions.ConditionCheckFailureException:
            continue
    raise RuntimeError(f"the Glue catalog's resource policy kept changing ({ATTEMPTS} attempts)")
