"""The customer x month activity table: every row metric of the catalog, pre-aggregated.

Cohort views ask for many metrics, for many cohorts, over many periods.  Scanning ~20M order
lines per question is too slow, so ``profiler build`` also writes the activity table beside the
CAR (``profiler/store.py``): one row per customer and month in which the customer has data, and for every catalog
metric computed from rows (order lines, surveys, interactions) its additive parts for that
customer and month:

- ``<metric>.rows``: rows that pass the metric's filter (a ``count`` metric is this);
- ``<metric>.sum`` and ``<metric>.n``: the sum and the number of non-missing values of its
  column (``sum`` and ``mean`` metrics); a money column's sum is ``<metric>.pence`` instead:
  whole pence, int64, exact (``sum_part``);
- ``<metric>.distinct``: distinct orders (``count_distinct`` of ``order_id``: an order belongs
  to one customer and one day, so distinct orders add up across customers and months).

Counts are int32, other sums float32.  ``count_distinct`` of ``customer_id`` needs only
``.rows``: a customer counts once in a period if any of the period's months has rows.  Each
metric's rows are dated by its own date column (returns by ``returned_at``), and only rows known
at the end of the as-of day are used, like the CAR: the order facts as of D
(``facts.order_facts``: a return after D is not a return yet), surveys and interactions up to D.  Every period the catalog knows (month, quarter, year, ytd, r12, asof) is a run of whole
months, so a period's value per customer is the sum of its months' parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from . import expressions
from .catalog import Catalog, Metric
from .facts import PENCE, pence_column
from .loading import SourceData
from .metrics import MetricEngine

DAY = pd.Timedelta(days=1)


def month_number(times: pd.Series | pd.DatetimeIndex | pd.Timestamp) -> np.ndarray | int:
    """Months since January 1970 (0), so consecutive months are consecutive integers; a
    missing time is month -1 (December 1969: before every month of data)."""
    if isinstance(times, pd.Timestamp):
        return (times.year - 1970) * 12 + times.month - 1
    index = pd.DatetimeIndex(times)
    if index.hasnans:
        index = index.fillna(pd.Timestamp("1969-12-01"))
    return ((index.year - 1970) * 12 + index.month - 1).to_numpy(dtype=np.int32)


def sum_part(m: Metric) -> tuple[str, int]:
    """The activity part holding a ``sum`` or ``mean`` metric's total, and what that part is
    divided by to show it: ``PENCE`` for money (whole pence, summed exactly), else 1."""
    if pence_column(m.source, m.column):
        return f"{m.name}.pence", PENCE
    return f"{m.name}.sum", 1


def row_metrics(catalog: Catalog) -> list[Metric]:
    """The catalog's metrics computed from dated rows, whose parts the activity table holds."""
    out = []
    for m in catalog.metrics.values():
        if m.aggregation in ("sum", "count", "mean", "count_distinct") and m.source not in (
            None,
            "customers",
        ):
            if m.aggregation == "count_distinct" and m.column not in ("customer_id", "order_id"):
                continue
            out.append(m)
    return sorted(out, key=lambda m: m.name)


NEVER = np.iinfo(np.int32).max  # the "gone" day of an order still kept at D


@dataclass
class OrderDays:
    """Every order known at D that was ever a purchase: its CAR row, its day, and the day it
    stopped being one (all its lines returned or cancelled by then; ``NEVER`` while a line is
    kept at D).  Sorted by row, then day.

    An order is a purchase on day P (<= D) when ``day <= P < gone``: exactly the orders a CAR
    built as of P counts.  So the state of every customer (lifecycle stage, buyers, orders to
    date) can be taken at the end of any period, from the build as of D (``profiler/state.py``).
    Days are days since 1970-01-01."""

    row: np.ndarray  # int32
    day: np.ndarray  # int32
    gone: np.ndarray  # int32

    def __len__(self) -> int:
        return len(self.row)


