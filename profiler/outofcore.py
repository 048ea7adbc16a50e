"""The CAR larger than memory: the same families, run one customer bucket at a time.

The order lines are validated in batches into customer-bucketed Parquet parts
(profiler/staging.py: the same rules, counts and quarantine as ``load_sources``); the other
tables are loaded whole.  Then two passes over the buckets, each in worker processes:

1. every bucket is summarized (profiler/partition.py): the levels present, the interests' base
   pence, each buyer's BG/NBD summary and the rank inputs.  The parent reduces them to the
   global statistics (the models are fitted here, on every buyer) and to each bucket's first
   CAR row;
2. every bucket runs every family (``car.compute_part``) with those statistics and writes its
   CAR part and its activity and order days to the new generation (profiler/store.py).

Buckets are ranges of customer ids in ascending order, so the parts laid end to end are the
CAR of ``build_car``, column for column (tests/test_out_of_core.py).
"""

from __future__ import annotations

import gc
import mmap
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
import pyarrow.parquet as pq
from pandas.api.types import union_categoricals

from .activity import activity_table, build_activity, orders_table
from .car import CarResult, columns_to_arrow, compute_part, default_as_of
from .car_context import build_context
from .catalog import Catalog
from .contract import TABLES
from .engine_choice import physical_memory
from .errors import OutOfMemory
from .features import load_feature_spec
from .loading import QUARANTINE_COLUMNS, ROW, SourceData
from .memory import hand_back_memory
from .partition import models, reduce, summarize
from .staging import BATCH_ROWS, STAGED, bucket_of, stage_sources
from .store import ACTIVITY, ORDERS, GenerationWriter

# Memory one worker needs per staged order line (facts, grids and the bucket's CAR columns),
# measured at 1M customers; the parent runs as many workers as fit, at most one a core.
BYTES_PER_LINE = 700


def split_source(source: SourceData, edges: np.ndarray) -> list[SourceData]:
    """The sources cut into customer-id buckets: ids below ``edges[0]``, between edges, from
    the last edge on (tables without a customer stay whole in every bucket)."""
    cut: list[dict[str, pd.DataFrame]] = [{} for _ in range(len(edges) + 1)]
    for name, frame in source.tables.items():
        for b, part in enumerate(_by_bucket(name, frame, edges)):
            cut[b][name] = part
    return [SourceData(t, source.quarantine.iloc[:0], source.reports, source.data_dir) for t in cut]


def _by_bucket(name: str, frame: pd.DataFrame, edges: np.ndarray) -> list[pd.DataFrame]:
    if "customer_id" not in TABLES[name].column_names:
        return [frame] * (len(edges) + 1)
    bucket = bucket_of(frame["customer_id"].to_numpy(), edges)
    return [frame[bucket == b] for b in range(len(edges) + 1)]


def build_in_parts(
    source: SourceData,
    edges: np.ndarray,
    as_of: str | pd.Timestamp | None = None,
    *,
    spec: dict[str, Any] | None = None,
) -> CarResult:
    """``build_car`` by customer buckets in this process, the parts' columns laid end to end:
    what the out-of-core and Spark builds do, without their files."""
    started = time.perf_counter()
    spec = spec or load_feature_spec()
    as_of_ts = pd.Timestamp(as_of).normalize() if as_of is not None else default_as_of(source)
    parts = [build_context(s, as_of_ts, spec) for s in split_source(source, edges)]
    g = reduce([summarize(p) for p in parts], spec)
    row0 = 0
    columns: list[dict[str, Any]] = []
    for part in parts:
        part.globals, part.row0 = g, row0
        row0 += part.n
        values, definitions, left_out = compute_part(part)
        columns.append(values)
    whole = {name: _concat([c[name] for c in columns]) for name in columns[0]}
    ids = np.concatenate([p.customer_ids for p in parts])
    seconds = time.perf_counter() - started
    return CarResult(as_of_ts, ids, whole, definitions, left_out, seconds, models(g), "in-parts")


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], pd.Categorical):
        same = all(p.categories.equals(parts[0].categories) for p in parts)
        return union_categoricals(parts, sort_categories=not same)
    if isinstance(parts[0], pd.arrays.BooleanArray):
        return pd.array(np.concatenate([np.asarray(p, dtype=object) for p in parts]), "boolean")
    return np.concatenate([np.asarray(p) for p in parts])


