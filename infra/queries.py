"""The Athena workgroup and one named query per file in `queries/` (read at synth time)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra import QUERIES_DIR
from infra.config import ArchiveConfig

_HEADER = re.compile(r"^--\s*(?P<name>[A-Za-z0-9_]+):\s*(?P<description>\S.*)$")


@dataclass(frozen=True)
class QueryFile:
    name: str
    description: str
    sql: str


def load_queries(folder: Path = QUERIES_DIR) -> list[QueryFile]:
    """Every `*.sql` file, sorted by name; each starts with `-- <file stem>: <what it answers>`."""
    queries = []
    for path in sorted(folder.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        header = _HEADER.match(sql.splitlines()[0] if sql else "")
        if not header or header["name"] != path.stem:
            raise ValueError(f"{path}: the first line must be '-- {path.stem}: <what it answers>'")
        queries.append(QueryFile(path.stem, header["description"].strip()[:1024], sql))
    return queries


def workgroup_name(config: ArchiveConfig) -> str:
    return config.name


class Queries(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ArchiveConfig,
        database: str,
        results_location: str,
        key: kms.IKey | None,
        folder: Path = QUERIES_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption = athena.CfnWorkGroup.EncryptionConfigurationProperty(
            encryption_option="SSE_KMS" if key else "SSE_S3",
            kms_key=key.key_arn if key else None,
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=workgroup_name(config),
            description="IVS Stage Archive queries (settings enforced)",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=config.bytes_scanned_cutoff_mb * 1_000_000,
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
        for query in load_queries(folder):
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
