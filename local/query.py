"""`python -m local query`: the named Athena queries on DuckDB over a local copy of the archive.

Each table is a view over the Parquet files under `<dir>/<table>/`, with `dt` taken from the
`dt=` folder, as Glue's partition projection does, and the column types of `archiver.schema`
(timestamps without time zone, UTC, as Athena reads them). A table with no files is an empty
view of the same columns. `<dir>` is taken literally: glob characters in it are escaped, and a
`dt=` in it is not a partition.

The local clock: `current_date` in a query is the UTC day of the newest session end in the archive
(or today for an empty one), so a look-back window over an archive made from a scenario of any
date answers as Athena would have on the day that archive was made. `today=` overrides it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

import queries
from archiver.schema import TABLES, Table
from local import tables as iceberg_tables
from local.transpile import to_duckdb
from shared.arguments import fail as usage_error


def duckdb_type(arrow: pa.DataType) -> str:
    """The DuckDB type of a schema column; timestamps lose the zone, as Athena's `timestamp`."""
    if pa.types.is_string(arrow):
        return "VARCHAR"
    if pa.types.is_boolean(arrow):
        return "BOOLEAN"
    if pa.types.is_int32(arrow):
        return "INTEGER"
    if pa.types.is_int64(arrow):
        return "BIGINT"
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMP"
    if isinstance(arrow, pa.ListType):
        return f"{duckdb_type(arrow.value_type)}[]"
    if isinstance(arrow, pa.MapType):
        return f"MAP({duckdb_type(arrow.key_type)}, {duckdb_type(arrow.item_type)})"
    if isinstance(arrow, pa.StructType):
        fields = ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in arrow)
        return f"STRUCT({fields})"
    raise TypeError(f"no DuckDB type for {arrow}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _glob_escaped(text: str) -> str:
    """`text` matching only itself as a DuckDB glob: each wildcard as a one-character class."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _view(directory: Path, table: Table) -> str:
    folder = directory / table.name
    columns = [(c.name, duckdb_type(c.type.arrow)) for c in table.columns]
    if any(folder.glob("**/*.parquet")):
        pattern = f"{_glob_escaped(folder.as_posix())}/**/*.parquet"
        source = f"read_parquet({_literal(pattern)}, filename = true, union_by_name = true)"
        select = [f'CAST("{name}" AS {type_}) AS "{name}"' for name, type_ in columns]
        # The partition is the last `dt=` folder of the key (the folder given may hold one too).
        select.append("regexp_extract(filename, '.*/dt=([^/]*)/', 1) AS dt")
        return f"SELECT {', '.join(select)} FROM {source}"
    select = [f'CAST(NULL AS {type_}) AS "{name}"' for name, type_ in columns]
    select.append("CAST(NULL AS VARCHAR) AS dt")
    return f"SELECT {', '.join(select)} WHERE false"


def is_archive(directory: Path) -> bool:
    """Whether `directory` holds a table folder (what `python -m local run --out` makes)."""
    return any((directory / name).is_dir() for name in TABLES)


def nearby_archives(directory: Path, limit: int = 3) -> list[Path]:
    """Archives near `directory`, closest first: the nearest folder that exists of it and its
    parents, then that folder's parent, each with its subfolders two levels down (a bounded
    search, never from the file system's root)."""
    directory = directory.absolute()
    start = next(p for p in [directory, *directory.parents] if p.is_dir())
    found: list[Path] = []
    for base in [start, start.parent]:
        if base.parent == base:
            break
        level = [base]
        found += [base] if is_archive(base) else []
        for _ in range(2):
            level = [child for parent in level for child in _subfolders(parent)][:_MAX_VISITS]
            found += [child for child in level if is_archive(child)]
        if found:
            break
    here = Path.cwd()
    return [
        p.relative_to(here) if p.is_relative_to(here) else p
        for p in dict.fromkeys(found)
        if p != directory
    ][:limit]


_MAX_VISITS = 2000
_SKIPPED = {*TABLES, "node_modules", "__pycache__"}


def _subfolders(folder: Path) -> list[Path]:
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        c for c in children if c.is_dir() and c.name not in _SKIPPED and not c.name.startswith(".")
    ]


def connect(directory: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per archive table: the Iceberg tables of `directory`'s
    catalog.db, or (an archive made without them) its landing objects."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if iceberg_tables.register(con, directory):
        return con
    for table in TABLES.values():
        con.execute(f'CREATE VIEW "{table.name}" AS {_view(directory, table)}')
    return con


def archive_today(con: duckdb.DuckDBPyConnection) -> date:
    """The local clock: the UTC day of the newest session end, or today for an empty archive."""
    ((newest,),) = con.execute("SELECT CAST(max(end_time) AS DATE) FROM stage_sessions").fetchall()
    return newest if isinstance(newest, date) else datetime.now(UTC).date()


def _execute(
    con: duckdb.DuckDBPyConnection, sql: str, today: date | None
) -> duckdb.DuckDBPyRelation:
    return con.sql(to_duckdb(sql, today=today or archive_today(con)))


def run_sql(
    directory: Path, sql: str, *, today: date | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of one Athena statement over the archive in `directory`."""
    with connect(directory) as con:
        relation = _execute(con, sql, today)
        return list(relation.columns), relation.fetchall()


def run_query(
    directory: Path, name: str, *, today: date | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of the named query over the archive in `directory`."""
    named = queries.load()
    if name not in named:
        raise KeyError(f"unknown query {name!r}; available: {', '.join(named)}")
    return run_sql(directory, named[name].sql, today=today)


def main(
    directory: Path, names: list[str], *, limit: int = 40, prog: str = "ivs-archive local query"
) -> int:
    """Print each named query's result (all queries when `names` is empty) as a table of at
    most `limit` rows (0: all). Bad input: one line naming `prog`, exit status 2."""
    from shared.render import Renderer

    def fail(message: str) -> int:
        return usage_error(prog, message)

    named = queries.load()
    unknown = [name for name in names if name not in named]
    if unknown:
        return fail(f"unknown query {', '.join(map(repr, unknown))}; available: {', '.join(named)}")
    if not is_archive(directory):
        tables = ", ".join(f"{name}/" for name in TABLES)
        what = f"holds no archive (no {tables})" if directory.is_dir() else "is not a folder"
        hint = nearby_archives(directory)
        advice = (
            f"did you mean {' or '.join(map(str, hint))}?"
            if hint
            else "give the folder that `ivs-archive local run --out` wrote"
        )
        return fail(f"argument --dir: {directory} {what}; {advice}")
    renderer = Renderer(limit=limit)
    with connect(directory) as con:
        today = archive_today(con)
        renderer.heading(f"archive {directory}; current_date = {today} (the newest session end)")
        for name in names or list(named):
            relation = _execute(con, named[name].sql, today)
            query = named[name]
            renderer.table(f"{name}: {query.description}", relation.columns, relation.fetchall())
    return 0