@dataclass
class BucketJob:
    """What every bucket's task reads (pickled to worker processes or Spark executors): the
    staged order lines by bucket, the side tables by bucket (``write_side_tables``), and after
    the first pass the global statistics and each bucket's first CAR row."""

    bucket_files: list[list[Path]]
    edges: np.ndarray
    as_of: pd.Timestamp
    spec: dict[str, Any]
    side_dir: Path
    catalog: Catalog | None = None
    globals: dict[str, Any] | None = None
    row0: list[int] | None = None
    writer: GenerationWriter | None = None
    scratch: Path | None = None

    @property
    def buckets(self) -> int:
        return len(self.bucket_files)


def plan_buckets(
    source: SourceData,
    as_of: str | pd.Timestamp | None,
    spec: dict[str, Any] | None,
    side_dir: Path,
) -> BucketJob:
    """The buckets of staged sources: the staging's id edges, each bucket's parts, and the
    side tables written by bucket into ``side_dir``."""
    staged = source.staged[STAGED]
    if staged.edges is None:  # ids not split (empty, or of mixed types): one bucket
        edges, files = np.zeros(0), [staged.parts]
    else:
        edges = staged.edges
        files = [_bucket_files(staged.parts, b) for b in range(len(edges) + 1)]
    as_of_ts = pd.Timestamp(as_of).normalize() if as_of is not None else default_as_of(source)
    write_side_tables(source, edges, side_dir)
    return BucketJob(files, edges, as_of_ts, spec or load_feature_spec(), side_dir)


def first_pass(job: BucketJob, summaries: list[tuple[np.ndarray, dict[str, Any]]]) -> np.ndarray:
    """The global statistics and first rows from every bucket's (ids, summary), in bucket
    order; returns the CAR's customer ids."""
    job.globals = reduce([s for _, s in summaries], job.spec)
    job.row0 = np.concatenate([[0], np.cumsum([len(i) for i, _ in summaries])]).tolist()
    return np.concatenate([i for i, _ in summaries])


def finish(
    job: BucketJob, ids: np.ndarray, built: list[tuple[list, dict[str, str]]], engine: str
) -> CarResult:
    """Record the CAR written by bucket, its dictionary, and the activity and order days."""
    names = [[d.name for d in definitions] for definitions, _ in built]
    if any(n != names[0] or lo != built[0][1] for n, (_, lo) in zip(names, built, strict=True)):
        raise AssertionError("customer buckets gave different CAR columns")  # a family looked out
    definitions, left_out = built[0]
    result = CarResult(job.as_of, ids, {}, definitions, left_out, 0.0, models(job.globals), engine)
    job.writer.finish_car(result, len(ids))
    write_activity(job.scratch, job.buckets, job.writer)
    write_orders(job.scratch, job.buckets, job.writer)
    shutil.rmtree(job.scratch, ignore_errors=True)
    return result


_JOB: BucketJob | None = None  # a worker's job (``_take_job``)


