"""The three Iceberg query tables, derived from `archiver.schema.TABLES`, and `ensure_tables`,
which creates them or appends the columns schema.py gained, without rewriting any data.

Each table has the contract's columns, then `dt` (the UTC date of the session's start) as a real
column with an identity partition on it. Timestamps are Iceberg `timestamp` (without zone)
holding UTC, which is what Athena's `timestamp` is; pyiceberg writes them in microseconds.
pyiceberg is imported inside the functions: the archive function loads it only to commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING

import pyarrow as pa

from archiver.schema import PARTITION_COLUMN, PARTITION_DOC, TABLES, Table

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.types import IcebergType

# Iceberg properties we own on each table (anything else on a table is left as it is).
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    # One commit per batch of sessions adds one manifest: merge them as they pile up, so that
    # planning a query does not read thousands of manifests between two compactions.
    "commit.manifest-merge.enabled": "true",
    # Each commit writes a metadata file: keep the last 100 and delete older ones.
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}


class TableSchemaError(ValueError):
    """A table's columns disagree with schema.py in a way only a person can resolve."""


def table_location(location_root: str, table: Table) -> str:
    """`<root><prefix>iceberg/<table>`; `location_root` is `<root><prefix>` (ends with '/')."""
    return f"{location_root}iceberg/{table.name}"


def iceberg_type(arrow: pa.DataType, ids: Iterator[int]) -> IcebergType:
    """The Iceberg type of a schema.py column type (its Arrow spelling); nested field ids are
    drawn from `ids` (pyiceberg renumbers them when a table is created)."""
    from pyiceberg import types as t

    if pa.types.is_string(arrow):
        return t.StringType()
    if pa.types.is_int32(arrow):
        return t.IntegerType()
    if pa.types.is_int64(arrow):
        return t.LongType()
    if pa.types.is_boolean(arrow):
        return t.BooleanType()
    if pa.types.is_timestamp(arrow):
        return t.TimestampType()  # UTC wall clock: Athena's `timestamp`, as in the landing files
    if isinstance(arrow, pa.ListType):
        element_id = next(ids)
        return t.ListType(element_id, iceberg_type(arrow.value_type, ids), element_required=False)
    if isinstance(arrow, pa.MapType):
        key_id, value_id = next(ids), next(ids)
        return t.MapType(
            key_id,
            iceberg_type(arrow.key_type, ids),
            value_id,
            iceberg_type(arrow.item_type, ids),
            value_required=False,
        )
    if isinstance(arrow, pa.StructType):
        fields = [(next(ids), field) for field in arrow]
        return t.StructType(
            *(
                t.NestedField(fid, f.name, iceberg_type(f.type, ids), required=False)
                for fid, f in fields
            )
        )
    raise TypeError(f"no Iceberg type for {arrow}")


def iceberg_schema(table: Table) -> Schema:
    """schema.py's columns in order, then `dt`; the contract's keys are required."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField, StringType

    ids = count(1)
    top = [(next(ids), c) for c in table.columns]
    dt_id = next(ids)
    fields = [
        NestedField(
            fid, c.name, iceberg_type(c.type.arrow, ids), required=not c.nullable, doc=c.doc
        )
        for fid, c in top
    ]
    fields.append(
        NestedField(dt_id, PARTITION_COLUMN, StringType(), required=True, doc=PARTITION_DOC)
    )
    return Schema(*fields)


def _shape(kind: IcebergType) -> object:
    """A type without its field ids, for comparing a table's schema with schema.py's."""
    from pyiceberg import types as t

    if isinstance(kind, t.StructType):
        return ("struct", tuple((f.name, f.required, _shape(f.field_type)) for f in kind.fields))
    if isinstance(kind, t.ListType):
        return ("list", _shape(kind.element_type))
    if isinstance(kind, t.MapType):
        return ("map", _shape(kind.key_type), _shape(kind.value_type))
    return str(kind)


def _appends_only(have: IcebergType, want: IcebergType) -> bool:
    """True when `want` is `have` with fields appended to structs (at any depth)."""
    from pyiceberg import types as t

    if isinstance(have, t.StructType) and isinstance(want, t.StructType):
        old, new = have.fields, want.fields
        return len(new) >= len(old) and all(
            a.name == b.name
            and a.required == b.required
            and _appends_only(a.field_type, b.field_type)
            for a, b in zip(old, new, strict=False)
        )
    if isinstance(have, t.ListType) and isinstance(want, t.ListType):
        return _appends_only(have.element_type, want.element_type)
    if isinstance(have, t.MapType) and isinstance(want, t.MapType):
        return _appends_only(have.key_type, want.key_type) and _appends_only(
            have.value_type, want.value_type
        )
    return _shape(have) == _shape(want)


def _top_level(schema: Schema) -> Schema:
    """The schema with `dt` moved last, as a fresh table has it."""
    from pyiceberg.schema import Schema

    fields = [f for f in schema.fields if f.name != PARTITION_COLUMN]
    fields += [f for f in schema.fields if f.name == PARTITION_COLUMN]
    return Schema(*fields)


def _check_evolution(name: str, have: Schema, want: Schema) -> None:
    """Only appended columns (or struct fields) are allowed: never a dropped or retyped one."""
    from pyiceberg.types import StructType

    current = StructType(*_top_level(have).fields)
    wanted = StructType(*want.fields)
    # `dt` is last in `wanted`; columns appended to schema.py come before it.
    have_names = [f.name for f in current.fields]
    want_names = [f.name for f in wanted.fields]
    missing = [n for n in have_names if n not in want_names]
    if missing:
        raise TableSchemaError(
            f"table {name} has column(s) {', '.join(missing)} that schema.py does not: "
            "columns are only ever appended"
        )
    for field in current.fields:
        target = wanted.field_by_name(field.name)
        assert target is not None
        if (
            not _appends_only(field.field_type, target.field_type)
            or field.required != target.required
        ):
            raise TableSchemaError(
                f"table {name}: column {field.name} is {field.field_type} in the table but "
                f"{target.field_type} in schema.py: columns are never retyped"
            )


@dataclass(frozen=True)
class TableChange:
    table: str
    action: str  # "created", "evolved", "unchanged"
    added_columns: tuple[str, ...] = ()


def ensure_tables(catalog: Catalog, namespace: str, location_root: str) -> list[TableChange]:
    """Creates the three tables where missing and appends the columns schema.py gained (before
    `dt`, as a new table has them): metadata only, no data file is rewritten. Tables already
    there (a deployment over a retained archive) are adopted as they are, with every row, when
    they are where `location_root` puts them; nothing is changed when one is not. Idempotent."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:  # looked up first: creating it needs a permission the stack's database never needs
        catalog.load_namespace_properties(namespace)
    except NoSuchNamespaceError:
        catalog.create_namespace(namespace)
    existing: dict[str, IcebergTable | None] = {}
    for table in TABLES.values():
        _refuse_other_format(catalog, namespace, table.name)
        try:
            existing[table.name] = catalog.load_table((namespace, table.name))
        except NoSuchTableError:
            existing[table.name] = None
    _refuse_moved(existing, location_root)  # before any change: all or nothing
    changes = []
    for table in TABLES.values():
        found = existing[table.name]
        if found is None:
            _create(catalog, (namespace, table.name), table, location_root)
            changes.append(TableChange(table.name, "created"))
        else:
            added = _evolve(found, table)
            changes.append(TableChange(table.name, "evolved" if added else "unchanged", added))
    return changes


