"""A local archive's Iceberg tables: the SQL catalog `<dir>/catalog.db` (catalog `local`,
namespace the database name) with the tables' files under `<dir>`, and DuckDB views over them.

What a local archive's readers read (`ivs-archive local query` and `ivs-archive timeline --dir`
alike): its Iceberg tables when it has a catalog, as Athena reads the query tables, else (a copy
of the bucket, or an archive made before the tables) its landing objects. A session in the
landing objects but not in the tables (a run stopped before committing it) is left out, and
`uncommitted` names it.

DuckDB's iceberg extension cannot be installed here, so pyiceberg plans the files (the current
snapshot's data files) and DuckDB reads them; a table whose files carry delete files (pyiceberg
writes none, but Athena's DELETE would) is read through pyiceberg instead, which applies them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import duckdb

from archiver.catalog import local_root, open_catalog, sqlite_uri
from archiver.commit import sessions_with_rows
from archiver.landing import FolderLanding, parse_key
from archiver.schema import PARTICIPANT_EVENTS, PARTICIPANTS, STAGE_SESSIONS, TABLES
from archiver.tables import ensure_tables

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table as IcebergTable

NAMESPACE = "ivs_stage_archive"
CATALOG_FILE = "catalog.db"


def catalog_path(directory: Path) -> Path:
    return directory / CATALOG_FILE


def open_tables(directory: Path, namespace: str = NAMESPACE, prefix: str = "") -> Catalog:
    """The local catalog of `directory`, with the three tables created (or evolved) in it."""
    directory.mkdir(parents=True, exist_ok=True)
    uri = sqlite_uri(directory)
    catalog = open_catalog(uri)
    ensure_tables(catalog, namespace, local_root(uri) + prefix)
    return catalog


def reset(directory: Path, prefix: str = "") -> None:
    """Removes a local archive's catalog and table files (a fresh `local run`)."""
    catalog_path(directory).unlink(missing_ok=True)
    shutil.rmtree(directory / prefix / "iceberg", ignore_errors=True)


def tables_of(directory: Path) -> tuple[Catalog, str] | None:
    """The catalog of a local archive and the namespace of its tables; None when the folder has
    no catalog, or one with no namespace (read its landing objects instead). ValueError when
    the catalog holds several namespaces and none is the default one."""
    if not catalog_path(directory).is_file():
        return None
    catalog = open_catalog(sqlite_uri(directory))
    names = [".".join(ns) for ns in catalog.list_namespaces()]
    if NAMESPACE in names:
        return catalog, NAMESPACE
    if len(names) > 1:
        raise ValueError(
            f"{catalog_path(directory)}: expected the namespace {NAMESPACE} or only one, "
            f"found {', '.join(names)}"
        )
    return (catalog, names[0]) if names else None


@dataclass(frozen=True)
class Uncommitted:
    """Sessions of a local archive's landing objects that its tables lack, by session id."""

    landed: list[str]  # landed whole (their session row is there): `migrate --dir` commits them
    partial: list[str]  # landed in part (chunks, no session row): their archiving was cut short


def uncommitted(directory: Path, catalog: Catalog, namespace: str) -> Uncommitted:
    """The sessions whose landing objects are in `directory` and whose row the stage_sessions
    table lacks."""
    committed = sessions_with_rows(catalog.load_table((namespace, STAGE_SESSIONS.name)))
    landing = FolderLanding(directory)
    found: dict[str, set[str]] = {}
    for table in (STAGE_SESSIONS, PARTICIPANTS, PARTICIPANT_EVENTS):
        for key in landing.keys(f"{table.name}/"):
            parsed = parse_key(key, "")
            if parsed is not None and parsed.session not in committed:
                found.setdefault(parsed.table, set()).add(parsed.session)
    whole = found.get(STAGE_SESSIONS.name, set())
    parts = found.get(PARTICIPANTS.name, set()) | found.get(PARTICIPANT_EVENTS.name, set())

    def ids(sessions: set[str]) -> list[str]:
        return sorted(session.rsplit("/", 1)[-1] for session in sessions)

    return Uncommitted(ids(whole), ids(parts - whole))


def _local_path(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"table file {uri} is not a local file")
    return unquote(parsed.path)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def register(con: duckdb.DuckDBPyConnection, directory: Path) -> bool:
    """One DuckDB view per table over the Iceberg tables of `directory`; False when the folder
    has none (an archive made before the tables: read its landing objects instead)."""
    found = tables_of(directory)
    if found is None:
        return False
    catalog, namespace = found
    for name in TABLES:
        _register_table(con, catalog.load_table((namespace, name)), name)
    return True


def _register_table(con: duckdb.DuckDBPyConnection, table: IcebergTable, name: str) -> None:
    scan = table.scan()
    tasks = list(scan.plan_files())
    empty = f"_{name}_columns"
    # The table's columns and types, in order, from its Iceberg schema: a column no file holds
    # yet (just appended) reads as null, as in Athena.
    con.register(empty, _empty(table))
    if any(task.delete_files for task in tasks):
        con.register(f"_{name}_rows", scan.to_arrow())
        source = f"_{name}_rows"
    elif tasks:
        files = ", ".join(_literal(_local_path(task.file.file_path)) for task in tasks)
        source = f"read_parquet([{files}], union_by_name = true)"
    else:
        source = None
    body = f"SELECT * FROM {empty}"
    if source is not None:
        body += f" UNION ALL BY NAME SELECT * FROM {source}"
    con.execute(f'CREATE VIEW "{name}" AS {body}')


def _empty(table: IcebergTable) -> object:
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(table.schema(), include_field_ids=False).empty_table()
