"""A real account's catalog and bucket: Lake Formation governing the Glue catalog
(`lakeFormation`, `athenaPrincipals`) and an existing SSE-KMS bucket (`bucketKmsKeyArn`)."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_nag import AwsSolutionsChecks

from archiver.schema import TABLES
from archiver.settings import Settings, SettingsError
from infra.lake_formation import READER_TABLES, WRITER_TABLES
from tests.helpers.synth import Built, as_list, text

ANALYST = "arn:aws:iam::123456789012:role/analyst"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def governed() -> Built:
    return Built({"lakeFormation": True, "athenaPrincipals": ANALYST})


@pytest.fixture(scope="module")
def existing_key() -> Built:
    return Built({"bucketName": "their-archive", "bucketKmsKeyArn": KEY})


def _grants(built: Built) -> list[tuple[str, str, str, frozenset[str], dict[str, Any]]]:
    """(logical id, principal, what, permissions, resource) of each Lake Formation grant."""
    found = []
    for logical_id, grant in built.resources("AWS::LakeFormation::PrincipalPermissions").items():
        props = grant["Properties"]
        principal = text(props["Principal"]["DataLakePrincipalIdentifier"])
        resource = props["Resource"]
        (what,) = resource
        if what == "Table":
            what = resource["Table"].get("Name", "*")
        found.append((logical_id, principal, what, frozenset(props["Permissions"]), resource))
        assert props["PermissionsWithGrantOption"] == []
    return found


def _role_of(built: Built, function: dict[str, Any]) -> str:
    return f"<{function['Properties']['Role']['Fn::GetAtt'][0]}.Arn>"


def test_without_lake_formation_there_is_no_grant(default: Built) -> None:
    assert not default.resources("AWS::LakeFormation::PrincipalPermissions")


def test_lake_formation_grants_each_role_what_it_needs_and_athena_users_select(
    governed: Built,
) -> None:
    grants = _grants(governed)
    by_principal: dict[str, dict[str, frozenset[str]]] = {}
    for _, principal, what, permissions, _ in grants:
        by_principal.setdefault(principal, {})[what] = permissions
    (database_id, database), *_ = governed.resources("Custom::GlueDatabase").items()
    resources_role = _role_of(
        governed,
        governed.json["Resources"][database["Properties"]["ServiceToken"]["Fn::GetAtt"][0]],
    )
    # The custom resources' role makes the database and every table in it.
    assert by_principal[resources_role] == {
        "Catalog": frozenset({"CREATE_DATABASE"}),
        "Database": frozenset({"CREATE_TABLE", "ALTER", "DESCRIBE"}),
        "*": frozenset({"ALTER", "DESCRIBE"}),
    }
    # The archive function commits (and erases); each optimizer role maintains the tables.
    writers = [_role_of(governed, governed.function("archive"))]
    for optimizer in governed.resources("AWS::Glue::TableOptimizer").values():
        role = optimizer["Properties"]["TableOptimizerConfiguration"]["RoleArn"]
        writers.append(f"<{role['Fn::GetAtt'][0]}.Arn>")
    assert len(set(writers)) == 4
    for principal in set(writers):
        assert by_principal[principal] == {
            "Database": frozenset({"DESCRIBE"}),
            **{name: frozenset(WRITER_TABLES) for name in TABLES},
        }
    assert by_principal[ANALYST] == {
        "Database": frozenset({"DESCRIBE"}),
        **{name: frozenset(READER_TABLES) for name in TABLES},
    }
    assert set(by_principal) == {resources_role, ANALYST, *writers}  # nobody else
    # Order: CREATE_DATABASE before the database; every other grant after it; the tables after
    # the resources role's grants; commits, discovery and optimizers after their own grants.
    ids = {logical_id: (principal, what) for logical_id, principal, what, _, _ in grants}
    for logical_id, (_, what) in ids.items():
        depends = as_list(governed.json["Resources"][logical_id].get("DependsOn", []))
        assert (database_id in depends) == (what != "Catalog"), logical_id
    catalog_grant = next(i for i, (_, what) in ids.items() if what == "Catalog")
    assert catalog_grant in database["DependsOn"]
    (tables,) = governed.resources("Custom::IcebergTables").values()
    assert {i for i, (p, _) in ids.items() if p == resources_role} <= set(tables["DependsOn"])
    (seed,) = governed.resources("Custom::LedgerSeed").values()
    archive_grants = {i for i, (p, _) in ids.items() if p == writers[0]}
    assert archive_grants <= set(seed["DependsOn"])
    for optimizer in governed.resources("AWS::Glue::TableOptimizer").values():
        role = optimizer["Properties"]["TableOptimizerConfiguration"]["RoleArn"]
        own = {i for i, (p, _) in ids.items() if p == f"<{role['Fn::GetAtt'][0]}.Arn>"}
        assert own <= set(optimizer["DependsOn"])


def test_cdk_nag_is_clean_with_lake_formation(governed: Built, existing_key: Built) -> None:
    for built in (governed, existing_key):
        report = AwsSolutionsChecks(built.app).validate_scope(built.app)
        findings = [
            f"{v.rule_name} at {r.construct_path}"
            for v in report.violations
            for r in v.violating_resources
        ]
        assert findings == []


def test_an_existing_buckets_key_is_granted_to_every_role_that_reads_or_writes_it(
    existing_key: Built, default: Built
) -> None:
    roles_on_bucket: set[str] = set()
    keyed: dict[str, set[str]] = {}
    for policy in existing_key.resources("AWS::IAM::Policy").values():
        roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            resources = [text(r) for r in as_list(statement["Resource"])]
            if any("their-archive" in r for r in resources):
                roles_on_bucket.update(roles)
            if KEY in resources:
                for role in roles:
                    keyed.setdefault(role, set()).update(as_list(statement["Action"]))
    # The archive and discover functions, the custom resources, the three optimizers.
    assert len(roles_on_bucket) == 6
    assert set(keyed) == roles_on_bucket
    for role, granted in keyed.items():
        assert {"kms:Decrypt", "kms:GenerateDataKey"} <= granted or granted == {
            "kms:GenerateDataKey"  # discovery only puts its report
        }, role
    assert KEY not in str(default.json)


@pytest.mark.parametrize(
    ("context", "error"),
    [
        ({"bucketKmsKeyArn": KEY}, "'bucketKmsKeyArn': the key of an existing bucket"),
        (
            {"bucketName": "bucket", "bucketKmsKeyArn": "key"},
            "'bucketKmsKeyArn': must be empty, or a KMS key ARN (got 'key')",
        ),
        ({"athenaPrincipals": ANALYST}, "'athenaPrincipals': granted through Lake Formation"),
        (
            {"lakeFormation": True, "athenaPrincipals": "analyst"},
            "'athenaPrincipals': must be IAM role or user ARNs",
        ),
        ({"lakeFormation": "maybe"}, "'lakeFormation': must be `true` or `false`"),
    ],
)
def test_a_wrong_day_two_setting_is_one_clear_error(context: dict[str, Any], error: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_context(context)
    assert error in str(raised.value)
    assert "\n" not in str(raised.value)


def test_with_places_the_home_grants_its_own_roles_and_no_collector_grants_anything() -> None:
    from tests.integration.infra.test_places import Deployment

    places = Deployment(
        {"regions": "us-east-1,eu-west-1", "lakeFormation": True, "athenaPrincipals": ANALYST}
    )
    home = places.resources("IvsStageArchive-home", "AWS::LakeFormation::PrincipalPermissions")
    principals = {text(g["Properties"]["Principal"]["DataLakePrincipalIdentifier"]) for g in home}
    # The custom resources' role, the three optimizer roles, the analyst.
    assert len(principals) == 5 and ANALYST in principals
    for collector in ("IvsStageArchive-us-east-1", "IvsStageArchive-eu-west-1"):
        assert not places.resources(collector, "AWS::LakeFormation::PrincipalPermissions")
