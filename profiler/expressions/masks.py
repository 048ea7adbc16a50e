"""Cohort filters: an expression's tree evaluated over a DataFrame as a row mask.

``region == "Europe" and rfm_score >= 4`` picks rows with vectorised numpy/pandas operations and
SQL-like three-valued logic (a comparison with a missing value is neither true nor false; ``is
null`` picks those rows).  A name that is no column, or a comparison of a column with a value of
another kind, is a one-line ``ExpressionError`` that says what the column holds and how to write
the comparison.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..names import closest
from .syntax import (
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
    _name_nodes,
    _quote,
    _render_name,
    _walk,
    to_text,
)

_KIND_WORDS = {
    "number": "numbers",
    "text": "text",
    "bool": "true/false values",
    "datetime": "dates",
    "empty": "only missing values",
}
_KIND_HINTS = {
    "number": "compare it with a number (no quotes)",
    "text": "compare it with a quoted string",
    "bool": "compare it with true or false, or use it on its own",
    "datetime": 'compare it with date("YYYY-MM-DD") or a quoted date',
}
_CMP_FUNCS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass
class _Vec:
    """A column, literal or computed value: data, a missing mask and a kind.

    ``values`` and ``missing`` are arrays of the frame's length or scalars (numpy broadcasts).
    Missing entries of ``values`` hold a harmless placeholder so comparisons never raise.
    """

    values: Any
    missing: Any
    kind: str  # number, text, bool, datetime, empty, other
    node: Node
    literal: bool = False
    tz: Any = None
    dtype: str = ""


@dataclass
class _Cond:
    """Three-valued truth: rows known true and rows known false; the rest are unknown."""

    true: Any
    false: Any


class _MaskEvaluator:
    """Evaluates one filter over one DataFrame."""

    def __init__(self, node: Node, frame: pd.DataFrame, text: str) -> None:
        self.node = node
        self.frame = frame
        self.text = text or to_text(node)
        self.has_text = bool(text)
        self.n = len(frame)
        self.columns = {str(c): c for c in frame.columns}
        self.cache: dict[str, _Vec] = {}

    def fail(self, message: str, at: Node) -> ExpressionError:
        return ExpressionError(message, self.text, at.pos if self.has_text else None)

    # -- names -----------------------------------------------------------------------------------
    def check(self) -> None:
        known = list(self.columns)
        for name in _name_nodes(self.node):
            if name.name in self.columns:
                continue
            message = f"unknown column '{name.name}'."
            suggestion = closest(name.name, known)
            if suggestion is not None:
                message += f" Did you mean '{suggestion}'?"
            else:
                message += self.value_hint(name)
            raise self.fail(message, name)

    def value_hint(self, name: Name) -> str:
        """If a bare word is compared with a text column, the user probably forgot the quotes."""
        for current in _walk(self.node):
            if isinstance(current, Binary) and current.op in COMPARISONS:
                if current.left is name or current.right is name:
                    other = current.right if current.left is name else current.left
                    if isinstance(other, Name) and other.name in self.columns:
                        return self.closest_value(name.name, other.name)
        return ""

    def closest_value(self, word: str, column: str) -> str:
        series = self.frame[self.columns[column]]
        if isinstance(series, pd.DataFrame):
            return ""
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            candidates = [str(c) for c in dtype.categories]
        elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
            candidates = [str(c) for c in pd.unique(series.dropna())[:10_000]]
        else:
            return ""
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
        shown = _render_name(column)
        if close:
            return f" Did you mean '{close[0]}'? (text needs quotes: {shown} == {_quote(close[0])})"
        return f" If it is text, put it in quotes: {shown} == {_quote(word)}"

    # -- values ----------------------------------------------------------------------------------
    def column(self, node: Name) -> _Vec:
        if node.name not in self.cache:
            series = self.frame[self.columns[node.name]]
            if isinstance(series, pd.DataFrame):
                raise self.fail(f"column '{node.name}' appears more than once in the data", node)
            self.cache[node.name] = _series_vec(series.reset_index(drop=True), node)
        vec = self.cache[node.name]
        return _Vec(vec.values, vec.missing, vec.kind, node, False, vec.tz, vec.dtype)

    def value(self, node: Node) -> _Vec:
        if isinstance(node, Number):
            return _Vec(np.float64(node.value), False, "number", node, True)
        if isinstance(node, String):
            return _Vec(node.value, False, "text", node, True)
        if isinstance(node, Bool):
            return _Vec(node.value, False, "bool", node, True)
        if isinstance(node, Date):
            return _Vec(np.datetime64(node.value.isoformat(), "ns"), False, "datetime", node, True)
        if isinstance(node, Name):
            return self.column(node)
        if isinstance(node, Unary) and node.op == "-":
            operand = self.number(self.value(node.operand), "-")
            return _Vec(-operand.values, operand.missing, "number", node)
        if isinstance(node, Binary) and node.op in ARITHMETIC:
            return self.arithmetic(node)
        cond = self.cond(node)
        missing = ~(cond.true | cond.false)
        return _Vec(cond.true, missing, "bool", node)

    def number(self, vec: _Vec, op: str) -> _Vec:
        if vec.kind == "number":
            return vec
        if vec.kind == "empty":
            return _Vec(np.float64("nan"), True, "number", vec.node)
        raise self.fail(
            f"'{op}' needs numbers but {self.label(vec)} holds {self.words(vec)}", vec.node
        )

    def arithmetic(self, node: Binary) -> _Vec:
        left = self.number(self.value(node.left), node.op)
        right = self.number(self.value(node.right), node.op)
        lv, rv = left.values, right.values
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if node.op == "+":
                result = np.add(lv, rv)
            elif node.op == "-":
                result = np.subtract(lv, rv)
            elif node.op == "*":
                result = np.multiply(lv, rv)
            else:
                result = np.divide(lv, rv)
        missing = left.missing | right.missing | np.isnan(result)
        return _Vec(result, missing, "number", node)

    # -- conditions ------------------------------------------------------------------------------
    def cond(self, node: Node) -> _Cond:
        if isinstance(node, Binary) and node.op in LOGICAL:
            left, right = self.cond(node.left), self.cond(node.right)
            if node.op == "and":
                return _Cond(left.true & right.true, left.false | right.false)
            return _Cond(left.true | right.true, left.false & right.false)
        if isinstance(node, Unary) and node.op == "not":
            inner = self.cond(node.operand)
            return _Cond(inner.false, inner.true)
        if isinstance(node, Binary) and node.op in COMPARISONS:
            return self.compare(node)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, IsNull):
            missing = self.value(node.operand).missing
            missing = np.asarray(missing, dtype=bool)
            return _Cond(~missing, missing) if node.negated else _Cond(missing, ~missing)
        return self.truth(self.value(node))

    def truth(self, vec: _Vec) -> _Cond:
        if vec.kind == "bool":
            values = np.asarray(vec.values, dtype=bool)
            known = ~np.asarray(vec.missing, dtype=bool)
            return _Cond(values & known, ~values & known)
        if vec.kind == "empty":
            return _Cond(np.False_, np.False_)
        node = vec.node
        if isinstance(node, Name):
            example = {
                "text": f'{_render_name(node.name)} == "..."',
                "datetime": f'{_render_name(node.name)} >= date("2024-01-01")',
            }.get(vec.kind, f"{_render_name(node.name)} > 0")
            raise self.fail(
                f"column '{node.name}' is not true/false; compare it, e.g. {example}", node
            )
        raise self.fail(
            f"{to_text(node)} is {self.words(vec)}, not a condition; compare it with something",
            node,
        )

    def label(self, vec: _Vec) -> str:
        if isinstance(vec.node, Name):
            return f"column '{vec.node.name}'"
        return f"'{to_text(vec.node)}'"

    def words(self, vec: _Vec) -> str:
        if vec.kind == "other":
            return f"values of type {vec.dtype}"
        if vec.literal:
            return {
                "number": "a number",
                "text": "text",
                "bool": "true/false",
                "datetime": "a date",
            }[vec.kind]
        return _KIND_WORDS[vec.kind]

    def clash(self, left: _Vec, right: _Vec, at: Node) -> ExpressionError:
        cols = [v for v in (left, right) if isinstance(v.node, Name)]
        if len(cols) == 2:
            return self.fail(
                f"cannot compare column '{left.node.name}' ({self.words(left)})"  # type: ignore[union-attr]
                f" with column '{right.node.name}' ({self.words(right)})",  # type: ignore[union-attr]
                at,
            )
        if cols:
            col = cols[0]
            other = right if col is left else left
            hint = _KIND_HINTS.get(col.kind, "")
            message = f"{self.label(col)} holds {self.words(col)}"
            message += f"; {hint}" if hint else ""
            message += f", not {self.words(other)}"
            return self.fail(message, col.node)
        return self.fail(f"cannot compare {self.words(left)} with {self.words(right)}", at)

    def as_datetime(self, vec: _Vec, column: _Vec) -> _Vec:
        """Turn a quoted or date(...) literal into a timestamp comparable with ``column``."""
        raw = vec.values
        try:
            stamp = pd.Timestamp(str(raw) if vec.kind == "text" else pd.Timestamp(raw))
        except (ValueError, TypeError):
            raise self.fail(
                f"cannot read '{raw}' as a date; write it as YYYY-MM-DD", vec.node
            ) from None
        if stamp is pd.NaT:
            raise self.fail(f"cannot read '{raw}' as a date; write it as YYYY-MM-DD", vec.node)
        if column.tz is not None:
            stamp = (stamp.tz_localize(column.tz) if stamp.tz is None else stamp).tz_convert("UTC")
        if stamp.tz is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return _Vec(stamp.to_datetime64(), False, "datetime", vec.node, True)

    def align(self, left: _Vec, right: _Vec, at: Node) -> tuple[_Vec, _Vec]:
        """Make both sides comparable, or explain (naming the column) why they are not."""
        if left.kind == right.kind and left.kind != "other":
            if left.kind == "datetime" and left.literal and not right.literal:
                left = self.as_datetime(left, right)
            elif right.kind == "datetime" and right.literal and not left.literal:
                right = self.as_datetime(right, left)
            return left, right
        if left.kind == "datetime" and right.kind == "text" and right.literal:
            return left, self.as_datetime(right, left)
        if right.kind == "datetime" and left.kind == "text" and left.literal:
            return self.as_datetime(left, right), right
        raise self.clash(left, right, at)

    def _text_column(self, node: Node) -> pd.Series | None:
        """The column behind a name when it holds text as pandas strings or string categories:
        those compare to text literals in pandas' own (vectorised) code, without first copying
        millions of strings into Python objects."""
        if not isinstance(node, Name) or node.name not in self.columns:
            return None
        series = self.frame[self.columns[node.name]]
        if isinstance(series, pd.DataFrame):
            return None
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categories = dtype.categories
            text = len(categories) and pd.api.types.infer_dtype(categories) == "string"
            return series if text else None
        return series if isinstance(dtype, pd.StringDtype) else None

    def _text_equal(self, node: Binary) -> _Cond | None:
        if node.op not in ("==", "!="):
            return None
        for column_node, literal in ((node.left, node.right), (node.right, node.left)):
            series = self._text_column(column_node)
            if series is not None and isinstance(literal, String):
                equal = (series == literal.value).to_numpy(dtype=bool, na_value=False)
                known = series.notna().to_numpy(dtype=bool)
                same, other = equal & known, ~equal & known
                return _Cond(same, other) if node.op == "==" else _Cond(other, same)
        return None

    def compare(self, node: Binary) -> _Cond:
        fast = self._text_equal(node)
        if fast is not None:
            return fast
        left, right = self.value(node.left), self.value(node.right)
        if "empty" in (left.kind, right.kind):
            return _Cond(np.False_, np.False_)
        left, right = self.align(left, right, node)
        if left.kind == "bool" and node.op not in ("==", "!="):
            raise self.fail(
                f"true/false values can only be compared with == or !=, not '{node.op}'", node
            )
        known = ~(np.asarray(left.missing, dtype=bool) | np.asarray(right.missing, dtype=bool))
        try:
            with np.errstate(invalid="ignore"):
                result = np.asarray(_CMP_FUNCS[node.op](left.values, right.values), dtype=bool)
        except TypeError:
            raise self.fail(
                f"cannot order {self.label(left)} and {self.label(right)} with '{node.op}'", node
            ) from None
        return _Cond(result & known, ~result & known)

    def in_list(self, node: InList) -> _Cond:
        series = self._text_column(node.operand)
        if series is not None and all(isinstance(v, String) for v in node.values):
            known = series.notna().to_numpy(dtype=bool)
            texts = [v.value for v in node.values]
            if isinstance(series.dtype, pd.CategoricalDtype):  # by code: one lookup a row
                table = np.zeros(len(series.cat.categories) + 1, dtype=bool)  # [-1]: missing
                found = series.cat.categories.get_indexer(texts)
                table[found[found >= 0]] = True
                hit = table[series.cat.codes.to_numpy()] & known
            else:
                hit = series.isin(texts).to_numpy(dtype=bool) & known
            return _Cond(~hit & known, hit) if node.negated else _Cond(hit, ~hit & known)
        vec = self.value(node.operand)
        if vec.kind == "empty":
            return _Cond(np.False_, np.False_)
        wanted = []
        for literal in node.values:
            lit = self.value(literal)
            if not vec.literal:
                _, lit = self.align(vec, lit, literal)
            elif lit.kind != vec.kind:
                raise self.clash(vec, lit, literal)
            wanted.append(lit.values)
        if np.ndim(vec.values) == 0:
            hit: Any = np.bool_(any(vec.values == w for w in wanted))
        else:
            hit = pd.Series(vec.values).isin(wanted).to_numpy(dtype=bool)
        known = ~np.asarray(vec.missing, dtype=bool)
        if node.negated:
            return _Cond(~hit & known, hit & known)
        return _Cond(hit & known, ~hit & known)

    def run(self) -> np.ndarray:
        self.check()
        cond = self.cond(self.node)
        return np.broadcast_to(np.asarray(cond.true, dtype=bool), (self.n,)).copy()


def _series_vec(series: pd.Series, node: Name) -> _Vec:
    """Describe a column as plain numpy data plus a missing mask, whatever its dtype."""
    dtype = series.dtype
    missing = series.isna().to_numpy(dtype=bool)
    if isinstance(dtype, pd.CategoricalDtype):
        categories = pd.Series(dtype.categories)
        if len(categories) == 0:
            return _Vec(np.float64("nan"), np.ones(len(series), bool), "empty", node)
        inner = _series_vec(categories, node)
        codes = series.cat.codes.to_numpy()
        values = np.asarray(inner.values)[np.where(codes < 0, 0, codes)]
        return _Vec(values, codes < 0, inner.kind, node, tz=inner.tz, dtype=str(dtype))
    if pd.api.types.is_bool_dtype(dtype):
        values = (
            series.fillna(False).to_numpy(dtype=bool)
            if missing.any()
            else series.to_numpy(dtype=bool)
        )
        return _Vec(values, missing, "bool", node, dtype=str(dtype))
    if pd.api.types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        return _Vec(values, missing, "number", node, dtype=str(dtype))
    if isinstance(dtype, pd.DatetimeTZDtype):
        naive = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return _Vec(naive.to_numpy(), missing, "datetime", node, tz=dtype.tz, dtype=str(dtype))
    if pd.api.types.is_datetime64_dtype(dtype):
        return _Vec(series.to_numpy(), missing, "datetime", node, dtype=str(dtype))
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        if inferred == "empty":
            return _Vec(np.float64("nan"), missing, "empty", node, dtype=str(dtype))
        if inferred == "boolean":
            values = series.where(~missing, False).to_numpy(dtype=bool)
            return _Vec(values, missing, "bool", node, dtype=str(dtype))
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            return _Vec(values, missing, "number", node, dtype=str(dtype))
        if inferred in ("date", "datetime", "datetime64"):
            converted = pd.to_datetime(series, errors="coerce")
            return _series_vec(converted, node)
        values = series.to_numpy(dtype=object, copy=True)
        values[missing] = ""
        return _Vec(values, missing, "text", node, dtype=str(dtype))
    return _Vec(series.to_numpy(), missing, "other", node, dtype=str(dtype))


def evaluate_mask(node: Node, frame: pd.DataFrame, text: str = "") -> np.ndarray:
    """Which rows of ``frame`` satisfy the filter, as a numpy bool array of ``len(frame)``.

    Rows where the answer depends on a missing value are left out (SQL-like), except for
    ``is null`` / ``is not null``.
    """
    return _MaskEvaluator(node, frame, text).run()
