"""Indices, differences and verdicts: the one place that says how a cohort's figure compares
with a benchmark's (another cohort, or the same cohort in another period).

A metric is compared in one of four ways, by what it measures (``comparison``):

- ``total``: an additive sum or count (net sales, orders, customers).  A cohort always has less
  of a total than the whole base, so totals are compared **per customer**: the index is
  (value / customers) / (base value / base customers) x 100, and the difference is per
  customer, in the metric's unit.
- ``share``: a rate or share (unit ``%``).  Index = value / base x 100, and the difference in
  **percentage points**, (value - base) x 100.
- ``score``: a score that can be negative (unit ``score``: NPS, CSAT, CES).  Compared by the
  **point difference** only; a ratio of a negative number means nothing, so there is no index.
- ``level``: anything else (means, medians, ratios such as AOV).  Index = value / base x 100
  and the plain difference.

No index is given where the benchmark is zero or either figure is negative.  The verdict is
the direction (up, down, same) times the metric's polarity (``better``): ``good``, ``bad`` or
``neutral`` (a neutral metric, an equal figure, or nothing to compare).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .catalog import POLARITIES, Catalog, CatalogError, Metric

TOTAL_AGGREGATIONS = ("sum", "count", "count_distinct")
COMPARISONS = ("total", "share", "score", "level")
# What the difference is counted in, by comparison (for column headers and CLI notes).
DIFFERENCE_UNITS = {"share": "pp", "score": "points", "total": "per customer", "level": ""}


def comparison(metric: Metric, catalog: Catalog | None = None) -> str:
    """How the metric is compared: total, share, score or level (module docstring).  With the
    catalog, a derived sum or difference of totals (discount value) is a total too."""
    if metric.unit == "%":
        return "share"
    if metric.unit == "score":
        return "score"
    if metric.aggregation in TOTAL_AGGREGATIONS:
        return "total"
    if (
        catalog is not None
        and metric.aggregation == "derived"
        and metric.expression
        and not any(op in metric.expression for op in "*/")
        and metric.parts
        and all(
            p in catalog.metrics and comparison(catalog.metrics[p], catalog) == "total"
            for p in metric.parts
        )
    ):
        return "total"
    return "level"


def polarity(metric: Metric) -> str:
    """higher, lower or neutral; a metric without one cannot be given a verdict."""
    if metric.better not in POLARITIES:
        raise CatalogError(
            f"{metric.where()}: {metric.name}: no polarity; add 'better: higher | lower | neutral'."
        )
    return metric.better


def _arrays(*values: Any) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def per_customer(value: Any, customers: Any) -> np.ndarray:
    value_, customers_ = _arrays(value, customers)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(customers_ > 0, value_ / customers_, np.nan)


def ratio_index(value: Any, base: Any) -> np.ndarray:
    """value / base x 100, only where both are known, neither is negative and base is not 0."""
    value_, base_ = _arrays(value, base)
    ok = (base_ > 0) & (value_ >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, value_ / base_ * 100, np.nan)


def index(
    metric: Metric,
    value: Any,
    base: Any,
    customers: Any = None,
    base_customers: Any = None,
    catalog: Catalog | None = None,
) -> np.ndarray:
    """The index of ``value`` against ``base`` (100 = the same); NaN for scores."""
    kind, value, base = _compared(metric, value, base, customers, base_customers, catalog)
    if kind == "score":
        return np.full(np.shape(value), np.nan)
    return ratio_index(value, base)


def _compared(
    metric: Metric,
    value: Any,
    base: Any,
    customers: Any,
    base_customers: Any,
    catalog: Catalog | None,
) -> tuple[str, np.ndarray, np.ndarray]:
    """The comparison kind and the two figures as compared: totals per customer."""
    kind = comparison(metric, catalog)
    if kind == "total":
        if customers is None or base_customers is None:
            raise ValueError(f"{metric.name} is a total: give customers and base_customers")
        value, base = per_customer(value, customers), per_customer(base, base_customers)
    value_, base_ = _arrays(value, base)
    return kind, value_, base_


def difference(
    metric: Metric,
    value: Any,
    base: Any,
    customers: Any = None,
    base_customers: Any = None,
    catalog: Catalog | None = None,
) -> np.ndarray:
    """value - base in the comparison's unit: percentage points for shares, points for scores,
    per customer for totals, the metric's unit otherwise."""
    kind, value_, base_ = _compared(metric, value, base, customers, base_customers, catalog)
    out = value_ - base_
    return out * 100 if kind == "share" else out


def change(metric: Metric, now: Any, before: Any) -> np.ndarray:
    """A change over time of one cohort: percentage points for shares, points for scores, and
    the relative change (now - before) / before, a fraction, otherwise (NaN when before <= 0)."""
    kind = comparison(metric)
    now_, before_ = _arrays(now, before)
    if kind == "share":
        return (now_ - before_) * 100
    if kind == "score":
        return now_ - before_
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((before_ > 0) & (now_ >= 0), (now_ - before_) / before_, np.nan)


def change_unit(metric: Metric) -> str:
    """What ``change`` is counted in: pp, points or % (a fraction shown as a percentage)."""
    return {"share": "pp", "score": "points"}.get(comparison(metric), "%")


def verdict(metric: Metric, delta: Any) -> np.ndarray:
    """good / bad / neutral from the sign of a difference (or change) and the polarity."""
    delta_ = np.asarray(delta, dtype=float)
    sign = np.sign(np.where(np.isnan(delta_), 0.0, delta_))
    better = polarity(metric)
    if better == "neutral":
        return np.full(delta_.shape, "neutral", dtype=object)
    good = sign > 0 if better == "higher" else sign < 0
    bad = sign < 0 if better == "higher" else sign > 0
    return np.where(good, "good", np.where(bad, "bad", "neutral")).astype(object)


def compare(
    metric: Metric,
    value: Any,
    base: Any,
    customers: Any = None,
    base_customers: Any = None,
    catalog: Catalog | None = None,
) -> dict[str, np.ndarray]:
    """index, difference and verdict of a cohort against a benchmark, in one call."""
    diff = difference(metric, value, base, customers, base_customers, catalog)
    return {
        "index": index(metric, value, base, customers, base_customers, catalog),
        "difference": diff,
        "verdict": verdict(metric, diff),
    }


def arrow(delta: float | None) -> str:
    """▲ or ▼ by direction (the colour, from the verdict, says good or bad); = when equal,
    '' when there is nothing to compare."""
    if delta is None or np.isnan(delta):
        return ""
    return "▲" if delta > 0 else "▼" if delta < 0 else "="
