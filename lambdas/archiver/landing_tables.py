"""The Glue database and the landing tables in it (`landing_<table>`: Hive tables over the landing
objects, generated from `archiver.schema.TABLES`), created where missing and adopted where a
deployment before this one left them: the tables custom resource runs these, not CloudFormation,
so that a stack deployed again over a retained archive finds its database instead of failing on
"already exists", and `cdk destroy` never deletes them.

Partition projection computes the `dt` partitions from the table properties, so there is no
crawler and no MSCK REPAIR: a partition is queryable as soon as its first object is written.
Objects sit deeper than `dt=` (stage and session folders); Athena reads a partition's location
recursively. These tables show the landing objects still kept, including sessions being archived
and not yet committed to the query tables.
"""

from __future__ import annotations

from typing import Any

from archiver.schema import PARTITION_COLUMN, PARTITION_DOC, TABLES, Table

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
LANDING_PREFIX = "landing_"
DATABASE_DESCRIPTION = "IVS Real-Time stage sessions, participants and participant events"


def landing_table_name(table: Table) -> str:
    return f"{LANDING_PREFIX}{table.name}"


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


def landing_table_input(table: Table, location_root: str, start_date: str) -> dict[str, Any]:
    """Glue's TableInput of `table`'s landing table; `location_root` is `s3://<bucket>/<prefix>`."""
    location = f"{location_root}{table.name}/"
    return {
        "Name": landing_table_name(table),
        "Description": f"Landing objects (not yet committed included): {table.doc}",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": projection_parameters(location, start_date),
        "PartitionKeys": [{"Name": PARTITION_COLUMN, "Type": "string", "Comment": PARTITION_DOC}],
        "StorageDescriptor": {
            "Columns": [
                {"Name": c["name"], "Type": c["type"], "Comment": c["comment"]}
                for c in table.glue_columns()
            ],
            "Location": location,
            "InputFormat": PARQUET_INPUT,
            "OutputFormat": PARQUET_OUTPUT,
            "Compressed": True,
            "SerdeInfo": {
                "SerializationLibrary": PARQUET_SERDE,
                "Parameters": {"serialization.format": "1"},
            },
        },
    }


def ensure_database(glue: Any, name: str) -> str:
    """Creates the database, or adopts the one of that name: "created" or "adopted". (Created
    first, not looked up: with Lake Formation, a new role may create databases before it may
    describe one another role created.)"""
    try:
        glue.create_database(DatabaseInput={"Name": name, "Description": DATABASE_DESCRIPTION})
    except glue.exceptions.AlreadyExistsException:
        return "adopted"
    return "created"


def ensure_landing_tables(
    glue: Any, database: str, location_root: str, start_date: str
) -> dict[str, str]:
    """Each landing table created, or brought to its definition: table -> what was done
    ("created", "updated", "unchanged")."""
    done = {}
    for table in TABLES.values():
        wanted = landing_table_input(table, location_root, start_date)
        name = wanted["Name"]
        try:
            found = glue.get_table(DatabaseName=database, Name=name)["Table"]
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=database, TableInput=wanted)
            done[name] = "created"
            continue
        if _as_input(found) == wanted:
            done[name] = "unchanged"
        else:
            glue.update_table(DatabaseName=database, TableInput=wanted)
            done[name] = "updated"
    return done


def _as_input(found: dict[str, Any]) -> dict[str, Any]:
    """A GetTable answer in the shape of a TableInput (only the fields we set), to compare."""
    storage = found.get("StorageDescriptor", {})
    return {
        "Name": found.get("Name"),
        "Description": found.get("Description"),
        "TableType": found.get("TableType"),
        "Parameters": found.get("Parameters"),
        "PartitionKeys": found.get("PartitionKeys"),
        "StorageDescriptor": {
            key: storage.get(key)
            for key in (
                "Columns",
                "Location",
                "InputFormat",
                "OutputFormat",
                "Compressed",
                "SerdeInfo",
            )
        },
    }
