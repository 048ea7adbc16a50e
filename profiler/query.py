"""The query engine behind every sheet: catalog metrics for cohorts and periods, fast.

``QueryEngine.open(car_dir)`` loads a built CAR folder once (the CAR, its customer x month
activity table, its metadata) with the catalog and the cohort definitions.  A metric for a set of
cohorts and a period is then a few sparse matrix-vector products:

- a period's per-customer vector of each metric part (``profiler/activity.py``) is the sum of the
  period's months, computed once per period and cached;
- a set of cohorts is a sparse 0/1 matrix (cohorts x customers), built once from the cached
  cohort masks;
- ratios, rates and derived metrics are recomputed from their parts, as ``MetricEngine`` does.

Metrics of customer state (source ``customers``) read the CAR, as of its date.  Every value
comes with the number of customers it was computed on (``customers``): the customers with rows
for a row metric, the customers counted or with a value for a CAR metric, the denominator's for a
ratio or rate, the fewest of its parts for a derived metric; ``small`` flags values computed on
fewer than the cohort spec's ``min_cohort_size``.  ``MetricEngine`` (profiler/metrics.py) stays
the reference implementation these numbers are tested against.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numba import prange

from . import expressions, margin, store
from .activity import Activity, month_number, sum_part
from .catalog import Catalog, Metric, did_you_mean, load_catalog
from .cohorts import CohortSet, columns_used, load_cohort_spec
from .compose import Part, compose, leaves
from .cores import kernel
from .errors import LeftOut, ProfilerError, clip
from .periods import Period, asof_period, parse_period
from .state import STATE_COLUMNS, day_number, states_at

# Loaded with every engine: consent (audiences) and the customer's key attributes.
BASE_COLUMNS = {
    "contactable",
    "contactable_any_channel",
    "opt_in_email",
    "opt_in_sms",
    "opt_in_phone",
    "opt_in_post",
    "orders_ltd",
    "first_purchase_at",
    "last_purchase_at",
}
# Why an order-lines metric reading a product attribute is left out (activity.build_activity).
PRODUCTS_LEFT_OUT = (
    "needs the products table (product category, price point...) and the order lines' "
    "product_id, which this build did not have"
)
MATRIX_BYTES = 512 * 1024**2  # the largest parts matrix a query builds (QueryEngine.matrix)
_CACHE_VECTORS = 256  # per-customer vectors kept (8 MB each at 1M customers)


class QueryEngine:
    """Catalog metrics over one CAR, for any cohort and period (see the module docstring)."""

    def __init__(
        self,
        car: pd.DataFrame,
        activity: Activity | None,
        catalog: Catalog,
        *,
        as_of: pd.Timestamp,
        cohort_spec: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        car_dir: str | Path | None = None,
        known_columns: list[str] | None = None,
        generation: store.Generation | None = None,
    ) -> None:
        self.car = car.reset_index(drop=True)
        self.known_columns = list(known_columns or car.columns)
        self.activity = activity
        self.catalog = catalog
        self.as_of = pd.Timestamp(as_of).normalize()
        self.meta = meta or {}
        self.car_dir = Path(car_dir) if car_dir else None
        self.generation = generation  # the build read: later columns come from the same one
        self.cohorts = CohortSet(self.car, cohort_spec, known_columns=self.known_columns)
        self.n = len(self.car)
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._indicators: dict[tuple[Any, ...], sp.csr_matrix] = {}
        self._filters: dict[tuple[str, Any], np.ndarray] = {}
        self._labels: dict[tuple[Any, ...], str] = {}
        self._bits: dict[tuple[Any, ...], tuple[np.ndarray, int]] = {}
        self._bit_slots: dict[tuple[Any, ...], dict[str, int]] = {}
        self._rows_alias: dict[tuple[Any, ...], str] = {}
        self._timings: dict[str, str] = {}
        self._states: OrderedDict[int, pd.DataFrame] = OrderedDict()
        self._matrices: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._periods: dict[str, Period] = {}
        self._parts_read: dict[tuple[str, ...], list[str]] = {}
        self._orders: Any = getattr(activity, "orders", None)
        self._lines: dict[str, Any] | None = getattr(activity, "lines", None)
        self.stamp = catalog.stamp

    @classmethod
    def open(
        cls,
        car_dir: str | Path | None = None,
        *,
        catalog: Catalog | None = None,
        cohort_spec: dict[str, Any] | None = None,
    ) -> QueryEngine:
        """Load a folder written by ``profiler build`` (default: $PROFILER_CAR)."""
        folder = store.car_folder(car_dir)
        generation = store.open_generation(folder)
        meta = generation.meta
        spec = cohort_spec or load_cohort_spec()
        catalog = catalog or load_catalog()
        schema = generation.car_columns()
        wanted = [
            "customer_id",
            *sorted((columns_used(spec) | _catalog_columns(catalog) | BASE_COLUMNS) & set(schema)),
        ]
        car = generation.read_car(columns=wanted)
        activity = generation.read_activity()
        return cls(
            car,
            activity,
            catalog,
            as_of=pd.Timestamp(meta["as_of"]),
            cohort_spec=spec,
            meta=meta,
            car_dir=folder,
            known_columns=schema,
            generation=generation,
        )

    def ensure_columns(self, names: list[str]) -> pd.DataFrame:
        """The CAR with these columns loaded (read from the folder the first time they are
        asked for: the engine keeps only the columns cohorts and metrics read)."""
        missing = [n for n in dict.fromkeys(names) if n not in self.car.columns]
        unknown = [n for n in missing if n not in self.known_columns]
        if unknown:
            raise ProfilerError(
                f"Unknown CAR column '{clip(unknown[0])}'.{did_you_mean(unknown[0], self.known_columns)}"
            )
        if missing:
            if self.generation is None:
                raise ProfilerError(f"CAR column '{missing[0]}' is not loaded.")
            extra = self.generation.read_car(columns=missing)
            self.car = pd.concat([self.car, extra.reset_index(drop=True)], axis=1)
        return self.car

    # -- periods ---------------------------------------------------------------------------------

    def period(self, period: str | Period | None) -> Period:
        """A period from its written form; ``asof`` (or nothing) is the CAR's date."""
        if isinstance(period, Period):
            return period
        text = "" if period is None else str(period).strip()
        if text not in self._periods:
            if len(self._periods) > 256:
                self._periods.clear()
            self._periods[text] = (
                asof_period(self.as_of) if text in ("", "asof") else parse_period(text)
            )
        return self._periods[text]

    def complete(self, span: Period) -> bool:
        """Whether the period ended by the as-of day (later months have no data yet)."""
        return span.end <= self.as_of + pd.Timedelta(days=1)

    # -- values ----------------------------------------------------------------------------------

    def value(
        self, metric: str, cohort: str | None = None, period: str | Period | None = None
    ) -> float:
        """One number: the metric for one cohort (default: the base) and period."""
        table = self.values([metric], [cohort or self.cohorts.base], period)
        return float(table["value"].iloc[0])

    def values(
        self,
        metrics: list[str],
        cohorts: list[str],
        period: str | Period | None = None,
        *,
        membership: str = "d",
    ) -> pd.DataFrame:
        """Tidy table: one row per cohort x metric with value, customers and the small flag.

        ``membership``: who is in a cohort: its members at D (``d``, the default: the same
        customers in every period), or at the period's end (``period-end``: possible for
        cohorts defined on the state columns only, ``profiler/state.py``)."""
        span = self.period(period)
        names = tuple(cohorts)
        at_d = asof_period(self.as_of)
        day = self._membership_day(names, span, membership)
        # Metrics that exist only at D answer any period with D's value, labelled "as of D".
        plans = {
            span.kind: (span, _CohortTotals(self, names, _key(span), day), {}),
            "asof": (at_d, _CohortTotals(self, names, _key(at_d)), {}),
        }
        flows = [m for m in metrics if self.timing(m) != "as_of_d"]
        plans[span.kind][1].prefetch(self._row_parts(flows))
        values, customers, labels = [], [], []
        for name in metrics:
            m = self.catalog.get(name)
            self._check_period(m, span)
            used, by, memo = plans["asof" if self.timing(name) == "as_of_d" else span.kind]
            value, count = self._eval(m, by, memo)
            values.append(value)
            customers.append(count)
            labels.append(self._label(used))
        k = len(names)
        out = pd.DataFrame(
            {
                "cohort": list(names) * len(metrics),
                "metric": np.repeat(np.asarray(metrics, dtype=object), k),
                "period": np.repeat(np.asarray(labels, dtype=object), k),
                "value": np.concatenate(values) if values else np.zeros(0),
                "customers": np.concatenate(customers).astype(np.int64)
                if customers
                else np.zeros(0, dtype=np.int64),
            }
        )
        out["small"] = out["customers"].to_numpy() < self.cohorts.min_size
        out.attrs["catalog"] = self.stamp
        out.attrs["as_of"] = f"{self.as_of:%Y-%m-%d}"
        return out

    def monthly(
        self, metrics: list[str], first: str, last: str, cohort: str | None = None
    ) -> pd.DataFrame:
        """Metrics month by month for one cohort (a trend line): one row per month.

        Straight from the activity table (a month is one row per customer there), without the
        per-customer vectors a period query builds: a 24-month trend costs one pass."""
        start, end = parse_period(first), parse_period(last)
        if start.kind != "month" or end.kind != "month" or end.start < start.start:
            raise ProfilerError(
                f"A trend runs from a month to a later month; got {first} to {last}."
            )
        by = _MonthTotals(
            self, int(month_number(start.start)), int(month_number(end.start)), cohort
        )
        memo: dict[str, Part] = {}
        out = pd.DataFrame({"month": by.labels()})
        timings = {name: self.timing(name) for name in metrics}
        for name, timing in timings.items():
            if timing == "as_of_d":
                raise ProfilerError(
                    f"Metric '{name}' is measured as of the CAR's date only: it has no monthly trend."
                )
        states = [name for name, timing in timings.items() if timing == "period_end"]
        if states:  # taken at each month's end: every month's state in one pass over the orders
            spans = [self.period(label) for label in by.labels()]
            self.states([self.state_day(span) for span in spans])
            tables = [self.values(states, [cohort or self.cohorts.base], span) for span in spans]
            for i, name in enumerate(states):
                out[name] = [float(t["value"].iloc[i]) for t in tables]
                out[f"{name}_customers"] = [int(t["customers"].iloc[i]) for t in tables]
        for name in metrics:
            if timings[name] == "flow":
                out[name], out[f"{name}_customers"] = self._eval(self.catalog.get(name), by, memo)
        out.attrs["catalog"] = self.stamp
        return out[["month", *(c for name in metrics for c in (name, f"{name}_customers"))]]

    def breakdown(
        self,
        metrics: list[str],
        dimension: str,
        cohort: str | None = None,
        period: str | Period | None = None,
    ) -> pd.DataFrame:
        """Metrics for one cohort (default: the base) and period split by one of their declared
        dimensions: one row per metric x dimension value (``profiler/breakdown.py``)."""
        from .breakdown import breakdown

        return breakdown(self, metrics, dimension, cohort, period)

    def lines(self) -> dict[str, Any]:
        """The rows the build stored for breakdowns, per source (``profiler/lines.py``; read
        from the folder when first asked for; empty when the build stored none)."""
        if self._lines is None:
            generation = self.generation
            if generation is None and self.car_dir is not None:
                generation = store.open_generation(self.car_dir)
            self._lines = generation.read_lines() if generation is not None else {}
        return self._lines

    def _label(self, span: Period) -> str:
        key = (span.kind, span.start, span.end)
        if key not in self._labels:
            self._labels[key] = span.label
        return self._labels[key]

    def supports(self, metric: str, span: Period) -> bool:
        """Whether the metric has a value of its own for the period (not D's, as of D only)."""
        timing = self.timing(metric)
        if timing == "as_of_d":
            return span.kind == "asof"
        return timing == "period_end" or span.kind in self.catalog.get(metric).periods

    def timing(self, name: str) -> str:
        """When a metric is measured, for a period:

        - ``flow``: over the period's rows (sales, orders, surveys);
        - ``period_end``: a state of the customer taken at the period's last day, or at D for a
          period still running (``profiler/state.py``: reads only ``STATE_COLUMNS``);
        - ``as_of_d``: a state known only at D (balances, P(alive), consent, enrichment):
          any period gets D's value, labelled "as of D".

        A ratio, rate or derived metric is as of D if any part is (all its parts are then
        taken at D), else a state if any part is one."""
        return metric_timing(self.catalog, name, self._timings)

    def state_day(self, span: Period | tuple[Any, ...]) -> pd.Timestamp:
        """The day a state metric of the period describes: its last day, or D if earlier."""
        end = span.end if isinstance(span, Period) else span[2]
        return min(pd.Timestamp(end) - pd.Timedelta(days=1), self.as_of)

    def state(self, day: pd.Timestamp) -> pd.DataFrame:
        """The ``STATE_COLUMNS`` of every customer at the end of ``day`` (a few cached)."""
        return self.states([day])[0]

    def states(self, days: list[pd.Timestamp], keep: int = 8) -> list[pd.DataFrame]:
        """``state`` for many days, those not cached computed in one pass over the orders; the
        last ``keep`` days asked for stay cached."""
        numbers = [day_number(day) for day in days]
        missing = [n for n in dict.fromkeys(numbers) if n not in self._states]
        if missing:
            if self._orders is None:
                if self.generation is None:
                    raise ProfilerError(
                        "This CAR has no order days: rebuild it with 'profiler build'."
                    )
                self._orders = self.generation.read_orders()
            thresholds = self.meta.get("lifecycle") or _lifecycle_thresholds()
            found = states_at(self._orders, self.n, thresholds, missing)
            for n in numbers:
                if n in self._states:
                    self._states.move_to_end(n)
            self._states.update(zip(missing, found, strict=True))
            while len(self._states) > max(keep, len(numbers)):
                self._states.popitem(last=False)
        return [self._states[n] for n in numbers]

    def _check_period(self, m: Metric, span: Period) -> None:
        if self.timing(m.name) != "flow":
            return  # a state: taken at the period's end, or as of D (labelled so)
        if span.kind not in m.periods:
            raise ProfilerError(
                f"Metric '{m.name}' is measured as of the CAR's date only (it supports "
                f"{', '.join(m.periods)}), not for {span.label}."
            )

    MEMBERSHIPS = ("d", "period-end")

    def _membership_day(
        self, names: tuple[str, ...], span: Period, membership: str
    ) -> pd.Timestamp | None:
        """The day cohort membership is taken on when it is not D (None: at D)."""
        if membership not in self.MEMBERSHIPS:
            raise ProfilerError(
                f"Membership '{clip(membership)}': expected {' or '.join(self.MEMBERSHIPS)}."
            )
        day = self.state_day(span)
        if membership == "d" or day >= self.as_of:
            return None
        for name in names:
            other = sorted(self.cohorts.reads(name) - set(STATE_COLUMNS))
            if other:
                raise ProfilerError(
                    f"Cohort '{clip(name)}' reads {', '.join(other)}, known as of "
                    f"{self.as_of:%Y-%m-%d} only: its members can be taken at D only "
                    "(membership d); at a period's end, cohorts of lifecycle stage and orders."
                )
        return day

    def members(self, name: str, day: pd.Timestamp | None = None) -> np.ndarray:
        """Which CAR rows are in the cohort at D, or at the end of ``day``."""
        if day is None:
            return self.cohorts.mask(name)
        return self.cohorts.mask_in(name, self.state(day))

    def _indicator(self, names: tuple[str, ...], day: pd.Timestamp | None = None) -> sp.csr_matrix:
        key = (names, day)
        if key not in self._indicators:
            rows = [np.flatnonzero(self.members(name, day)) for name in names]
            indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
            indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
            data = np.ones(len(indices), dtype=np.float64)
            matrix = sp.csr_matrix((data, indices, indptr), shape=(len(names), self.n))
            if len(self._indicators) > 64:
                self._indicators.clear()
            self._indicators[key] = matrix
        return self._indicators[key]

    def _eval(self, m: Metric, by: _Totals, memo: dict[str, Part]) -> tuple[np.ndarray, np.ndarray]:
        """Values and customer counts of one metric for each group of ``by``: its leaves here,
        composed by ``profiler/compose.py`` (memoised per call: a ratio and its parts share
        their work)."""
        part = compose(self.catalog, m.name, lambda leaf: self._leaf(leaf, by), memo, size=by.size)
        customers = part.customers if part.customers is not None else by.customers()
        return np.asarray(part.value, dtype=np.float64), customers

    def _leaf(self, m: Metric, by: _Totals) -> Part:
        with np.errstate(divide="ignore", invalid="ignore"):  # a mean of nothing is NaN
            if m.source == "customers":
                return Part(*self._eval_car(m, by))
            return Part(*self._eval_rows(m, by))

    def _row_parts(self, metrics: list[str]) -> list[str]:
        """The per-customer vectors the row metrics among ``metrics`` (and their parts) read:
        what ``_eval_rows`` asks ``by.part`` for, apart from the customer counts (bits)."""
        key = tuple(metrics)
        if key not in self._parts_read:
            if len(self._parts_read) > 256:
                self._parts_read.clear()
            self._parts_read[key] = self._find_row_parts(metrics)
        return self._parts_read[key]

    def _find_row_parts(self, metrics: list[str]) -> list[str]:
        out: dict[str, None] = {}
        for name in leaves(self.catalog, metrics):
            m = self.catalog.get(name)
            if m.source in (None, "customers") or self.left_out_metric(name):
                continue
            if m.aggregation == "count":
                out[self._rows_part(m)] = None
            elif m.aggregation == "count_distinct":
                if m.column != "customer_id":
                    out[f"{m.name}.distinct"] = None
            else:
                out[sum_part(m)[0]] = None
                if m.aggregation == "mean":
                    out[f"{m.name}.n"] = None
        return list(out)

    def matrix(self, parts: tuple[str, ...], span: tuple[Any, ...]) -> np.ndarray:
        """The period's vectors of ``parts`` side by side, customers x parts, row-major: a
        cohort's members then read all their parts from one or two cache lines each, instead
        of one random read per part (the few last asked for are kept)."""
        key = (parts, span)
        if key not in self._matrices:
            out = np.empty((self.n, len(parts)), dtype=np.float64)
            for j, part in enumerate(parts):
                out[:, j] = self._vector(part, span)
            self._matrices[key] = out
            while len(self._matrices) > 2:
                self._matrices.popitem(last=False)
        self._matrices.move_to_end(key)
        return self._matrices[key]

    def _eval_rows(self, m: Metric, by: _Totals) -> tuple[np.ndarray, np.ndarray]:
        rows = self._rows_part(m)
        customers = by.part(rows, positive=True)
        agg = m.aggregation
        if agg == "count":
            return by.part(rows), customers
        if agg == "count_distinct":
            if m.column == "customer_id":
                return customers, customers
            return by.part(f"{m.name}.distinct"), customers
        part, scale = sum_part(m)
        total = by.part(part)  # money: whole pence, summed exactly in doubles below 2**53
        if scale != 1:
            total = total / scale  # shown in pounds only now
        if agg == "sum":
            return total, customers
        n = by.part(f"{m.name}.n")
        return np.where(n > 0, total / n, np.nan), customers  # mean

    def _eval_car(self, m: Metric, by: _Totals) -> tuple[np.ndarray, np.ndarray]:
        day = self.state_day(by.span) if self.timing(m.name) == "period_end" else None
        frame = self.car if day is None else self.state(day)
        keep = self._car_filter(m, frame, day)
        agg = m.aggregation
        if agg == "count":
            counted = by.count(keep)
            return counted, counted
        values = frame[m.column].astype(np.float64).to_numpy(na_value=np.nan)
        present = keep & ~np.isnan(values)
        customers = by.car(present.astype(np.float64))
        if agg in ("sum", "mean"):
            total = by.car(np.where(present, values, 0.0))
            if agg == "sum":
                return total, customers
            return np.where(customers > 0, total / customers, np.nan), customers
        if agg == "count_distinct":
            out = [pd.Series(values[mask & present]).nunique() for mask in by.masks()]
            return np.asarray(out, dtype=np.float64), customers
        q = 50.0 if agg == "median" else float(m.percentile or 50)
        out = []
        for mask in by.masks():
            chosen = values[mask & present]
            out.append(float(np.percentile(chosen, q)) if len(chosen) else np.nan)
        return np.asarray(out), customers

    def _car_filter(self, m: Metric, frame: pd.DataFrame, day: pd.Timestamp | None) -> np.ndarray:
        key = (m.name, day)
        if key not in self._filters:
            keep = np.ones(self.n, dtype=bool)
            if m.filter:
                keep &= expressions.evaluate_mask(m.tree("filter"), frame, m.filter)
            if len(self._filters) > 512:
                self._filters.clear()
            self._filters[key] = keep
        return self._filters[key]

    def _rows_part(self, m: Metric) -> str:
        """Metrics reading the same rows (source, date column, filter) share one rows part."""
        same = (m.source, m.date_column, m.filter)
        return self._rows_alias.setdefault(same, f"{m.name}.rows")

    def _vector(self, part: str, span: tuple[Any, ...], *, positive: bool = False) -> np.ndarray:
        """Per-customer total of one activity part over the period (cached)."""
        key = (part + (">0" if positive else ""), span)
        if key in self._vectors:
            self._vectors.move_to_end(key)
            return self._vectors[key]
        if positive:
            vector = (self._vector(part, span) > 0).astype(np.float64)
        else:
            vector = self.part_by_customer(part, span)
        self._vectors[key] = vector
        if len(self._vectors) > _CACHE_VECTORS:
            self._vectors.popitem(last=False)
        return vector

    def _positive_bit(self, part: str, span: tuple[Any, ...]) -> int | None:
        """The bit of the period's packed vector that says "this customer has rows for part"
        (assigned on first use; None once 64 parts are packed)."""
        slots = self._bit_slots.setdefault(span, {})
        if part not in slots:
            if len(slots) == 64:
                return None
            bits, version = self._bits.get(span, (np.zeros(self.n, dtype=np.uint64), 0))
            positive = self._vector(part, span) > 0
            bits = bits | (positive.astype(np.uint64) << np.uint64(len(slots)))
            slots[part] = len(slots)
            self._bits[span] = (bits, version + 1)
        return slots[part]

    def left_out_metric(self, name: str) -> str | None:
        """Why a catalog metric cannot be computed on this CAR (a source table or column was
        not provided), or None when it can.  Views leave such metrics out with this note."""
        m = self.catalog.get(name)
        parts = m.parts
        for part in parts:
            reason = self.left_out_metric(part)
            if reason:
                return reason
        if parts:
            return None
        if m.source == "customers":
            absent = sorted(n for n in m.columns_read if n not in self.known_columns)
            if absent:
                return f"needs CAR column {', '.join(absent)}, which this CAR does not have"
            return None
        if self.activity is not None and f"{m.name}.rows" not in self.activity.parts:
            if m.reads_products:
                return PRODUCTS_LEFT_OUT
            if m.source == "order_lines" and m.columns_read & set(margin.COST_COLUMNS):
                return margin.NOTE
            return f"needs the {m.source} table, which this build did not have"
        return None

    def available_metrics(self, names: list[str]) -> tuple[list[str], dict[str, str]]:
        """The metrics of ``names`` this CAR can compute, and the reason for each left out."""
        reasons = {name: self.left_out_metric(name) for name in names}
        kept = [name for name, reason in reasons.items() if reason is None]
        return kept, {name: reason for name, reason in reasons.items() if reason}

    def require_activity(self, part: str | None = None) -> Activity:
        """The activity table (holding ``part``), or a one-line error saying to rebuild."""
        if self.activity is None:
            raise ProfilerError(
                "This CAR folder has no activity table: rebuild it with 'profiler build'."
            )
        if part is not None and part not in self.activity.parts:
            metric = part.split(".")[0]
            reason = self.left_out_metric(metric) if metric in self.catalog.metrics else None
            if reason:
                raise LeftOut(f"Metric '{metric}' is left out: {reason}.")
            raise ProfilerError(
                f"Metric '{metric}' has no data in this CAR folder (the catalog changed since "
                "the build): rebuild with 'profiler build'."
            )
        return self.activity

    def part_by_customer(self, part: str, span: Period | tuple[Any, ...]) -> np.ndarray:
        """Sum of an activity part over the period's months, one value per CAR row."""
        activity = self.require_activity(part)
        if isinstance(span, tuple):
            span = Period(*span)
        rows = activity.month_slice(*self.months(span))
        return np.bincount(
            activity.customer[rows], weights=activity.parts[part][rows], minlength=self.n
        )

    def months(self, span: Period) -> tuple[int, int]:
        """First and last month number of a period (``asof``: everything to the as-of month)."""
        last = min(span.end - pd.Timedelta(days=1), self.as_of)
        first = month_number(span.start) if span.kind != "asof" else 0
        return int(first), int(month_number(last))

    # -- catalog facts for the views --------------------------------------------------------

    def metric(self, name: str) -> Metric:
        return self.catalog.get(name)


