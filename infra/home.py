"""The home: the archive bucket, the Glue database with its landing and Iceberg query tables and
their optimizers, and the Athena workgroup with the named queries. In a deployment with places
it is a stack of its own (`<stack>-home`), which lets the collectors of other accounts in
(`Trust`); in one without, the single stack holds it beside its collector (infra/stack.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, CustomResource, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from archiver.settings import Settings
from infra.catalog import Catalog
from infra.nag import acknowledge_stack
from infra.operators import HOME, OperatorPolicies, for_home
from infra.places import (
    Home,
    Trusted,
    iceberg_objects,
    landing_objects,
    report_objects,
    trusted,
)
from infra.queries import Queries
from infra.storage import Storage
from infra.tables import COMMIT_GLUE_ACTIONS, ICEBERG_OBJECT_ACTIONS, QueryTables

# What a collector of another account may do to the home's objects (its own account's landing
# objects; the tables' files) and to its Glue catalog (commit).
LANDING_ACTIONS = ("s3:PutObject", "s3:PutObjectTagging", "s3:GetObject")
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


@dataclass
class HomeParts:
    storage: Storage
    catalog: Catalog
    tables: QueryTables
    queries: Queries

    def outputs(self, settings: Settings) -> dict[str, str]:
        """What the console finds the home by."""
        bucket = self.storage.bucket.bucket_name
        return {
            "ArchiveBucketName": bucket,
            # The Iceberg tables' root and the landing objects' prefix: s3://<bucket>/<prefix>
            "TablesLocation": f"s3://{bucket}/{settings.prefix}",
            "ResultsBucketName": self.storage.results_bucket.bucket_name,
            "DatabaseName": self.catalog.database_name,
            "WorkGroupName": self.queries.workgroup.ref,
        }


def build_home(stack: Stack, settings: Settings, home: Home | None = None) -> HomeParts:
    """The home's constructs in `stack` (with places, named as the collectors find them)."""
    storage = Storage(
        stack,
        "Storage",
        settings=settings,
        bucket_name=home.bucket_name if home else None,
        key_alias=home.key_alias if home and settings.encryption == "KMS" else None,
    )
    catalog = Catalog(stack, "Catalog", settings=settings)
    tables = QueryTables(stack, "Tables", settings=settings, storage=storage, catalog=catalog)
    queries = Queries(
        stack,
        "Queries",
        settings=settings,
        database=catalog.database_name,
        results_location=storage.results_location,
        key=storage.key,
    )
    return HomeParts(storage, catalog, tables, queries)


class HomeStack(Stack):
    """The home of a deployment with places: `cdk deploy --all -c regions=...` in its account."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="IVS Stage Archive home: the archive bucket, Glue tables and Athena",
            **kwargs,
        )
        self.settings = settings
        self.home = Home.of(settings, self.account)
        self.parts = build_home(self, settings, self.home)
        self.trust = Trust(self, "Trust", home=self.home, parts=self.parts)
        targets = for_home(self, settings, self.parts.storage, self.parts.queries.workgroup.ref)
        self.operators = OperatorPolicies(
            self, "Operators", settings=settings, targets=targets, kinds=(HOME,), part="home"
        )
        outputs = self.parts.outputs(settings) | {"Regions": ",".join(settings.regions)}
        outputs |= self.operators.outputs()
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
        created = [self.parts.storage.results_bucket]
        if self.parts.storage.created_bucket:
            created.append(self.parts.storage.created_bucket)
        acknowledge_stack(created, [])


class Trust(Construct):
    """The home's resource policies for the collectors of other accounts: each may put (and read
    back) its own account's landing objects, read and write the tables' files, use the archive
    key, and commit to the three tables in Glue; nothing else, and nobody else. In its own
    account the home needs no such policy (the collectors' IAM policies suffice)."""

    def __init__(self, scope: Construct, construct_id: str, *, home: Home, parts: HomeParts):
        super().__init__(scope, construct_id)
        self.statements: list[iam.PolicyStatement] = []
        if not home.trusts_others:
            return
        storage = parts.storage
        for who in trusted(home):
            self._allow(
                storage,
                who,
                LANDING_ACTIONS,
                landing_objects(storage.bucket, storage.prefix, who.account),
            )
            self._allow(
                storage,
                who,
                ICEBERG_OBJECT_ACTIONS,
                iceberg_objects(storage.bucket, storage.prefix),
            )
            self._allow(  # each collector's report (archiver.collector_report)
                storage,
                who,
                ("s3:PutObject",),
                [report_objects(storage.bucket, storage.prefix, who.account)],
            )
            if storage.key:
                storage.key.add_to_resource_policy(
                    iam.PolicyStatement(
                        actions=list(KEY_ACTIONS),
                        principals=[who.principal],
                        resources=["*"],
                        conditions=who.conditions,
                    )
                )
        self.catalog_policy = self._catalog_policy(home, parts)

    def _allow(
        self,
        storage: Storage,
        who: Trusted,
        actions: tuple[str, ...],
        resources: list[str],
    ) -> None:
        statement = iam.PolicyStatement(
            actions=list(actions),
            principals=[who.principal],
            resources=resources,
            conditions=who.conditions,
        )
        result = storage.bucket.add_to_resource_policy(statement)
        if not result.statement_added:
            raise ValueError(f"{storage.bucket.node.path}: no bucket policy to trust collectors")
        self.statements.append(statement)

    @staticmethod
    def _catalog_policy(home: Home, parts: HomeParts) -> CustomResource:
        """The Glue catalog's resource policy: its statements for the collectors, merged into
        whatever else the catalog's policy holds (the tables' function does it)."""
        # Sids are letters and digits: the deployment's name, in camel case.
        sid_prefix = "".join(part.capitalize() for part in home.settings.name.split("-"))
        statements = [
            {
                "Sid": f"{sid_prefix}Collectors{index}",
                "Effect": "Allow",
                "Principal": who.principal.policy_fragment.principal_json,
                "Action": list(COMMIT_GLUE_ACTIONS),
                "Resource": home.catalog_arns(),
                "Condition": who.conditions,
            }
            for index, who in enumerate(trusted(home))
        ]
        tables = parts.tables
        tables.grant_catalog_policy()
        resource = tables.functions.resource(
            tables,
            "CatalogPolicy",
            "CatalogPolicy",
            {
                "SidPrefix": sid_prefix,
                "Statements": Stack.of(tables).to_json_string(statements),
            },
        )
        resource.node.add_dependency(tables.resource)
        return resource
