"""The rows behind the row metrics, stored with the CAR so a breakdown needs no source file.

The activity table (``profiler/activity.py``) adds every row metric up by customer and month:
fast for cohorts and periods, but the rows' dimensions (channel, category, price point,
interaction topic...) are gone.  A breakdown of a metric by a dimension needs the rows, so an
in-memory build also stores, per row source (the order facts as of D that the activity table is
built from, surveys and interactions known at D), the rows of CAR customers with only what the
row metrics read:

- ``row``: the customer's row in the CAR (int32);
- ``month:<date>``: the month (``activity.month_number``, int16) of each date column a metric
  is dated by, -1 when the row has no such date by the end of D;
- every declared dimension, filter column and value column of the source's row metrics:
  text columns as integer codes (-1: missing) with their values in the schema metadata,
  numbers as they are; ``order_code`` (the order, as a dense integer) for distinct orders.

Rows are sorted by the month of the source's own date (``ordered_at``, ``at``), so a period is
a slice.  One member per source (``store.LINES``); a build out of core or on Spark writes none
and records why (``NOTE``), like the stored source checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .activity import month_number, row_metrics
from .catalog import SOURCES, Catalog, Metric
from .contract import TABLES
from .facts import PRODUCT_ATTRIBUTES, pence_column
from .metrics import MetricEngine

LINE_SOURCES = ("order_lines", "surveys", "interactions")
MONTH = "month:"  # prefix of a date column's month
KEY = b"profiler_lines"  # schema metadata: source, date, dictionaries
NOTE = (
    "Breakdowns by dimension read the rows an in-memory build stores with the CAR "
    "('profiler build --engine in-memory'); this CAR was built {how}."
)


@dataclass
class Lines:
    """One source's stored rows (see the module doc): arrays by column name, text columns'
    values in ``dictionaries``, sorted by ``month:<date>``."""

    source: str
    date: str
    columns: dict[str, np.ndarray]
    dictionaries: dict[str, list[str]] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)  # dimension: the source column it needs
    _present: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.columns["row"])

    @property
    def row(self) -> np.ndarray:
        return self.columns["row"]

    def month(self, date: str) -> np.ndarray | None:
        """The month of each row by this date column (None: not stored)."""
        return self.columns.get(MONTH + date)

    def month_rows(self, date: str, first: int, last: int) -> np.ndarray | slice | None:
        """The rows whose ``date`` falls in months first..last: a slice for the date the rows
        are sorted by, else their positions; None when the date is not stored."""
        month = self.month(date)
        if month is None:
            return None
        lo, hi = month.dtype.type(max(first, 0)), month.dtype.type(min(last, 32767))
        if date == self.date:
            start = int(np.searchsorted(month, lo, side="left"))
            return slice(start, int(np.searchsorted(month, hi, side="right")))
        return np.flatnonzero((month >= lo) & (month <= hi))

    def present(self, name: str) -> list[str]:
        """The values of a stored column that occur in its rows (text in dictionary order)."""
        if name not in self.columns:
            return []
        if name not in self._present:
            self._present[name] = self._find_present(name)
        return self._present[name]

    def _find_present(self, name: str) -> list[str]:
        data = self.columns[name]
        if name in self.dictionaries:
            counts = np.bincount(
                data.astype(np.int64) + 1, minlength=len(self.dictionaries[name]) + 1
            )
            return [v for v, c in zip(self.dictionaries[name], counts[1:], strict=True) if c]
        return [str(v) for v in np.unique(data[~pd.isna(data)])]

    def has(self, name: str) -> bool:
        return name in self.columns

    def values(self, name: str, rows: np.ndarray | slice) -> Any:
        """A column over ``rows`` as a pandas column would read (text as a Categorical)."""
        data = self.columns[name][rows]
        if name in self.dictionaries:
            return pd.Categorical.from_codes(data, categories=self.dictionaries[name])
        return data

    def frame(self, names: list[str], rows: np.ndarray | slice) -> pd.DataFrame:
        """The columns ``names`` (those stored) over ``rows``, as a DataFrame the row metrics'
        filters and values read (``activity.metric_parts``)."""
        return pd.DataFrame({n: self.values(n, rows) for n in dict.fromkeys(names) if self.has(n)})


def source_metrics(catalog: Catalog, source: str) -> list[Metric]:
    return [m for m in row_metrics(catalog) if m.source == source]


def stored_columns(catalog: Catalog, source: str) -> tuple[list[str], list[str]]:
    """What the source's stored rows hold: the date columns (stored as months) and the other
    columns (dimensions, filter and value columns; ``order_code`` for distinct orders)."""
    dates: dict[str, None] = {SOURCES[source] or "": None}
    names: dict[str, None] = dict.fromkeys(dimension_names(catalog, source))
    for m in source_metrics(catalog, source):
        dates[m.date_column or ""] = None
        for name in m.columns_read:
            if name == "order_id":
                names["order_code"] = None
            elif name != "customer_id":
                names[pence_column(m.source, name) or name] = None
    return [d for d in dates if d], [n for n in names if n not in dates]


def build_lines(
    engine: MetricEngine,
    catalog: Catalog,
    customer_ids: pd.Index | np.ndarray,
    as_of: pd.Timestamp,
) -> dict[str, Lines]:
    """Every row source's stored rows (see the module doc), from the frames the activity table
    was built from (``engine``: its cached frames are reused)."""
    index = pd.Index(customer_ids)
    cutoff = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    out: dict[str, Lines] = {}
    for source in LINE_SOURCES:
        if not source_metrics(catalog, source):
            continue
        if source != "order_lines" and not (engine.source and engine.source.has(source)):
            continue
        frame = engine.frame(source)
        dates, names = stored_columns(catalog, source)
        ids = frame["customer_id"]
        known = index
        if ids.dtype != known.dtype:
            ids, known = ids.astype(str), known.astype(str)
        row = known.get_indexer(ids)
        months: dict[str, np.ndarray] = {}
        for date in dates:
            times = frame[date]
            ok = (times.notna() & (times < cutoff)).to_numpy(dtype=bool)
            month = np.full(len(frame), -1, dtype=np.int16)
            month[ok] = month_number(times[ok])
            months[date] = month
        keep = row >= 0
        keep &= np.logical_or.reduce([m >= 0 for m in months.values()])
        primary = months[dates[0]]
        order = np.flatnonzero(keep)
        order = order[np.argsort(primary[order], kind="stable")]
        columns: dict[str, np.ndarray] = {"row": row[order].astype(np.int32)}
        for date in dates:
            columns[MONTH + date] = months[date][order]
        dictionaries: dict[str, list[str]] = {}
        for name in names:
            if name not in frame:
                continue
            values = frame[name]
            if isinstance(values.dtype, pd.CategoricalDtype):
                codes = values.cat.codes.to_numpy()
                dictionaries[name] = [str(c) for c in values.cat.categories]
            elif values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
                codes, uniques = pd.factorize(values, sort=True)
                dictionaries[name] = [str(c) for c in uniques]
            else:
                columns[name] = values.to_numpy()[order]
                continue
            columns[name] = _small_codes(codes[order], len(dictionaries[name]))
        absent = {
            name: where
            for name in dimension_names(catalog, source)
            if (where := _origin(source, name)) and not engine.source.has_column(*where.split("."))
        }
        out[source] = Lines(source, dates[0], columns, dictionaries, absent)
    return out


def dimension_names(catalog: Catalog, source: str) -> list[str]:
    """The dimensions the source's metrics declare (``month`` aside)."""
    out: dict[str, None] = {}
    for m in catalog.metrics.values():
        if m.source == source:
            out.update(dict.fromkeys(d for d in m.dimensions if d != "month"))
    return list(out)


