"""Load the source tables: each file read (``source_files``), its columns coerced to the contract
(``coercion``) and its bad rows quarantined with a reason (``rules``).

Whole-file problems (missing or unreadable file, missing required column, a column none of
whose values has the expected type) raise ``ContractError`` with one line naming the file
and column.  Row problems send the row to the quarantine with the first reason found; no row
is dropped silently: for every table, rows read = accepted + quarantined.

This module puts the three together for one table (``check_table``, ``validate_table``) and
for the folder (``load_sources``), and holds what a load returns (``SourceData``).  Callers
import the readers' and the rules' public names from here too, as before the split.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import data_rights, mapping
from .coercion import coerce_column, default_column
from .contract import LOAD_ORDER, TABLES, Table
from .errors import ContractError, MissingColumns
from .keysort import by_customer_then_order, take_rows
from .mapping import find_source_file
from .periods import day_option
from .rules import (
    QUARANTINE_COLUMNS,
    ROW,
    Problems,
    check_values,
    duplicate_rule,
    reference_rules,
    table_rules,
)
from .source_files import (
    csv_column_names,
    csv_convert_options,
    csv_parse_options,
    describe_format,
    read_table_batches,
    read_table_file,
    source_folder,
)

# Names callers import from here (profiler/staging.py, profiler/spark_intake.py, tests, bench).
__all__ = [
    "QUARANTINE_COLUMNS",
    "ROW",
    "Problems",
    "SourceData",
    "StagedTable",
    "TableReport",
    "check_table",
    "csv_column_names",
    "csv_convert_options",
    "csv_parse_options",
    "describe_format",
    "duplicate_rule",
    "find_source_file",
    "load_sources",
    "missing_required",
    "read_table_batches",
    "read_table_file",
    "source_folder",
    "today_or_default",
    "type_name",
    "validate_table",
]


@dataclass
class TableReport:
    """What loading one table found."""

    table: str
    file: str | None
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    # rows left out before any rule (profiler/data_rights.py): reason -> count
    withheld: dict[str, int] = field(default_factory=dict)
    defaulted_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def provided(self) -> bool:
        return self.file is not None


@dataclass
class SourceData:
    """The accepted rows of every provided table, the quarantine and the per-table report."""

    tables: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    reports: dict[str, TableReport]
    data_dir: Path
    # Tables too large for memory: their accepted rows as Parquet parts (profiler/staging.py).
    staged: dict[str, StagedTable] = field(default_factory=dict)

    def has(self, table: str) -> bool:
        return table in self.tables or table in self.staged

    def column_type(self, table: str, column: str) -> str:
        """The accepted column's type, as a short name ('int64', 'object', ...), wherever the
        table is held."""
        if table in self.staged:
            return self.staged[table].types[column]
        return type_name(self.tables[table][column].dtype)

    def latest(self, table: str, column: str) -> pd.Timestamp:
        """The latest value of a time column of accepted rows."""
        if table in self.staged:
            return self.staged[table].latest[column]
        return self.tables[table][column].max()

    def has_column(self, table: str, column: str) -> bool:
        """True when the column came from the source file rather than from a default."""
        report = self.reports.get(table)
        return self.has(table) and report is not None and column not in report.defaulted_columns

    def has_products(self) -> bool:
        """Whether order lines can be joined to products (the table, and the lines' product_id):
        what the product attributes of the order facts need."""
        return self.has("products") and self.has_column("order_lines", "product_id")

    def missing_tables(self) -> list[str]:
        return [name for name in LOAD_ORDER if not self.has(name)]


def type_name(dtype: object) -> str:
    """A column type's short name; every kind of text (categories, strings) is 'object'."""
    if isinstance(dtype, (pd.CategoricalDtype, pd.StringDtype)) or np.dtype(object) == dtype:
        return "object"
    return str(dtype).lower()


@dataclass
class StagedTable:
    """A table's accepted rows on disk as Parquet parts (profiler/staging.py)."""

    parts: list[Path]
    types: dict[str, str]  # column -> short type name, as SourceData.column_type gives
    latest: dict[str, pd.Timestamp]  # time column -> its latest accepted value
    # Customer ids splitting the parts into buckets (part-BATCH-BUCKET.parquet holds the ids
    # from edges[BUCKET - 1] up to edges[BUCKET]); None: one bucket.
    edges: np.ndarray | None = None


def today_or_default(today: pd.Timestamp | str | None) -> pd.Timestamp:
    """The day after which dates are "in the future" (default: tomorrow, so today counts)."""
    if today is not None:
        if isinstance(today, pd.Timestamp):
            return today
        return day_option("today", str(today))  # 'notadate': one Error line
    return pd.Timestamp.now().normalize() + pd.Timedelta(days=1)


def load_sources(
    data_dir: str | Path,
    *,
    today: pd.Timestamp | str | None = None,
    tables: tuple[str, ...] | None = None,
    progress: Callable[[str], None] | None = None,
) -> SourceData:
    """Load and validate every source table found in ``data_dir``.

    Parameters
    ----------
    data_dir : folder holding one file per table (CSV or Parquet).
    today : dates after this are "in the future" and quarantined (default: now).
    tables : load only these tables (parents they reference are loaded too).
    progress : called with a short message as each table is loaded.
    """
    data_dir = source_folder(data_dir)
    today_ts = today_or_default(today)
    wanted = set(tables or LOAD_ORDER)
    for name in list(wanted):
        wanted.update(TABLES[name].references.values())
    loaded: dict[str, pd.DataFrame] = {}
    reports: dict[str, TableReport] = {}
    quarantines: list[pd.DataFrame] = []
    for name in LOAD_ORDER:
        if name not in wanted:
            continue
        spec = TABLES[name]
        path = find_source_file(data_dir, name)
        if path is None:
            if spec.required:
                raise missing_required(data_dir, name)
            reports[name] = TableReport(name, None)
            continue
        started = time.perf_counter()
        if progress:
            progress(f"reading {path.name}{describe_format(path)}")
        raw = mapping.apply(mapping.load_mapping(data_dir), name, read_table_file(path), path)
        frame, report, bad = validate_table(spec, raw, path, today_ts, loaded)
        del raw  # its columns live on in ``frame`` where they needed no conversion
        if name == "order_lines":
            frame = _grouped_by_customer(frame)
        report.seconds = time.perf_counter() - started
        loaded[name] = frame
        reports[name] = report
        if len(bad):
            quarantines.append(bad)
    quarantine = (
        pd.concat(quarantines, ignore_index=True)
        if quarantines
        else pd.DataFrame({c: pd.Series(dtype="object") for c in QUARANTINE_COLUMNS})
    )
    return SourceData(loaded, quarantine, reports, data_dir)


def _grouped_by_customer(lines: pd.DataFrame) -> pd.DataFrame:
    """Order lines grouped by customer, then order (``_row`` keeps each line's place in the
    file): every per-customer computation then walks memory in order, and the CAR need not
    hold a second, sorted copy of the lines."""
    index = by_customer_then_order(lines["customer_id"].to_numpy(), lines["order_id"].to_numpy())
    return lines if index is None else take_rows(lines, index, consume=True)


def missing_required(data_dir: Path, name: str) -> ContractError:
    return ContractError(
        f"{data_dir}: no {name}.csv or {name}.parquet found; order lines are required "
        "(columns order_id, customer_id, ordered_at, net_amount)."
    )


def validate_table(
    spec: Table,
    raw: pd.DataFrame,
    path: Path,
    today: pd.Timestamp,
    parents: dict[str, pd.DataFrame],
    *,
    first_row: int = 1,
    duplicates: bool = True,
) -> tuple[pd.DataFrame, TableReport, pd.DataFrame]:
    """Coerce one table to the contract; return accepted rows, the report and quarantined rows.

    ``first_row`` numbers the rows of a batch that does not start the file; ``duplicates=False``
    leaves the duplicate-key rule to the caller, which sees every batch (profiler/staging.py).
    """
    frame, report, bad_rows = check_table(
        spec, raw, path, today, parents, first_row=first_row, duplicates=duplicates
    )
    if len(bad_rows):
        keep = ~frame[ROW].isin(bad_rows["row"]).to_numpy()
        frame = frame.loc[keep]
    frame = frame.reset_index(drop=True)
    report.accepted = len(frame)
    report.quarantined = len(bad_rows)
    return frame, report, bad_rows


def check_table(
    spec: Table,
    raw: pd.DataFrame,
    path: Path,
    today: pd.Timestamp,
    parents: dict[str, pd.DataFrame],
    *,
    first_row: int = 1,
    rows: np.ndarray | None = None,
    duplicates: bool = True,
) -> tuple[pd.DataFrame, TableReport, pd.DataFrame]:
    """``validate_table`` before the quarantined rows are dropped: every row coerced (a bad
    row's unreadable cells missing), the report (rows read, columns defaulted and ignored) and
    the quarantined rows.  ``rows`` gives each row's number in the file (default: from
    ``first_row`` on): a batch whose rows are not consecutive (profiler/spark_intake.py)."""
    report = TableReport(spec.name, path.name, rows_read=len(raw))
    missing = [c for c in spec.required_columns if c not in raw.columns]
    if missing:
        hints = []
        for col in missing:
            close = difflib.get_close_matches(col, list(raw.columns), n=1)
            hints.append(f"'{col}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
        raise MissingColumns(
            f"{path}: required column {', '.join(hints)} missing; expected columns "
            f"{', '.join(spec.required_columns)}."
        )
    report.ignored_columns = [c for c in raw.columns if c not in spec.column_names]
    numbers = (
        np.arange(first_row, first_row + len(raw), dtype=np.int64)
        if rows is None
        else np.asarray(rows, dtype=np.int64)
    )
    # erased customers and lines older than the retention period: withheld before any rule
    withheld, report.withheld = data_rights.withheld_mask(spec.name, raw, path.parent, today)
    if withheld is not None:
        raw = raw.loc[~withheld]
        numbers = numbers[~withheld]
    problems = Problems(spec.name, path.name)
    problems.excel = bool(raw.attrs.get("excel"))
    frame = pd.DataFrame(index=raw.index)
    frame[ROW] = numbers
    for col in spec.columns:
        if col.name not in raw.columns:
            report.defaulted_columns.append(col.name)
            frame[col.name] = default_column(spec, col, frame, raw)
            continue
        values = coerce_column(
            col, raw[col.name], path, problems, frame[ROW], raw.attrs.get("decimal", ".")
        )
        frame[col.name] = values
        check_values(col, frame, problems, today)
    table_rules(spec, frame, problems)
    reference_rules(spec, frame, problems, parents, report.defaulted_columns)
    if duplicates:
        duplicate_rule(spec, frame, problems)
    return frame, report, problems.rows()
