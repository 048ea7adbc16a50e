"""Computing catalog metrics for any cohort and period, from the declarations only.

Row metrics (sum, count, count_distinct, mean, median, percentile) aggregate the rows of their
source that fall in the period (by the metric's date column) and belong to the cohort's
customers, after the metric's filter.  Sources are the order facts as of the engine's as-of day
(profiler/facts.py, plus a few columns added here), surveys and interactions known by then, and
the CAR itself for customer state as of its date.  Money is summed in whole pence.
Ratios, rates and derived metrics are always recomputed from their parts, never summed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import expressions
from .car_context import order_times
from .catalog import SOURCES, Catalog, Metric
from .compose import Part, compose
from .errors import LeftOut, ProfilerError
from .facts import PENCE, order_facts, pence_column, pounds
from .loading import SourceData
from .periods import Period, asof_period, parse_period

Cohort = np.ndarray | None  # boolean mask over the CAR's rows; None is everyone


class MetricEngine:
    """Metrics of one catalog over one set of sources and (optionally) one CAR."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        source: SourceData | None = None,
        car: pd.DataFrame | None = None,
        as_of: str | pd.Timestamp | None = None,
        lapsed_days: int = 545,
    ) -> None:
        self.catalog = catalog
        self.source = source
        self.car = car.set_index("customer_id") if car is not None and "customer_id" in car else car
        self.as_of = pd.Timestamp(as_of).normalize() if as_of is not None else None
        self.lapsed_days = lapsed_days
        self._frames: dict[str, pd.DataFrame] = {}
        self._codes: dict[str, np.ndarray] = {}

    # -- sources -------------------------------------------------------------------------------

    def frame(self, source: str) -> pd.DataFrame:
        if source not in self._frames:
            self._frames[source] = self._build_frame(source)
        return self._frames[source]

    def _build_frame(self, source: str) -> pd.DataFrame:
        if source == "customers":
            if self.car is None:
                raise ProfilerError("This metric reads the CAR: give one with --car DIR.")
            return self.car
        if self.source is None:
            raise ProfilerError(
                f"This metric reads {source}: give the source data with --data DIR."
            )
        if source == "order_lines":
            facts = order_facts(self.source, self.as_of)
            return _facts_with_purchase_markers(facts, self.lapsed_days, self.as_of)
        if not self.source.has(source):
            raise ProfilerError(f"This metric reads {source}, which the data folder does not have.")
        frame = self.source.tables[source]
        date = SOURCES.get(source)
        if self.as_of is not None and date is not None:  # rows known at the end of D
            frame = frame[(frame[date] < self.as_of + pd.Timedelta(days=1)).to_numpy()]
        return frame

    def _customer_codes(self, source: str) -> np.ndarray:
        """Row of the CAR of each row's customer (-1 if not in the CAR), for cohort filters."""
        if source not in self._codes:
            ids = self.frame(source)["customer_id"]
            index = self.car.index if self.car is not None else pd.Index([])
            if ids.dtype != index.dtype:
                ids, index = ids.astype(str), index.astype(str)
            self._codes[source] = pd.Index(index).get_indexer(ids)
        return self._codes[source]

    def period(self, period: str | Period | None) -> Period:
        if isinstance(period, Period):
            return period
        if period is None or period == "asof":
            if self.as_of is None:
                raise ProfilerError("No as-of date: give a period, or a CAR.")
            return asof_period(self.as_of)
        return parse_period(period)

    # -- values --------------------------------------------------------------------------------

    def value(
        self,
        name: str,
        period: str | Period | None = None,
        cohort: Cohort = None,
        by: str | list[str] | None = None,
    ) -> Any:
        """The metric for a cohort and period: a number, or a Series indexed by ``by``."""
        metric = self.catalog.get(name)
        span = self.period(period)
        if span.kind not in metric.periods:
            raise ProfilerError(
                f"Metric '{name}' is not defined for {span.kind} periods; it supports {', '.join(metric.periods)}."
            )
        if span.kind != "asof" and self.catalog.reads_state(name):
            raise ProfilerError(
                f"Metric '{name}' is a customer state: this engine knows it as of the CAR's date "
                "only (period asof); the query engine takes it at any period's end."
            )
        return self._value(metric, span, cohort, [by] if isinstance(by, str) else by)

    def _value(self, m: Metric, span: Period, cohort: Cohort, by: list[str] | None) -> Any:
        """The metric: its leaves here, composed by ``profiler/compose.py``."""
        return compose(
            self.catalog, m.name, lambda leaf: Part(self._leaf(leaf, span, cohort, by))
        ).value

    def _leaf(self, m: Metric, span: Period, cohort: Cohort, by: list[str] | None) -> Any:
        if m.reads_products and self.source is not None and not self.source.has_products():
            raise LeftOut(
                f"Metric '{m.name}' reads product attributes: it needs the products table and "
                "the order lines' product_id, which the data folder does not have."
            )
        rows = self._rows(m, span, cohort)
        if by:
            groups = rows.groupby(by, observed=True, sort=True)
            return _aggregate_groups(m, rows, groups)
        return _aggregate(m, rows)

    def _rows(self, m: Metric, span: Period, cohort: Cohort) -> pd.DataFrame:
        source = m.source or ""
        frame = self.frame(source)
        keep = np.ones(len(frame), dtype=bool)
        date = m.date_column
        if date is not None and span.kind != "asof":
            times = frame[date]
            keep &= ((times >= span.start) & (times < span.end)).to_numpy(
                dtype=bool, na_value=False
            )
        elif date is not None:
            keep &= (frame[date] < span.end).to_numpy(dtype=bool, na_value=False)
        if date is not None and self.as_of is not None:
            # Known at the end of D: a lapse the data dates after D has not happened yet.
            keep &= (frame[date] < self.as_of + pd.Timedelta(days=1)).to_numpy(
                dtype=bool, na_value=False
            )
        if cohort is not None:
            if source == "customers":
                keep &= np.asarray(cohort, dtype=bool)
            else:
                codes = self._customer_codes(source)
                keep &= (codes >= 0) & np.asarray(cohort, dtype=bool)[np.maximum(codes, 0)]
        if m.filter:
            keep &= expressions.evaluate_mask(m.tree("filter"), frame, m.filter)
        return frame[keep] if not keep.all() else frame

    def table(
        self,
        names: list[str],
        period: str | Period | None = None,
        cohorts: dict[str, Cohort] | None = None,
    ) -> pd.DataFrame:
        """Cohorts x metrics for a period, stamped with the catalog version (``attrs``)."""
        span = self.period(period)
        cohorts = cohorts or {"all customers": None}
        rows = []
        for label, mask in cohorts.items():
            row: dict[str, Any] = {"cohort": label, "period": span.label}
            for name in names:
                row[name] = self.value(name, span, mask)
            rows.append(row)
        out = pd.DataFrame(rows)
        out.attrs["catalog"] = self.catalog.stamp
        return out


