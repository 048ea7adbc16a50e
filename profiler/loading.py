"""Read the source tables, coerce them to the contract, and quarantine bad rows with a reason.

Whole-file problems (missing or unreadable file, missing required column, a column none of
whose values has the expected type) raise ``ContractError`` with one line naming the file
and column.  Row problems send the row to the quarantine with the first reason found; no row
is dropped silently: for every table, rows read = accepted + quarantined.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from . import mapping, readers
from .contract import EARLIEST_DATE, LOAD_ORDER, TABLES, Column, Table
from .errors import ContractError, MissingColumns, clip
from .keysort import by_customer_then_order, take_rows
from .periods import day_option
from .readers import sniff

ROW = "_row"  # 1-based data row number in the source file (the header is not counted)
QUARANTINE_COLUMNS = ["table", "file", "row", "column", "value", "rule", "reason"]
_EXPECTED = {
    "key": "an identifier",
    "text": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "timestamp": "a date-time (ISO 8601)",
    "date": "a date (YYYY-MM-DD)",
    "month": "a month (YYYY-MM)",
}
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


@dataclass
class TableReport:
    """What loading one table found."""

    table: str
    file: str | None
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
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


def source_folder(data_dir: str | Path) -> Path:
    """The sources' folder, or a one-line error when there is none."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ContractError(
            f"{data_dir}: no such folder. Expected a folder with order_lines.csv or order_lines.parquet."
        )
    return data_dir


def today_or_default(today: pd.Timestamp | str | None) -> pd.Timestamp:
    """The day after which dates are "in the future" (default: tomorrow, so today counts)."""
    if today is not None:
        if isinstance(today, pd.Timestamp):
            return today
        return day_option("--today", str(today))  # 'notadate': one Error line
    return pd.Timestamp.now().normalize() + pd.Timedelta(days=1)


def find_source_file(data_dir: Path, table: str) -> Path | None:
    """The file holding a table: the one the data folder's mapping.yaml names for it
    (``profiler/mapping.py``), else ``<table>.parquet``, ``<table>.csv`` or ``<table>.csv.gz``."""
    mapped = mapping.source_file(mapping.load_mapping(data_dir), data_dir, table)
    if mapped is not None:
        return mapped
    for suffix in (".parquet", ".csv", ".csv.gz", ".xlsx"):
        path = data_dir / f"{table}{suffix}"
        if path.exists():
            return path
    return None


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


def describe_format(path: Path) -> str:
    """' (utf-8, semicolon-separated, decimal comma)' for a CSV, for the progress line."""
    if path.suffix in (".parquet", ".xlsx"):
        return " (first sheet)" if path.suffix == ".xlsx" else ""
    try:
        return f" ({sniff(path).describe()})"
    except (OSError, EOFError):  # unreadable, or a .gz cut short: reading it says why
        return ""


def read_table_file(path: Path) -> pd.DataFrame:
    """Read one CSV or Parquet file as-is (CSV cells as text), or raise a one-line ContractError."""
    with _reading(path):
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            # One block per column, Arrow buffers freed as they are converted: no
            # consolidation copy, and the file is not held twice in memory.
            frame = pq.read_table(path).to_pandas(split_blocks=True, self_destruct=True)
        elif path.suffix == ".xlsx":
            frame = _xlsx(path)
        else:
            frame = _csv_text(path)
    return _named(frame)


def read_table_batches(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    """The file in batches of at most ``batch_rows`` rows, each read as ``read_table_file``
    reads a whole file."""
    with _reading(path):
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            batches = _whole_batches(pq.ParquetFile(path).iter_batches(batch_rows), batch_rows)
        elif path.suffix == ".xlsx":  # a sheet fits in memory (Excel stops at 1,048,576 rows)
            whole = _xlsx(path)
            batches = (
                whole.iloc[i : i + batch_rows].reset_index(drop=True).copy()
                for i in range(0, max(len(whole), 1), batch_rows)
            )
        else:
            batches = _csv_text_batches(path, batch_rows)
    while True:
        with _reading(path):  # only the reading: errors of the caller's work pass through
            frame = next(batches, None)
        if frame is None:
            return
        yield _named(frame)


def _whole_batches(batches: Iterator, rows: int) -> Iterator[pd.DataFrame]:
    """Arrow record batches (which stop at row groups or read blocks) as frames of exactly
    ``rows`` rows, the last one shorter."""
    pending, count = [], 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).to_pandas()
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending).to_pandas()


