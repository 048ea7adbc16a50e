"""Order lines too large for memory: validated in row batches and kept as Parquet parts.

``stage_sources`` loads like ``load_sources``, with the same rules, reasons and counts (rows
read = accepted + quarantined), but the order lines are read, validated and written one batch at
a time to ``STAGE/order_lines/part-NNNNN.parquet``, so they never sit in memory whole.  A SQL
engine reads them from there (``SqlEngine.register_source``); the other tables are loaded as
usual.

Two things need every row at once:

- duplicate keys: the key columns and row numbers of every batch are kept on disk, in groups by
  a hash of the key (``KeySpill``), and each group is checked at the end; a part holding a
  duplicate is rewritten without it, and the reason cites the first row, as ``load_sources``
  does;
- line numbers when the file has no ``line_id``: an order's count goes on from the batches
  before.

Each batch is written as one part per customer bucket (ids split at the quantiles of a
Parquet file's every id, else of the first batch's), so a bucket's rows are the parts named
after it (``part-BATCH-BUCKET.parquet``, read by profiler/outofcore.py).  The next batch is read,
and the last one's parts written, on threads while a batch is validated.  Rows keep their
source row number (``_row``), which orders them.

One difference remains: a column none of whose values can be read stops loading as soon as one
batch shows it (the message names the row), where ``load_sources`` looks at the whole file.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import mapping
from .contract import LOAD_ORDER, TABLES
from .errors import ContractError
from .loading import (
    QUARANTINE_COLUMNS,
    ROW,
    Problems,
    SourceData,
    StagedTable,
    TableReport,
    describe_format,
    duplicate_rule,
    find_source_file,
    load_sources,
    missing_required,
    read_table_batches,
    read_table_file,
    source_folder,
    today_or_default,
    type_name,
    validate_table,
)

STAGED = "order_lines"  # the table kept on disk
BATCH_ROWS = 5_000_000  # about 1.5 GB of pandas memory per batch of order lines
# Each batch is written in parts by customer-id bucket: the out-of-core build reads a bucket's
# parts alone (profiler/outofcore.py).
BUCKETS = 16
# More buckets for larger files, so a bucket holds about 2.5M lines whatever the size.
BUCKET_BYTES = {".csv": 275_000_000, ".parquet": 32_000_000}
T = TypeVar("T")


def bucket_count(path: Path) -> int:
    """Buckets for a file of order lines: ``BUCKETS``, or about 2.5M lines each if more."""
    per_bucket = BUCKET_BYTES.get(path.suffix.lower(), BUCKET_BYTES[".csv"])
    return max(BUCKETS, -(-path.stat().st_size // per_bucket))


def stage_sources(
    data_dir: str | Path,
    stage_dir: str | Path,
    *,
    today: pd.Timestamp | str | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[str], None] | None = None,
) -> SourceData:
    """Load every table as ``load_sources`` does, but keep the order lines in ``stage_dir``."""
    data_dir = source_folder(data_dir)
    today_ts = today_or_default(today)
    others = tuple(t for t in LOAD_ORDER if t != STAGED)
    source = load_sources(data_dir, today=today_ts, tables=others, progress=progress)
    path = find_source_file(data_dir, STAGED)
    if path is None:
        raise missing_required(data_dir, STAGED)
    started = time.perf_counter()
    staged, report, bad = stage_table(
        path,
        Path(stage_dir) / STAGED,
        today_ts,
        source.tables,
        batch_rows,
        progress,
        buckets=bucket_count(path),
    )
    report.seconds = time.perf_counter() - started
    reports = {**source.reports, STAGED: report}
    quarantine = pd.concat(
        [q for q in (bad, source.quarantine) if len(q)]
        or [pd.DataFrame(columns=QUARANTINE_COLUMNS)],
        ignore_index=True,
    )
    return SourceData(
        source.tables,
        quarantine,
        {name: reports[name] for name in LOAD_ORDER if name in reports},
        data_dir,
        staged={STAGED: staged},
    )


def stage_table(
    path: Path,
    out: Path,
    today: pd.Timestamp,
    parents: dict[str, pd.DataFrame],
    batch_rows: int,
    progress: Callable[[str], None] | None = None,
    buckets: int = BUCKETS,
) -> tuple[StagedTable, TableReport, pd.DataFrame]:
    """Validate the order lines batch by batch into Parquet parts under ``out``: one part per
    batch and customer bucket."""
    spec = TABLES[STAGED]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    report = TableReport(STAGED, path.name)
    key = list(spec.key)
    keys = KeySpill(out.with_name(out.name + "-keys"), spec)  # every row's key, for duplicates
    quarantined: list[pd.DataFrame] = []
    parts: list[Path] = []
    types: dict[str, str] = {}
    latest: dict[str, pd.Timestamp] = {}
    line_counts = pd.Series(dtype=np.int64)  # lines seen so far per order, when numbering
    numbered = None
    edges = None
    bucketed = True  # every batch's ids were split at the edges
    first_row = 1
    if progress:
        progress(f"reading {path.name}{describe_format(path)}")
    mapped = mapping.load_mapping(path.parent)
    writing = ThreadPoolExecutor(1, thread_name_prefix="staging-write")
    written: Future | None = None  # the batch before's parts, being written
    try:
        for i, raw in enumerate(read_ahead(read_table_batches(path, batch_rows))):
            raw = mapping.apply(mapped, STAGED, raw, path)
            if progress:
                progress(
                    f"validating {path.name} rows {first_row:,} to {first_row + len(raw) - 1:,}"
                )
            if numbered is None:
                numbered = "line_id" not in raw.columns and "order_id" in raw.columns
            if numbered:
                raw["line_id"], line_counts = _number_lines(raw["order_id"], line_counts)
            frame, part_report, bad = validate_table(
                spec, raw, path, today, parents, first_row=first_row, duplicates=False
            )
            _check_types(frame, types, path, first_row, len(raw))
            for column in ("ordered_at", "returned_at"):
                value = frame[column].max()
                if pd.notna(value) and (column not in latest or value > latest[column]):
                    latest[column] = value
            keys.add(frame_keys(raw, frame, bad, key, first_row))
            if edges is None:
                edges = _file_edges(path, buckets, frame["customer_id"].dtype)
            if edges is None:
                edges = bucket_edges(frame["customer_id"], buckets)
            split = split_by_customer(frame["customer_id"], edges)
            bucketed = bucketed and len(split) == len(edges) + 1
            paths = [out / f"part-{i:05d}-{b:03d}.parquet" for b in range(len(split))]
            parts += [p for p, rows in zip(paths, split, strict=True) if len(rows)]
            if written is not None:
                written.result()  # one batch in writing at a time: memory for two batches
            written = writing.submit(_write_parts, frame, split, paths)
            quarantined.append(bad)
            report.rows_read += part_report.rows_read
            report.accepted += part_report.accepted
            for reason, count in part_report.withheld.items():
                report.withheld[reason] = report.withheld.get(reason, 0) + count
            defaulted = part_report.defaulted_columns + (["line_id"] if numbered else [])
            # in the contract's order, as the whole-file load lists them
            report.defaulted_columns = [c for c in spec.column_names if c in defaulted]
            report.ignored_columns = [c for c in part_report.ignored_columns if c != "line_id"]
            first_row += len(raw)
            del raw, frame
        if written is not None:
            written.result()
    finally:
        writing.shutdown(wait=True)
    if not parts:  # a file without rows: one empty part keeps the table's columns
        frame, report, _ = validate_table(spec, read_table_file(path), path, today, parents)
        parts.append(out / "part-00000.parquet")
        _write_part(frame, parts[0])
        types = {c: type_name(frame[c].dtype) for c in frame.columns if c != ROW}
        keys.add(frame[key + [ROW]])
    already = pd.concat(quarantined)["row"].to_numpy() if quarantined else np.zeros(0)
    duplicates = keys.duplicates(path.name, already)
    if len(duplicates):
        _drop_rows(parts, set(duplicates["row"].tolist()))
        quarantined.append(duplicates)
        report.accepted -= len(duplicates)
    bad = pd.concat(quarantined, ignore_index=True).sort_values("row", kind="stable")
    report.quarantined = len(bad)
    staged = StagedTable(
        parts, types, latest, edges if bucketed and edges is not None and len(edges) else None
    )
    return staged, report, bad.reset_index(drop=True)


def _file_edges(path: Path, buckets: int, dtype: np.dtype) -> np.ndarray | None:
    """Bucket edges from every customer id of a Parquet file (one column read), so a file
    sorted by customer is split as evenly as a shuffled one; None for other files, or when the
    ids are not of the validated type (the first batch's ids decide then)."""
    if path.suffix != ".parquet":
        return None
    schema = pq.ParquetFile(path).schema_arrow
    if "customer_id" not in schema.names:
        return None
    ids = pq.read_table(path, columns=["customer_id"]).column(0).to_pandas()
    if ids.dtype != dtype:
        return None
    return bucket_edges(ids, buckets)


def bucket_edges(customer_ids: pd.Series, buckets: int) -> np.ndarray:
    """Customer ids splitting the first batch's customers into ``buckets`` groups of equal size."""
    ids = np.sort(pd.unique(customer_ids.dropna().to_numpy()))
    if len(ids) == 0:
        return ids
    return ids[np.linspace(0, len(ids), buckets + 1).astype(int)[1:-1]]


def bucket_of(ids: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each id's bucket: the number of edges at or below it."""
    return np.searchsorted(edges, ids, side="right")


def split_by_customer(customer_ids: pd.Series, edges: np.ndarray) -> list[np.ndarray]:
    """Row positions of each bucket: ids below the first edge, between edges, from the last."""
    ids = customer_ids.to_numpy()
    if len(edges) == 0 or ids.dtype != edges.dtype:
        return [np.arange(len(ids))]
    bucket = bucket_of(ids, edges)
    order = np.argsort(bucket, kind="stable")
    return np.split(order, np.searchsorted(bucket[order], np.arange(1, len(edges) + 1)))


def _number_lines(order_ids: pd.Series, counts: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Lines numbered within their order in file order, going on from earlier batches' counts."""
    ids = order_ids.astype("object").where(order_ids.notna(), "")
    before = counts.reindex(ids.to_numpy()).fillna(0).to_numpy(dtype=np.int64)
    numbers = ids.groupby(ids, sort=False).cumcount().to_numpy(dtype=np.int64) + 1 + before
    counts = counts.add(ids.value_counts(), fill_value=0).astype(np.int64)
    return numbers, counts


def frame_keys(
    raw: pd.DataFrame, frame: pd.DataFrame, bad: pd.DataFrame, key: list[str], first_row: int
) -> pd.DataFrame:
    """Every row's coerced key and row number, quarantined rows included: the duplicate rule
    looks at all rows, as ``load_sources`` does."""
    accepted = frame[key + [ROW]]
    if not len(bad):
        return accepted
    # Quarantined rows: their key as read (coerced like the accepted ones when possible).
    rows = bad["row"].to_numpy(dtype=np.int64)
    quarantined = raw.iloc[rows - first_row][key].reset_index(drop=True)
    for column in key:
        if column in accepted and accepted[column].dtype.kind in "iu":
            quarantined[column] = pd.to_numeric(quarantined[column], errors="coerce")
            whole = quarantined[column].notna() & (quarantined[column] % 1 == 0)
            quarantined[column] = quarantined[column].where(whole)
    quarantined[ROW] = rows
    both = pd.concat([accepted, quarantined], ignore_index=True)
    return both.sort_values(ROW, kind="stable").reset_index(drop=True)


class KeySpill:
    """Every row's key and row number, kept on disk in groups by a hash of the key's first column
    (an order's lines share a group): the duplicate rule then needs one group in memory at a
    time, not every key of the file (4 GB of keys, and as much again to find duplicates, at
    180M lines)."""

    GROUPS = 16

    def __init__(self, folder: Path, spec) -> None:  # noqa: ANN001 (a Table)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder, self.spec, self.batches = folder, spec, 0

    def add(self, keys: pd.DataFrame) -> None:
        """One batch's keys (rows in source order), with an empty key part dropped (such rows
        are not duplicates) and values as the duplicate rule compares them."""
        keys = _comparable_keys(self.spec, keys)
        first = keys[self.spec.key[0]].to_numpy()
        group = pd.util.hash_array(first, categorize=False) % np.uint64(self.GROUPS)
        for g in range(self.GROUPS):
            part = keys[group == g]
            if len(part):
                part.to_pickle(self.folder / f"keys-{g:03d}-{self.batches:05d}.pickle")
        self.batches += 1

    def duplicates(self, file: str, already: np.ndarray) -> pd.DataFrame:
        """Rows whose key was seen at an earlier row, among rows not already quarantined."""
        found = []
        for g in range(self.GROUPS):
            parts = sorted(self.folder.glob(f"keys-{g:03d}-*.pickle"))  # in batch order
            if parts:
                keys = pd.concat([pd.read_pickle(p) for p in parts], ignore_index=True)
                problems = Problems(self.spec.name, file)
                duplicate_rule(self.spec, keys, problems)
                found.append(problems.rows())
        shutil.rmtree(self.folder, ignore_errors=True)
        if not found:
            return pd.DataFrame(columns=QUARANTINE_COLUMNS)
        rows = pd.concat(found, ignore_index=True).sort_values("row", kind="stable")
        return rows[~rows["row"].isin(already)].reset_index(drop=True)


def _comparable_keys(spec, keys: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001 (a Table)
    """Keys with every part present, ids as the duplicate rule compares them (text as str,
    whole numbers read as floats as integers)."""
    complete = keys[list(spec.key)].notna().all(axis=1).to_numpy()
    keys = keys[complete] if not complete.all() else keys.copy()
    for column in spec.key:
        if keys[column].dtype == object:
            keys[column] = keys[column].map(lambda v: v if v is None or v != v else str(v))
        elif keys[column].dtype.kind == "f":
            keys[column] = keys[column].astype(np.int64)
    return keys


def _drop_rows(parts: list[Path], rows: set[int]) -> None:
    """Rewrite the parts holding any of these row numbers without them."""
    wanted = pa.array(sorted(rows), type=pa.int64())
    for part in parts:
        table = pq.read_table(part)
        keep = pa.compute.invert(pa.compute.is_in(table.column(ROW), value_set=wanted))
        if not pa.compute.all(keep).as_py():
            pq.write_table(table.filter(keep), part)


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """``items``, the next one read on a thread while the caller works on this one (Arrow reads
    and decodes a batch without holding the GIL); errors of the reading reach the caller."""
    with ThreadPoolExecutor(1, thread_name_prefix="staging-read") as reading:
        following = reading.submit(next, items, None)
        while (item := following.result()) is not None:
            following = reading.submit(next, items, None)
            yield item


def _write_parts(frame: pd.DataFrame, split: list[np.ndarray], paths: list[Path]) -> None:
    """A batch's parts, one per customer bucket (on the writing thread: Arrow encodes and
    writes without holding the GIL)."""
    for rows, path in zip(split, paths, strict=True):
        if len(rows):
            _write_part(frame.iloc[rows], path)


def _write_part(frame: pd.DataFrame, path: Path) -> None:
    # Microsecond times: what Parquet readers (DuckDB, Spark) all take.
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(
        table, path, compression="lz4", coerce_timestamps="us", allow_truncated_timestamps=True
    )


def _check_types(
    frame: pd.DataFrame, types: dict[str, str], path: Path, first_row: int, n: int
) -> None:
    """Every batch must give a column the type of the first batch (Parquet parts of one table
    share a schema); ids that are numbers in one batch and text in another are the usual cause."""
    for column in frame.columns:
        if column == ROW:
            continue
        kind = type_name(frame[column].dtype)
        if column not in types:
            types[column] = kind
        elif kind != types[column] and not frame[column].isna().all():
            raise ContractError(
                f"{path}: column '{column}' reads as {kind} in rows {first_row:,} to "
                f"{first_row + n - 1:,} but as {types[column]} before; expected one type for the "
                "whole column (e.g. ids all numbers or all text)."
            )