def build_out_of_core(
    data: str | Path,
    writer: GenerationWriter,
    catalog: Catalog,
    *,
    as_of: str | pd.Timestamp | None = None,
    spec: dict[str, Any] | None = None,
    workers: int | None = None,
    today: pd.Timestamp | str | None = None,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[str], None] | None = None,
    loaded: Callable[[SourceData], None] | None = None,
) -> CarResult:
    """What ``profiler build --engine out-of-core`` runs: stage, summarize every bucket, then
    build and write every bucket's CAR part and activity into the new generation ``writer``.
    ``loaded`` is called with the sources once they are validated (to report the counts and
    write the quarantine).  The result's ``columns`` are empty: read the CAR back from the
    folder once the generation is current."""
    started = time.perf_counter()
    say = progress or (lambda message: None)
    stage = writer.scratch("staging")
    try:
        source = stage_sources(data, stage, today=today, batch_rows=batch_rows, progress=progress)
        if loaded:
            loaded(source)
        job = plan_buckets(source, as_of, spec, stage / "side")
        lines = sum(pq.read_metadata(p).num_rows for p in source.staged[STAGED].parts)
        del source  # the side tables are on disk by bucket: the workers read them there
        gc.collect()
        hand_back_memory()
        n_workers = workers or _workers(lines, job.buckets)
        say(f"{job.buckets} customer buckets, {n_workers} worker(s)")
        # One pool for both passes: its workers start once (a spawned interpreter takes seconds
        # to import the engine), and between the passes they wait while the models are fitted.
        with _pool(n_workers, job) as pool:
            summaries = list(_each_bucket(pool, _summarize_in_worker, range(job.buckets)))
            say(
                f"every bucket summarized; fitting the models on every buyer ({time.perf_counter() - started:,.0f} s so far)"
            )
            ids = first_pass(job, summaries)
            say(f"global statistics found ({time.perf_counter() - started:,.0f} s so far)")
            job.catalog, job.writer, job.scratch = catalog, writer, writer.scratch("buckets")
            second = SecondPass(job.globals, job.row0, catalog, writer, job.scratch)
            built = []
            tasks = [(b, second) for b in range(job.buckets)]
            for definitions, left_out, seconds in _each_bucket(pool, _build_in_worker, tasks):
                built.append((definitions, left_out))
                say(f"bucket {len(built)}/{job.buckets} built in {seconds:,.0f} s")
        say(f"writing the activity table ({time.perf_counter() - started:,.0f} s so far)")
        result = finish(job, ids, built, "out-of-core")
        result.seconds = time.perf_counter() - started
        return result
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _workers(lines: int, buckets: int) -> int:
    """As many workers as cores, buckets and memory allow (at least one)."""
    per_worker = BYTES_PER_LINE * lines / max(buckets, 1)
    by_memory = int(physical_memory() * 0.8 // max(per_worker, 1))
    return max(1, min(os.cpu_count() or 1, buckets, by_memory))


def _pool(workers: int, job: BucketJob) -> ProcessPoolExecutor:
    # Workers are fresh interpreters (spawned): a fork of this process, whose libraries run
    # threads of their own (Arrow's I/O pool, jemalloc, OpenBLAS), may leave a worker stuck on
    # a lock.  The job travels pickled (its side tables are on disk); each worker builds bucket
    # after bucket of about the same size, so its memory stays near one bucket's.
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_take_job, initargs=(job,))


def _each_bucket(pool: ProcessPoolExecutor, task: Callable[[Any], Any], tasks: Any) -> Any:
    """``task`` of every bucket's arguments, in bucket order; a worker killed (by the system,
    out of memory) is one line, not a wait for ever."""
    tasks = list(tasks)
    try:
        yield from pool.map(task, tasks)
    except BrokenProcessPool:
        raise OutOfMemory(
            "A worker building a customer bucket was killed (out of memory?): "
            f"{len(tasks)} buckets were too large for this machine."
        ) from None


@dataclass
class SecondPass:
    """What the second pass adds to a worker's job: the first pass's results and where to
    write (sent with each task; a worker takes it once)."""

    globals: dict[str, Any]
    row0: list[int]
    catalog: Catalog
    writer: GenerationWriter
    scratch: Path


def _take_job(job: BucketJob) -> None:
    global _JOB
    _JOB = job


def _bucket_files(parts: list[Path], b: int) -> list[Path]:
    """The staged parts of bucket ``b`` (named ``part-BATCH-BUCKET.parquet``)."""
    return [p for p in parts if p.stem.rsplit("-", 1)[-1] == f"{b:03d}"]


def bucket_source(job: BucketJob, b: int) -> SourceData:
    """Bucket ``b``'s rows of every table, in memory as ``load_sources`` gives them: its staged
    order lines in source row order, the side tables' rows of its customers."""
    source = read_side_tables(job.side_dir, b)
    source.tables[STAGED] = read_staged(job.bucket_files[b], job.bucket_files)
    return source


def write_side_tables(source: SourceData, edges: np.ndarray, folder: Path) -> None:
    """Every loaded table as Parquet by bucket (``<table>-BBB.parquet``; a table without a
    customer is written whole, ``<table>.parquet``), with the load reports: what a task
    running elsewhere reads instead of the driver's memory.  Parquet keeps the pandas types
    (categories with their whole-table list, nullable booleans)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in source.tables.items():
        if "customer_id" not in TABLES[name].column_names or not len(edges):
            frame.to_parquet(folder / f"{name}.parquet", index=False)
            continue
        for b, part in enumerate(_by_bucket(name, frame, edges)):
            part.to_parquet(folder / f"{name}-{b:03d}.parquet", index=False)
    pd.to_pickle((source.reports, str(source.data_dir)), folder / "reports.pickle")


def read_side_tables(folder: Path, b: int) -> SourceData:
    """Bucket ``b``'s side tables written by ``write_side_tables``."""
    reports, data_dir = pd.read_pickle(folder / "reports.pickle")
    tables = {}
    for name in TABLES:
        for path in (folder / f"{name}-{b:03d}.parquet", folder / f"{name}.parquet"):
            if path.exists():
                tables[name] = pd.read_parquet(path)
                break
    quarantine = pd.DataFrame(columns=QUARANTINE_COLUMNS)
    return SourceData(tables, quarantine, reports, Path(data_dir))


