"""Retention triangles: acquisition cohorts x periods since acquisition, from the activity table.

A customer's acquisition period (period 0) is the month or quarter of their first active month
in the activity table: the first month with a completed order line (``active_customers.rows``
> 0).  Customers never active belong to no acquisition cohort.  Each row of the triangle is one
acquisition cohort and column ``k`` is the k-th period after it:

- ``active`` / ``in``: share of the cohort active in period k (period 0 is 1.0 by definition);
- ``active`` / ``in_or_after``: share active in period k or any later period up to the as-of
  day, so a customer counts in periods 0..(their last active period);
- ``revenue``: the cohort's net sales in period k / its net sales in period 0 (both summed in
  whole pence from the activity table, so exactly the catalog's ``net_sales``);
- ``cumulative_spend``: the cohort's net sales in periods 0..k per customer of the cohort, GBP.

Periods that have not ended by the as-of day are NaN: a half-observed period would read as a
drop in retention.  The one exception is a cohort acquired in the as-of period itself: its period
0 is shown although incomplete (1.0 for active and revenue; spend so far for cumulative_spend),
so every cohort has a row; its later periods are NaN.  The ``Weighted mean`` row pools the
cohorts whose period k is complete (for k = 0 that leaves out a cohort acquired in an unfinished
as-of period): sum of the numerators / sum of the denominators, so large cohorts weigh more.

Everything is a few ``np.bincount`` calls over (segment, cohort, offset) cells, so a million
customers take a fraction of a second.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .activity import month_number
from .catalog import did_you_mean
from .errors import ProfilerError
from .facts import PENCE
from .periods import parse_period

if TYPE_CHECKING:
    from .query import QueryEngine

GRAINS = {"month": 1, "quarter": 3}  # months per period
MEASURES = ("active", "revenue", "cumulative_spend")
MODES = ("in", "in_or_after")
ACTIVE_PART = "active_customers.rows"
REVENUE_PART = "net_sales.pence"  # whole pence (activity.sum_part)
MISSING = "(missing)"
WEIGHTED_MEAN = "Weighted mean"
MAX_SEGMENTS = 200  # a ``by`` column with more values is an ID, not a segmentation
_NEVER = np.iinfo(np.int32).max


def retention_triangle(
    engine: QueryEngine,
    *,
    grain: str = "month",
    measure: str = "active",
    mode: str = "in",
    start: str | None = None,
    end: str | None = None,
    by: str | None = None,
    cohort: str | None = None,
    max_cohorts: int | None = None,
) -> pd.DataFrame:
    """One row per acquisition cohort (and per ``by`` value), one column per period since.

    Columns: ``[segment], acquisition, customers, 0, 1, ..., K`` (see the module docstring for
    the values), then a ``Weighted mean`` row per segment.  ``start``/``end`` (``YYYY-MM`` or
    ``YYYY-Qn``, inclusive) and ``max_cohorts`` (the latest N) choose the cohorts shown;
    ``cohort`` keeps that cohort's customers only.
    """
    _check_choice("grain", grain, tuple(GRAINS))
    _check_choice("measure", measure, MEASURES)
    _check_choice("mode", mode, MODES)
    if by is not None and by in getattr(engine, "known_columns", []):
        engine.ensure_columns([by])
    if by is not None and by not in engine.car.columns:
        raise ProfilerError(
            f"Retention by '{by}': the CAR has no such column."
            f"{did_you_mean(by, [str(c) for c in engine.car.columns])}"
        )
    if max_cohorts is not None and int(max_cohorts) < 1:
        raise ProfilerError(f"max_cohorts must be at least 1, not {max_cohorts}.")
    first_shown = _cohort_bound("start", start, grain)
    last_shown = _cohort_bound("end", end, grain)
    if first_shown is not None and last_shown is not None and first_shown > last_shown:
        raise ProfilerError(f"Retention start {start} is after end {end}.")

    months_per = GRAINS[grain]
    as_of = engine.as_of
    as_of_period = int(month_number(as_of)) // months_per
    period_ends = as_of.is_month_end if grain == "month" else as_of.is_quarter_end
    last_complete = as_of_period if period_ends else as_of_period - 1

    rows = _Rows(engine, months_per, with_revenue=measure != "active")
    first, last = rows.first_and_last_active(engine.n)

    # Customers in scope: ever active, in the cohort asked for, acquired in the range shown.
    scope = first != _NEVER
    if cohort:
        scope &= engine.cohorts.mask(cohort)
    lo, hi = _acquisition_range(first[scope], first_shown, last_shown, max_cohorts)
    scope &= (first >= lo) & (first <= hi)
    n_cohorts = max(hi - lo + 1, 0)
    width = max(last_complete - lo, 0) + 1 if n_cohorts else 1  # offsets 0..K
    segments, segment = _segments(engine.car, by, scope)
    n_cells = len(segments) * n_cohorts
    code = np.where(scope, segment.astype(np.int64) * n_cohorts + (first - lo), -1)
    sizes = np.bincount(code[scope], minlength=n_cells).astype(np.float64)

    if measure == "active":
        if mode == "in":
            counts = rows.active_counts(code, first, width, n_cells)
        else:
            counts = _counts_in_or_after(code, first, last, width, n_cells)
        numerator, denominator = counts, np.repeat(sizes[:, None], width, axis=1)
    else:
        revenue = rows.revenue(code, first, width, n_cells)
        if measure == "revenue":
            numerator, denominator = revenue, np.repeat(revenue[:, :1], width, axis=1)
        else:  # pence summed exactly, shown in pounds
            numerator = np.cumsum(revenue, axis=1) / PENCE
            denominator = np.repeat(sizes[:, None], width, axis=1)

    shape = (len(segments), n_cohorts, width)
    offset = np.arange(width)
    cohort_period = lo + np.arange(n_cohorts)
    complete = cohort_period[:, None] + offset[None, :] <= last_complete
    shown = complete | (offset[None, :] == 0)
    numerator, denominator = numerator.reshape(shape), denominator.reshape(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(shown & (denominator > 0), numerator / denominator, np.nan)
        pooled_num = np.where(complete, numerator, 0.0).sum(axis=1)
        pooled_den = np.where(complete, denominator, 0.0).sum(axis=1)
        pooled = np.where(pooled_den > 0, pooled_num / pooled_den, np.nan)

    sizes = sizes.reshape(len(segments), n_cohorts).astype(np.int64)
    labels = [_label(p, grain) for p in cohort_period]
    frame = pd.DataFrame(
        np.concatenate([values, pooled[:, None, :]], axis=1).reshape(-1, width),
        columns=list(range(width)),
    )
    frame.insert(
        0, "customers", np.concatenate([sizes, sizes.sum(axis=1)[:, None]], axis=1).ravel()
    )
    frame.insert(0, "acquisition", (labels + [WEIGHTED_MEAN]) * len(segments))
    if by is not None:
        frame.insert(0, "segment", np.repeat(np.array(segments, dtype=object), n_cohorts + 1))
    frame.attrs.update(
        grain=grain,
        measure=measure,
        mode=mode,
        as_of=f"{as_of:%Y-%m-%d}",
        by=by,
        cohort=cohort,
        last_complete=_label(last_complete, grain),
    )
    return frame


class _Rows:
    """The activity rows up to the as-of month, with each row's period (month or quarter)."""

    def __init__(self, engine: QueryEngine, months_per: int, *, with_revenue: bool) -> None:
        activity = engine.activity
        if activity is None:
            raise ProfilerError(
                "This CAR folder has no activity table (retention needs it): rebuild it with "
                "'profiler build'."
            )
        needed = [ACTIVE_PART] + ([REVENUE_PART] if with_revenue else [])
        for part in needed:
            if part not in activity.parts:
                raise ProfilerError(
                    f"Retention needs '{part.split('.')[0]}', which this CAR folder's activity "
                    "table lacks (the catalog changed since it was built): rebuild it."
                )
        # Sorted by month: later months (none, if built as of the same day) are cut off.
        stop = int(np.searchsorted(activity.month, month_number(engine.as_of), side="right"))
        self.customer = activity.customer[:stop]
        self.month = activity.month[:stop]
        self.period = self.month // months_per if months_per > 1 else self.month
        self.months_per = months_per
        self.active = activity.parts[ACTIVE_PART][:stop] > 0
        self.net_sales = activity.parts[REVENUE_PART][:stop] if with_revenue else None

    def first_and_last_active(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Each customer's first and last active period (``_NEVER`` and -1 if never active)."""
        first = np.full(n, _NEVER, dtype=np.int32)
        last = np.full(n, -1, dtype=np.int32)
        # Inactive rows carry values that cannot win, which is cheaper than dropping them.
        np.minimum.at(first, self.customer, np.where(self.active, self.period, _NEVER))
        np.maximum.at(last, self.customer, np.where(self.active, self.period, -1))
        return first, last

    def _offsets(
        self, keep: np.ndarray, code: np.ndarray, first: np.ndarray, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each row's cohort code and offset since acquisition, and whether it is in the grid."""
        row_code = code[self.customer]
        offset = self.period - first[self.customer]  # negative for the never active
        inside = keep & (row_code >= 0) & (offset >= 0) & (offset < width)
        return row_code, offset, inside

    def active_counts(
        self, code: np.ndarray, first: np.ndarray, width: int, n_cells: int
    ) -> np.ndarray:
        """Customers active in each cell, each counted once per period."""
        row_code, offset, inside = self._offsets(self.active, code, first, width)
        if self.months_per == 1:  # one row per customer and month: no duplicates
            spill = n_cells * width  # rows outside the grid land here and are dropped
            cells = np.where(inside, row_code * width + offset, spill)
            return np.bincount(cells, minlength=spill + 1)[:-1].reshape(n_cells, width) * 1.0
        # A customer active in two months of a quarter has two rows: a flag per (customer,
        # offset) counts them once, cheaper than sorting millions of rows.
        seen = np.zeros(len(code) * width, dtype=bool)
        seen[self.customer[inside].astype(np.int64) * width + offset[inside]] = True
        customer, offset = np.divmod(np.flatnonzero(seen), width)
        cells = code[customer] * width + offset
        return np.bincount(cells, minlength=n_cells * width).reshape(n_cells, width) * 1.0

    def revenue(self, code: np.ndarray, first: np.ndarray, width: int, n_cells: int) -> np.ndarray:
        """Net sales of each cell, in whole pence (exact: integer-valued doubles below 2**53)."""
        assert self.net_sales is not None
        every_row = np.ones(len(self.customer), dtype=bool)
        row_code, offset, inside = self._offsets(every_row, code, first, width)
        spill = n_cells * width
        cells = np.where(inside, row_code * width + offset, spill)
        total = np.bincount(cells, weights=self.net_sales, minlength=spill + 1)[:-1]
        return total.reshape(n_cells, width)


def _counts_in_or_after(
    code: np.ndarray, first: np.ndarray, last: np.ndarray, width: int, n_cells: int
) -> np.ndarray:
    """Customers active in period k or later: each counts in offsets 0..(last active offset)."""
    scope = code >= 0
    # A last activity in the unfinished as-of period lies beyond K: it still counts up to K.
    last_offset = np.minimum(last[scope] - first[scope], width - 1)
    ends = np.bincount(code[scope] * width + last_offset, minlength=n_cells * width)
    ends = ends.reshape(n_cells, width)
    return np.cumsum(ends[:, ::-1], axis=1)[:, ::-1].astype(float)


def _acquisition_range(
    acquired: np.ndarray, first_shown: int | None, last_shown: int | None, max_cohorts: int | None
) -> tuple[int, int]:
    """First and last cohort shown: the range asked for, trimmed to the cohorts with customers."""
    if not len(acquired):
        return 0, -1
    lo, hi = int(acquired.min()), int(acquired.max())
    if first_shown is not None:
        lo = max(lo, first_shown)
    if last_shown is not None:
        hi = min(hi, last_shown)
    if max_cohorts is not None:
        lo = max(lo, hi - int(max_cohorts) + 1)
    return lo, hi


def _segments(car: pd.DataFrame, by: str | None, scope: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """The ``by`` values with customers in scope (missing last) and each customer's index.

    Values are ordered as cohort groups order them: an ordered category's order, else sorted.
    """
    if by is None:
        return ["All"], np.zeros(len(car), dtype=np.int64)
    column = car[by]
    codes, uniques = pd.factorize(column)  # one hash pass; -1 for missing
    counts = np.bincount(codes[scope & (codes >= 0)], minlength=len(uniques))
    present = np.flatnonzero(counts)
    if isinstance(column.dtype, pd.CategoricalDtype) and column.cat.ordered:
        rank = {v: i for i, v in enumerate(column.cat.categories)}
        present = sorted(present, key=lambda code: rank[uniques[code]])
    else:
        present = sorted(present, key=lambda code: str(uniques[code]))
    if len(present) > MAX_SEGMENTS:
        raise ProfilerError(
            f"Retention by '{by}': {len(present):,} values is too many to break down "
            f"(at most {MAX_SEGMENTS}); pick a grouping column."
        )
    levels = [uniques[code] for code in present]
    segment_of_code = np.full(len(uniques) + 1, -1, dtype=np.int64)  # last: missing
    segment_of_code[np.asarray(present, dtype=np.int64)] = np.arange(len(present))
    if (scope & (codes < 0)).any():
        levels.append(MISSING)
        segment_of_code[-1] = len(levels) - 1
    return levels, segment_of_code[codes]


def _cohort_bound(name: str, text: str | None, grain: str) -> int | None:
    """A start/end cohort as a period number (months or quarters since 1970)."""
    if text is None or str(text).strip() == "":
        return None
    form = "YYYY-MM" if grain == "month" else "YYYY-Qn"
    try:
        span = parse_period(str(text))
    except ProfilerError:
        span = None
    if span is None or span.kind != grain:
        raise ProfilerError(
            f"Retention {name} '{text}' is not a {grain}; with grain={grain} write it as {form}."
        )
    return int(month_number(span.start)) // GRAINS[grain]


def _label(period: int, grain: str) -> str:
    if grain == "month":
        return f"{1970 + period // 12}-{period % 12 + 1:02d}"
    return f"{1970 + period // 4}-Q{period % 4 + 1}"


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ProfilerError(
            f"Retention {name} '{value}' is not one of {', '.join(allowed)}."
            f"{did_you_mean(str(value), allowed)}"
        )