def _xlsx(path: Path) -> pd.DataFrame:
    """The first sheet of an .xlsx export (python-calamine: no Excel library), cells as Excel
    holds them: numbers, text, dates.  Date columns stored as serial numbers are read as dates
    where each column is coerced (``_coerce_datetime``)."""
    sheet = readers.CHOSEN.sheet
    try:
        frame = pd.read_excel(path, sheet_name=sheet or 0, engine="calamine", dtype=object)
    except (ValueError, KeyError) as err:
        if sheet and "not found" in str(err).lower():
            raise ContractError(f"{path}: no sheet '{clip(sheet)}' (--sheet).") from None
        raise
    frame = frame.replace({"": None})
    frame.attrs["excel"] = True
    return frame


def _csv_text(path: Path) -> pd.DataFrame:
    """A CSV (or .csv.gz) as text columns, read by pyarrow's multi-threaded reader: every
    column a string, an empty cell missing, a quoted value holding a line break one value.
    Spaces around values are stripped where each column is coerced (``_coerce``)."""
    dialect = sniff(path)
    frame = pa.Table.from_batches(list(_csv_record_batches(path, dialect))).to_pandas()
    frame.attrs["decimal"] = dialect.decimal
    return frame


def _csv_text_batches(path: Path, batch_rows: int) -> Iterator[pd.DataFrame]:
    """``_csv_text`` in frames of at most ``batch_rows`` rows, streamed."""
    dialect = sniff(path)
    for frame in _whole_batches(_csv_record_batches(path, dialect), batch_rows):
        frame.attrs["decimal"] = dialect.decimal
        yield frame


def _csv_record_batches(path: Path, dialect: readers.Dialect) -> Iterator[pa.RecordBatch]:
    """The file's record batches, every column text, in its dialect (``readers.sniff``)."""
    import pyarrow.csv as pv

    parse = csv_parse_options(dialect)
    read = pv.ReadOptions(block_size=1 << 16, encoding=dialect.encoding)
    names = pv.open_csv(path, read_options=read, parse_options=parse).schema.names
    return pv.open_csv(
        path,
        read_options=pv.ReadOptions(block_size=16 << 20, encoding=dialect.encoding),
        parse_options=parse,
        convert_options=csv_convert_options(names),
    )


def csv_parse_options(dialect: readers.Dialect):  # noqa: ANN201 (a pyarrow.csv.ParseOptions)
    """How a CSV of this dialect is split into cells (also profiler/spark_intake.py's parser)."""
    import pyarrow.csv as pv

    return pv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True)


def csv_convert_options(names: list[str]):  # noqa: ANN201 (a pyarrow.csv.ConvertOptions)
    """Every column text, an empty cell missing."""
    import pyarrow.csv as pv

    return pv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=True,
    )


