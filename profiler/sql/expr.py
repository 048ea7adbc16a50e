"""The expression language (profiler/expressions/) as sqlglot trees, meaning what pandas means.

``to_sql`` turns a parsed filter or value into a sqlglot expression; ``to_mask`` turns a filter
into a condition that is never NULL (what ``evaluate_mask`` selects).  The trees are built from
sqlglot's node classes, never from pasted text, and render in any dialect the engines use.

How the pandas evaluator's semantics carry over:

- Missing values use SQL's three-valued logic, as ``_MaskEvaluator`` does: a comparison with a
  missing side is unknown, ``not`` keeps it unknown, ``and``/``or`` follow Kleene's tables, and
  an unknown row is not selected (``to_mask`` wraps the condition in ``COALESCE(..., FALSE)``).
  So ``x != 5`` leaves out rows where ``x`` is missing, in both.
- ``in (...)`` and ``not in (...)`` over literals are SQL's ``IN``/``NOT IN`` (no NULL in the
  list, so a missing operand is unknown in both).
- Arithmetic is in DOUBLE, as numpy computes on float64: every column and number operand is cast.
  ``x / 0`` is plus or minus infinity and ``0 / 0`` is missing, as in numpy; the zero case is
  spelled out, since DuckDB agrees with numpy but Spark gives NULL (or fails, in ANSI mode).  A
  NaN result (``inf - inf``, ``0 * inf``) is missing (``NULLIF``), as in pandas.  A zero
  denominator is taken as positive zero: numpy gives ``-inf`` for ``1 / -0.0``, this ``inf``.
- Numbers: integers stay integer literals, other numbers are DOUBLE literals (never DECIMAL, so
  ``x == 0.1`` compares the same double as numpy).
- Text compares by code point in both (pandas categories of text are plain VARCHAR columns once
  registered from Arrow), so ``wealth_band < "high"`` is alphabetical, not the category order.
- ``date("2024-01-31")`` is midnight of that day, a TIMESTAMP literal; a quoted date compared with
  a timestamp column is cast by the engine, as pandas parses it.  Timestamps are naive (the data
  contract's); a time-zone-aware column would be compared in the engine's zone (UTC), not the
  column's.

Columns must be registered with NaN as NULL (``pa.Table.from_pandas`` does that), since pandas
takes NaN for missing and SQL engines do not.  Type errors the pandas evaluator reports by name
(text compared with a number, ``true < x``) are raised here only where the tree shows them; the
others surface as the engine's error.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlglot import exp

from ..expressions import (
    ARITHMETIC,
    COMPARISONS,
    LOGICAL,
    Binary,
    Bool,
    Date,
    ExpressionError,
    InList,
    IsNull,
    Name,
    Node,
    Number,
    String,
    Unary,
    to_text,
)
from .facts import timestamp

__all__ = ["to_sql", "to_mask", "literal", "double"]

_COMPARE: dict[str, type[exp.Binary]] = {
    "==": exp.EQ,
    "!=": exp.NEQ,
    "<": exp.LT,
    "<=": exp.LTE,
    ">": exp.GT,
    ">=": exp.GTE,
}
_ARITHMETIC: dict[str, type[exp.Binary]] = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}
# Operators, which need parentheses inside another operator (sqlglot's AND and OR are also
# functions, so "is a function" does not tell).
_OPERATORS = (exp.Binary, exp.Unary, exp.Predicate, exp.Connector)


def to_sql(node: Node, *, table: str | None = None) -> exp.Expression:
    """The expression as a sqlglot tree (a condition or a value); NULL where pandas has missing.

    ``table`` qualifies every column (``"l"."net_gbp"``); by default columns are unqualified.
    """
    if isinstance(node, Number | String | Bool | Date):
        return literal(node.value)
    if isinstance(node, Name):
        return exp.column(node.name, table=table, quoted=True)
    if isinstance(node, Unary) and node.op == "-":
        return exp.Neg(this=_wrap(double(to_sql(node.operand, table=table))))
    if isinstance(node, Unary) and node.op == "not":
        return exp.Not(this=_wrap(to_sql(node.operand, table=table)))
    if isinstance(node, Binary) and node.op in LOGICAL:
        kind = exp.And if node.op == "and" else exp.Or
        left, right = to_sql(node.left, table=table), to_sql(node.right, table=table)
        return kind(this=_wrap(left), expression=_wrap(right))
    if isinstance(node, Binary) and node.op in COMPARISONS:
        _check_comparison(node)
        left, right = to_sql(node.left, table=table), to_sql(node.right, table=table)
        return _COMPARE[node.op](this=_wrap(left), expression=_wrap(right))
    if isinstance(node, Binary) and node.op in ARITHMETIC:
        left = double(to_sql(node.left, table=table))
        right = double(to_sql(node.right, table=table))
        if node.op == "/":
            return _not_nan(_numpy_divide(left, right))
        return _not_nan(_ARITHMETIC[node.op](this=_wrap(left), expression=_wrap(right)))
    if isinstance(node, InList):
        found = exp.In(
            this=_wrap(to_sql(node.operand, table=table)),
            expressions=[literal(v.value) for v in node.values],
        )
        return exp.Not(this=exp.paren(found)) if node.negated else found
    if isinstance(node, IsNull):
        missing = exp.Is(this=_wrap(to_sql(node.operand, table=table)), expression=exp.null())
        return exp.Not(this=exp.paren(missing)) if node.negated else missing
    raise TypeError(f"not an expression node: {node!r}")


def to_mask(node: Node, *, table: str | None = None) -> exp.Expression:
    """The filter as a condition that is TRUE exactly where ``evaluate_mask`` selects the row
    (FALSE, never NULL, where the answer depends on a missing value)."""
    if isinstance(node, Number | String | Date) or (
        isinstance(node, Unary | Binary) and node.op in ("-", *ARITHMETIC)
    ):
        raise ExpressionError(
            f"{to_text(node)} is not a condition; compare it with something", to_text(node)
        )
    if isinstance(node, Bool):
        return exp.true() if node.value else exp.false()
    return exp.func("COALESCE", to_sql(node, table=table), exp.false())


def literal(value: object) -> exp.Expression:
    """A Python value as a typed literal: text, TRUE/FALSE, an integer, a DOUBLE, a timestamp."""
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.cast(exp.Literal.string(repr(float(value))), "DOUBLE")
    if isinstance(value, dt.date | np.datetime64):  # a date is its midnight
        return timestamp(pd.Timestamp(value))
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return literal(item())
    raise TypeError(f"cannot write {value!r} as a SQL literal")


def double(node: exp.Expression) -> exp.Expression:
    """The value as DOUBLE, as numpy computes (integer literals are cast in place)."""
    if isinstance(node, exp.Literal) and not node.is_string:
        return exp.cast(exp.Literal.string(repr(float(node.this))), "DOUBLE")
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return exp.cast(exp.Literal.string(repr(-float(node.this.this))), "DOUBLE")  # -2
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DOUBLE):
        return node
    if isinstance(node, exp.Nullif | exp.Neg | exp.Case):  # our arithmetic: DOUBLE already
        return node
    return exp.cast(node, "DOUBLE")


def _numpy_divide(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    """left / right with numpy's answers at zero: +-inf, or missing for 0 / 0."""
    infinity = exp.cast(exp.Literal.string("Infinity"), "DOUBLE")
    at_zero = (
        exp.Case()
        .when(exp.GT(this=_wrap(left), expression=exp.Literal.number(0)), infinity)
        .when(
            exp.LT(this=_wrap(left.copy()), expression=exp.Literal.number(0)),
            exp.Neg(this=infinity.copy()),
        )
    )
    return (
        exp.Case()
        .when(exp.EQ(this=_wrap(right), expression=exp.Literal.number(0)), at_zero)
        .else_(exp.Div(this=_wrap(left.copy()), expression=_wrap(right.copy())))
    )


def _not_nan(node: exp.Expression) -> exp.Expression:
    """NULL where the arithmetic gave NaN (inf - inf, 0 * inf): numpy's result is missing there."""
    return exp.Nullif(this=node, expression=exp.cast(exp.Literal.string("NaN"), "DOUBLE"))


def _wrap(node: exp.Expression) -> exp.Expression:
    """Parentheses around anything compound: sqlglot prints a built tree as it stands, without
    adding them by operator precedence."""
    if isinstance(node, exp.Paren) or not isinstance(node, _OPERATORS):
        return node
    return exp.paren(node)


def _check_comparison(node: Binary) -> None:
    """The one type error visible in the tree alone: true/false ordered with < <= > >=."""
    if node.op not in ("==", "!=") and (
        isinstance(node.left, Bool) or isinstance(node.right, Bool)
    ):
        raise ExpressionError(
            f"true/false values can only be compared with == or !=, not '{node.op}'",
            to_text(node),
        )