def _facts_with_purchase_markers(
    facts: pd.DataFrame, lapsed_days: int, as_of: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Order facts plus kept (completed as of the facts' day), first_purchase (the line is kept
    and belongs to the customer's first order with a kept line), days_since_previous_purchase
    (days from the customer's previous kept order; empty on the first), lapses_at (the day the
    customer turns lapsed after this order, when the next kept order does not come before it),
    days_to_next_purchase (whole calendar days from this kept order's day to the day of the
    customer's next kept order; empty when there is none by D) and days_to_as_of (whole days
    from this kept order's day to D: how long after it the data can see; without ``as_of``, D is
    the day of the last kept order in the facts).  The last two make "a second purchase within
    N days" a row filter that knows when N days have not passed yet.

    Orders are the CAR's (``car_context.build_context``): the lines of one order_id and one
    customer; an order is kept when any of its lines is, and its time is its earliest line's
    among all its lines in the facts, kept or not (``car_context.order_times``), whatever order
    the file lists them in.  Kept orders are ranked by customer, time and order_id on integer
    codes (order ids coded in their sorted order, so ties break as the ids sort), which keeps
    20M lines to a few seconds.
    """
    facts = facts.copy(deep=False)  # new columns only; order_facts() gave a fresh frame
    kept = (facts["status"] == "completed").to_numpy(dtype=bool, na_value=False)
    facts["kept"] = kept
    order_code, order_ids = pd.factorize(facts["order_id"], sort=True)
    customer_code, _ = pd.factorize(facts["customer_id"])
    stamps = facts["ordered_at"].to_numpy()
    key, key_order, key_customer = _order_keys(order_code, customer_code, len(order_ids))
    earliest = _earliest(key, len(key_order), stamps.view(np.int64)).view(stamps.dtype)
    kept_key = np.zeros(len(key_order), dtype=bool)
    kept_key[key[kept]] = True
    keys = np.flatnonzero(kept_key)  # one entry per kept order
    order = np.lexsort((key_order[keys], earliest[keys].view(np.int64), key_customer[keys]))
    keys = keys[order]
    customer = key_customer[keys]
    same = customer[1:] == customer[:-1]
    times = earliest[keys]
    gap = np.full(len(keys), np.nan)
    gap[1:] = np.where(same, (times[1:] - times[:-1]) / np.timedelta64(1, "D"), np.nan)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = ~same
    # The day the customer turns lapsed after this order: lapsed_days after its day, unless the
    # customer's next kept order comes before then.
    days = times.astype("datetime64[D]").astype(times.dtype)
    lapse_day = days + np.timedelta64(lapsed_days, "D")
    next_day = np.full(len(keys), np.datetime64("NaT"), dtype=days.dtype)
    next_day[:-1] = np.where(same, days[1:], np.datetime64("NaT"))
    lapses = np.isnat(next_day) | (next_day >= lapse_day)
    to_next = (next_day - days) / np.timedelta64(1, "D")  # NaN without a next kept order
    if as_of is not None:
        last = np.datetime64(pd.Timestamp(as_of).normalize().to_datetime64(), "D")
    else:
        last = days.max().astype("datetime64[D]") if len(days) else np.datetime64("NaT", "D")
    to_as_of = (last.astype(days.dtype) - days) / np.timedelta64(1, "D")
    # Per order, then per line (lines that are not kept get nothing).
    by_first = np.zeros(len(key_order), dtype=bool)
    by_gap = np.full(len(key_order), np.nan)
    by_lapse = np.full(len(key_order), np.datetime64("NaT"), dtype=days.dtype)
    by_next, by_as_of = np.full(len(key_order), np.nan), np.full(len(key_order), np.nan)
    by_first[keys], by_gap[keys] = first, gap
    by_next[keys], by_as_of[keys] = to_next, to_as_of
    by_lapse[keys] = np.where(lapses, lapse_day, np.datetime64("NaT"))
    facts["first_purchase"] = np.where(kept, by_first[key], False)
    facts["days_since_previous_purchase"] = np.where(kept, by_gap[key], np.nan)
    facts["lapses_at"] = pd.Series(
        np.where(kept, by_lapse[key], np.datetime64("NaT")), index=facts.index
    ).astype(facts["ordered_at"].dtype)
    facts["days_to_next_purchase"] = np.where(kept, by_next[key], np.nan)
    facts["days_to_as_of"] = np.where(kept, by_as_of[key], np.nan)
    facts["order_code"] = order_code.astype(np.int32)  # orders as dense codes (activity.order_days)
    return facts


def _order_keys(
    order_code: np.ndarray, customer_code: np.ndarray, n_orders: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each line's order as the CAR groups them, by order_id and customer (an order_id that two
    customers' lines carry is two orders, as ``keysort.order_runs`` makes it): each line's order
    key, and each key's order code and customer code.  The key is the order code itself when
    every order has one customer, as the contract's orders do."""
    customer_of = np.zeros(n_orders, dtype=customer_code.dtype)
    customer_of[order_code] = customer_code
    if bool((customer_of[order_code] == customer_code).all()):
        return order_code, np.arange(n_orders), customer_of
    pairs = customer_code.astype(np.int64) * max(n_orders, 1) + order_code
    key, uniques = pd.factorize(pairs)
    return key, uniques % max(n_orders, 1), uniques // max(n_orders, 1)


def _earliest(key: np.ndarray, n_keys: int, times: np.ndarray) -> np.ndarray:
    """The least of ``times`` (int64) per key: the CAR's ``order_times`` when each key's lines
    are one run (the loaded lines are grouped by customer, then order), else ``minimum.at``."""
    earliest = np.full(n_keys, np.iinfo(np.int64).max, dtype=np.int64)
    if not len(key):
        return earliest
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    if len(starts) == n_keys:
        earliest[key[starts]] = order_times(times, starts)
    else:
        np.minimum.at(earliest, key, times)
    return earliest


def _aggregate(m: Metric, rows: pd.DataFrame) -> float:
    agg = m.aggregation
    if agg == "count":
        return float(len(rows))
    values = rows[m.column]
    if agg == "count_distinct":
        return float(values.nunique(dropna=True))
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == bool:
        values = values.astype(float)
    if agg == "sum":
        pence = pence_column(m.source, m.column)
        if pence:  # money: whole pence summed exactly, then shown in pounds
            return float(pounds(rows[pence].to_numpy().sum()))
        # No rows is zero (no sales); rows whose values are all missing stay missing.
        return float(values.sum(min_count=1)) if len(values) else 0.0
    values = values.dropna()
    if len(values) == 0:
        return float("nan")
    if agg == "mean":
        return float(values.mean())
    if agg == "median":
        return float(values.median())
    if agg == "percentile":
        return float(np.percentile(values.to_numpy(dtype=float), float(m.percentile or 50)))
    raise ProfilerError(f"Metric '{m.name}': aggregation '{agg}' cannot be computed from rows.")


def _aggregate_groups(m: Metric, rows: pd.DataFrame, groups: Any) -> pd.Series:
    agg = m.aggregation
    if agg == "count":
        return groups.size().astype(float)
    column = groups[m.column]
    if agg == "count_distinct":
        return column.nunique().astype(float)
    if agg == "percentile":
        q = float(m.percentile or 50) / 100
        return column.quantile(q).astype(float)
    pence = pence_column(m.source, m.column)
    if agg == "sum" and pence:  # money: whole pence summed exactly, then shown in pounds
        return groups[pence].sum().astype(np.float64) / PENCE
    return getattr(column, agg)().astype(float)