def csv_column_names(path: Path) -> list[str]:
    """A CSV's column names as ``read_table_file`` names them (its header row)."""
    import pyarrow.csv as pv

    dialect = sniff(path)
    with _reading(path):
        read = pv.ReadOptions(block_size=1 << 16, encoding=dialect.encoding)
        names = pv.open_csv(path, read_options=read, parse_options=csv_parse_options(dialect))
        return [str(c).strip() for c in names.schema.names]


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Reading errors as one-line ContractErrors naming the file."""
    try:
        yield
    # EOFError: a .csv.gz cut short ("Compressed file ended before the end-of-stream marker").
    except (OSError, EOFError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContractError(f"{path}: cannot be read ({first_line}).") from None
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise ContractError(
                f"{path}: cannot be read as Parquet ({str(exc).splitlines()[0]})."
            ) from None
        raise


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
    problems = Problems(spec.name, path.name)
    problems.excel = bool(raw.attrs.get("excel"))
    frame = pd.DataFrame(index=raw.index)
    frame[ROW] = (
        np.arange(first_row, first_row + len(raw), dtype=np.int64)
        if rows is None
        else np.asarray(rows, dtype=np.int64)
    )
    for col in spec.columns:
        if col.name not in raw.columns:
            report.defaulted_columns.append(col.name)
            frame[col.name] = _default_column(spec, col, frame, raw)
            continue
        values = _coerce(
            col, raw[col.name], path, problems, frame[ROW], raw.attrs.get("decimal", ".")
        )
        frame[col.name] = values
        _check_values(col, frame, problems, today)
    _table_rules(spec, frame, problems)
    _reference_rules(spec, frame, problems, parents, report)
    if duplicates:
        duplicate_rule(spec, frame, problems)
    return frame, report, problems.rows()


class Problems:
    """Collects (row, column, value, rule, reason) findings; keeps the first per row."""

    day_first: bool | None = None  # the file's order of day and month, once a column proves it
    excel: bool = False  # an .xlsx sheet: dates may be serial numbers

    def __init__(self, table: str, file: str) -> None:
        self.table, self.file = table, file
        self._parts: list[pd.DataFrame] = []

    def add(
        self,
        rows: pd.Series,
        column: str,
        values: pd.Series,
        rule: str,
        message: str,
        detail: pd.Series | None = None,
    ) -> None:
        """Record problems; ``detail`` (one entry per row) is appended to ``message``."""
        if len(rows) == 0:
            return
        reason = (
            message if detail is None else message + detail.astype(str).to_numpy().astype(object)
        )
        part = pd.DataFrame(
            {
                "row": rows.to_numpy(),
                "column": column,
                "value": values.astype(str).to_numpy(),
                "rule": rule,
                "reason": reason,
            }
        )
        self._parts.append(part)

    def rows(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame(columns=QUARANTINE_COLUMNS)
        found = pd.concat(self._parts, ignore_index=True)
        found = found.drop_duplicates("row", keep="first").sort_values("row", kind="stable")
        found.insert(0, "file", self.file)
        found.insert(0, "table", self.table)
        return found[QUARANTINE_COLUMNS].reset_index(drop=True)


def _default_column(spec: Table, col: Column, frame: pd.DataFrame, raw: pd.DataFrame) -> pd.Series:
    n = len(frame)
    if spec.name == "order_lines" and col.name == "line_id":
        # Lines are numbered within their order in file order (lines without an order id, which
        # are quarantined, as one order).
        return (
            raw.groupby("order_id", sort=False, dropna=False).cumcount().astype(np.int64).to_numpy()
            + 1
        )
    if col.default is None:
        dtype = {
            "timestamp": "datetime64[ns]",
            "date": "datetime64[ns]",
            "float": "float64",
            "int": "Int64",
        }.get(col.kind, "object")
        return pd.Series(
            pd.array([None] * n, dtype=dtype) if dtype == "Int64" else np.full(n, None),
            dtype=dtype,
            index=frame.index,
        )
    if col.kind == "text":
        return pd.Categorical(np.repeat(np.array([col.default], dtype=object), n))
    return pd.Series(np.repeat(col.default, n), index=frame.index)


def _coerce(
    col: Column,
    values: pd.Series,
    path: Path,
    problems: Problems,
    rows: pd.Series,
    decimal: str = ".",
) -> pd.Series:
    """Convert a column to its contract type; unreadable cells go to the quarantine."""
    kind = col.kind
    present = values.notna()
    if kind == "key":
        converted = _coerce_key(values)
    elif kind == "text":
        converted = _coerce_text(col, values)
    elif kind in ("int", "float"):
        converted = (
            values
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            else _coerce_number(values, decimal)
        )
        converted = converted.astype("float64")
        converted = converted.where(np.isfinite(converted))  # NaN, inf: not amounts
        if kind == "int":
            fractional = converted.notna() & (converted != np.floor(converted.fillna(0)))
            converted = converted.mask(fractional)
    elif kind == "bool":
        converted = _coerce_bool(values)
    elif kind in ("timestamp", "date"):
        if problems.excel:
            values = _excel_serials(values)
        converted = _coerce_datetime(values, col.name, path, problems)
        if kind == "date":
            converted = converted.dt.normalize()
    elif kind == "month":
        text = values.astype("object").map(_strip)
        parsed = pd.to_datetime(text, format="%Y-%m", errors="coerce")
        converted = parsed.dt.strftime("%Y-%m").where(parsed.notna(), None)
    else:  # pragma: no cover - the contract only uses the kinds above
        raise AssertionError(kind)
    unreadable = present & converted.isna()
    if unreadable.any():
        if unreadable.sum() == present.sum():
            first = int(np.flatnonzero(unreadable.to_numpy())[0])
            raise ContractError(
                f"{path}: column '{col.name}' must hold {_EXPECTED[kind]}, but none of its values can be "
                f"read as one (row {rows.iloc[first]}: {values.iloc[first]!r})."
            )
        bad = values[unreadable]
        problems.add(
            rows[unreadable],
            col.name,
            bad,
            "type",
            f"{col.name}: expected {_EXPECTED[kind]}, got ",
            bad.astype(str).map(repr),
        )
    if col.default is not None and kind != "key":
        converted = _fill_default(converted, col)
    if kind == "int":
        converted = (
            converted.astype("int64") if converted.notna().all() else converted.astype("Int64")
        )
    return converted


_MONEY_TEXT = r"^[-+(]?\s*[£$€¥]?\s*[-+]?[\d.,' ]+\s*(?:[£$€¥]|[A-Z]{3})?\)?$"


def _coerce_number(values: pd.Series, decimal: str = ".") -> pd.Series:
    """Numbers as text: plain, or written for people (a currency symbol or code, thousands
    separators, a decimal comma in a file that says so) when that reads one way only."""
    text = values.astype("object").map(_strip)
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    unread = text.notna() & numbers.isna()
    if unread.any():
        shaped = text[unread].astype(str)
        shaped = shaped[shaped.str.match(_MONEY_TEXT)]
        cleaned = shaped.str.replace(r"[£$€¥' ]|[A-Z]{3}$", "", regex=True)
        cleaned = cleaned.str.replace(r"^\((.*)\)$", r"-\1", regex=True)
        # A comma that only groups thousands (1,234 or 1,234.50); anything else stays unread.
        grouped = cleaned.str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")
        cleaned = cleaned.where(~grouped, cleaned.str.replace(",", "", regex=False))
        numbers.loc[cleaned.index] = pd.to_numeric(cleaned, errors="coerce")
    return numbers


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


# What exports write for "no value" in an id column: read as missing (the row is quarantined).
NULL_WORDS = frozenset({"null", "none", "nan", "n/a", "na", "-", "--", "?", "#n/a", "nil"})


def _coerce_key(values: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(values):
        return values.astype("int64")
    text = values.astype("object").map(_strip)
    text = text.mask(text.map(lambda v: isinstance(v, str) and (not v or v.lower() in NULL_WORDS)))
    numbers = pd.to_numeric(text, errors="coerce")
    present = text.notna()
    # Integer-looking ids become int64 (compact and fast to join) when none is lost by it.
    if present.any() and numbers[present].notna().all():
        whole = numbers[present] == np.floor(numbers[present])
        canonical = numbers[present].astype("int64").astype(str) == text[present].astype(str)
        if whole.all() and canonical.all() and present.all():
            return numbers.astype("int64")
    return text.astype("object").where(present, None)


def _coerce_text(col: Column, values: pd.Series) -> pd.Series:
    """Text as a categorical; values of a closed list are matched case-insensitively."""
    canonical = {v.lower(): v for v in col.allowed} if col.allowed else {}

    def clean(value: object) -> object:
        value = _strip(value)
        if canonical and isinstance(value, str):
            return canonical.get(value.lower(), value)
        return value

    if col.pii:
        # Personal data: free text kept as it is (trimmed), never a category.
        if pd.api.types.is_string_dtype(values) and not isinstance(
            values.dtype, pd.CategoricalDtype
        ):
            return values.str.strip().astype("object").where(values.notna(), None)
        return values.astype("object").where(values.notna(), None).map(_strip)
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("object").astype("category")
    # Clean each distinct value once, then merge categories that became equal.
    cleaned = [clean(c) for c in values.cat.categories]
    merged = list(dict.fromkeys(cleaned))
    if len(merged) == len(cleaned):
        return values.cat.rename_categories(cleaned)
    position = {c: i for i, c in enumerate(merged)}
    lookup = np.array([position[c] for c in cleaned] + [-1], dtype=np.int64)
    return pd.Series(
        pd.Categorical.from_codes(lookup[values.cat.codes.to_numpy()], categories=merged),
        index=values.index,
    )


def _coerce_bool(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    text = values.astype("object").map(
        lambda v: str(v).strip().lower() if v is not None and v == v else None
    )
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE)] = False
    return out


_SLASHED = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}"  # 05/01/2024, 5.1.2024, 05-01-2024 (+ a time)


def _coerce_datetime(
    values: pd.Series, column: str = "", path: Path | None = None, problems: Problems | None = None
) -> pd.Series:
    """ISO 8601 date-times; offsets are normalised to UTC and a time without one is taken as
    UTC (docs/data-contract.md).  Day-first or month-first dates (05/01/2024) are read only
    when the column proves which (a first number above 12 is a day; a second one, a day);
    a column that cannot tell is refused in one line."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    else:
        text = values.astype("object").map(_strip)
        chosen = readers.CHOSEN.date_format
        if chosen:  # --date-format: every date column of the run, as the user says
            return _coerce_datetime(pd.to_datetime(text, errors="coerce", format=chosen, utc=True))
        out = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        present = text.notna()
        slashed = text[present].astype(str).str.match(_SLASHED)
        if present.any() and slashed.mean() > 0.5:
            out = _day_month_dates(text, slashed, column, path, problems)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    # Years outside 1678-2261 do not fit nanoseconds; they are unreadable as dates here.
    times = out.to_numpy()
    if times.dtype != "datetime64[ns]":
        outside = (times < np.datetime64(pd.Timestamp.min)) | (
            times > np.datetime64(pd.Timestamp.max)
        )
        times = np.where(outside, np.datetime64("NaT"), times).astype("datetime64[ns]")
    return pd.Series(times, index=out.index, name=out.name, copy=False)


