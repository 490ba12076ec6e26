"""Athena SQL (Trino dialect) -> DuckDB SQL with sqlglot, rewriting what differs in meaning.

sqlglot maps names and syntax (`date_format` -> `strftime`, `max_by` -> `arg_max`, ...). What it
keeps by name but DuckDB computes differently is rewritten here on the syntax tree:
- `date_diff(unit, a, b)` counts *whole* units elapsed in Trino (23:59:59 -> 00:00:01 is 0 days,
  01-31 -> 02-29 09:00 is 0 months when the time of day is not reached) but unit *boundaries*
  crossed in DuckDB. DuckDB's `date_sub(unit, a, b)` is the whole-units count: use it.
- `/` between integers truncates in Trino and gives a double in DuckDB; between decimals the two
  disagree on scale. Rather than guess the operand types, a division must have an operand cast
  to double or real (`CAST(x AS double) / n`), which means the same in both engines.
- `current_date` may be pinned to a given day (`today`), so queries with a look-back window
  give repeatable answers over an archive of a fixed date.
"""

from __future__ import annotations

from datetime import date

import sqlglot
from sqlglot import exp

_FLOATS = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}


class UnsupportedQuery(ValueError):
    """Athena SQL whose meaning the local runner cannot reproduce on DuckDB."""


def parse_athena(sql: str) -> exp.Expr:
    """Parse one Athena (Trino) statement; sqlglot's ParseError on bad SQL."""
    return sqlglot.parse_one(sql, read="athena")


def to_duckdb(sql: str, *, today: date | None = None) -> str:
    """The DuckDB statement that answers what the Athena statement `sql` answers."""
    tree = parse_athena(sql)

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.DateDiff):
            return _whole_units(node)
        if isinstance(node, exp.Div):
            _check_division(node)
        if isinstance(node, exp.CurrentDate) and today is not None:
            return exp.cast(exp.Literal.string(today.isoformat()), exp.DataType.Type.DATE)
        return node

    return tree.transform(rewrite).sql(dialect="duckdb")


def _whole_units(node: exp.DateDiff) -> exp.Expr:
    unit = node.args.get("unit")
    name = unit.name.lower() if unit is not None else "day"
    # Trino: date_diff(unit, start, end); sqlglot keeps end in `this`, start in `expression`.
    return exp.Anonymous(
        this="DATE_SUB",
        expressions=[exp.Literal.string(name), node.expression, node.this],
    )


def _is_float(node: exp.Expr) -> bool:
    node = node.unnest()
    return isinstance(node, exp.Cast) and node.to.this in _FLOATS


def _check_division(node: exp.Div) -> None:
    if not (_is_float(node.this) or _is_float(node.expression)):
        raise UnsupportedQuery(
            f"division {node.sql(dialect='athena')!r}: Trino and DuckDB disagree on integer and "
            "decimal division; cast an operand to double, e.g. CAST(x AS double) / y"
        )
