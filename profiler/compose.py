"""Ratio, rate and derived metrics from their parts: the one place the catalog is composed.

Every engine (the query engine over the activity table, the reference engine over the sources,
the SQL engines) computes only the catalog's *leaves*: sums, counts, means, medians and
percentiles of rows or CAR columns, per cohort.  What a ratio or rate divides, what a derived
metric's expression does with its parts, how a division by zero reads (NaN: no value), and how
many customers a composed value stands on (the small-cell flag) are decided here, once.  So two
engines that agree on the leaves agree on every metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import expressions
from .catalog import Catalog, Metric
from .errors import ProfilerError

COMPOSED = ("ratio", "rate", "derived")


@dataclass
class Part:
    """A metric's value (a number, an array per cohort, or a Series per group) and the number
    of customers it was computed on (None where an engine does not count them)."""

    value: Any
    customers: Any = None


def is_leaf(m: Metric) -> bool:
    return m.aggregation not in COMPOSED


def leaves(catalog: Catalog, names: list[str]) -> list[str]:
    """The leaves the metrics are computed from (themselves, for leaves), each once, in the
    order first met; a metric computed from itself is refused."""
    out: dict[str, None] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ProfilerError(f"Metric '{name}' is computed from itself ({' > '.join(path)}).")
        m = catalog.get(name)
        if is_leaf(m):
            out[name] = None
        for part in m.parts:
            visit(part, (*path, name))

    for name in names:
        visit(name, ())
    return list(out)


def divide(num: Any, den: Any) -> Any:
    """num / den, NaN where den is 0 (the expression language's division); Series are first
    aligned on their index (a group missing on one side counts 0 there)."""
    if isinstance(num, pd.Series) or isinstance(den, pd.Series):
        num, den = (x if isinstance(x, pd.Series) else pd.Series(x) for x in (num, den))
        num, den = num.align(den, fill_value=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return expressions.divide(num, den)


def compose(
    catalog: Catalog,
    name: str,
    leaf: Callable[[Metric], Part],
    memo: dict[str, Part] | None = None,
    *,
    size: int | None = None,
) -> Part:
    """The metric from its leaves (``leaf`` computes one; memoised in ``memo`` so a ratio and
    its parts share the work).  A ratio or rate stands on its denominator's customers, a derived
    metric on the fewest of its parts'.  ``size``: the number of cohorts, to which a derived
    metric of constants only is broadcast."""
    memo = {} if memo is None else memo
    if name in memo:
        return memo[name]
    m = catalog.get(name)
    if m.aggregation in ("ratio", "rate"):
        num = compose(catalog, m.numerator or "", leaf, memo, size=size)
        den = compose(catalog, (m.denominator or m.base) or "", leaf, memo, size=size)
        part = Part(divide(num.value, den.value), den.customers)
    elif m.aggregation == "derived":
        used: list[Part] = []

        def lookup(part_name: str) -> Any:
            found = compose(catalog, part_name, leaf, memo, size=size)
            used.append(found)
            return found.value

        text = m.expression or ""
        value = expressions.evaluate_number(m.tree("expression"), lookup, text)
        if size is not None and not isinstance(value, pd.Series):
            value = np.broadcast_to(np.asarray(value, dtype=np.float64), (size,))
        counts = [p.customers for p in used if p.customers is not None]
        part = Part(value, np.min(counts, axis=0) if counts else None)
    else:
        part = leaf(m)
    memo[name] = part
    return part