def read_staged(files: list[Path], every_bucket: list[list[Path]]) -> pd.DataFrame:
    """Staged order lines as ``load_sources`` gives them: sorted by source row, text columns as
    categories (the values present, sorted), times in nanoseconds (an empty bucket: no rows,
    the columns of the others).  The parts' dictionaries are unified and kept, so text is
    never turned into Python strings (three times faster than decoding and re-encoding)."""
    template = next(f for fs in every_bucket for f in fs)
    tables = [pq.read_table(f) for f in files] or [pq.read_table(template).slice(0, 0)]
    table = pa.concat_tables(tables).unify_dictionaries()
    categories = {c.name for c in TABLES[STAGED].columns if c.kind == "text" and not c.pii}
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) and n not in categories else c
        for n, c in zip(table.column_names, table.columns, strict=True)
    ]
    frame = pa.table(columns, names=table.column_names).to_pandas()
    for name in frame.columns:
        values = frame[name]
        if values.dtype.kind == "M":
            frame[name] = values.astype("datetime64[ns]")
        elif name in categories:
            frame[name] = _sorted_categories(values)
    rows = frame[ROW].to_numpy()
    if len(rows) > 1 and not (rows[1:] > rows[:-1]).all():  # parts are in batch order
        frame = frame.sort_values(ROW, kind="stable")
    return frame.reset_index(drop=True)


def _sorted_categories(values: pd.Series) -> pd.Series:
    """A text column as a categorical of the values present, in sorted order (what
    ``astype("category")`` gives)."""
    if not isinstance(values.dtype, pd.CategoricalDtype):
        return values.astype("object").astype("category")
    values = values.cat.remove_unused_categories()
    return values.cat.reorder_categories(sorted(values.cat.categories))


def summarize_bucket(job: BucketJob, b: int) -> tuple[np.ndarray, dict[str, Any]]:
    """First pass: bucket ``b``'s customer ids and its contribution to the global statistics."""
    part = build_context(bucket_source(job, b), job.as_of, job.spec)
    return part.customer_ids, summarize(part)


def build_bucket(job: BucketJob, b: int) -> tuple[list, dict[str, str], float]:
    """Second pass: bucket ``b``'s CAR part, activity and order days, written; returns its
    column definitions, the families left out and its seconds."""
    clock = time.perf_counter()
    source = bucket_source(job, b)
    part = build_context(source, job.as_of, job.spec, row0=job.row0[b])
    part.globals = job.globals
    columns, definitions, left_out = compute_part(part)
    table = columns_to_arrow(part.customer_ids, columns)
    job.writer.write_car_part(b, table.select(["customer_id", *(d.name for d in definitions)]))
    ids = part.customer_ids
    del columns, part, table
    activity = build_activity(source, job.catalog, ids, job.as_of)
    _write_ipc(activity_table(activity, job.row0[b]), job.scratch / f"activity-{b:05d}.arrow")
    _write_ipc(orders_table(activity.orders, job.row0[b]), job.scratch / f"orders-{b:05d}.arrow")
    return definitions, left_out, time.perf_counter() - clock


def _summarize_in_worker(b: int) -> tuple[np.ndarray, dict[str, Any]]:
    return summarize_bucket(_JOB, b)


def _build_in_worker(task: tuple[int, SecondPass]) -> tuple[list, dict[str, str], float]:
    b, second = task
    if _JOB.globals is None:
        _JOB.globals, _JOB.row0 = second.globals, second.row0
        _JOB.catalog, _JOB.writer, _JOB.scratch = second.catalog, second.writer, second.scratch
    return build_bucket(_JOB, b)


def _write_ipc(table: pa.Table, path: Path) -> None:
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_file(sink, table.schema, options=options) as w,
    ):
        w.write_table(table)


