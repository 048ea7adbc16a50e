"""One Python task per customer bucket, run on Spark's executors; the results come to the driver.

``map_buckets(spark, buckets, task, schema)`` calls ``task(bucket)`` on the executors, exactly one
bucket per Spark task (a bucket's customers never meet another bucket's in one Python worker),
and returns every result as one Arrow table with ``schema``, in the order of ``buckets``.
The task returns a pandas DataFrame, an Arrow table or record batch with at least the columns of
``schema`` (other columns are dropped; each column is cast to its type).  Results come through
the driver: keep them small (counts, paths, a slice of columns) and let big outputs go to shared
storage from the executors (see below).

How the buckets become tasks.  ``sc.parallelize(buckets, numSlices=len(buckets))`` puts one
bucket in each partition (a hash repartition could put two in one), the partitions become a
one-column DataFrame, and ``mapInArrow`` runs a partition's bucket in a Python worker, through
Arrow.  No shuffle follows, so Spark keeps one task per bucket.

What reaches the executors.  ``task`` is pickled with cloudpickle on the driver: a lambda, a
closure or a ``functools.partial(build, settings)`` travels with its arguments (keep them small:
they go with every task).  ``shared`` is for one bigger object every task reads (a product table,
a parsed catalog): it is sent once per executor as a Spark broadcast and passed as
``task(bucket, shared)``.  Functions defined in a module (``profiler.partition.build_bucket``)
travel by name, so the executors' Python must import the ``profiler`` package and its
dependencies (pandas, pyarrow, numba): the same venv on every node, a packed venv in
``spark.archives``, or ``sc.addPyFile`` of a zip of ``profiler/`` over an environment that has the
dependencies (docs/engines.md, "Running on a Spark cluster").  The executors' Python must be the
driver's minor version (``spark.pyspark.python``, see ``profiler/spark_session.py``).

Failures.  A task that raises fails its Spark task; Spark retries it (``spark.task.maxFailures``,
4 on a cluster) and then fails the job.  ``map_buckets`` raises ``SparkTaskError`` with one line:
the bucket, the exception's type and first line (a ``ProfilerError``'s own message), never Java's
stack.  Retries and speculative execution mean a task may run more than once: a task writing
files writes them whole under a name of its own and renames them into place
(``os.replace``/``FileSystem.move``), so a second attempt replaces the first.

Outputs on shared storage.  A task may write Parquet from the executor to a folder every node and
the driver can read: a shared mount, or ``hdfs://``/``s3://`` through ``pyarrow.fs``, and return
the path; ``write_part(table, uri)`` writes one file that way, whole or not at all.
"""

from __future__ import annotations

import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from .errors import ProfilerError
from .spark_session import (
    EXECUTOR_NUMBA_CACHE_DIR,
    SparkError,
    _one_line,
    _quiet,
    spark_arrow_type,
)

BUCKET_COLUMN = "bucket"
# The first line of a failed task's error, as the driver finds it in Spark's report.
FAILED_MARK = "profiler-task-failed"
_FAILED = re.compile(rf"{FAILED_MARK} bucket=(-?\d+|none): ([^\n]*)")
# The last line of a Python traceback: "ValueError: boom", "pkg.mod.SomeError: text".
_PYTHON_ERROR = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.*)$", re.M)
SHIP_HINT = (
    "the executors cannot import the profiler package or a dependency: ship it to them "
    "(docs/engines.md, 'Running on a Spark cluster')"
)


class SparkTaskError(SparkError):
    """A bucket's task failed on a Spark executor."""

    def __init__(self, message: str, *, bucket: int | None = None) -> None:
        super().__init__(message)
        self.bucket = bucket


