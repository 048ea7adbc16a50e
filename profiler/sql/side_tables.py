"""What the side-table families share in SQL: rows known at D, calendar days, per-customer joins,
and reading results back with the pandas families' dtypes.

The side tables (surveys, interactions, preferences, customers, enrichment, accounts) are cut at
D as ``CarContext.visible`` cuts them: a row is known when its time is before the start of the
day after D (``time < D + 1 day``), and, where the pandas family asks for it, when it has no time.

Keys.  The pandas families match side rows to the CAR's customers in two ways, and so do these:

- ``codes`` (``ctx.codes_of``): by value and type, so a side table whose customer_id is text while
  the CAR's ids are integers (or the reverse) matches nobody;
- ``lookup`` (``families.demographics.lookup``): as text when the types differ.

The key's type is read from the engine (an empty ``SELECT *``), never from the loaded frames.

Categories.  A categorical CAR column keeps its source column's categories, in their order, with
unused ones (rows cut at D, quarantined rows, a parquet file's own dictionary).  Engines do not
carry them (DuckDB reads an Arrow dictionary as VARCHAR, Spark has no such type), so
``source_categories`` reads that one piece of metadata, the column's dtype, from the loaded
source; values always come from the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from ..car_context import period_bounds
from .engines import SqlEngine
from .facts import (
    DAY,
    as_of_day,
    col,
    day_of,
    days_from,
    number,
    paren,
    population,
    timestamp,
)

CODES = "codes"  # match keys by value and type (ctx.codes_of)
LOOKUP = "lookup"  # match keys as text when their types differ (demographics.lookup)


def double(value: float | int) -> exp.Cast:
    """A DOUBLE literal (a bare ``0.3`` is a DECIMAL in DuckDB and Spark)."""
    return exp.cast(number(value), "DOUBLE")


def known_at(
    time_column: str, as_of: pd.Timestamp, *, keep_undated: bool = False
) -> exp.Expression:
    """Rows known on or before D: ``time < D + 1 day`` (or without a time, if kept)."""
    before = exp.LT(this=col(time_column), expression=timestamp(as_of + DAY))
    if not keep_undated:
        return before
    return paren(exp.or_(before, exp.Is(this=col(time_column), expression=exp.null())))


def in_period(
    node: exp.Expression, spec: dict[str, Any], as_of: pd.Timestamp, period: str
) -> exp.Expression:
    """``node`` inside a named period of templates/features.yaml ([start, end), as of D)."""
    start, end = period_bounds(spec, as_of, period)
    condition: exp.Expression = exp.LT(this=node, expression=timestamp(end))
    if start is not None:
        condition = exp.and_(exp.GTE(this=node.copy(), expression=timestamp(start)), condition)
    return condition


def days_to_d(node: exp.Expression, as_of: pd.Timestamp) -> exp.Cast:
    """Whole calendar days from a timestamp's date to D, as DOUBLE (``_util.days_between``)."""
    return exp.cast(days_from(day_of(node), as_of_day(as_of)), "DOUBLE")


def count_where(condition: exp.Expression) -> exp.Expression:
    """How many rows of the group meet ``condition`` (NULL counts as not met)."""
    return exp.func("SUM", exp.Case().when(condition, number(1)).else_(number(0)))


def count_of(node: exp.Expression) -> exp.Cast:
    """A per-customer count, 0 for customers without rows, as DOUBLE."""
    return exp.cast(exp.func("COALESCE", node, number(0)), "DOUBLE")


def columns_of(engine: SqlEngine, table: str) -> pa.Schema:
    """The columns of a registered table, as the engine sees them (an empty SELECT *)."""
    return engine.run(exp.select(exp.Star()).from_(exp.to_table(table)).limit(0)).schema


@dataclass(frozen=True)
class Side:
    """One row per customer from a side table, joined to the CAR's customers as ``alias``."""

    query: exp.Select  # has a customer_id column
    alias: str
    key_as_text: bool = False


def side(
    engine: SqlEngine, ctx: Any, table: str, query: exp.Select, alias: str, match: str
) -> Side:
    """``query`` (rows of ``table`` keyed by customer_id) as a side joined the pandas way:
    ``CODES`` matches nobody when the key types differ, ``LOOKUP`` compares the keys as text."""
    key = columns_of(engine, table).field("customer_id").type
    same = pa.types.is_integer(key) == (np.asarray(ctx.customer_ids).dtype.kind in "iu")
    if same:
        return Side(query, alias)
    if match == CODES:
        return Side(query.where(exp.false()), alias, key_as_text=True)
    return Side(query, alias, key_as_text=True)


def per_customer_sides(
    ctx: Any, columns: list[exp.Expression], sides: list[Side], *, ordered: bool = True
) -> exp.Select:
    """SELECT customer_id, <columns> FROM the CAR's customers LEFT JOIN each side, ordered by
    customer_id unless ``ordered`` is False (``customers.per_customer`` with several sides and
    text keys)."""
    people = population(ctx.source.has("customers"), ctx.as_of).subquery("who")
    query = exp.select(col("customer_id", "who").as_("customer_id"), *columns).from_(people)
    for s in sides:
        left, right = col("customer_id", "who"), col("customer_id", s.alias)
        if s.key_as_text:
            left, right = exp.cast(left, "VARCHAR"), exp.cast(right, "VARCHAR")
        query = query.join(
            s.query.subquery(s.alias), on=exp.EQ(this=left, expression=right), join_type="LEFT"
        )
    return query.order_by(col("customer_id", "who")) if ordered else query


def source_categories(ctx: Any, table: str, column: str) -> pd.CategoricalDtype | None:
    """The categorical dtype of a loaded source column (None when it is not categorical): the one
    piece of metadata the SQL families read from the loaded frames (see the module docstring)."""
    dtype = ctx.source.tables[table][column].dtype
    return dtype if isinstance(dtype, pd.CategoricalDtype) else None


# Reading results back.


def floats(table: pa.Table, name: str) -> np.ndarray:
    """A DOUBLE column as float64 (NULL -> NaN)."""
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)


def float32s(table: pa.Table, name: str) -> np.ndarray:
    """A FLOAT column as float32."""
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.float32)


def flags(table: pa.Table, name: str) -> np.ndarray:
    """A BOOLEAN column without NULLs as a numpy bool array."""
    return table.column(name).to_numpy(zero_copy_only=False).astype(bool)


def booleans(table: pa.Table, name: str) -> pd.arrays.BooleanArray:
    """A BOOLEAN column as pandas' nullable BooleanArray (NULL -> <NA>)."""
    column = table.column(name)
    values = column.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    mask = column.is_null().to_numpy(zero_copy_only=False).astype(bool)
    return pd.arrays.BooleanArray(values, mask)


def texts(table: pa.Table, name: str) -> np.ndarray:
    """A VARCHAR column as an object array of str (NULL -> None)."""
    return np.asarray(table.column(name).to_pylist(), dtype=object)


def categorical(values: np.ndarray, dtype: pd.CategoricalDtype | None) -> pd.Categorical:
    """Text values as ``pd.Categorical(lookup(...))`` makes them: with the source column's dtype,
    or with categories inferred from the values when the column is not categorical."""
    return pd.Categorical(values, dtype=dtype) if dtype is not None else pd.Categorical(values)


def codes(table: pa.Table, name: str) -> np.ndarray:
    """An INT column of category codes as int64."""
    return table.column(name).to_numpy(zero_copy_only=False).astype(np.int64)