def _read_ipc(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def write_orders(tmp: Path, parts: int, writer: GenerationWriter) -> None:
    """The buckets' order days, laid end to end: each bucket holds later CAR rows than the one
    before and is sorted by row and day, so the whole is too."""
    tables = [_read_ipc(tmp / f"orders-{k:05d}.arrow") for k in range(parts)]
    writer.write_table(ORDERS, pa.concat_tables(tables).combine_chunks())


def write_activity(tmp: Path, parts: int, writer: GenerationWriter) -> None:
    """The buckets' activity as one table in (month, CAR row) order, one column at a time.

    Each bucket is so ordered and holds later rows than the bucket before, so the whole is, for
    each month, every bucket's run of that month in bucket order: a merge of sorted runs, made
    of contiguous copies (no sort, no gather).  The table is one record batch (readers
    memory-map it without copies), written first with every column all zeros (the system's zero
    page: no memory), then filled in place a column at a time.  So memory holds
    one column, not the table (13 GB at 5M customers), and the disk the table once."""
    paths = [tmp / f"activity-{k:05d}.arrow" for k in range(parts)]
    schema = pa.ipc.open_file(pa.memory_map(str(paths[0]), "r")).schema

    def bucket_column(k: int, i: int) -> np.ndarray:
        options = pa.ipc.IpcReadOptions(included_fields=[i])
        reader = pa.ipc.open_file(pa.memory_map(str(paths[k]), "r"), options=options)
        chunks = [
            reader.get_batch(b).column(0).to_numpy() for b in range(reader.num_record_batches)
        ]
        if not chunks:  # a bucket without activity: a file of no record batches
            return np.zeros(0, np.dtype(schema.field(i).type.to_pandas_dtype()))
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def merged(i: int) -> Iterator[np.ndarray]:
        columns = [bucket_column(k, i) for k in range(parts)]
        for k, start, stop in runs:
            yield np.ascontiguousarray(columns[k][start:stop])

    runs = _month_runs([bucket_column(k, schema.get_field_index("month")) for k in range(parts)])
    rows = sum(stop - start for _, start, stop in runs)
    if not all(pa.types.is_integer(f.type) or pa.types.is_floating(f.type) for f in schema):
        raise AssertionError("the activity table holds numbers only (activity.activity_table)")
    dtypes = [np.dtype(field.type.to_pandas_dtype()) for field in schema]
    # One column's worth of zeros for every column: private anonymous memory never written,
    # whose pages the system maps to its one zero page (no memory, no disk).
    zeros = mmap.mmap(-1, max(d.itemsize for d in dtypes) * rows + 1, flags=mmap.MAP_PRIVATE)
    arrays = [pa.array(np.frombuffer(zeros, dtype=d, count=rows)) for d in dtypes]
    path = writer.write_arrow(ACTIVITY, schema, [pa.RecordBatch.from_arrays(arrays, schema=schema)])
    del arrays
    zeros.close()
    if rows:
        _fill_in_place(path, merged)


def _fill_in_place(path: Path, pieces: Callable[[int], Iterator[np.ndarray]]) -> None:
    """Write each column's pieces where the Arrow file holds its values (found from the file's
    own buffers), through the page cache (``os.pwrite``; no writable memory map)."""
    mapped = pa.memory_map(str(path), "r")
    base = mapped.read_buffer(1).address  # the mapping's first byte
    mapped.seek(0)
    batch = pa.ipc.open_file(mapped).get_batch(0)
    where = [batch.column(i).buffers()[1].address - base for i in range(batch.num_columns)]
    del batch
    mapped.close()
    fd = os.open(path, os.O_WRONLY)
    try:
        for i, at in enumerate(where):
            for piece in pieces(i):
                data = memoryview(piece).cast("B")
                while data:
                    done = os.pwrite(fd, data, at)
                    data, at = data[done:], at + done
    finally:
        os.close(fd)


def _month_runs(months: list[np.ndarray]) -> list[tuple[int, int, int]]:
    """(bucket, start, stop) of every bucket's run of each month, in (month, bucket) order: the
    order of the merged table.  Each bucket's months must be sorted."""
    for values in months:
        if len(values) > 1 and (values[1:] < values[:-1]).any():
            raise AssertionError("a bucket's activity is not in month order")
    every = np.unique(np.concatenate(months)) if months else np.zeros(0)
    bounds = [
        (np.searchsorted(m, every, "left"), np.searchsorted(m, every, "right")) for m in months
    ]
    return [
        (k, int(lo[j]), int(hi[j]))
        for j in range(len(every))
        for k, (lo, hi) in enumerate(bounds)
        if hi[j] > lo[j]
    ]
