"""The Iceberg query tables in the Glue database, and the Glue optimizers that maintain them.

A custom resource backed by the archiver's own code (`archiver.handlers.custom_resources`, the
same asset as the functions; why not CloudFormation's Glue tables: infra/custom_resources.py)
creates or adopts the tables, appends the columns schema.py gains, and refuses a bucket or prefix
that moved; deleting the stack keeps them. Compaction, snapshot expiry and orphan-file removal
are the Glue Data Catalog's managed table optimizers, each optimizer type with its own
least-privilege role: no compaction code of ours runs in AWS. Compaction is an optimisation
only: queries, commits and erasure are correct on tables it never touched.
"""

from __future__ import annotations

import hashlib
import json

from aws_cdk import ArnFormat, CustomResource, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from constructs import Construct

from archiver.schema import TABLES
from archiver.settings import Settings
from archiver.tables import TABLE_PROPERTIES
from infra.catalog import Catalog
from infra.lake_formation import READER_TABLES, WRITER_TABLES
from infra.nag import acknowledge_wildcards
from infra.storage import ArchiveStore, Storage

ICEBERG_FOLDER = "iceberg/"
# Snapshots (and the files only they reference) are kept this long: a day of time travel, and
# no more, as every commit reads and rewrites the table's metadata, which lists each snapshot
# (about 3 ms a snapshot for a commit of the three tables, measured locally). A retried commit
# recognises sessions whose snapshots expired by their rows (archiver/commit.py). Erased rows
# leave the table's files when the snapshots before the erasure expire.
SNAPSHOT_RETENTION_DAYS = 1
SNAPSHOTS_TO_RETAIN = 1
# Files no snapshot references (a commit that lost a race) are deleted after this many days.
ORPHAN_RETENTION_DAYS = 3

# What each optimizer type needs (AWS Glue, "Table optimization prerequisites"): the orphan
# file deletion optimizer neither updates the table nor writes objects.
OPTIMIZERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # type: (S3 object actions, Glue actions, log group)
    "compaction": (
        ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"),
        ("glue:GetTable", "glue:UpdateTable"),
        "/aws-glue/iceberg-compaction/logs",
    ),
    "retention": (
        ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"),
        ("glue:GetTable", "glue:UpdateTable"),
        "/aws-glue/iceberg-retention/logs",
    ),
    "orphan_file_deletion": (
        ("s3:GetObject", "s3:DeleteObject"),
        ("glue:GetTable",),
        "/aws-glue/iceberg-orphan-file-deletion/logs",
    ),
}
LOG_ACTIONS = ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
# What the resources' function calls to give the optimizers' log groups their retention.
LOG_RETENTION_ACTIONS = ("logs:CreateLogGroup", "logs:PutRetentionPolicy")
# What the custom resource calls to keep the collectors' statements in the catalog's policy.
CATALOG_POLICY_ACTIONS = (
    "glue:GetResourcePolicy",
    "glue:PutResourcePolicy",
    "glue:DeleteResourcePolicy",
)
# What a commit (or an erasure) calls on the Glue catalog.
COMMIT_GLUE_ACTIONS = ("glue:GetDatabase", "glue:GetTable", "glue:UpdateTable")
# pyiceberg writes data, manifests and metadata; it deletes the manifests of a commit that lost
# a race and metadata files older than the last 100.
ICEBERG_OBJECT_ACTIONS = (
    "s3:PutObject",
    "s3:GetObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
)


