"""Breakdowns: catalog metrics for one cohort and period, split by one of their dimensions.

Every catalog metric declares the dimensions it may be split by (``dimensions``: channel,
category, price point, interaction topic, month, or a CAR column for metrics of customers).
``QueryEngine.breakdown`` answers "net sales of Crown jewels by category, 2025" from the CAR
folder alone:

- a row metric reads the rows the build stored (``profiler/lines.py``): the period's rows (a
  slice: the rows are sorted by month), the cohort's members at D, then the metric's parts per
  dimension value by ``activity.metric_parts``, the same code that builds the activity table
  (the filter, whole-pence sums, distinct orders), grouped by the dimension's code instead of by
  customer and month;
- ``month`` is the month of the metric's own date column, one value per month of the period;
- a metric of customers (source ``customers``) groups the cohort's members by the CAR column;
- ratios, rates and derived metrics are composed from their parts by ``profiler/compose.py``,
  per dimension value, as every engine composes them.

Each value comes with its customers (the cohort members with rows of the metric, or of its
denominator, under that dimension value) and the small-cell flag.  Rows whose dimension is
missing form a value of their own, ``(missing)``, so additive metrics sum to the undivided value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .activity import metric_parts, sum_part
from .catalog import Metric
from .compose import Part, compose, leaves
from .errors import LeftOut, ProfilerError, clip
from .facts import pence_column
from .lines import NOTE, Lines
from .periods import Period

MISSING = "(missing)"
# A dimension of every count of customers that no single CAR column holds: the preference topics
# (the CAR's ``topic_*`` consent flags).  A customer counts under every topic opted in to, so
# its values do not add up to the cohort.
TOPICS = "preference_topic"
TOPIC_PREFIX = "topic_"
COLUMNS = [
    "cohort",
    "metric",
    "period",
    "dimension",
    "dimension_value",
    "value",
    "customers",
    "small",
]
_BITMAP_CELLS = 64 * 1024**2  # distinct customers per value by a bitmap up to this many cells


def all_dimensions(catalog: Any) -> list[str]:
    """Every dimension some catalog metric declares (and the preference topics), in the order
    first declared."""
    out: dict[str, None] = {}
    for m in catalog.metrics.values():
        out.update(dict.fromkeys(m.dimensions))
        if m.source == "customers" and m.dimensions:
            out[TOPICS] = None
    return list(out)


def resolve_dimension(engine: Any, metric: str, dimension: str) -> str:
    """The metric's declared dimension ``dimension`` stands for (any letter case), or one line
    listing the ones it has."""
    m = engine.catalog.get(metric)
    if str(dimension).strip().casefold() == TOPICS and m.source == "customers":
        if m.aggregation == "count":
            return TOPICS
    if not m.dimensions:
        raise ProfilerError(f"Metric '{metric}' has no dimensions to break it down by.")
    folded = str(dimension).strip().casefold()
    for known in m.dimensions:
        if known.casefold() == folded:
            return known
    raise ProfilerError(
        f"Metric '{metric}' cannot be broken down by '{clip(str(dimension))}': its dimensions "
        f"are {', '.join(m.dimensions)}."
    )


def breakdown(
    engine: Any,
    metrics: list[str],
    dimension: str,
    cohort: str | None = None,
    period: str | Period | None = None,
) -> pd.DataFrame:
    """Tidy table: one row per metric x dimension value (see the module doc)."""
    cohort = engine.cohorts.canonical(cohort) if cohort else engine.cohorts.base
    span = engine.period(period)
    member = engine.members(cohort)
    needed = _needed_columns(engine, metrics)
    splits: dict[tuple[str, str], _Split] = {}
    frames = []
    for asked in metrics:
        m = engine.catalog.get(asked)
        name = m.name
        dim = resolve_dimension(engine, name, dimension)
        timing = engine.timing(name)
        used = engine.period("asof") if timing == "as_of_d" else span
        engine._check_period(m, span)
        if timing == "period_end":
            raise ProfilerError(
                f"Metric '{name}' is a customer state taken at the period's end: it has no "
                "breakdown by dimension."
            )
        sources = tuple(
            sorted(
                {engine.catalog.get(leaf).source or "" for leaf in leaves(engine.catalog, [name])}
            )
        )
        key = (dim, used.label, sources)
        if key not in splits:
            splits[key] = _Split(engine, dim, used, member, needed, sources)
        split = splits[key]
        part = compose(engine.catalog, name, split.leaf, split.memo, size=split.size)
        value = np.broadcast_to(np.asarray(part.value, dtype=np.float64), (split.size,))
        customers = (
            np.asarray(part.customers, dtype=np.float64)
            if part.customers is not None
            else np.zeros(split.size)
        )
        labels, value, customers = split.shown(value, customers)
        frames.append(
            pd.DataFrame(
                {
                    "cohort": cohort,
                    "metric": name,
                    "period": engine._label(used),
                    "dimension": dim,
                    "dimension_value": labels,
                    "value": value,
                    "customers": customers.astype(np.int64),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS[:-1])
    out["small"] = out["customers"].to_numpy() < engine.cohorts.min_size
    out.attrs["catalog"] = engine.stamp
    out.attrs["as_of"] = f"{engine.as_of:%Y-%m-%d}"
    return out[COLUMNS]


class _Split:
    """One metric's leaves split by one dimension, for one cohort and period: ``leaf``
    computes a leaf's value and customers per dimension value (``size`` values)."""

    def __init__(
        self,
        engine: Any,
        dimension: str,
        span: Period,
        member: np.ndarray,
        needed: set[str],
        sources: tuple[str, ...],
    ) -> None:
        self.engine, self.dimension, self.span, self.member = engine, dimension, span, member
        self.needed, self.sources = needed, sources
        self.first, self.last = engine.months(span)
        if span.kind == "asof" and engine.activity is not None and len(engine.activity):
            self.first = max(self.first, int(engine.activity.month[0]))
        self.labels: list[str] | None = None
        self.memo: dict[str, Part] = {}  # leaves and parts shared by the metrics asked together
        self._frames: dict[tuple[str, str], tuple[pd.DataFrame, np.ndarray, np.ndarray]] = {}
        self._caches: dict[tuple[str, str], tuple[dict, dict]] = {}
        self._customers: dict[tuple[Any, ...], np.ndarray] = {}

    @property
    def size(self) -> int:
        return len(self._labels()) + 1  # the last slot: rows whose dimension is missing

    def _labels(self) -> list[str]:
        if self.labels is None:
            self.labels = self._find_labels()
        return self.labels

    def _find_labels(self) -> list[str]:
        """The dimension's values present in the data of the metric's sources (every month of
        the period for ``month``)."""
        if self.dimension == "month":
            return [f"{1970 + m // 12}-{m % 12 + 1:02d}" for m in range(self.first, self.last + 1)]
        found: dict[str, None] = {}
        stored = self.engine.lines()
        for source in self.sources:
            if source == "customers" and self.dimension == TOPICS:
                topics = [c for c in self.engine.known_columns if c.startswith(TOPIC_PREFIX)]
                if not topics:
                    raise LeftOut(
                        "No breakdown by preference topic: this CAR has no topic_* columns "
                        "(the preferences table was not provided)."
                    )
                found.update(dict.fromkeys(c[len(TOPIC_PREFIX) :] for c in topics))
            elif source == "customers":
                if self.dimension not in self.engine.known_columns:
                    raise LeftOut(
                        f"No breakdown by {self.dimension}: this CAR has no such column (a "
                        "source table or column was not provided)."
                    )
                values = self.engine.ensure_columns([self.dimension])[self.dimension]
                if isinstance(values.dtype, pd.CategoricalDtype):
                    used = np.bincount(values.cat.codes.to_numpy() + 1)[1:] > 0
                    cats = [str(c) for c in values.cat.categories]
                    found.update(dict.fromkeys(c for c, u in zip(cats, used, strict=False) if u))
                else:
                    found.update(dict.fromkeys(sorted(str(v) for v in values.dropna().unique())))
            elif source in stored:
                where = stored[source].absent.get(self.dimension)
                if where:
                    raise LeftOut(
                        f"No breakdown by {self.dimension}: the data this CAR was built from "
                        f"has no {where} (every row would read the same default)."
                    )
                found.update(dict.fromkeys(stored[source].present(self.dimension)))
        return list(found)

    def shown(
        self, value: np.ndarray, customers: np.ndarray
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The dimension values to show: every known value, and ``(missing)`` when any cohort
        row of the period has no value."""
        labels = [*self._labels(), MISSING]
        keep = np.ones(len(labels), dtype=bool)
        keep[-1] = bool(customers[-1] > 0) or bool(np.nan_to_num(value[-1]) != 0)
        return [lab for lab, k in zip(labels, keep, strict=True) if k], value[keep], customers[keep]

    # -- leaves --------------------------------------------------------------------------------

    def leaf(self, m: Metric) -> Part:
        with np.errstate(divide="ignore", invalid="ignore"):
            if m.source == "customers":
                return Part(*self._car(m))
            return Part(*self._rows(m))

    def _car(self, m: Metric) -> tuple[np.ndarray, np.ndarray]:
        engine = self.engine
        if self.dimension == TOPICS:
            return self._topics(m)
        if self.dimension not in engine.known_columns:
            raise ProfilerError(
                f"Metric '{m.name}' reads the CAR: '{self.dimension}' is not a CAR column."
            )
        car = engine.ensure_columns([self.dimension, *sorted(m.columns_read)])
        code = self._car_codes(car[self.dimension])
        keep = engine._car_filter(m, car, None) & self.member
        size = self.size
        if m.aggregation == "count":
            counted = np.bincount(code[keep], minlength=size).astype(np.float64)
            return counted, counted
        values = car[m.column].astype(np.float64).to_numpy(na_value=np.nan)
        present = keep & ~np.isnan(values)
        customers = np.bincount(code[present], minlength=size).astype(np.float64)
        if m.aggregation in ("sum", "mean"):
            total = np.bincount(code[present], weights=values[present], minlength=size)
            if m.aggregation == "sum":
                return total, customers
            return np.where(customers > 0, total / customers, np.nan), customers
        out = np.full(size, np.nan)
        for k in range(size):
            chosen = values[present & (code == k)]
            if not len(chosen):
                continue
            if m.aggregation == "count_distinct":
                out[k] = pd.Series(chosen).nunique()
            else:
                q = 50.0 if m.aggregation == "median" else float(m.percentile or 50)
                out[k] = float(np.percentile(chosen, q))
        return out, customers

    def _topics(self, m: Metric) -> tuple[np.ndarray, np.ndarray]:
        """Members counted under each preference topic they opted in to."""
        labels = self._labels()
        columns = [TOPIC_PREFIX + label for label in labels]
        car = self.engine.ensure_columns([*columns, *sorted(m.columns_read)])
        keep = self.engine._car_filter(m, car, None) & self.member
        counts = [
            np.count_nonzero(keep & car[c].to_numpy(dtype=bool, na_value=False)) for c in columns
        ]
        out = np.asarray([*counts, 0], dtype=np.float64)
        return out, out

    def _car_codes(self, values: pd.Series) -> np.ndarray:
        labels = self._labels()
        codes = pd.Index(labels).get_indexer(values.astype(object).map(_text).to_numpy())
        return np.where(codes < 0, len(labels), codes)

    def _rows(self, m: Metric) -> tuple[np.ndarray, np.ndarray]:
        engine = self.engine
        lines = engine.lines().get(m.source or "")
        if lines is None:
            note = engine.meta.get("lines_note") or NOTE.format(how="before breakdowns existed")
            reason = engine.left_out_metric(m.name)
            if reason:
                raise LeftOut(f"Metric '{m.name}' is left out: {reason}.")
            raise LeftOut(f"No breakdown: {note}")
        frame, group, row = self._frame(lines, m)
        frames, numbers = self._caches[(lines.source, m.date_column or "")]
        parts, valid = metric_parts(m, frame, group, self.size, frames, numbers)
        customers = self._distinct_customers(m, group, row, valid)
        agg = m.aggregation
        if agg == "count":
            return parts[f"{m.name}.rows"].astype(np.float64), customers
        if agg == "count_distinct":
            if m.column == "customer_id":
                return customers, customers
            return parts[f"{m.name}.distinct"].astype(np.float64), customers
        name, scale = sum_part(m)
        total = parts[name].astype(np.float64)
        if scale != 1:
            total = total / scale
        if agg == "sum":
            return total, customers
        n = parts[f"{m.name}.n"]
        return np.where(n > 0, total / n, np.nan), customers

    def _frame(self, lines: Lines, m: Metric) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        """The cohort's rows of the period by the metric's date column: the columns its leaves
        read, each row's dimension code (the group) and CAR row."""
        date = m.date_column or lines.date
        key = (lines.source, date)
        if key not in self._frames:
            rows = lines.month_rows(date, self.first, self.last)
            if rows is None:
                raise ProfilerError(f"Metric '{m.name}': no stored {date} months; rebuild.")
            row = lines.row[rows]
            keep = self.member[row]
            positions = (
                np.arange(rows.start, rows.stop)[keep] if isinstance(rows, slice) else rows[keep]
            )
            if isinstance(rows, slice) and keep.all():
                positions = rows
            row = lines.row[positions]
            group = self._codes(lines, date, positions)
            names = self._columns_read(lines)
            self._frames[key] = (lines.frame(names, positions), group, row)
            self._caches[key] = ({}, {})
        return self._frames[key]

    def _columns_read(self, lines: Lines) -> list[str]:
        return [name for name in lines.columns if name in self.needed]

    def _codes(self, lines: Lines, date: str, positions: np.ndarray | slice) -> np.ndarray:
        missing = self.size - 1
        if self.dimension == "month":
            month = lines.month(date)[positions].astype(np.int64)
            return month - self.first
        if not lines.has(self.dimension):
            raise ProfilerError(
                f"Dimension '{self.dimension}' is not stored with the {lines.source} rows."
            )
        data = lines.columns[self.dimension][positions]
        if self.dimension in lines.dictionaries:
            order = pd.Index(self._labels()).get_indexer(lines.dictionaries[self.dimension])
            codes = np.append(order, missing)[data.astype(np.int64)]  # -1 -> missing
        else:
            codes = pd.Index(self._labels()).get_indexer([str(v) for v in data])
        return np.where(codes < 0, missing, codes).astype(np.int64)

    def _distinct_customers(
        self, m: Metric, group: np.ndarray, row: np.ndarray, valid: np.ndarray
    ) -> np.ndarray:
        """Customers with counted rows per dimension value (rows of one filter share it)."""
        key = (m.source, m.date_column, m.filter)
        if key not in self._customers:
            g, r = group[valid], row[valid].astype(np.int64)
            n, size = self.engine.n, self.size
            if n * size <= _BITMAP_CELLS:
                seen = np.zeros(size * n, dtype=bool)
                seen[g * n + r] = True
                counts = seen.reshape(size, n).sum(axis=1)
            else:
                pairs = np.unique(g * n + r)
                counts = np.bincount(pairs // n, minlength=size)
            self._customers[key] = counts.astype(np.float64)
        return self._customers[key]


def _needed_columns(engine: Any, metrics: list[str]) -> set[str]:
    """The stored columns the row leaves of ``metrics`` read (filters, values, orders)."""
    out: set[str] = set()
    for name in leaves(engine.catalog, metrics):
        m = engine.catalog.get(name)
        if m.source in (None, "customers"):
            continue
        for column in m.columns_read:
            if column == "order_id":
                out.add("order_code")
            out.add(pence_column(m.source, column) or column)
    return out


def _text(value: Any) -> Any:
    return value if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
