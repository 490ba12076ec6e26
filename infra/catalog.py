"""The Glue database and the Hive tables over the landing objects, `landing_<table>`, generated
from `archiver.schema.TABLES`. (The query tables of the same names without the prefix are the
Iceberg tables of infra/tables.py.)

Partition projection computes the `dt` partitions from the table properties, so there is no
crawler and no MSCK REPAIR: a partition is queryable as soon as its first object is written.
Objects sit deeper than `dt=` (stage and session folders); Athena reads a partition's location
recursively. These tables show the landing objects still kept, including sessions being archived
and not yet committed to the query tables.

Upgrade safety: these CfnTables keep the logical ids they had when they were the query tables
(`Table-<table>`), renamed, and are retained on replacement and deletion: CloudFormation never
deletes a table by its old name, which by then is the Iceberg table the custom resource made.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from archiver.schema import PARTITION_COLUMN, PARTITION_DOC, TABLES, Table
from archiver.settings import Settings

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
LANDING_PREFIX = "landing_"


def landing_table_name(table: Table) -> str:
    return f"{LANDING_PREFIX}{table.name}"


def table_location(bucket: s3.IBucket, prefix: str, table: Table) -> str:
    return f"s3://{bucket.bucket_name}/{prefix}{table.name}/"


def projection_parameters(location: str, start_date: str) -> dict[str, str]:
    """Table properties: Parquet with zstd, and `dt` projected from start_date to today."""
    return {
        "classification": "parquet",
        "parquet.compression": "ZSTD",
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": f"{start_date},NOW",
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        "storage.location.template": location + "dt=${dt}/",
    }


class Catalog(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: Settings, bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        self.database_name = settings.database_name
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=settings.database_name,
                description="IVS Real-Time stage sessions, participants and participant events",
            ),
        )
        self.tables: dict[str, glue.CfnTable] = {}
        for table in TABLES.values():
            location = table_location(bucket, settings.prefix, table)
            cfn = glue.CfnTable(
                self,
                f"Table-{table.name}",
                catalog_id=account,
                database_name=settings.database_name,
                table_input=glue.CfnTable.TableInputProperty(
                    name=landing_table_name(table),
                    description=f"Landing objects (not yet committed included): {table.doc}",
                    table_type="EXTERNAL_TABLE",
                    parameters=projection_parameters(location, settings.partition_start_date),
                    partition_keys=[
                        glue.CfnTable.ColumnProperty(
                            name=PARTITION_COLUMN,
                            type="string",
                            comment=PARTITION_DOC,
                        )
                    ],
                    storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                        columns=[
                            glue.CfnTable.ColumnProperty(**column)
                            for column in table.glue_columns()
                        ],
                        location=location,
                        input_format=PARQUET_INPUT,
                        output_format=PARQUET_OUTPUT,
                        compressed=True,
                        serde_info=glue.CfnTable.SerdeInfoProperty(
                            serialization_library=PARQUET_SERDE,
                            parameters={"serialization.format": "1"},
                        ),
                    ),
                ),
            )
            cfn.node.add_dependency(self.database)
            cfn.apply_removal_policy(RemovalPolicy.RETAIN)
            self.tables[table.name] = cfn
