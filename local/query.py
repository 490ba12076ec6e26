"""`python -m local query`: the named Athena queries on DuckDB over a local copy of the archive.

Each table is a view over the archive's Iceberg tables when `<dir>` has a catalog (local/tables.py,
which says why, and which sessions that leaves out), else over the landing objects under
`<dir>/<table>/`, with `dt` taken from the `dt=` folder, as Glue's partition projection does, and
the column types of `archiver.schema` (timestamps without time zone, UTC, as Athena reads them).
A table with no files is an empty view of the same columns. `<dir>` is taken literally: glob
characters in it are escaped, and a `dt=` in it is not a partition. `ivs-archive timeline --dir`
reads the same (console/sources.py), and refuses the same folders (`archive_error`).

A query's parameters are the columns of its `params` CTE (local/transpile.py); the command takes
them as `NAME=VALUE` words among the query names: `session_timeline session_id=st-...`.

The local clock: `current_date` in a query is the UTC day of the newest session end in the archive
(or today for an empty one), so a look-back window over an archive made from a scenario of any
date answers as Athena would have on the day that archive was made. `today=` overrides it.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

import queries
from archiver.schema import TABLES, Table
from local import tables as iceberg_tables
from local.transpile import parameters, to_duckdb
from shared.arguments import fail as usage_error
from shared.render import Renderer, counted


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
    """Whether `directory` is the root of an archive: it holds the local catalog (what `local
    run --out` makes) or a table folder of landing objects partitioned by day (`stage_sessions/
    dt=.../`, as in a copy of the bucket). The tables' own files (`iceberg/<table>/data/...`)
    are not an archive."""
    if iceberg_tables.catalog_path(directory).is_file():
        return True
    return any(_partitioned(directory / name) for name in TABLES)


def _partitioned(folder: Path) -> bool:
    try:
        return any(p.is_dir() and p.name.startswith("dt=") for p in folder.iterdir())
    except OSError:
        return False


def nearby_archives(directory: Path, limit: int = 3) -> list[Path]:
    """Archives near `directory`, closest first: the archive it is inside of, if any; else from
    the nearest folder that exists of it and its parents, then from that folder's parent, the
    archives two levels down (a bounded search, never from the file system's root, and never
    into an archive: a folder inside one is not an archive)."""
    directory = directory.absolute()
    start = next(p for p in [directory, *directory.parents] if p.is_dir())
    found = [p for p in [start, *start.parents][:_ENCLOSING] if is_archive(p)][:1]
    for base in [start, start.parent]:
        if found or base.parent == base:
            break
        level = [base]
        for _ in range(2):
            level = [child for parent in level for child in _subfolders(parent)][:_MAX_VISITS]
            found += [child for child in level if is_archive(child)]
            level = [child for child in level if not is_archive(child)]
    here = Path.cwd()
    return [
        p.relative_to(here) if p.is_relative_to(here) else p
        for p in dict.fromkeys(found)
        if p != directory
    ][:limit]


_ENCLOSING = 4  # how many folders up an enclosing archive is looked for
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
    catalog.db, or (an archive made without them) its landing objects (local/tables.py says
    why)."""
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
    con: duckdb.DuckDBPyConnection,
    sql: str,
    today: date | None,
    parameters: dict[str, str] | None = None,
) -> duckdb.DuckDBPyRelation:
    return con.sql(to_duckdb(sql, today=today or archive_today(con), parameters=parameters))


