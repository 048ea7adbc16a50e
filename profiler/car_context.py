"""What every CAR family computes from: the population, order facts as of D, and period masks.

Built once per CAR build.  Only data on or before the as-of date D is visible: the order facts
are ``facts.order_facts`` as of D (lines ordered after D dropped, a return that came back after D
still a kept line), and side tables are cut at D by their own dates.  Customers are coded
0..n-1 (sorted by customer_id), so families aggregate with ``np.bincount`` over integer keys
instead of grouping by labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .facts import PRODUCT_ATTRIBUTES, order_facts
from .keysort import customer_codes, order_runs, take_rows
from .loading import SourceData

DAY = pd.Timedelta(days=1)


def period_bounds(
    spec: dict[str, Any], as_of: pd.Timestamp, period: str
) -> tuple[pd.Timestamp | None, pd.Timestamp]:
    """[start, end) of a named period of templates/features.yaml, as of day D (None: no start)."""
    definition = spec["periods"][period]
    end = as_of + DAY
    if period == "ltd":
        return None, end
    if period == "ytd":
        return pd.Timestamp(year=as_of.year, month=1, day=1), end
    near, far = definition["months_back"]
    return end - pd.DateOffset(months=far), end - pd.DateOffset(months=near)


def bin_members(
    spec: dict[str, Any], as_of: pd.Timestamp, periods: tuple[str, ...]
) -> tuple[list[pd.Timestamp], dict[str, np.ndarray]]:
    """Disjoint time bins whose unions are the periods: the sorted bin edges, and for each period
    the bins it is made of.  A time's bin is the number of edges at or before it."""
    bounds = sorted({b for p in periods for b in period_bounds(spec, as_of, p) if b is not None})
    members = {}
    for p in periods:
        start, end = period_bounds(spec, as_of, p)
        lo = 0 if start is None else bounds.index(start) + 1
        members[p] = np.arange(lo, bounds.index(end) + 1)
    return bounds, members


@dataclass(kw_only=True)
class Population:
    """What every family may read, whichever engine computes it: D, the definitions, the
    sources and the CAR's customers, plus the columns of the families built so far."""

    as_of: pd.Timestamp  # the as-of day D (midnight)
    spec: dict[str, Any]
    source: SourceData
    customer_ids: np.ndarray  # sorted; row i of the CAR is customer_ids[i]
    built: dict[str, Any] = field(default_factory=dict)  # columns of the families computed so far
    cache: dict[Any, Any] = field(default_factory=dict)  # codes and bins reused by families
    # What needs every customer (levels, fitted models, rank cuts), by family: the global pass's
    # (profiler/partition.py), the same for every part.
    globals: dict[str, Any] = field(default_factory=dict)
    row0: int = 0  # the CAR row of this part's first customer

    @property
    def rows(self) -> np.ndarray:
        """The CAR row of each customer of the part (ranks break ties by it)."""
        return np.arange(self.row0, self.row0 + self.n, dtype=np.int64)

    @property
    def n(self) -> int:
        return len(self.customer_ids)

    @property
    def cutoff(self) -> pd.Timestamp:
        """Exclusive end of the visible data: the start of the day after D."""
        return self.as_of + DAY

    def period_bounds(self, period: str) -> tuple[pd.Timestamp | None, pd.Timestamp]:
        """[start, end) of a named period of templates/features.yaml."""
        return period_bounds(self.spec, self.as_of, period)

    def in_period(self, times: np.ndarray, period: str) -> np.ndarray:
        """Boolean mask of timestamps (datetime64[ns]) inside a named period."""
        start, end = self.period_bounds(period)
        mask = times < np.datetime64(end)
        if start is not None:
            mask &= times >= np.datetime64(start)
        return mask

    def codes_of(self, ids: pd.Series | np.ndarray) -> np.ndarray:
        """Customer codes of ids (-1 for ids outside the population)."""
        return pd.Index(self.customer_ids).get_indexer(np.asarray(ids))

    def per_customer(self, codes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Sum of weights (or count) per customer code; codes < 0 are ignored."""
        keep = codes >= 0
        if not keep.all():
            codes = codes[keep]
            weights = None if weights is None else weights[keep]
        return np.bincount(codes, weights=weights, minlength=self.n).astype(np.float64)

    def visible(
        self, table: str, time_column: str | None, *, keep_undated: bool = False
    ) -> pd.DataFrame | None:
        """A side table's rows known on or before D (None when the table was not provided)."""
        if not self.source.has(table):
            return None
        frame = self.source.tables[table]
        if time_column is None:
            return frame
        times = frame[time_column]
        known = times < self.cutoff
        if keep_undated:
            known |= times.isna()
        return frame[known.to_numpy()]


@dataclass(kw_only=True)
class CarContext(Population):
    """The pandas engine's inputs: the order facts as of D in memory, coded and grouped."""

    facts: pd.DataFrame  # order facts ordered on or before D, sorted by order
    cust: np.ndarray  # customer code of each fact line
    kept: np.ndarray  # bool: completed as of D
    returned: np.ndarray  # bool: returned on or before D
    cancelled: np.ndarray  # bool: cancelled (cancellations carry no date)
    order_starts: np.ndarray  # first line of each order (lines are grouped by order)
    order_cust: np.ndarray
    order_time: np.ndarray  # datetime64[ns] of each order: its earliest line's
    order_kept: np.ndarray  # bool: the order has at least one kept line
    _period_masks: dict[str, np.ndarray] = field(default_factory=dict)
    _order_period_masks: dict[str, np.ndarray] = field(default_factory=dict)

    def period_bins(
        self, periods: tuple[str, ...], times: np.ndarray
    ) -> tuple[np.ndarray, int, dict[str, np.ndarray]]:
        """Split time into disjoint bins whose unions are the periods.

        Returns each timestamp's bin, the number of bins, and for each period the bins it is made
        of.  One aggregation pass per bin then serves every period: a period's total is the sum of
        its bins.
        """
        bounds, members = bin_members(self.spec, self.as_of, periods)
        edges = np.array([np.datetime64(b, "ns") for b in bounds])
        bin_of = np.searchsorted(edges, times, side="right")  # 0 = before the first boundary
        return bin_of, len(edges) + 1, members

    def line_bins(self, periods: tuple[str, ...]) -> tuple[np.ndarray, int, dict[str, np.ndarray]]:
        """``period_bins`` of the fact lines, computed once per set of periods."""
        key = ("bins", periods)
        if key not in self.cache:
            bin_of, n_bins, members = self.period_bins(periods, self.facts["ordered_at"].to_numpy())
            self.cache[key] = bin_of.astype(compact_int(n_bins)), n_bins, members
        return self.cache[key]

    def present_values(self, column: str) -> list[str]:
        """Distinct values of a fact column (as text), without scanning every line twice."""
        key = ("present", column)
        if key not in self.cache:
            values = self.facts[column]
            if isinstance(values.dtype, pd.CategoricalDtype):
                codes = values.cat.codes.to_numpy()
                used = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)) > 0
                present = [str(c) for c, u in zip(values.cat.categories, used, strict=True) if u]
            else:
                present = [
                    str(v) for v in pd.unique(values.astype("object")) if v == v and v is not None
                ]
            self.cache[key] = sorted(present)
        return self.cache[key]

    def level_codes(self, column: str, labels: list[str]) -> np.ndarray:
        """Index in ``labels`` of each fact line's value of ``column`` (-1 when not among them),
        in the smallest integer type that holds them (a line's code is read, never summed)."""
        key = ("codes", column, tuple(labels))
        if key not in self.cache:
            values = self.facts[column]
            dtype = compact_int(len(labels))
            if isinstance(values.dtype, pd.CategoricalDtype):
                lookup = np.array(
                    [
                        labels.index(str(c)) if str(c) in labels else -1
                        for c in values.cat.categories
                    ]
                    + [-1],  # the code of a missing value, -1, picks this last entry
                    dtype=dtype,
                )
                self.cache[key] = lookup[values.cat.codes.to_numpy()]
            else:
                codes = pd.Index(labels).get_indexer(values.astype(str).to_numpy())
                self.cache[key] = codes.astype(dtype)
        return self.cache[key]

    def line_mask(self, period: str) -> np.ndarray:
        if period not in self._period_masks:
            self._period_masks[period] = self.in_period(self.facts["ordered_at"].to_numpy(), period)
        return self._period_masks[period]

    def order_mask(self, period: str) -> np.ndarray:
        if period not in self._order_period_masks:
            self._order_period_masks[period] = self.in_period(self.order_time, period)
        return self._order_period_masks[period]


