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

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import expressions
from .activity import Activity, month_number, read_activity
from .car import CAR_FILE, META_FILE, read_car
from .catalog import Catalog, Metric, load_catalog
from .cohorts import CohortSet, load_cohort_spec
from .errors import ProfilerError
from .periods import Period, asof_period, parse_period

CAR_ENV = "PROFILER_CAR"
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
    ) -> None:
        self.car = car.reset_index(drop=True)
        self.activity = activity
        self.catalog = catalog
        self.as_of = pd.Timestamp(as_of).normalize()
        self.meta = meta or {}
        self.car_dir = Path(car_dir) if car_dir else None
        self.cohorts = CohortSet(self.car, cohort_spec)
        self.n = len(self.car)
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._indicators: dict[tuple[str, ...], sp.csr_matrix] = {}
        self._filters: dict[str, np.ndarray] = {}

    @classmethod
    def open(
        cls,
        car_dir: str | Path | None = None,
        *,
        catalog: Catalog | None = None,
        cohort_spec: dict[str, Any] | None = None,
    ) -> QueryEngine:
        """Load a folder written by ``profiler build`` (default: $PROFILER_CAR)."""
        folder = Path(resolve_car_dir(car_dir))
        meta_path = folder / META_FILE
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        car = read_car(folder)
        if "as_of" not in meta:
            raise ProfilerError(f"{meta_path}: missing (it records the CAR's as-of date); rebuild.")
        activity = read_activity(folder, pd.Index(car["customer_id"]))
        return cls(
            car,
            activity,
            catalog or load_catalog(),
            as_of=pd.Timestamp(meta["as_of"]),
            cohort_spec=cohort_spec or load_cohort_spec(),
            meta=meta,
            car_dir=folder,
        )

    # -- periods ---------------------------------------------------------------------------------

    def period(self, period: str | Period | None) -> Period:
        """A period from its written form; ``asof`` (or nothing) is the CAR's date."""
        if isinstance(period, Period):
            return period
        if period is None or str(period).strip() in ("", "asof"):
            return asof_period(self.as_of)
        return parse_period(str(period))

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
        self, metrics: list[str], cohorts: list[str], period: str | Period | None = None
    ) -> pd.DataFrame:
        """Tidy table: one row per cohort x metric with value, customers and the small flag."""
        span = self.period(period)
        names = tuple(cohorts)
        indicator = self._indicator(names)
        frames = []
        for name in metrics:
            m = self.catalog.get(name)
            self._check_period(m, span)
            value, customers = self._eval(m, span, indicator, names)
            frames.append(
                pd.DataFrame(
                    {
                        "cohort": list(names),
                        "metric": name,
                        "period": span.label,
                        "value": value,
                        "customers": customers.astype(np.int64),
                    }
                )
            )
        out = pd.concat(frames, ignore_index=True) if frames else _empty()
        out["small"] = out["customers"] < self.cohorts.min_size
        out.attrs["catalog"] = self.catalog.stamp
        out.attrs["as_of"] = f"{self.as_of:%Y-%m-%d}"
        return out

    def supports(self, metric: str, span: Period) -> bool:
        return span.kind in self.catalog.get(metric).periods

    def _check_period(self, m: Metric, span: Period) -> None:
        if span.kind not in m.periods:
            raise ProfilerError(
                f"Metric '{m.name}' is measured as of the CAR's date only (it supports "
                f"{', '.join(m.periods)}), not for {span.label}."
            )

    def _indicator(self, names: tuple[str, ...]) -> sp.csr_matrix:
        if names not in self._indicators:
            rows = [np.flatnonzero(self.cohorts.mask(name)) for name in names]
            indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
            indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
            data = np.ones(len(indices), dtype=np.float64)
            matrix = sp.csr_matrix((data, indices, indptr), shape=(len(names), self.n))
            if len(self._indicators) > 64:
                self._indicators.clear()
            self._indicators[names] = matrix
        return self._indicators[names]

    def _eval(
        self, m: Metric, span: Period, s: sp.csr_matrix, names: tuple[str, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Values and customer counts of one metric for each cohort of ``s``."""
        agg = m.aggregation
        with np.errstate(divide="ignore", invalid="ignore"):
            if agg in ("ratio", "rate"):
                num, _ = self._eval(self.catalog.get(m.numerator or ""), span, s, names)
                den, customers = self._eval(
                    self.catalog.get((m.denominator or m.base) or ""), span, s, names
                )
                return np.where(den != 0, num / den, np.nan), customers
            if agg == "derived":
                counts: list[np.ndarray] = []

                def lookup(part: str) -> np.ndarray:
                    value, customers = self._eval(self.catalog.get(part), span, s, names)
                    counts.append(customers)
                    return value

                text = m.expression or ""
                result = expressions.evaluate_number(expressions.parse(text), lookup, text)
                result = np.broadcast_to(np.asarray(result, dtype=np.float64), (len(names),))
                return result, np.min(counts, axis=0) if counts else s.getnnz(axis=1)
            if m.source == "customers":
                return self._eval_car(m, s, names)
            return self._eval_rows(m, span, s)

    def _eval_rows(
        self, m: Metric, span: Period, s: sp.csr_matrix
    ) -> tuple[np.ndarray, np.ndarray]:
        customers = s @ self._vector(f"{m.name}.rows", span, positive=True)
        agg = m.aggregation
        if agg == "count":
            return s @ self._vector(f"{m.name}.rows", span), customers
        if agg == "count_distinct":
            if m.column == "customer_id":
                return customers, customers
            return s @ self._vector(f"{m.name}.distinct", span), customers
        total = s @ self._vector(f"{m.name}.sum", span)
        if agg == "sum":
            return total, customers
        n = s @ self._vector(f"{m.name}.n", span)
        return np.where(n > 0, total / n, np.nan), customers  # mean

    def _eval_car(
        self, m: Metric, s: sp.csr_matrix, names: tuple[str, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        keep = self._car_filter(m)
        agg = m.aggregation
        if agg == "count":
            counted = s @ keep.astype(np.float64)
            return counted, counted
        values = self.car[m.column].astype(np.float64).to_numpy(na_value=np.nan)
        present = keep & ~np.isnan(values)
        customers = s @ present.astype(np.float64)
        if agg in ("sum", "mean"):
            total = s @ np.where(present, values, 0.0)
            if agg == "sum":
                return total, customers
            return np.where(customers > 0, total / customers, np.nan), customers
        if agg == "count_distinct":
            out = [pd.Series(values[self.cohorts.mask(c) & present]).nunique() for c in names]
            return np.asarray(out, dtype=np.float64), customers
        q = 50.0 if agg == "median" else float(m.percentile or 50)
        out = []
        for c in names:
            chosen = values[self.cohorts.mask(c) & present]
            out.append(float(np.percentile(chosen, q)) if len(chosen) else np.nan)
        return np.asarray(out), customers

    def _car_filter(self, m: Metric) -> np.ndarray:
        if m.name not in self._filters:
            keep = np.ones(self.n, dtype=bool)
            if m.filter:
                keep &= expressions.evaluate_mask(expressions.parse(m.filter), self.car, m.filter)
            self._filters[m.name] = keep
        return self._filters[m.name]

    def _vector(self, part: str, span: Period, *, positive: bool = False) -> np.ndarray:
        """Per-customer total of one activity part over the period (cached)."""
        key = (part + (">0" if positive else ""), span.label)
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

    def part_by_customer(self, part: str, span: Period) -> np.ndarray:
        """Sum of an activity part over the period's months, one value per CAR row."""
        if self.activity is None:
            raise ProfilerError(
                "This CAR folder has no activity table: rebuild it with 'profiler build'."
            )
        if part not in self.activity.parts:
            metric = part.split(".")[0]
            raise ProfilerError(
                f"Metric '{metric}' has no data in this CAR folder (its source was missing at "
                "build time, or the catalog changed since): rebuild with 'profiler build'."
            )
        rows = self.activity.month_slice(*self.months(span))
        return np.bincount(
            self.activity.customer[rows],
            weights=self.activity.parts[part][rows],
            minlength=self.n,
        )

    def months(self, span: Period) -> tuple[int, int]:
        """First and last month number of a period (``asof``: everything to the as-of month)."""
        last = min(span.end - pd.Timedelta(days=1), self.as_of)
        first = month_number(span.start) if span.kind != "asof" else 0
        return int(first), int(month_number(last))

    # -- catalog facts for the views --------------------------------------------------------

    def metric(self, name: str) -> Metric:
        return self.catalog.get(name)


def resolve_car_dir(car_dir: str | Path | None) -> str:
    """The CAR folder given, else $PROFILER_CAR; a one-line error when neither is there."""
    import os

    folder = car_dir or os.environ.get(CAR_ENV)
    if not folder:
        raise ProfilerError(
            f"No CAR given: pass --car DIR (a folder written by 'profiler build') or set {CAR_ENV}."
        )
    if not (Path(folder) / CAR_FILE).exists():
        raise ProfilerError(
            f"{folder}: no {CAR_FILE} here. Build one with 'profiler build --data DIR --out {folder}'."
        )
    return str(folder)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["cohort", "metric", "period", "value", "customers"])
