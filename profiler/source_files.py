"""Source files read as they are: a CSV or .csv.gz in its own dialect (``readers.sniff``:
encoding, delimiter, decimal mark), a Parquet file, or the first sheet of an .xlsx export.

Reading is one job apart from what follows it (``coercion``: the contract's types;
``rules``: the quarantine): the whole-file load, the streamed out-of-core build, the Spark
intake and ``mapping.export_headers`` all read files the same way and none of them needs the
rules to do it.  Cells stay text; an unreadable file is one ``ContractError`` line naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa

from . import readers
from .errors import ContractError, clip
from .readers import sniff


def source_folder(data_dir: str | Path) -> Path:
    """The sources' folder, or a one-line error when there is none."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ContractError(
            f"{data_dir}: no such folder. Expected a folder with order_lines.csv or order_lines.parquet."
        )
    return data_dir


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
    where each column is coerced (``coercion``)."""
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
    Spaces around values are stripped where each column is coerced (``coercion``)."""
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