def run_sql(
    directory: Path,
    sql: str,
    *,
    today: date | None = None,
    parameters: dict[str, str] | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of one Athena statement over the archive in `directory`, with
    `parameters` (the columns of its `params` CTE) set to the values given."""
    with connect(directory) as con:
        relation = _execute(con, sql, today, parameters)
        return list(relation.columns), relation.fetchall()


def run_query(
    directory: Path,
    name: str,
    *,
    today: date | None = None,
    parameters: dict[str, str] | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of the named query over the archive in `directory`."""
    named = queries.load()
    if name not in named:
        raise KeyError(f"unknown query {name!r}; available: {', '.join(named)}")
    return run_sql(directory, named[name].sql, today=today, parameters=parameters)


def _split(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command's words: (query names, parameters given as `NAME=VALUE`)."""
    names = [word for word in words if "=" not in word]
    given = dict(word.split("=", 1) for word in words if "=" in word)
    return names, given


def _parameters_error(chosen: list[str], given: dict[str, str]) -> str | None:
    """What is wrong with the parameters `given` for the queries `chosen`, if anything."""
    declared = {name: parameters(queries.load()[name].sql) for name in chosen}
    for key in given:
        if not any(key in params for params in declared.values()):
            takes = [f"{name} takes {', '.join(p)}" for name, p in declared.items() if p]
            which = "; ".join(takes) if takes else "none of them takes any"
            return f"parameter {key!r}: no query run takes it ({which})"
    return None


def _where(directory: Path) -> tuple[str, list[str]]:
    """(what of `directory` the queries read, a line for each session they leave out)."""
    found = iceberg_tables.tables_of(directory)
    if found is None:
        return "its landing objects (no catalog.db)", []
    left = iceberg_tables.uncommitted(directory, *found)
    notes = []
    if left.landed:
        notes.append(
            f"not in the tables, left out: {counted(len(left.landed), 'session')} whose landing "
            f"objects are whole ({_some(left.landed)}; a run stopped before committing them): "
            f"`ivs-archive migrate --dir {directory}` commits them"
        )
    if left.partial:
        notes.append(
            f"not in the tables, left out: {counted(len(left.partial), 'session')} landed only "
            f"in part ({_some(left.partial)}; their archiving was cut short)"
        )
    return "its Iceberg tables (catalog.db)", notes


def _some(ids: list[str], shown: int = 3) -> str:
    more = f" and {len(ids) - shown:,} more" if len(ids) > shown else ""
    return ", ".join(ids[:shown]) + more


def archive_error(directory: Path) -> str | None:
    """Why `directory` cannot be read as an archive (naming the archives near it), or None."""
    if is_archive(directory):
        return None
    tables = ", ".join(f"{name}/" for name in TABLES)
    what = (
        f"holds no archive (no {iceberg_tables.CATALOG_FILE}, no {tables})"
        if directory.is_dir()
        else "is not a folder"
    )
    hint = nearby_archives(directory)
    advice = (
        f"did you mean {' or '.join(map(str, hint))}?"
        if hint
        else "give the folder that `ivs-archive local run --out` wrote"
    )
    return f"argument --dir: {directory} {what}; {advice}"


def main(
    directory: Path, words: list[str], *, limit: int = 40, prog: str = "ivs-archive local query"
) -> int:
    """Print each named query's result (all queries when no name is given) as a table of at
    most `limit` rows (0: all). `words` are query names and `NAME=VALUE` parameters (a column
    of a query's `params` CTE: `session_id=st-...` picks session_timeline's session). Bad
    input: one line naming `prog`, exit status 2."""

    def fail(message: str) -> int:
        return usage_error(prog, message)

    named = queries.load()
    names, given = _split(words)
    unknown = [name for name in names if name not in named]
    if unknown:
        return fail(f"unknown query {', '.join(map(repr, unknown))}; available: {', '.join(named)}")
    chosen = names or list(named)
    wrong = _parameters_error(chosen, given)
    if wrong:
        return fail(wrong)
    error = archive_error(directory)
    if error:
        return fail(error)
    try:
        where, left_out = _where(directory)
        con = connect(directory)
    except ValueError as problem:  # a catalog with tables in several namespaces
        print(f"{prog}: error: {problem}", file=sys.stderr)
        return 1
    renderer = Renderer(limit=limit)
    with con:
        today = archive_today(con)
        renderer.heading(
            f"archive {directory}, {where}; current_date = {today} (the newest session end)"
        )
        for note in left_out:
            renderer.heading(note)
        for name in chosen:
            query = named[name]
            mine = {k: v for k, v in given.items() if k in parameters(query.sql)}
            relation = _execute(con, query.sql, today, mine)
            rows = relation.fetchall()
            set_to = ", ".join(f"{k} = {v!r}" for k, v in mine.items())
            title = f"{name} ({set_to})" if mine else name
            renderer.table(f"{title}: {query.description}", relation.columns, rows)
            if mine and not rows:
                renderer.heading(f"no rows with {set_to}")
    return 0