def _excel_serials(values: pd.Series) -> pd.Series:
    """Excel's serial day numbers (days since 1899-12-30, the fraction the time of day) as
    date-times; other cells as they are."""
    numbers = pd.to_numeric(values, errors="coerce")
    serial = numbers.between(1, 2958465)  # 1900-01-01 to 9999-12-31
    if not serial.any():
        return values
    days = pd.to_datetime("1899-12-30") + pd.to_timedelta(numbers.where(serial), unit="D")
    return values.astype(object).where(~serial, days.dt.round("s"))


def _day_month_dates(
    text: pd.Series,
    slashed: pd.Series,
    column: str,
    path: Path | None,
    problems: Problems | None = None,
) -> pd.Series:
    """The file's order of day and month: proven by this column, or by an earlier date column
    of the same file (a return date that copies an order date cannot prove it alone)."""
    parts = text[slashed.index[slashed]].astype(str).str.extract(r"^(\d{1,2})[/.-](\d{1,2})")
    first, second = parts[0].astype(int), parts[1].astype(int)
    if (first > 12).any() and not (second > 12).any():
        day_first = True
    elif (second > 12).any() and not (first > 12).any():
        day_first = False
    elif (
        problems is not None
        and problems.day_first is not None
        and not ((first > 12).any() and (second > 12).any())
    ):
        day_first = problems.day_first
    else:
        example = text[slashed.index[slashed]].iloc[0]
        raise ContractError(
            f"{path}: column '{column}' holds dates like '{clip(str(example))}' that read either "
            "day-first or month-first; give --date-format (e.g. %d/%m/%Y) or write YYYY-MM-DD."
        )
    if problems is not None:
        problems.day_first = day_first
    cleaned = text.astype(str).str.replace(r"[.-]", "/", n=2, regex=True)
    return pd.to_datetime(
        cleaned.where(text.notna()), errors="coerce", dayfirst=day_first, utc=True
    )


