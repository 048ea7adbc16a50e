"""Derived metrics: an expression's tree evaluated as arithmetic over named numbers.

``(net_sales - returns_value) / customers`` is computed from the values of the metrics it names,
one number each or one per group (a Series or array); a zero denominator gives NaN, never an
exception.  Only arithmetic is allowed: a comparison or a text is a one-line ``ExpressionError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .syntax import (
    ARITHMETIC,
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


def evaluate_number(node: Node, lookup: Callable[[str], Any], text: str = "") -> Any:
    """Arithmetic over named numbers; ``x / 0`` is NaN rather than an exception.

    ``lookup`` normally returns a float and so does this function; if it returns pandas Series
    or numpy arrays (one value per group), the arithmetic is applied element-wise instead.
    """
    shown = text or to_text(node)

    def fail(message: str, at: Node) -> ExpressionError:
        return ExpressionError(message, shown, at.pos if text else None)

    def value(current: Node) -> Any:
        if isinstance(current, Number):
            return float(current.value)
        if isinstance(current, Name):
            try:
                found = lookup(current.name)
            except KeyError:
                raise fail(f"unknown metric '{current.name}'.", current) from None
            return _as_number(found)
        if isinstance(current, Unary) and current.op == "-":
            return -value(current.operand)
        if isinstance(current, Binary) and current.op in ARITHMETIC:
            left, right = value(current.left), value(current.right)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                if current.op == "+":
                    return left + right
                if current.op == "-":
                    return left - right
                if current.op == "*":
                    return left * right
                return divide(left, right)
        what = _what(current)
        raise fail(f"only arithmetic is allowed here (+ - * / and numbers), not {what}", current)

    return value(node)


def _as_number(found: Any) -> Any:
    """Scalars become floats (None is NaN); Series and arrays pass through as floats."""
    if found is None:
        return float("nan")
    if isinstance(found, pd.Series | pd.DataFrame):
        return found.astype(float)
    if isinstance(found, np.ndarray):
        return found.astype(float)
    try:
        return float(found)
    except TypeError:
        return float("nan") if pd.isna(found) else found


def divide(left: Any, right: Any) -> Any:
    """Division where a zero denominator gives NaN, for scalars and for arrays alike."""
    if np.ndim(right) == 0:
        if right == 0:
            return left * float("nan") if np.ndim(left) else float("nan")
        return left / right
    result = left / right
    if isinstance(result, pd.Series | pd.DataFrame):
        return result.mask(right == 0)
    return np.where(right == 0, np.nan, result)


def _what(node: Node) -> str:
    if isinstance(node, String):
        return "quoted text"
    if isinstance(node, Bool):
        return "true/false"
    if isinstance(node, Date):
        return "a date"
    if isinstance(node, Unary):
        return "'not'"
    if isinstance(node, Binary):
        return f"'{node.op}'"
    if isinstance(node, InList):
        return "'not in'" if node.negated else "'in'"
    if isinstance(node, IsNull):
        return "'is null'"
    return f"'{to_text(node)}'"
