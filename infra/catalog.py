"""The Glue database, made (or adopted, when a deployment before this one left it) by a custom
resource, never deleted by the stack: deleting a Glue database deletes every table in it. With
Lake Formation, the grants on it (infra/lake_formation.py).

The landing tables (`landing_<table>`, archiver.landing_tables) and the Iceberg query tables are
made in it by the tables' resource (infra/tables.py), after the database and its grants.
"""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from archiver.landing_tables import LANDING_PREFIX
from archiver.schema import TABLES
from archiver.settings import Settings
from infra.custom_resources import CustomResourceFunction
from infra.lake_formation import LakeFormationGrants

# What the resources' function calls in Glue: the database (created, or found existing), the
# landing and query tables (read, created, brought to their definition). Nothing is deleted.
GLUE_ACTIONS = (
    "glue:CreateDatabase",
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:CreateTable",
    "glue:UpdateTable",
)


class Catalog(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.database_name = settings.database_name
        self.settings = settings
        # The catalog, the database and its three query tables (what commits reach).
        self.catalog_arns = [
            stack.format_arn(service="glue", resource="catalog"),
            stack.format_arn(service="glue", resource="database", resource_name=self.database_name),
            *(self.table_arn(name) for name in TABLES),
        ]
        self.functions = CustomResourceFunction(
            self,
            "Resources",
            settings=settings,
            description="Creates or adopts the Glue database and tables (custom resources)",
        )
        self.functions.add_to_policy(
            list(GLUE_ACTIONS),
            [*self.catalog_arns, *(self.table_arn(f"{LANDING_PREFIX}{n}") for n in TABLES)],
        )
        self.database = self.functions.resource(
            self, "Database", "GlueDatabase", {"DatabaseName": self.database_name}
        )
        self.lake_formation: LakeFormationGrants | None = None
        if settings.lake_formation:
            self.lake_formation = LakeFormationGrants(
                self, "LakeFormation", database_name=self.database_name, database=self.database
            )
            self._grant_resources()

    def table_arn(self, name: str) -> str:
        return Stack.of(self).format_arn(
            service="glue", resource="table", resource_name=f"{self.database_name}/{name}"
        )

    def _grant_resources(self) -> None:
        """The resources' function makes the database and every table in it."""
        from infra.lake_formation import TABLES_RESOURCE_DATABASE, TABLES_RESOURCE_TABLES

        grants = self.lake_formation
        assert grants is not None
        role = self.functions.role.role_arn
        self.database.node.add_dependency(grants.create_database("Resources-catalog", role))
        grants.on_database("Resources-database", role, TABLES_RESOURCE_DATABASE)
        grants.on_tables("Resources", role, TABLES_RESOURCE_TABLES, every_table=True)