def _origin(source: str, name: str) -> str | None:
    """The source column (``table.column``) a dimension of the source's rows comes from."""
    if source == "order_lines" and name in PRODUCT_ATTRIBUTES:
        return f"products.{name}"
    return f"{source}.{name}" if name in TABLES[source].column_names else None


def _small_codes(codes: np.ndarray, size: int) -> np.ndarray:
    dtype = np.int8 if size < 127 else np.int16 if size < 32767 else np.int32
    return codes.astype(dtype)


def lines_table(lines: Lines) -> pa.Table:
    """The stored rows as an Arrow table; source, date and dictionaries in its metadata."""
    table = pa.table({name: pa.array(values) for name, values in lines.columns.items()})
    about = {
        "source": lines.source,
        "date": lines.date,
        "dictionaries": lines.dictionaries,
        "absent": lines.absent,
    }
    return table.replace_schema_metadata(
        {**(table.schema.metadata or {}), KEY: json.dumps(about).encode()}
    )


def lines_from_table(table: pa.Table) -> Lines:
    """The rows of a table written from ``lines_table`` (memory-mapped by the store)."""
    about = json.loads((table.schema.metadata or {})[KEY])
    columns = {}
    for name in table.column_names:
        chunked = table.column(name)
        if chunked.num_chunks == 1 and chunked.null_count == 0:
            columns[name] = chunked.chunk(0).to_numpy(zero_copy_only=False)
        else:
            columns[name] = chunked.to_numpy()
    return Lines(
        about["source"], about["date"], columns, about["dictionaries"], about.get("absent", {})
    )
