"""The Athena workgroup and one named query per file of the `queries` package (read at synth)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from constructs import Construct

import queries
from archiver.settings import Settings


def workgroup_name(settings: Settings) -> str:
    return settings.name


class Queries(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        database: str,
        results_location: str,
        key: kms.IKey | None,
        folder: Path = queries.FOLDER,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption = athena.CfnWorkGroup.EncryptionConfigurationProperty(
            encryption_option="SSE_KMS" if key else "SSE_S3",
            kms_key=key.key_arn if key else None,
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=workgroup_name(settings),
            description="IVS Stage Archive queries (settings enforced)",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=settings.bytes_scanned_cutoff_mb * 1_000_000,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="AUTO"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=results_location,
                    encryption_configuration=encryption,
                ),
            ),
        )
        self.named_queries: dict[str, athena.CfnNamedQuery] = {}
        for query in queries.load(folder).values():
            named = athena.CfnNamedQuery(
                self,
                f"Query-{query.name}",
                name=query.name,
                description=query.description,
                database=database,
                query_string=query.sql,
                work_group=self.workgroup.ref,
            )
            self.named_queries[query.name] = named
