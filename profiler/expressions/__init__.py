"""A small, safe expression language for cohort filters and derived metrics.

Users type filters such as ``region == "Europe" and rfm_score >= 4`` and derived metrics such as
``(net_sales - returns_value) / customers``; Python's ``eval`` would run arbitrary code.  The
language is three modules, one job each:

- ``syntax``: the grammar, tokenizer and parser, the tree, the names a tree uses and its
  canonical text.  A text is parsed once, where it is declared (``catalog.Metric``,
  ``cohorts.Cohorts``, ``mapping``); consumers evaluate the tree.
- ``numbers``: a tree as arithmetic over named numbers (derived metrics, mapped columns).
- ``masks``: a tree as a row mask over a DataFrame (metric and cohort filters).

Everything public is named here, so ``expressions.parse`` and ``expressions.evaluate_mask`` are
what callers use.
"""

from __future__ import annotations

from .masks import evaluate_mask
from .numbers import divide, evaluate_number
from .syntax import (
    ARITHMETIC,
    COMPARISONS,
    KEYWORDS,
    LOGICAL,
    MAX_DEPTH,
    MAX_NESTING,
    Binary,
    Bool,
    Date,
    ExpressionError,
    InList,
    IsNull,
    Literal,
    Name,
    Node,
    Number,
    String,
    Unary,
    check_names,
    names,
    parse,
    to_text,
)

__all__ = [
    "ARITHMETIC",
    "COMPARISONS",
    "KEYWORDS",
    "LOGICAL",
    "MAX_DEPTH",
    "MAX_NESTING",
    "ExpressionError",
    "Node",
    "Literal",
    "Number",
    "String",
    "Bool",
    "Date",
    "Name",
    "Unary",
    "Binary",
    "InList",
    "IsNull",
    "parse",
    "names",
    "check_names",
    "evaluate_mask",
    "evaluate_number",
    "divide",
    "to_text",
]
