"""Athena -> DuckDB transpiling: each rewrite keeps Athena's meaning, checked on DuckDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local.transpile import UnsupportedQuery, to_duckdb


@pytest.fixture(scope="module")
def con():
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        yield connection


def scalar(con, athena_sql: str, today: date | None = None):
    return con.execute(to_duckdb(athena_sql, today=today)).fetchone()[0]


# Trino's date_diff counts whole units elapsed (Joda's getDifferenceAsLong), truncating toward
# zero; DuckDB's date_diff counts unit boundaries crossed. Each case is one where they disagree.
WHOLE_UNITS = [
    ("day", "2024-01-01 23:59:59", "2024-01-02 00:00:01", 0, 1),
    ("hour", "2024-01-01 10:59:59", "2024-01-01 11:00:00", 0, 1),
    ("minute", "2024-01-01 10:00:59.999", "2024-01-01 10:01:00", 0, 1),
    ("second", "2024-01-01 00:00:00.500", "2024-01-01 00:00:01.200", 0, 1),
    ("second", "2024-01-01 00:00:01.200", "2024-01-01 00:00:00.500", 0, -1),
    ("day", "2024-01-31 10:00:00", "2024-02-29 09:00:00", 28, 29),
    ("month", "2024-01-31 10:00:00", "2024-02-29 09:00:00", 0, 1),
    ("year", "2023-12-31 00:00:00", "2024-01-01 00:00:00", 0, 1),
    ("week", "2024-01-01 10:00:00", "2024-01-08 09:00:00", 0, 1),
]


@pytest.mark.parametrize(("unit", "start", "end", "athena", "duckdb_native"), WHOLE_UNITS)
def test_date_diff_counts_whole_units_as_athena_does(con, unit, start, end, athena, duckdb_native):
    sql = f"SELECT date_diff('{unit}', TIMESTAMP '{start}', TIMESTAMP '{end}')"
    assert scalar(con, sql) == athena
    # The case matters: DuckDB's own date_diff answers differently.
    assert con.execute(sql).fetchone()[0] == duckdb_native


@pytest.mark.parametrize(
    ("unit", "start", "end", "athena"),
    [
        ("month", "2024-03-31 00:00:00", "2024-02-29 00:00:00", -1),
        # Joda clamps the day of month: Jan 31 -> Feb 29 (the last day) is one whole month.
        ("month", "2024-01-31 00:00:00", "2024-02-29 00:00:00", 1),
        ("quarter", "2024-01-15 00:00:00", "2024-04-15 00:00:00", 1),
        ("millisecond", "2024-01-02 00:00:01", "2024-01-01 00:00:00", -86_401_000),
    ],
)
def test_date_diff_calendar_and_negative_cases(con, unit, start, end, athena):
    sql = f"SELECT date_diff('{unit}', TIMESTAMP '{start}', TIMESTAMP '{end}')"
    assert scalar(con, sql) == athena


def test_date_diff_on_dates(con):
    sql = "SELECT date_diff('day', DATE '2024-01-01', DATE '2024-03-01')"
    assert scalar(con, sql) == 60


PRECISE_UNITS = {
    "millisecond": timedelta(milliseconds=1),
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
MILLIS = st.integers(min_value=0, max_value=4 * 365 * 86_400_000)


def whole_units(delta: timedelta, unit: timedelta) -> int:
    """Trino: the elapsed time in whole units, truncated toward zero."""
    count = abs(delta) // unit
    return count if delta >= timedelta(0) else -count


def literal(moment: datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}'"


@settings(max_examples=150, deadline=None)
@given(unit=st.sampled_from(sorted(PRECISE_UNITS)), a=MILLIS, b=MILLIS)
def test_date_diff_matches_trino_for_fixed_length_units(con, unit, a, b):
    start = EPOCH + timedelta(milliseconds=a)
    end = EPOCH + timedelta(milliseconds=b)
    sql = f"SELECT date_diff('{unit}', {literal(start)}, {literal(end)})"
    assert scalar(con, sql) == whole_units(end - start, PRECISE_UNITS[unit])


def test_current_date_is_pinned_to_today(con):
    sql = "SELECT current_date, date_format(current_date - INTERVAL '30' DAY, '%Y-%m-%d')"
    day, since = con.execute(to_duckdb(sql, today=date(2024, 3, 1))).fetchone()
    assert (day, since) == (date(2024, 3, 1), "2024-01-31")


def test_current_date_left_alone_without_today(con):
    assert scalar(con, "SELECT current_date") == con.execute("SELECT current_date").fetchone()[0]


def test_integer_division_is_refused_with_a_fix():
    with pytest.raises(UnsupportedQuery, match=r"CAST\(x AS double\)"):
        to_duckdb("SELECT 7 / 2")
    with pytest.raises(UnsupportedQuery):
        to_duckdb("SELECT 1.0 / 3")


def test_division_with_a_double_operand_means_the_same(con):
    assert scalar(con, "SELECT CAST(7 AS double) / 2") == 3.5
    assert scalar(con, "SELECT 7 / CAST(2 AS real)") == 3.5


def test_sqlglot_name_mappings_used_by_the_queries(con):
    sql = """
        SELECT max_by(name, t), count_if(ok), array_join(array_sort(array_agg(DISTINCT c)), ', ')
        FROM (VALUES ('a', 1, true, 'y'), ('b', 2, false, NULL), ('c', 0, true, 'x'))
            AS v(name, t, ok, c)
    """
    assert con.execute(to_duckdb(sql)).fetchone() == ("b", 2, "x, y")


def test_like_escape_keeps_underscore_literal(con):
    sql = (
        "SELECT count_if(n LIKE '%\\_ERROR' ESCAPE '\\') FROM (VALUES 'JOIN_ERROR', 'XERROR') v(n)"
    )
    assert scalar(con, sql) == 1


PARAMETERIZED = """
WITH params AS (SELECT '' AS session_id, 'x' AS other, 3 AS number)
SELECT p.session_id, p.other FROM params AS p
"""


def test_parameters_are_the_string_columns_of_the_params_cte():
    from local.transpile import parameters

    assert parameters(PARAMETERIZED) == {"session_id": "", "other": "x"}
    assert parameters("SELECT 1 AS session_id") == {}  # no params CTE: no parameters
    assert parameters("WITH other AS (SELECT '' AS a) SELECT a FROM other") == {}


def test_parameters_are_given_as_literals_and_others_keep_their_defaults(con):
    athena = con.execute(to_duckdb(PARAMETERIZED)).fetchall()
    assert athena == [("", "x")]  # as Athena runs the named query: the defaults
    given = to_duckdb(PARAMETERIZED, parameters={"session_id": "st-it's"})
    assert con.execute(given).fetchall() == [("st-it's", "x")]


@pytest.mark.parametrize("name", ["nope", "number"])
def test_a_parameter_the_query_lacks_is_refused(name):
    with pytest.raises(UnsupportedQuery, match=f"no parameter '{name}'"):
        to_duckdb(PARAMETERIZED, parameters={name: "v"})