class _Totals:
    """How part totals are taken: per cohort for a period, or per month for one cohort."""

    size: int
    span: tuple[Any, ...]

    def part(self, name: str, *, positive: bool = False) -> np.ndarray: ...

    def prefetch(self, parts: list[str]) -> None:
        """Take these parts' totals together (where that is faster); ``part`` returns them."""

    def car(self, vector: np.ndarray) -> np.ndarray: ...

    def count(self, mask: np.ndarray) -> np.ndarray:
        return self.car(mask.astype(np.float64))

    def customers(self) -> np.ndarray: ...

    def masks(self) -> list[np.ndarray]: ...


class _CohortTotals(_Totals):
    """Cohorts x one period: sparse indicator (cohorts x customers) times per-customer vectors.

    Customer counts ("has rows in the period") are bits of one packed vector per period
    (``QueryEngine._positive_bits``): one gather of the cohorts' members serves every metric's
    count, instead of one product per metric."""

    def __init__(
        self,
        engine: QueryEngine,
        names: tuple[str, ...],
        span: tuple[Any, ...],
        day: pd.Timestamp | None = None,
    ) -> None:
        self.engine, self.names, self.span, self.day = engine, names, span, day
        self.s = engine._indicator(names, day)
        self.size = len(names)
        self._gathered: tuple[int, np.ndarray] | None = None
        self._totals: dict[str, np.ndarray] = {}

    def prefetch(self, parts: list[str]) -> None:
        """One sparse x dense product over the parts' matrix (``QueryEngine.matrix``) gives
        every part's totals: the same sums, in the same order, as one product per part."""
        if len(parts) < 2 or self.engine.n * len(parts) * 8 > MATRIX_BYTES:
            return
        matrix = self.engine.matrix(tuple(parts), self.span)
        totals = np.zeros((self.size, len(parts)))
        _member_sums(self.s.indptr, self.s.indices, matrix, totals)
        self._totals = {part: totals[:, j] for j, part in enumerate(parts)}

    def part(self, name: str, *, positive: bool = False) -> np.ndarray:
        if not positive and name in self._totals:
            return self._totals[name]
        if positive:
            bit = self.engine._positive_bit(name, self.span)
            if bit is not None:
                return self._count_bit(bit)
        return self.s @ self.engine._vector(name, self.span, positive=positive)

    def _count_bit(self, bit: int) -> np.ndarray:
        """Customers per cohort with the bit set, from the members' packed words gathered once
        per question (as bytes: the bit's byte is an eighth of the word's memory)."""
        bits, version = self.engine._bits[self.span]
        if self._gathered is None or self._gathered[0] != version:
            self._gathered = (version, bits[self.s.indices].view(np.uint8).reshape(-1, 8))
            self._bytes: dict[int, np.ndarray] = {}
        if bit // 8 not in self._bytes:
            self._bytes[bit // 8] = np.ascontiguousarray(self._gathered[1][:, bit // 8])
        column = self._bytes[bit // 8]
        if self.size == 1:  # one cohort: a count of the members with the bit
            return np.array([np.count_nonzero(column & np.uint8(1 << (bit % 8)))], dtype=float)
        return self._sum_members((column >> np.uint8(bit % 8)) & np.uint8(1))

    def _sum_members(self, gathered: np.ndarray) -> np.ndarray:
        """Per cohort, the sum of values gathered over its members (in indicator order)."""
        out = np.zeros(self.size)
        filled = np.diff(self.s.indptr) > 0  # reduceat cannot sum an empty cohort
        if filled.any():
            out[filled] = np.add.reduceat(gathered, self.s.indptr[:-1][filled], dtype=np.int64)
        return out

    def car(self, vector: np.ndarray) -> np.ndarray:
        return self.s @ vector

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Members of each cohort where ``mask`` holds (no float copy of the mask): for a few
        cohorts, their member masks and'd with it; for many, a gather of their members."""
        if self.size <= 4:
            return np.array([np.count_nonzero(mask & m) for m in self.masks()], dtype=np.float64)
        return self._sum_members(mask[self.s.indices])

    def customers(self) -> np.ndarray:
        return self.s.getnnz(axis=1).astype(np.float64)

    def masks(self) -> list[np.ndarray]:
        return [self.engine.members(n, self.day) for n in self.names]


class _MonthTotals(_Totals):
    """One cohort x consecutive months, summed straight from the activity rows."""

    def __init__(self, engine: QueryEngine, first: int, last: int, cohort: str | None) -> None:
        activity = engine.require_activity()
        self.engine, self.first, self.size = engine, first, last - first + 1
        self.span = ()
        rows = activity.month_slice(first, last)
        customer = activity.customer[rows]
        keep = engine.cohorts.mask(cohort or engine.cohorts.base)[customer]
        self.rows = np.arange(rows.start, rows.stop)[keep]
        self.month = activity.month[self.rows] - first

    def labels(self) -> list[str]:
        return [
            f"{1970 + (self.first + i) // 12}-{(self.first + i) % 12 + 1:02d}"
            for i in range(self.size)
        ]

    def part(self, name: str, *, positive: bool = False) -> np.ndarray:
        values = self.engine.require_activity(name).parts[name][self.rows]
        weights = (values > 0).astype(np.float64) if positive else values.astype(np.float64)
        return np.bincount(self.month, weights=weights, minlength=self.size)

    def car(self, vector: np.ndarray) -> np.ndarray:
        raise ProfilerError("Metrics of customer state have no monthly trend.")

    def customers(self) -> np.ndarray:
        return self.car(np.zeros(0))

    def masks(self) -> list[np.ndarray]:
        return [self.car(np.zeros(0))]


@kernel
def _member_sums(indptr, indices, matrix, out):  # noqa: ANN001, ANN202
    """out[c] = the sum of ``matrix``'s rows over cohort c's members (``indices`` between
    ``indptr[c]`` and ``indptr[c + 1]``), each cohort cut in chunks summed on every core.  The
    parts are whole numbers (counts, pence, whole sums), so the order of addition does not
    change a sum below 2**53."""
    chunks = 8
    cohorts, width = len(indptr) - 1, matrix.shape[1]
    partial = np.zeros((cohorts * chunks, width))
    for t in prange(cohorts * chunks):
        c, j = t // chunks, t % chunks
        lo, size = indptr[c], indptr[c + 1] - indptr[c]
        for i in range(lo + size * j // chunks, lo + size * (j + 1) // chunks):
            row = indices[i]
            for p in range(width):
                partial[t, p] += matrix[row, p]
    for t in range(cohorts * chunks):
        for p in range(width):
            out[t // chunks, p] += partial[t, p]


def _key(span: Period) -> tuple[Any, ...]:
    return (span.kind, span.start, span.end)


def _lifecycle_thresholds() -> dict[str, Any]:
    """The lifecycle thresholds of the feature spec (for builds whose metadata has none)."""
    from .features import load_feature_spec

    return load_feature_spec()["lifecycle"]


def metric_timing(catalog: Catalog, name: str, memo: dict[str, str] | None = None) -> str:
    """``QueryEngine.timing`` from the catalog alone (flow, period_end or as_of_d), for what
    knows no CAR (``profiler metrics check --targets``); ``memo`` keeps the answers."""
    memo = {} if memo is None else memo
    if name not in memo:
        m = catalog.get(name)
        parts = m.parts
        if parts:
            timings = {metric_timing(catalog, part, memo) for part in parts}
            timing = next((t for t in ("as_of_d", "period_end") if t in timings), "flow")
        elif m.source == "customers":
            read = m.columns_read
            state = read and read <= set(STATE_COLUMNS)
            timing = "period_end" if state else "as_of_d"
        else:
            timing = "flow"
        memo[name] = timing
    return memo[name]


def _catalog_columns(catalog: Catalog) -> set[str]:
    """CAR columns read by the catalog's metrics of customer state."""
    return set().union(
        *(m.columns_read for m in catalog.metrics.values() if m.source == "customers")
    )


def car_as_of(car_dir: str | Path | None) -> pd.Timestamp:
    """The as-of date D of a CAR folder (default: $PROFILER_CAR)."""
    return pd.Timestamp(store.open_generation(store.car_folder(car_dir)).meta["as_of"])
