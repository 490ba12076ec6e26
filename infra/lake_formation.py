"""Lake Formation grants (`-c lakeFormation=true`), for a Glue catalog that Lake Formation governs
(the default `IAMAllowedPrincipals` grant turned off): IAM policies still say what each role may
call, and these say which databases and tables it may reach. Each grant is one
`AWS::LakeFormation::PrincipalPermissions` after the database exists; the role that deploys the
stack must be a Lake Formation data lake administrator (docs/deployment.md).

The bucket is not registered with Lake Formation by the stack: its objects stay governed by IAM
(and the bucket and key policies), as without Lake Formation.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_lakeformation as lf
from constructs import Construct, IConstruct

from archiver.schema import TABLES

# What each kind of principal may do (Lake Formation's permission names).
TABLES_RESOURCE_DATABASE = ("CREATE_TABLE", "ALTER", "DESCRIBE")
TABLES_RESOURCE_TABLES = ("ALTER", "DESCRIBE")  # every table of the database, the landing ones too
WRITER_TABLES = ("SELECT", "INSERT", "DELETE", "ALTER", "DESCRIBE")  # commits, optimizers
READER_TABLES = ("SELECT", "DESCRIBE")  # Athena users


class LakeFormationGrants(Construct):
    """The grants of one database, each made after `database` (the resource that creates it)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, database_name: str, database: IConstruct
    ) -> None:
        super().__init__(scope, construct_id)
        self.account = Stack.of(self).account
        self.database_name = database_name
        self.database = database
        self.grants: list[lf.CfnPrincipalPermissions] = []

    def create_database(self, name: str, principal: str) -> lf.CfnPrincipalPermissions:
        """CREATE_DATABASE in the catalog: the database is made by a custom resource."""
        grant = self._grant(name, principal, ["CREATE_DATABASE"], {})
        # CloudFormation's schema (and cfn-lint's) names the catalog resource by its id, a
        # string; the L1 class still types it as a JSON object.
        grant.add_property_override("Resource.Catalog", self.account)
        return grant

    def on_database(
        self, name: str, principal: str, permissions: tuple[str, ...]
    ) -> lf.CfnPrincipalPermissions:
        database = lf.CfnPrincipalPermissions.DatabaseResourceProperty(
            catalog_id=self.account, name=self.database_name
        )
        grant = self._grant(name, principal, list(permissions), {"database": database})
        grant.node.add_dependency(self.database)
        return grant

    def on_tables(
        self,
        name: str,
        principal: str,
        permissions: tuple[str, ...],
        *,
        every_table: bool = False,
    ) -> list[lf.CfnPrincipalPermissions]:
        """On the three query tables (each), or with `every_table` on every table of the
        database (one wildcard grant, which covers tables made after it)."""
        table = lf.CfnPrincipalPermissions.TableResourceProperty
        where = {"catalog_id": self.account, "database_name": self.database_name}
        targets = (
            {"all": table(**where, table_wildcard={})}
            if every_table
            else {t: table(**where, name=t) for t in TABLES}
        )
        grants = []
        for target, resource in targets.items():
            grant = self._grant(
                f"{name}-{target}", principal, list(permissions), {"table": resource}
            )
            grant.node.add_dependency(self.database)
            grants.append(grant)
        return grants

    def _grant(
        self, name: str, principal: str, permissions: list[str], resource: dict[str, object]
    ) -> lf.CfnPrincipalPermissions:
        grant = lf.CfnPrincipalPermissions(
            self,
            name,
            catalog=self.account,
            principal=lf.CfnPrincipalPermissions.DataLakePrincipalProperty(
                data_lake_principal_identifier=principal
            ),
            resource=lf.CfnPrincipalPermissions.ResourceProperty(**resource),  # type: ignore[arg-type]
            permissions=permissions,
            permissions_with_grant_option=[],
        )
        self.grants.append(grant)
        return grant