def schema_version() -> str:
    """Changes whenever the tables' definition does, so that a deployment after schema.py gains
    a column sends the custom resource an Update (which appends it)."""
    definition = {
        name: [(c.name, c.type.glue, c.nullable, c.doc) for c in table.columns]
        for name, table in TABLES.items()
    }
    text = json.dumps([definition, TABLE_PROPERTIES], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class QueryTables(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        storage: Storage,
        catalog: Catalog,
    ) -> None:
        super().__init__(scope, construct_id)
        self.storage = storage
        self.catalog = catalog
        self.database_name = settings.database_name
        self.prefix = f"{settings.prefix}{ICEBERG_FOLDER}"
        self.location_root = f"s3://{storage.bucket.bucket_name}/{settings.prefix}"
        self.catalog_arns = catalog.catalog_arns
        self.functions = catalog.functions
        self.function = self.functions.function
        self._grant_objects(
            self.functions.role, ("s3:PutObject", "s3:GetObject", "s3:DeleteObject")
        )
        self.resource = self.functions.resource(
            self,
            "Tables",
            "IcebergTables",
            {
                "DatabaseName": self.database_name,
                "LocationRoot": self.location_root,
                "PartitionStartDate": settings.partition_start_date,
                "SchemaVersion": schema_version(),
            },
        )
        # After the database, and (with Lake Formation) the function's grants on it.
        self.resource.node.add_dependency(catalog.database)
        if catalog.lake_formation:
            self.resource.node.add_dependency(*catalog.lake_formation.grants)
            for index, principal in enumerate(settings.athena_principals):
                self._grant_tables(f"Athena{index}", principal, READER_TABLES)
        self.log_retention = self._log_retention(settings)
        self.optimizers = self._optimizers(settings)
        self._acknowledge(self.functions.role)

    # --- the optimizers -------------------------------------------------------------------------
    def _optimizers(self, settings: Settings) -> list[glue.CfnTableOptimizer]:
        stack = Stack.of(self)
        optimizers = []
        for kind, (object_actions, glue_actions, log_group) in OPTIMIZERS.items():
            role = iam.Role(
                self,
                f"{_camel(kind)}Role",
                assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
                description=f"IVS Stage Archive: Glue {kind.replace('_', ' ')} optimizer",
            )
            self._grant_objects(role, object_actions)
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(glue_actions), resources=self.catalog_arns)
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=list(LOG_ACTIONS),
                    resources=[
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{log_group}:*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                )
            )
            self._acknowledge(role)
            lake_formation = self._grant_tables(_camel(kind), role.role_arn, WRITER_TABLES)
            for name in TABLES:
                optimizer = glue.CfnTableOptimizer(
                    self,
                    f"{_camel(kind)}-{name}",
                    catalog_id=stack.account,
                    database_name=self.database_name,
                    table_name=name,
                    type=kind,
                    table_optimizer_configuration=self._configuration(kind, role, name),
                )
                # The role's ARN already orders the role first; its policy must exist too.
                policy = role.node.find_child("DefaultPolicy")
                optimizer.node.add_dependency(self.resource, policy, self.log_retention)
                optimizer.node.add_dependency(*lake_formation)
                optimizers.append(optimizer)
        return optimizers

    def _configuration(
        self, kind: str, role: iam.Role, table: str
    ) -> glue.CfnTableOptimizer.TableOptimizerConfigurationProperty:
        optimizer = glue.CfnTableOptimizer
        extra: dict[str, object] = {}
        if kind == "retention":
            extra["retention_configuration"] = optimizer.RetentionConfigurationProperty(
                iceberg_configuration=optimizer.IcebergRetentionConfigurationProperty(
                    snapshot_retention_period_in_days=SNAPSHOT_RETENTION_DAYS,
                    number_of_snapshots_to_retain=SNAPSHOTS_TO_RETAIN,
                    clean_expired_files=True,
                )
            )
        elif kind == "orphan_file_deletion":
            extra["orphan_file_deletion_configuration"] = (
                optimizer.OrphanFileDeletionConfigurationProperty(
                    iceberg_configuration=optimizer.IcebergConfigurationProperty(
                        orphan_file_retention_period_in_days=ORPHAN_RETENTION_DAYS,
                        location=f"{self.location_root}{ICEBERG_FOLDER}{table}",
                    )
                )
            )
        return optimizer.TableOptimizerConfigurationProperty(
            enabled=True,
            role_arn=role.role_arn,
            **extra,  # type: ignore[arg-type]
        )

    def _log_retention(self, settings: Settings) -> CustomResource:
        """Glue creates the optimizers' log groups without a retention: made (or found) here
        with the stack's. They are the account and region's, shared by every optimizer, and
        kept on delete."""
        stack = Stack.of(self)
        names = [log_group for _, _, log_group in OPTIMIZERS.values()]
        self.functions.add_to_policy(
            list(LOG_RETENTION_ACTIONS),
            [
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=f"{name}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
                for name in names
            ],
        )
        return self.functions.resource(
            self,
            "OptimizerLogs",
            "LogRetention",
            {"LogGroupNames": names, "RetentionDays": str(settings.log_retention_days)},
        )

    # --- grants ---------------------------------------------------------------------------------
    def grant_catalog_policy(self) -> None:
        """The custom resource's function may edit the Glue catalog's resource policy (the
        collectors' statements in it, infra/home.py)."""
        self.functions.add_to_policy(list(CATALOG_POLICY_ACTIONS), self.catalog_arns[:1])
        self._acknowledge(self.functions.role)

    def grant_commit(self, role: iam.IRole | None) -> list[Construct]:
        """What committing sessions (or erasing a user) needs: see `grant_commit`; with Lake
        Formation, its grants too. Returns what a commit must wait for: the tables and those
        grants."""
        if role is None:
            raise ValueError("grant_commit needs a role")
        grant_commit(role, self.storage, self.catalog_arns)
        grants = self._grant_tables(role.node.id, role.role_arn, WRITER_TABLES)
        return [self.resource, *grants]

    def _grant_tables(
        self, name: str, principal: str, permissions: tuple[str, ...]
    ) -> list[Construct]:
        """With Lake Formation: `permissions` on the three tables, and DESCRIBE on the
        database; nothing without it."""
        grants = self.catalog.lake_formation
        if grants is None:
            return []
        return [
            grants.on_database(f"{name}-database", principal, ("DESCRIBE",)),
            *grants.on_tables(name, principal, permissions),
        ]

    def _grant_objects(self, role: iam.IRole, actions: tuple[str, ...]) -> None:
        grant_iceberg_objects(role, self.storage, actions)

    @staticmethod
    def _acknowledge(role: iam.IRole) -> None:
        policy = role.node.try_find_child("DefaultPolicy")
        if isinstance(policy, iam.Policy):
            acknowledge_wildcards(policy)


def grant_commit(role: iam.IRole, storage: ArchiveStore, catalog_arns: list[str]) -> None:
    """What committing sessions (or erasing a user) needs: the tables in Glue (`catalog_arns`),
    and objects under the tables' folder. Reading the landing objects is the archiver's own
    grant."""
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(COMMIT_GLUE_ACTIONS), resources=catalog_arns)
    )
    grant_iceberg_objects(role, storage, ICEBERG_OBJECT_ACTIONS)


def grant_iceberg_objects(role: iam.IRole, storage: ArchiveStore, actions: tuple[str, ...]) -> None:
    """`actions` on the objects under the tables' folder, listing it, and its key."""
    bucket, prefix = storage.bucket, f"{storage.prefix}{ICEBERG_FOLDER}"
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(f"{prefix}*")])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        )
    )
    storage.grant_key(role, "kms:Decrypt", "kms:GenerateDataKey")


def _camel(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_"))