def map_buckets(
    spark: Any,
    buckets: Iterable[int],
    task: Callable[..., Any],
    schema: pa.Schema,
    *,
    shared: Any = None,
    description: str | None = None,
) -> pa.Table:
    """Run ``task(bucket)`` (``task(bucket, shared)`` when ``shared`` is given) on the executors,
    one Spark task per bucket, and return the results as one table.

    Parameters
    ----------
    spark
        The SparkSession (``profiler.spark_session.get_spark``).
    buckets
        Distinct integers, one task each.
    task
        A picklable callable (cloudpickle: lambdas and closures too) returning a pandas
        DataFrame, ``pa.Table`` or ``pa.RecordBatch`` with the columns of ``schema``.
    schema
        The results' columns and types.  Dictionary columns travel decoded and come back
        dictionary-encoded; timestamps travel in microseconds.
    shared
        One object every task reads, sent once per executor (a Spark broadcast).
    description
        The job's name in Spark's UI.

    Returns
    -------
    pa.Table
        The tasks' rows, bucket after bucket in the order of ``buckets``, with ``schema``.

    Raises
    ------
    SparkTaskError
        A task raised (after Spark's retries): the bucket and the error, on one line.
    SparkError
        The job failed otherwise (executors lost, a type Spark cannot carry, ...).
    """
    from pyspark import cloudpickle
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    buckets = [int(bucket) for bucket in buckets]
    repeated = sorted(bucket for bucket, times in Counter(buckets).items() if times > 1)
    if repeated:
        raise SparkError(f"map_buckets: buckets {repeated} are given more than once")
    if not buckets:
        return schema.empty_table()
    try:
        spark_schema = from_arrow_schema(_wire_schema(schema))
    except (TypeError, ValueError, NotImplementedError) as exc:
        raise SparkError(f"map_buckets: a result column cannot go through Spark: {exc}") from exc
    # The Arrow types Spark expects back from the Python workers (it checks them).
    wire = to_arrow_schema(spark_schema, timezone="UTC")
    # The task is unpickled on the executor by ``_run_partition``, after NUMBA_CACHE_DIR is set;
    # the broadcast travels in the closure, where Spark's own pickling registers it with the job.
    try:
        payload = cloudpickle.dumps(task)
    except Exception as exc:  # pickle's errors: TypeError, PicklingError, AttributeError, ...
        raise SparkError(f"map_buckets: the task cannot be sent to the executors: {exc}") from exc
    sc = spark.sparkContext
    try:
        broadcast = sc.broadcast(shared) if shared is not None else None
    except Exception as exc:
        raise SparkError(
            f"map_buckets: the shared object cannot be sent to the executors: {exc}"
        ) from exc

    def run_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _run_partition(payload, broadcast, wire, batches)

    try:
        if description:
            sc.setJobDescription(description)
        with _quiet():
            rows = sc.parallelize([(bucket,) for bucket in buckets], numSlices=len(buckets))
            frame = spark.createDataFrame(rows, f"{BUCKET_COLUMN} bigint")
            result = _collect(frame.mapInArrow(run_partition, spark_schema))
    except Exception as exc:
        raise task_error(exc) from exc
    finally:
        if description:
            sc.setJobDescription(None)
        if broadcast is not None:
            broadcast.unpersist()
    return _restore(result, schema, buckets)


def write_part(table: pa.Table | Any, uri: str) -> str:
    """Write one task's output as a Parquet file at ``uri``, whole or not at all; return ``uri``.

    ``uri`` is an absolute local path or a ``pyarrow.fs`` URI (``file://``, ``hdfs://``,
    ``s3://``) that the driver can read too.  On a file system the file is written under a
    name of its own and renamed into place, replacing an earlier attempt's (Spark may run a task
    twice); an S3 object is whole or absent by itself.  ``table`` may be a pandas DataFrame.
    """
    import pandas as pd
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, ValueError) as exc:
        raise SparkError(
            f"Cannot write {uri!r}: expected an absolute path or a file://, hdfs:// or s3:// "
            f"URI ({exc})"
        ) from exc
    parent, _, name = path.rpartition("/")
    if parent:
        fs.create_dir(parent, recursive=True)
    if fs.type_name == "s3":
        pq.write_table(table, path, filesystem=fs)
        return uri
    partial = f"{parent}/.{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    try:
        pq.write_table(table, partial, filesystem=fs)
        if fs.type_name != "local" and fs.get_file_info(path).type != pafs.FileType.NotFound:
            fs.delete_file(path)  # HDFS does not rename onto a file; a local rename replaces it
        fs.move(partial, path)
    finally:
        if fs.get_file_info(partial).type != pafs.FileType.NotFound:
            fs.delete_file(partial)
    return uri