def _fill_default(values: pd.Series, col: Column) -> pd.Series:
    if not values.isna().any():
        return values
    if isinstance(values.dtype, pd.CategoricalDtype):
        if col.default not in values.cat.categories:
            values = values.cat.add_categories([col.default])
        return values.fillna(col.default)
    return values.fillna(col.default)


def _check_values(
    col: Column, frame: pd.DataFrame, problems: Problems, today: pd.Timestamp
) -> None:
    values = frame[col.name]
    rows = frame[ROW]
    if not col.nullable:
        empty = values.isna()
        problems.add(
            rows[empty], col.name, values[empty], "empty", f"{col.name}: required value is empty"
        )
    if col.allowed is not None:
        if isinstance(values.dtype, pd.CategoricalDtype):
            bad_cats = [c for c in values.cat.categories if c not in col.allowed]
            bad = values.isin(bad_cats) if bad_cats else pd.Series(False, index=values.index)
        else:
            bad = values.notna() & ~values.isin(col.allowed)
        if bad.any():
            what = (
                "unknown currency"
                if col.name == "currency"
                else f"{col.name}: expected one of {', '.join(col.allowed)}"
            )
            problems.add(
                rows[bad],
                col.name,
                values[bad],
                "allowed",
                f"{what}, got ",
                values[bad].astype(str).map(repr),
            )
    if col.kind in ("int", "float") and (col.minimum is not None or col.maximum is not None):
        numeric = values.astype("float64")
        if col.minimum is not None:
            low = numeric < col.minimum
            label = (
                "negative quantity"
                if col.name == "quantity"
                else f"{col.name} below {col.minimum:g}"
            )
            problems.add(
                rows[low],
                col.name,
                values[low],
                "range",
                f"{label}: expected ≥ {col.minimum:g}, got ",
                numeric[low].map("{:g}".format),
            )
        if col.maximum is not None:
            high = numeric > col.maximum
            problems.add(
                rows[high],
                col.name,
                values[high],
                "range",
                f"{col.name}: expected ≤ {col.maximum:g}, got ",
                numeric[high].map("{:g}".format),
            )
    if col.kind in ("timestamp", "date"):
        early = values < pd.Timestamp(EARLIEST_DATE)
        problems.add(
            rows[early], col.name, values[early], "date", f"{col.name}: date before {EARLIEST_DATE}"
        )
        future = values > today
        problems.add(
            rows[future],
            col.name,
            values[future],
            "date",
            f"{col.name}: date in the future (after {today.date()})",
        )


