"""The IVS Stage Archive stack: storage, catalog, archiver, queries and monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from archiver.settings import Settings
from infra.archiver import Archiver
from infra.catalog import Catalog
from infra.monitoring import Monitoring
from infra.nag import acknowledge_stack
from infra.queries import Queries
from infra.storage import Storage
from infra.tables import QueryTables


class IvsStageArchiveStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="IVS Stage Archive: IVS Real-Time participant events to S3, Glue, Athena",
            **kwargs,
        )
        # Settings that could never work (a chunk that cannot fit in an invocation at a worker's
        # rate, say) are refused here, at synth, rather than time out once deployed.
        self.settings = settings or Settings.from_context(self.node.get_all_context())
        # The most participants per chunk at a worker's rate (the archiver lowers chunkSize to it).
        self.chunk_limit = self.settings.chunk_limit
        self.storage = Storage(self, "Storage", settings=self.settings)
        self.catalog = Catalog(self, "Catalog", settings=self.settings, bucket=self.storage.bucket)
        self.archiver = Archiver(self, "Archiver", settings=self.settings, storage=self.storage)
        self.tables = QueryTables(
            self, "Tables", settings=self.settings, storage=self.storage, catalog=self.catalog
        )
        self.tables.grant_commit(self.archiver.archive.role)
        self.queries = Queries(
            self,
            "Queries",
            settings=self.settings,
            database=self.catalog.database_name,
            results_location=self.storage.results_location,
            key=self.storage.key,
        )
        self.monitoring = Monitoring(
            self, "Monitoring", settings=self.settings, archiver=self.archiver
        )
        # What the operator's console (`ivs-archive`, console/deployment.py) finds the stack by.
        outputs = {
            "ArchiveBucketName": self.storage.bucket.bucket_name,
            # The Iceberg tables' root and the landing objects' prefix: s3://<bucket>/<prefix>
            "TablesLocation": f"s3://{self.storage.bucket.bucket_name}/{self.settings.prefix}",
            "ResultsBucketName": self.storage.results_bucket.bucket_name,
            "DatabaseName": self.catalog.database_name,
            "WorkGroupName": self.queries.workgroup.ref,
            "LedgerTableName": self.archiver.ledger.table_name,
            "WorkQueueUrl": self.archiver.queue.queue_url,
            "DeadLetterQueueUrl": self.archiver.dead_letter_queue.queue_url,
            "DiscoverFunctionName": self.archiver.discover.function_name,
            "ArchiveFunctionName": self.archiver.archive.function_name,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
            "DashboardName": self.monitoring.dashboard.dashboard_name,
        }
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
        created = [self.storage.results_bucket]
        if self.storage.created_bucket:
            created.append(self.storage.created_bucket)
        acknowledge_stack(created, [self.archiver.discover, self.archiver.archive])