def order_times(line_times: np.ndarray, order_starts: np.ndarray) -> np.ndarray:
    """An order's time is its earliest line's: lines of one order may carry different times
    (a line added later), and the earliest is the same whatever order the file lists them in."""
    if not len(order_starts):
        return line_times[:0]
    return np.minimum.reduceat(line_times.view(np.int64), order_starts).view(line_times.dtype)


def compact_int(count: int) -> type:
    """The smallest signed integer type holding -1 .. count."""
    for dtype in (np.int8, np.int16, np.int32):
        if count < np.iinfo(dtype).max:
            return dtype
    return np.int64


# Fact columns the families read; the rest are not carried into the context.
CONTEXT_COLUMNS = (
    "ordered_at",
    "channel",
    "country",
    "quantity",
    "discount",
    "net_pence",
    "gross_pence",
    "net_gbp",
    *PRODUCT_ATTRIBUTES,
)


def build_context(
    source: SourceData, as_of: pd.Timestamp, spec: dict[str, Any], *, row0: int = 0
) -> CarContext:
    """The order facts as of D (``facts.order_facts``), customers coded and lines grouped by
    order."""
    cutoff = as_of + DAY
    facts = order_facts(source, as_of)
    cust_all = facts["customer_id"].to_numpy()
    others = np.array([], dtype=cust_all.dtype)
    if source.has("customers"):
        customers = source.tables["customers"]
        created = customers["created_at"]
        others = customers.loc[created.isna() | (created < cutoff), "customer_id"].to_numpy()
    customer_ids, cust = customer_codes(cust_all, others)
    # Group lines by customer, then by order, so per-customer aggregation walks memory in order.
    perm, order_starts = order_runs(cust, facts["order_id"].to_numpy(), len(customer_ids))
    status = facts["status"]
    is_status = {}
    for name in ("completed", "returned", "cancelled"):
        flags = (status == name).to_numpy(dtype=bool, na_value=False)
        is_status[name] = flags if perm is None else flags[perm]
    # The cost columns only with a cost of goods (profiler/margin.py).
    facts = facts[list(CONTEXT_COLUMNS) + [c for c in ("cost_pence", "costed") if c in facts]]
    if perm is not None:
        facts = take_rows(facts, perm)
        cust = cust[perm]
    kept = is_status["completed"]
    order_kept = (
        np.logical_or.reduceat(kept, order_starts)
        if len(order_starts)
        else np.array([], dtype=bool)
    )
    return CarContext(
        as_of=as_of,
        spec=spec,
        source=source,
        customer_ids=customer_ids,
        facts=facts,
        cust=cust,
        kept=kept,
        returned=is_status["returned"],
        cancelled=is_status["cancelled"],
        order_starts=order_starts,
        order_cust=cust[order_starts],
        order_time=order_times(facts["ordered_at"].to_numpy(), order_starts),
        order_kept=order_kept,
        row0=row0,
    )