@dataclass
class Activity:
    """Customer x month parts: ``customer`` (row in the CAR), ``month`` (month_number), parts;
    and the order days (``OrderDays``) state metrics are taken from."""

    customer: np.ndarray  # int32, sorted by month then customer
    month: np.ndarray  # int32
    parts: dict[str, np.ndarray]  # counts int32, money int64 pence, other sums float32
    orders: OrderDays | None = None

    def __len__(self) -> int:
        return len(self.month)

    def month_slice(self, first: int, last: int) -> slice:
        """Rows of months first..last (inclusive)."""
        # The scalar in the array's own dtype: otherwise numpy casts all 8M months per call.
        lo = int(np.searchsorted(self.month, self.month.dtype.type(first), side="left"))
        hi = int(np.searchsorted(self.month, self.month.dtype.type(last), side="right"))
        return slice(lo, hi)


def build_activity(
    source: SourceData,
    catalog: Catalog,
    customer_ids: pd.Index | np.ndarray,
    as_of: pd.Timestamp,
    *,
    lapsed_days: int = 545,
    progress: Callable[[str], None] | None = None,
    engine: MetricEngine | None = None,
) -> Activity:
    """Pre-aggregate every row metric's parts by CAR customer row and month (see module doc).
    ``engine``: the MetricEngine over the same sources and D, when the caller reads its frames
    again (the build's stored lines, ``profiler/lines.py``); else one is made here."""
    if engine is None:
        engine = MetricEngine(catalog, source=source, as_of=as_of, lapsed_days=lapsed_days)
    index = pd.Index(customer_ids)
    cutoff = pd.Timestamp(as_of).normalize() + DAY
    metrics = [m for m in row_metrics(catalog) if m.source == "order_lines" or source.has(m.source)]
    if not source.has_products():  # left out: QueryEngine.left_out_metric says why
        metrics = [m for m in metrics if not m.reads_products]
    # A metric reading a column the facts lack (the cost columns without a cost of goods:
    # profiler/margin.py) has no parts; the query engine then says why it is left out.
    facts_columns = set(engine.frame("order_lines").columns)
    metrics = [m for m in metrics if m.source != "order_lines" or m.columns_read <= facts_columns]
    # Pass 1: each source row's customer row and month, per source and date column.
    dated: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for m in metrics:
        space = (m.source or "", m.date_column or "")
        if space not in dated:
            dated[space] = _dated_rows(engine.frame(space[0]), space[1], index, cutoff)
    # Pass 2: rank the occupied (month, customer) cells without sorting: a dense occupancy
    # table over months x customers, ordered by month then customer, as the table is stored.
    n = len(index)
    months = [month for _, month, _ in dated.values() if len(month)]
    first = min(int(m.min()) for m in months) if months else 0
    span = max(int(m.max()) for m in months) - first + 1 if months else 0
    occupied = np.zeros(n * span, dtype=bool)
    for customer, month, _ in dated.values():
        occupied[(month - first).astype(np.int64) * n + customer] = True
    rank = np.cumsum(occupied, dtype=np.int64) - 1
    cells = np.flatnonzero(occupied)
    del occupied
    groups = {}
    for space, (customer, month, rows) in dated.items():
        group = np.full(len(engine.frame(space[0])), -1, dtype=np.int64)
        group[rows] = rank[(month - first).astype(np.int64) * n + customer]
        groups[space] = group
    del rank
    size = len(cells)
    parts: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    numbers: dict[str, np.ndarray] = {}
    for m in metrics:
        if progress:
            progress(m.name)
        frame = engine.frame(m.source or "")
        group = groups[(m.source or "", m.date_column or "")]
        parts.update(metric_parts(m, frame, group, size, masks, numbers)[0])
    customer_of = (cells % n).astype(np.int32) if n else np.zeros(0, dtype=np.int32)
    month_of = (cells // n + first).astype(np.int32) if n else np.zeros(0, dtype=np.int32)
    orders = order_days(engine.frame("order_lines"), index, cutoff)
    return Activity(customer_of, month_of, parts, orders)


def metric_parts(
    m: Metric,
    frame: pd.DataFrame,
    group: np.ndarray,
    size: int,
    masks: dict[str, np.ndarray],
    numbers: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One row metric's additive parts (see the module doc) per group: ``group`` gives each
    row of ``frame`` its group (0..size-1; -1: not counted), the metric's filter is applied
    here.  The one implementation of a row metric's parts: the activity table groups by
    customer and month, a breakdown (``profiler/breakdown.py``) by a dimension's value.
    ``masks`` and ``numbers`` cache filters and value columns across metrics of one frame.
    Returns the parts and the rows counted (a boolean mask over the frame)."""
    parts: dict[str, np.ndarray] = {}
    valid = group >= 0
    if m.filter:
        valid &= _filter_mask(frame, m.tree("filter"), m.filter, masks)
    g = group[valid]
    parts[f"{m.name}.rows"] = np.bincount(g, minlength=size).astype(np.int32)
    if m.aggregation in ("sum", "mean"):
        name, scale = sum_part(m)
        if scale != 1:  # whole pence (never missing), summed as integers
            column = pence_column(m.source, m.column) or ""
            if column not in numbers:
                numbers[column] = frame[column].to_numpy(dtype=np.int64)
            parts[name] = _integer_sums(g, numbers[column][valid], size)
            parts[f"{m.name}.n"] = parts[f"{m.name}.rows"]
        else:
            key = f"{m.source}.{m.column}"
            if key not in numbers:
                numbers[key] = frame[m.column].to_numpy(dtype=np.float64, na_value=np.nan)
            values = numbers[key][valid]
            present = ~np.isnan(values)
            total = np.bincount(g[present], weights=values[present], minlength=size)
            parts[name] = total.astype(np.float32)
            parts[f"{m.name}.n"] = np.bincount(g[present], minlength=size).astype(np.int32)
    if m.aggregation == "count_distinct" and m.column == "order_id":
        # Distinct (group, order) pairs: an order counts once in each group it has lines in.
        orders = frame["order_code"].to_numpy() if "order_code" in frame else None
        if orders is None:
            orders = pd.factorize(frame["order_id"])[0]
        distinct = _distinct_pairs(g, orders[valid], size)
        parts[f"{m.name}.distinct"] = distinct.astype(np.int32)
    return parts, valid


def order_days(facts: pd.DataFrame, index: pd.Index, cutoff: pd.Timestamp) -> OrderDays:
    """The ``OrderDays`` of order facts as of D (``MetricEngine.frame("order_lines")``: a return
    after D is not a return yet).  A line stops counting on the day it is returned (a return
    dated before its order, on the order's day) or, cancelled, on the order's day; an order
    when its last line does."""
    customer, _, rows = _dated_rows(facts, "ordered_at", index, cutoff)
    code = facts["order_code"].to_numpy()[rows]
    day = _days(facts["ordered_at"].to_numpy()[rows])
    status = facts["status"]
    completed = (status == "completed").to_numpy(dtype=bool, na_value=False)[rows]
    returned = (status == "returned").to_numpy(dtype=bool, na_value=False)[rows]
    back = _days(facts["returned_at"].to_numpy()[rows]) if "returned_at" in facts else day
    line_gone = np.where(returned & (back > day), back, day)
    size = int(code.max()) + 1 if len(code) else 0
    gone = np.full(size, -1, dtype=np.int64)
    np.maximum.at(gone, code[~completed], line_gone[~completed])
    gone[code[completed]] = NEVER
    order_row = np.full(size, -1, dtype=np.int64)
    order_row[code] = customer
    order_day = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(order_day, code, day)  # an order's day is its earliest line's
    keep = (order_row >= 0) & (gone > order_day)
    row, day, gone = order_row[keep], order_day[keep], gone[keep]
    order = np.lexsort((day, row))
    return OrderDays(
        row[order].astype(np.int32), day[order].astype(np.int32), gone[order].astype(np.int32)
    )


def _days(times: np.ndarray) -> np.ndarray:
    """Day numbers (since 1970-01-01) of datetimes; a missing time is day -2**31."""
    days = times.astype("datetime64[D]").astype(np.int64)
    return np.where(np.isnat(times), np.iinfo(np.int32).min, days)


PAIR_BITMAP_CELLS = 2**28  # distinct pairs by a bitmap up to this many (group, order) cells


def _distinct_pairs(groups: np.ndarray, orders: np.ndarray, size: int) -> np.ndarray:
    """The number of distinct orders per group.  Few groups (a breakdown's dimension values):
    a bitmap over orders x groups; many (the activity table's customer-months): the first line
    of each (group, order) pair, found by hashing."""
    if not len(orders):
        return np.zeros(size, dtype=np.int64)
    width = int(orders.max()) + 1
    if width * size <= PAIR_BITMAP_CELLS:
        seen = np.zeros(width * size, dtype=bool)
        seen[orders.astype(np.int64) * size + groups] = True
        return np.bincount(np.flatnonzero(seen) % size, minlength=size)
    key = groups.astype(np.int64) * width + orders
    first_line = ~pd.Series(key).duplicated().to_numpy()
    return np.bincount(groups[first_line], minlength=size)


def _integer_sums(groups: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact int64 sums of integer values per group.  ``np.bincount`` adds in doubles, exact
    while every partial sum stays below 2**53 (GBP 90 trillion in pence); beyond that (never,
    for a customer-month) the sums are taken in int64."""
    if len(values) == 0 or np.abs(values).sum(dtype=np.float64) < 2.0**53:
        return np.bincount(groups, weights=values, minlength=size).astype(np.int64)
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, groups, values)
    return out


def _dated_rows(
    frame: pd.DataFrame, date: str, index: pd.Index, cutoff: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the rows dated before the cutoff whose customer is in the CAR: the customer's row,
    the month number, and the rows' positions in the frame."""
    times = frame[date]
    ids = frame["customer_id"]
    if ids.dtype != index.dtype:
        ids, index = ids.astype(str), index.astype(str)
    customer = index.get_indexer(ids)
    ok = (times.notna() & (times < cutoff)).to_numpy(dtype=bool) & (customer >= 0)
    rows = np.flatnonzero(ok)
    return customer[rows].astype(np.int64), month_number(times[ok]).astype(np.int64), rows


def _filter_mask(
    frame: pd.DataFrame, node: expressions.Node, text: str, cache: dict[str, np.ndarray]
) -> np.ndarray:
    """A metric's filter (its parsed tree, and its text for errors) over its source rows.  The
    conjuncts of an ``and`` are evaluated and cached one by one, by their canonical text (true
    and true is the only way to be true, missing values included), so metrics sharing
    ``status == "completed"`` compute it once."""
    key = f"{id(frame)}:{expressions.to_text(node)}"
    if key not in cache:
        if isinstance(node, expressions.Binary) and node.op == "and":
            cache[key] = _filter_mask(frame, node.left, text, cache) & _filter_mask(
                frame, node.right, text, cache
            )
        else:
            cache[key] = expressions.evaluate_mask(node, frame, text)
    return cache[key]


def activity_table(activity: Activity, row_offset: int = 0) -> pa.Table:
    """The activity as an Arrow table; ``row_offset`` moves its CAR rows (a customer range's
    activity counts its rows from the range's start)."""
    return pa.table(
        {
            "row": pa.array(activity.customer + np.int32(row_offset)),
            "month": pa.array(activity.month),
            **{name: pa.array(values) for name, values in activity.parts.items()},
        }
    )


def orders_table(orders: OrderDays, row_offset: int = 0) -> pa.Table:
    """The order days as an Arrow table (``row_offset`` as in ``activity_table``)."""
    return pa.table(
        {
            "row": pa.array(orders.row + np.int32(row_offset)),
            "day": pa.array(orders.day),
            "gone": pa.array(orders.gone),
        }
    )


def orders_from_table(table: pa.Table) -> OrderDays:
    """The order days of a table written from ``orders_table``."""
    return OrderDays(*(_column(table, name) for name in ("row", "day", "gone")))


def _column(table: pa.Table, name: str) -> np.ndarray:
    chunked = table.column(name)
    if chunked.num_chunks == 1:
        return chunked.chunk(0).to_numpy(zero_copy_only=True)
    return chunked.to_numpy()


def activity_from_table(table: pa.Table) -> Activity:
    """The activity of a table written from ``activity_table`` (memory-mapped by the store:
    the columns are not copied, and are paged in when first used)."""

    parts = {
        name: _column(table, name) for name in table.column_names if name not in ("row", "month")
    }
    return Activity(_column(table, "row"), _column(table, "month"), parts)
