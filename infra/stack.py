"""The IVS Stage Archive stack: storage, catalog, archiver, queries and monitoring."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.archiver import ARCHIVE_TIMEOUT, MIN_REMAINING_MS, Archiver
from infra.catalog import Catalog
from infra.config import ArchiveConfig
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
        config: ArchiveConfig | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="IVS Stage Archive: IVS Real-Time participant events to S3, Glue, Athena",
            **kwargs,
        )
        self.config = config or ArchiveConfig.from_context(self.node.try_get_context)
        # The most participants per chunk at a worker's rate (the archiver lowers chunkSize to
        # it); settings that leave too few are refused here rather than time out when deployed.
        self.chunk_limit = self.config.check_worker_rate(
            invocation_ms=int(ARCHIVE_TIMEOUT.to_milliseconds()), min_remaining_ms=MIN_REMAINING_MS
        )
        self.storage = Storage(self, "Storage", config=self.config)
        self.catalog = Catalog(self, "Catalog", config=self.config, bucket=self.storage.bucket)
        self.archiver = Archiver(self, "Archiver", config=self.config, storage=self.storage)
        self.tables = QueryTables(
            self, "Tables", config=self.config, storage=self.storage, catalog=self.catalog
        )
        self.tables.grant_commit(self.archiver.archive.role)
        self.queries = Queries(
            self,
            "Queries",
            config=self.config,
            database=self.catalog.database_name,
            results_location=self.storage.results_location,
            key=self.storage.key,
        )
        self.monitoring = Monitoring(self, "Monitoring", config=self.config, archiver=self.archiver)
        # What the operator's console (`ivs-archive`, console/deployment.py) finds the stack by.
        outputs = {
            "ArchiveBucketName": self.storage.bucket.bucket_name,
            # The Iceberg tables' root and the landing objects' prefix: s3://<bucket>/<prefix>
            "TablesLocation": f"s3://{self.storage.bucket.bucket_name}/{self.config.prefix}",
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
