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
- A query's parameters are the columns of its `params` CTE (`WITH params AS (SELECT '' AS
  session_id)`): plain Athena SQL that runs as it is, each parameter at its default, and that
  `to_duckdb(parameters=...)` gives other values.
"""

from __future__ import annotations

from datetime import date

import sqlglot
from sqlglot import exp

_FLOATS = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}
PARAMS = "params"  # the CTE whose columns are a query's parameters


class UnsupportedQuery(ValueError):
    """Athena SQL whose meaning the local runner cannot reproduce on DuckDB."""


def parse_athena(sql: str) -> exp.Expr:
    """Parse one Athena (Trino) statement; sqlglot's ParseError on bad SQL."""
    return sqlglot.parse_one(sql, read="athena")


def parameters(sql: str) -> dict[str, str]:
    """The parameters the Athena statement `sql` declares, with their default values: the
    string columns of its `params` CTE."""
    select = _params(parse_athena(sql))
    if select is None:
        return {}
    return {
        column.alias: column.this.name
        for column in select.expressions
        if isinstance(column, exp.Alias)
        and isinstance(column.this, exp.Literal)
        and column.this.is_string
    }


def _params(tree: exp.Expr) -> exp.Select | None:
    for cte in tree.find_all(exp.CTE):
        if cte.alias == PARAMS and isinstance(cte.this, exp.Select):
            return cte.this
    return None


def to_duckdb(
    sql: str, *, today: date | None = None, parameters: dict[str, str] | None = None
) -> str:
    """The DuckDB statement that answers what the Athena statement `sql` answers, with
    `parameters` (of those it declares) set to the values given."""
    tree = parse_athena(sql)
    if parameters:
        _set_parameters(tree, parameters)

    def rewrite(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.DateDiff):
            return _whole_units(node)
        if isinstance(node, exp.Div):
            _check_division(node)
        if isinstance(node, exp.CurrentDate) and today is not None:
            return exp.cast(exp.Literal.string(today.isoformat()), exp.DataType.Type.DATE)
        return node

    return tree.transform(rewrite).sql(dialect="duckdb")


def _set_parameters(tree: exp.Expr, values: dict[str, str]) -> None:
    select = _params(tree)
    columns = {c.alias: c for c in select.expressions} if select is not None else {}
    for name, value in values.items():
        column = columns.get(name)
        if not (
            isinstance(column, exp.Alias)
            and isinstance(column.this, exp.Literal)
            and column.this.is_string
        ):
            raise UnsupportedQuery(f"the query has no parameter {name!r}")
        column.set("this", exp.Literal.string(value))


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