def _table_rules(spec: Table, frame: pd.DataFrame, problems: Problems) -> None:
    if spec.name != "order_lines":
        return
    rows = frame[ROW]
    status, returned_at = frame["status"], frame["returned_at"]
    is_returned = (status == "returned").to_numpy()
    no_date = is_returned & returned_at.isna().to_numpy()
    problems.add(
        rows[no_date],
        "returned_at",
        returned_at[no_date],
        "status",
        "status is 'returned' but returned_at is empty",
    )
    stray = ~is_returned & returned_at.notna().to_numpy()
    problems.add(
        rows[stray],
        "returned_at",
        returned_at[stray],
        "status",
        "returned_at is set but status is ",
        status[stray].astype(str).map(repr),
    )
    before = (returned_at < frame["ordered_at"]).to_numpy()
    problems.add(
        rows[before],
        "returned_at",
        returned_at[before],
        "status",
        "returned_at is before ordered_at",
    )


def _reference_rules(
    spec: Table,
    frame: pd.DataFrame,
    problems: Problems,
    parents: dict[str, pd.DataFrame],
    report: TableReport,
) -> None:
    for column, parent in spec.references.items():
        if parent not in parents or column in report.defaulted_columns:
            continue
        known = parents[parent][TABLES[parent].key[0]]
        values = frame[column]
        if values.dtype != known.dtype:
            values, known = values.astype(str), known.astype(str)
        unknown = ~values.isin(known) & values.notna()
        if unknown.any():
            problems.add(
                frame[ROW][unknown],
                column,
                frame[column][unknown],
                "reference",
                f"{column} not found in {parent}: ",
                frame[column][unknown].astype(str).map(repr),
            )


def _duplicated(frame: pd.DataFrame, key: list[str]) -> pd.Series:
    """Later occurrences of a key; integer key pairs are packed into one int64 (much faster)."""
    if len(key) == 2 and all(pd.api.types.is_integer_dtype(frame[k]) for k in key):
        first, second = (frame[k].to_numpy() for k in key)
        low, high = second.min(initial=0), second.max(initial=0)
        span = int(high) - int(low) + 1
        if low >= 0 and first.min(initial=0) >= 0 and int(first.max(initial=0)) < (2**62) // span:
            packed = first.astype(np.int64) * span + (second - low)
            if len(packed) < 2 or bool((packed[1:] > packed[:-1]).all()):
                # Lines exported in key order (the usual case): no key can repeat.
                return pd.Series(np.zeros(len(packed), dtype=bool), index=frame.index)
            return pd.Series(
                pd.Series(packed).duplicated(keep="first").to_numpy(), index=frame.index
            )
    return frame.duplicated(key, keep="first")


def duplicate_rule(spec: Table, frame: pd.DataFrame, problems: Problems) -> None:
    if not spec.key:
        return
    key = list(spec.key)
    # Rows with an empty key part are already quarantined as empty; they are not duplicates.
    complete = frame[key].notna().all(axis=1)
    dup = _duplicated(frame, key) & complete
    if not dup.any():
        return
    firsts = frame.loc[~dup & complete & frame.duplicated(key, keep=False), key + [ROW]].rename(
        columns={ROW: "_first"}
    )
    dups = frame.loc[dup, key + [ROW]].merge(firsts, on=key, how="left")
    label = ", ".join(key)
    shown = dups[key].astype(object).map(str).agg(", ".join, axis=1)
    detail = shown + "); first seen at row " + dups["_first"].astype(str)
    problems.add(dups[ROW], label, shown, "duplicate", f"duplicate key ({label}) = (", detail)