def task_error(exc: BaseException) -> SparkError:
    """Spark's report of a failed job as one line: the bucket and the task's own error when a task
    raised, else Spark's first meaningful line."""
    text = str(exc)
    found = _FAILED.search(text)
    if found is not None:
        bucket = None if found.group(1) == "none" else int(found.group(1))
        where = "Spark task" if bucket is None else f"Spark task for bucket {bucket}"
        return SparkTaskError(f"{where} failed: {found.group(2).strip()}", bucket=bucket)
    errors = _PYTHON_ERROR.findall(text)
    if errors:
        kind, message = errors[-1]
        line = f"{kind}: {message.strip()}"
        if kind.endswith(("ModuleNotFoundError", "ImportError")):
            line = f"{line}; {SHIP_HINT}"
        return SparkTaskError(f"Spark task failed: {line}")
    return SparkError(f"Spark job failed: {_one_line(exc)}")


def _run_partition(
    payload: bytes, broadcast: Any, wire: pa.Schema, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """On the executor: each bucket of the partition (one, as ``map_buckets`` splits them)
    through the task, its result as ``wire`` batches."""
    # Before the task's modules are imported: numba reads its cache folder at import.
    os.environ.setdefault("NUMBA_CACHE_DIR", EXECUTOR_NUMBA_CACHE_DIR)
    from pyspark import cloudpickle

    try:
        task = cloudpickle.loads(payload)
        shared = broadcast.value if broadcast is not None else None
    except Exception as exc:
        hint = f"; {SHIP_HINT}" if isinstance(exc, ImportError) else ""
        raise RuntimeError(f"{FAILED_MARK} bucket=none: {_describe(exc)}{hint}") from None
    for batch in batches:
        for bucket in batch.column(0).to_pylist():
            try:
                out = task(bucket) if broadcast is None else task(bucket, shared)
                table = _as_table(out, wire, bucket)
            except Exception as exc:
                # One marked line the driver finds in Spark's report (see ``task_error``).
                raise RuntimeError(f"{FAILED_MARK} bucket={bucket}: {_describe(exc)}") from None
            yield from table.to_batches()


def _describe(exc: BaseException) -> str:
    """An exception as one line: a ProfilerError's message, else ``Type: first line``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if isinstance(exc, ProfilerError) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class _BadResult(ProfilerError):
    """A task's result does not have the declared columns (reported as the bucket's error)."""


def _as_table(out: Any, wire: pa.Schema, bucket: int) -> pa.Table:
    """A task's result as a table of the wire schema."""
    import pandas as pd

    if isinstance(out, pd.DataFrame):
        table = pa.Table.from_pandas(out, preserve_index=False)
    elif isinstance(out, pa.RecordBatch):
        table = pa.Table.from_batches([out])
    elif isinstance(out, pa.Table):
        table = out
    else:
        raise _BadResult(
            f"returned {type(out).__name__}; expected a pandas DataFrame or an Arrow table"
        )
    missing = [name for name in wire.names if name not in table.column_names]
    if missing:
        raise _BadResult(
            f"the result has no column {', '.join(repr(m) for m in missing)}; expected {wire.names}"
        )
    columns = []
    for field in wire:
        column = table.column(field.name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=wire)


def _wire_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [pa.field(f.name, spark_arrow_type(f.type, naive_as_utc=False), f.nullable) for f in schema]
    )


def _collect(frame: Any) -> pa.Table:
    """A DataFrame's rows as Arrow (``toArrow`` from Spark 4, pandas before)."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)


def _restore(result: pa.Table, schema: pa.Schema, buckets: list[int]) -> pa.Table:
    """The collected rows with the caller's types, in the order of ``buckets``: Spark returns
    partitions in order, and each partition is one bucket."""
    columns = []
    for field in schema:
        column = result.column(field.name)
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            if field.type.tz is None:
                column = column.cast(pa.timestamp(column.type.unit))
        if pa.types.is_dictionary(field.type):
            column = column.cast(field.type.value_type).dictionary_encode()
            column = column.cast(field.type)
        else:
            column = column.cast(field.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)