class TableLocationError(ValueError):
    """A table is not where this deployment's bucket and prefix put it."""


def _refuse_moved(existing: dict[str, IcebergTable | None], location_root: str) -> None:
    """The tables stay where they were created: a changed `prefix` (or bucket) would commit new
    files beside them and leave the optimizers and grants pointing elsewhere."""
    for name, found in existing.items():
        if found is None:
            continue
        wanted = table_location(location_root, TABLES[name])
        if found.location().rstrip("/") != wanted:
            root = found.location().rstrip("/").removesuffix(f"iceberg/{name}")
            raise TableLocationError(
                f"table {name} is at {found.location()}, not {wanted}: the archive's bucket and "
                f"prefix cannot change once it has tables; deploy with the ones it has "
                f"({root!r}), or move the archive first (docs/deployment.md)"
            )


def _refuse_other_format(catalog: Catalog, namespace: str, name: str) -> None:
    """A Glue table of that name that is not an Iceberg table (its `table_type` parameter is not
    ICEBERG) is somebody else's: refused, never replaced. (Layouts of versions before the first
    release, with Hive query tables, are not upgraded.)"""
    from pyiceberg.catalog.glue import GlueCatalog

    if not isinstance(catalog, GlueCatalog):
        return
    try:
        found = catalog.glue.get_table(DatabaseName=namespace, Name=name)["Table"]
    except catalog.glue.exceptions.EntityNotFoundException:
        return
    kind = str(found.get("Parameters", {}).get("table_type", "")).upper()
    if kind != "ICEBERG":
        raise TableSchemaError(
            f"table {namespace}.{name} exists and is not an Iceberg table "
            f"(table_type {kind or 'unset'}): drop or rename it, or deploy with another 'name'"
        )


def _create(catalog: Catalog, identifier: tuple[str, str], table: Table, root: str) -> None:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    schema = iceberg_schema(table)
    dt = schema.find_field(PARTITION_COLUMN)
    spec = PartitionSpec(
        PartitionField(
            source_id=dt.field_id,
            field_id=1000,
            transform=IdentityTransform(),
            name=PARTITION_COLUMN,
        )
    )
    catalog.create_table(
        identifier,
        schema=schema,
        partition_spec=spec,
        location=table_location(root, table),
        properties=dict(TABLE_PROPERTIES),  # pyiceberg pops format-version from it
    )


def _evolve(existing: IcebergTable, table: Table) -> tuple[str, ...]:
    want = iceberg_schema(table)
    have = existing.schema()
    _check_evolution(table.name, have, want)
    present = {f.name for f in have.fields}
    added = tuple(f.name for f in want.fields if f.name not in present)
    nested = _shape(_top_level(have).as_struct()) != _shape(want.as_struct())
    if added or nested:
        with existing.update_schema() as update:
            update.union_by_name(want)
            for name in added:
                if name != PARTITION_COLUMN:
                    update.move_before(name, PARTITION_COLUMN)
    stale = {k: v for k, v in TABLE_PROPERTIES.items() if existing.properties.get(k) != v}
    stale.pop("format-version", None)  # set at creation; an upgrade is not ours to make
    if stale:
        with existing.transaction() as transaction:
            transaction.set_properties(stale)
    return added
