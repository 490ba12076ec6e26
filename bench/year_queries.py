"""Timing a named query on DuckDB over one layout of the archive, as `python -m local query` does.

A run opens a fresh DuckDB connection with one view per table (`local.query.connect`: a glob over
the landing objects, or the Iceberg tables' current files as pyiceberg plans them), then runs the
statement twice: the first execution is *cold* for DuckDB (nothing of the files in its caches),
the second *warm*. The operating system's page cache is warm for both after the first run (it
cannot be dropped without root). The look-back window of a named query is widened on its syntax
tree: every `INTERVAL '30' DAY` becomes `INTERVAL 'N' DAY`, so the SQL is the file's.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlglot import exp

import queries
from local.query import connect
from local.transpile import parse_athena, to_duckdb

WINDOW = 30  # the named queries' look-back


def widened(sql: str, days: int) -> str:
    """The Athena statement with its 30-day look-back made `days` days."""
    if days == WINDOW:
        return sql
    found = 0

    def widen(node: exp.Expr) -> exp.Expr:
        nonlocal found
        if (
            isinstance(node, exp.Interval)
            and node.this.is_string
            and node.this.name == str(WINDOW)
            and node.text("unit").upper() == "DAY"
        ):
            found += 1
            return exp.Interval(this=exp.Literal.string(str(days)), unit=node.args["unit"])
        return node

    tree = parse_athena(sql).transform(widen)
    if not found:
        raise ValueError(f"the query has no INTERVAL '{WINDOW}' DAY look-back to widen")
    return tree.sql(dialect="athena")


def named(name: str) -> str:
    named = queries.load()
    if name not in named:
        raise KeyError(f"unknown query {name!r}; available: {', '.join(named)}")
    return named[name].sql


def answer_digest(rows: list[tuple[Any, ...]]) -> str:
    """The rows in a canonical order (ties in the query's ORDER BY may come either way)."""
    text = "\n".join(sorted(repr(row) for row in rows))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Timing:
    connect_s: float  # views made (pyiceberg plans the tables' files here)
    cold_s: float  # first execution in the connection
    warm_s: float  # the same statement again
    rows: int
    digest: str

    @property
    def total_s(self) -> float:
        """What one `python -m local query` of this statement pays."""
        return self.connect_s + self.cold_s

    def as_dict(self) -> dict[str, Any]:
        return {
            "connect_s": round(self.connect_s, 4),
            "cold_s": round(self.cold_s, 4),
            "warm_s": round(self.warm_s, 4),
            "total_s": round(self.total_s, 4),
            "rows": self.rows,
            "answer": self.digest,
        }


def time_query(directory: Path, athena_sql: str, today: date, runs: int) -> Timing:
    """Median of `runs` runs, each in a fresh connection."""
    sql = to_duckdb(athena_sql, today=today)
    connects, colds, warms = [], [], []
    rows: list[tuple[Any, ...]] = []
    for _ in range(runs):
        started = time.perf_counter()
        with connect(directory) as con:
            opened = time.perf_counter()
            rows = con.sql(sql).fetchall()
            cold = time.perf_counter()
            again = con.sql(sql).fetchall()
            warm = time.perf_counter()
        if again != rows:
            raise RuntimeError(f"{directory}: the same statement answered twice differently")
        connects.append(opened - started)
        colds.append(cold - opened)
        warms.append(warm - cold)
    return Timing(
        statistics.median(connects),
        statistics.median(colds),
        statistics.median(warms),
        len(rows),
        answer_digest(rows),
    )
