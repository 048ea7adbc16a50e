"""Apache Spark SQL: the same compiled trees, rendered in Spark's dialect, locally or on a cluster.

``SparkEngine(master)`` runs in local mode (``local[2]``, the default) or against a cluster
(``spark://host:7077``, ``yarn``, ``k8s://https://...``); this Python process is always the
driver (client mode).  The master comes from the argument, else ``$PROFILER_SPARK_MASTER``,
else the SparkContext already running in this process (a notebook's), else ``local[2]``.

Where registered tables live.  Executors must be able to read every registered table, so the
driver's local disk is used only when the executors share it:

- local masters (``local``, ``local[N]``, ``local-cluster[...]``): the Arrow table is written as
  one Parquet file in a temporary folder and read with ``spark.read.parquet``;
- ``staging_dir`` (or ``$PROFILER_SPARK_STAGING_DIR``), a folder every executor can read, such as
  ``hdfs:///tmp/profiler`` or ``s3a://bucket/tmp``: the table is sent once from the driver, written
  there as Parquet by Spark itself (so with the cluster's own Hadoop credentials) and read back.
  This is the robust choice for large tables on a cluster: queries scan Parquet, in splits;
- otherwise, on a cluster: ``spark.createDataFrame`` from the Arrow table (one partition per
  Arrow batch of ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows), persisted in executor
  memory and disk after its first use.  The table passes through the driver's JVM, so keep
  ``spark.driver.memory`` above the size of the largest table.

Types on the way in: dictionary columns (pandas categories) are decoded to plain strings,
timestamps become microseconds, unsigned integers the next signed type that holds them, and an
all-missing column of Arrow type null becomes a string column (Spark has no usable null type).

Time.  The data contract's timestamps are naive.  The JVMs run in UTC (``-Duser.timezone=UTC``)
and so does the SQL session (``spark.sql.session.timeZone``); naive timestamps are staged as UTC
instants, so Spark's ``TIMESTAMP`` (with local time zone, the type a ``CAST(... AS TIMESTAMP)``
literal has) behaves exactly as a naive one.  Results come back naive: the UTC zone Spark puts on
Arrow timestamp columns is dropped (the unit is microseconds; DuckDB keeps nanoseconds for a
nanosecond column, so cast a timestamp output to TIMESTAMP when its unit must match).

ANSI mode (``spark.sql.ansi.enabled``, on by default since Spark 4.0) is turned off, as it was in
Spark 3: a division by zero, an overflow or a malformed cast then gives NULL instead of failing
the whole job hours in, and the implicit type coercions are the long-standing ones.  Neither mode
is DuckDB, so the compiled SQL must not depend on either:

- ``x / 0`` is NULL in Spark but +-inf (NaN for 0/0) in DuckDB: spell out the zero case (``CASE``);
- ``SUM`` of integers is BIGINT in Spark (wrapping silently on overflow) but HUGEINT (an Arrow
  decimal128(38, 0)) in DuckDB; ``DATEDIFF`` is INT in Spark and BIGINT in DuckDB; an unqualified
  decimal literal (``1.5``) is DECIMAL in both, with engine-specific precision after arithmetic.
  Rule: cast every integer aggregate and day count to BIGINT (or DOUBLE) in the tree, and write
  non-integer literals as DOUBLE;
- ``ORDER BY x`` (ascending, in a query or a window) puts NULLs first in Spark and last in
  DuckDB.  sqlglot renders a tree's ``Ordered`` node with an explicit ``NULLS LAST`` for Spark,
  so trees built in code agree; SQL text parsed from one dialect keeps that dialect's order.

One SparkSession per process (``profiler/spark_session.py``, which starts it quietly and in UTC
and is shared with ``profiler/spark_tasks.py``).  Every ``SparkEngine`` in the process shares it,
each with its own ``newSession()``: its own temporary views and SQL settings, so two engines may
register tables of the same name.  ``close()`` drops an engine's views and staged files;
``stop_spark()`` closes every engine and stops the shared context (the next engine starts a new
one, which takes seconds).  ``config`` entries are Spark settings applied when the context starts
(``spark.driver.memory``, ``spark.executor.instances``, ...); ``spark.sql.*`` entries also apply
to a context that is already running.  A session that cannot start raises ``SparkUnavailable``
(pyspark or Java missing) or ``SqlEngineError``.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shutil
import tempfile
import threading
import uuid
import weakref
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlglot import exp

from ..spark_session import (  # noqa: F401  (the session helpers' old home re-exports them)
    DEFAULT_MASTER,
    INSTALL_JAVA,
    INSTALL_PYSPARK,
    MASTER_ENV,
    QUIET_LOG4J2,
    SESSION_CONF,
    SparkError,
    SparkUnavailable,
    _one_line,
    _quiet,
    _shared_session,
    find_java,
    is_local,
    on_stop,
    parse_java_version,
    require_java,
    require_pyspark,
    spark_arrow_type,
    stop_spark,
)
from .base import SqlEngine, SqlEngineError

STAGING_ENV = "PROFILER_SPARK_STAGING_DIR"

_lock = threading.RLock()
_engines: weakref.WeakSet[SparkEngine] = weakref.WeakSet()
_names = itertools.count()
_exit_hook = False


def _close_engines() -> None:
    """Before the shared context stops (``stop_spark``): every engine drops its views."""
    with _lock:
        for engine in list(_engines):
            engine.close()


on_stop(_close_engines)


def _remove_local_files() -> None:
    """At exit: the staged Parquet files of engines never closed (the JVM dies with us)."""
    for engine in list(_engines):
        if engine._local_dir is not None:
            shutil.rmtree(engine._local_dir, ignore_errors=True)


def to_spark_arrow(table: pa.Table) -> pa.Table:
    """``table`` with the types Spark reads as meant: dictionaries decoded, timestamps as UTC
    microseconds (naive ones taken as UTC), unsigned integers widened, null columns as text."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = spark_arrow_type(field.type, naive_as_utc=True)
        if kind != field.type:
            if pa.types.is_dictionary(field.type):
                column = column.cast(field.type.value_type)
            # ns -> us drops sub-microsecond digits, which pandas data do not carry.
            safe = not pa.types.is_timestamp(column.type)
            column = pc.cast(column, kind, safe=safe)
        columns.append(column)
    names = table.schema.names
    return pa.Table.from_arrays(columns, names=names) if columns else table


def from_spark_arrow(table: pa.Table) -> pa.Table:
    """A Spark result with naive timestamps (the UTC wall clock) and plain strings, as DuckDB
    returns them."""
    columns = []
    changed = False
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            column = column.cast(pa.timestamp(kind.unit))
            changed = True
        elif pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
            small = pa.string() if pa.types.is_large_string(kind) else pa.binary()
            with contextlib.suppress(pa.ArrowInvalid):  # a chunk over 2 GB stays large
                column = column.cast(small)
                changed = True
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.schema.names) if changed else table


def _to_arrow(frame: Any) -> pa.Table:
    """A Spark DataFrame's rows as Arrow (``toArrow`` from Spark 4, pandas before)."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)


class SparkEngine(SqlEngine):
    """Apache Spark SQL, in local mode or on a cluster (see the module docstring).

    Parameters
    ----------
    master
        Spark master URL: ``local[N]``, ``spark://host:7077``, ``yarn``, ``k8s://...``; default
        ``$PROFILER_SPARK_MASTER``, else the SparkContext already running in this process, else
        ``local[2]``.
    app_name
        The application's name in the cluster manager.
    config
        Extra Spark settings, e.g. ``{"spark.executor.memory": "8g"}``.
    staging_dir
        A folder every executor can read (``hdfs://...``, ``s3a://...``) where registered tables
        are staged as Parquet; default ``$PROFILER_SPARK_STAGING_DIR``.  Without one, a cluster
        gets tables through the driver (``createDataFrame``) and local mode through a temporary
        folder.
    """

    name = "spark"
    dialect = "spark"

    def __init__(
        self,
        master: str | None = None,
        *,
        app_name: str = "customer-profiler",
        config: dict[str, Any] | None = None,
        staging_dir: str | None = None,
    ) -> None:
        # No master asked for: the context already running in this process, if any.
        global _exit_hook
        try:
            base = _shared_session(
                master or os.environ.get(MASTER_ENV), app_name, dict(config or {})
            )
        except SparkUnavailable:
            raise
        except SparkError as exc:
            raise SqlEngineError(str(exc)) from exc
        self.master: str = base.sparkContext.master
        with _quiet():
            self._spark = base.newSession()
        for key, value in {**SESSION_CONF, **(config or {})}.items():
            if key.startswith("spark.sql.") and self._spark.conf.isModifiable(key):
                self._spark.conf.set(key, str(value))
        staging = staging_dir or os.environ.get(STAGING_ENV) or None
        self._remote_dir = f"{staging.rstrip('/')}/{uuid.uuid4().hex}" if staging else None
        self._local_dir = (
            tempfile.mkdtemp(prefix="profiler-spark-")
            if self._remote_dir is None and is_local(self.master)
            else None
        )
        self._views: dict[str, tuple[Any, str | None]] = {}  # name -> (DataFrame, staged path)
        self._closed = False
        with _lock:
            _engines.add(self)
            if not _exit_hook:
                atexit.register(_remove_local_files)
                _exit_hook = True

    def _check_open(self) -> None:
        if self._closed:
            raise SqlEngineError("spark: this engine is closed (or Spark was stopped)")

    def register(self, name: str, table: pa.Table) -> None:
        self._check_open()
        table = to_spark_arrow(table)
        stem = f"{re.sub(r'[^A-Za-z0-9_]', '_', name)}-{next(_names)}"
        path: str | None = None
        with _quiet():
            if self._local_dir is not None:
                path = os.path.join(self._local_dir, f"{stem}.parquet")
                pq.write_table(table, path)
                frame = self._spark.read.parquet(path)
            elif self._remote_dir is not None:
                path = f"{self._remote_dir}/{stem}"
                self._spark.createDataFrame(table).write.mode("overwrite").parquet(path)
                frame = self._spark.read.parquet(path)
            else:
                from pyspark import StorageLevel

                frame = self._spark.createDataFrame(table).persist(StorageLevel.MEMORY_AND_DISK)
            frame.createOrReplaceTempView(name)
        self._replace_view(name, frame, path)

    def register_parquet(self, name: str, paths: list[str]) -> None:
        """Parquet parts as a view; on a cluster the paths must be on storage every executor
        reads (HDFS, S3, a shared mount)."""
        self._check_open()
        with _quiet():
            frame = self._spark.read.parquet(*paths)
            frame.createOrReplaceTempView(name)
        self._replace_view(name, frame, None)

    def create_view(self, name: str, query: exp.Expression) -> None:
        self._check_open()
        view = exp.Create(this=exp.to_table(name), kind="VIEW", expression=query, replace=True)
        view.set("properties", exp.Properties(expressions=[exp.TemporaryProperty()]))
        with _quiet():
            self._spark.sql(self.render(view))
        self._replace_view(name, None, None)

    def _replace_view(self, name: str, frame: Any, path: str | None) -> None:
        previous = self._views.pop(name, None)
        self._views[name] = (frame, path)
        if previous is not None:
            self._release(*previous)

    def _execute(self, sql: str) -> pa.Table:
        self._check_open()
        try:
            with _quiet():
                result = _to_arrow(self._spark.sql(sql))
        except Exception as exc:  # Spark's analysis, parse and runtime errors, in one line
            raise SqlEngineError(f"spark: query failed: {_one_line(exc)}") from exc
        return from_spark_arrow(result)

    def _release(self, frame: Any, path: str | None) -> None:
        """Forget one staged table: its cached blocks and its files."""
        with contextlib.suppress(Exception):
            if path is None:
                frame.unpersist()
            elif self._local_dir is not None:
                os.remove(path)
            else:
                self._delete_remote(path)

    def _delete_remote(self, path: str) -> None:
        """Delete ``path`` with the cluster's own Hadoop file system (hdfs://, s3a://, ...)."""
        jvm = self._spark.sparkContext._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        conf = self._spark.sparkContext._jsc.hadoopConfiguration()
        hadoop_path.getFileSystem(conf).delete(hadoop_path, True)

    def close(self) -> None:
        """Drop this engine's views and staged files (the shared SparkSession keeps running;
        ``stop_spark`` stops it)."""
        if self._closed:
            return
        self._closed = True
        for name, (frame, path) in self._views.items():
            with contextlib.suppress(Exception):  # Spark may be stopped already
                self._spark.catalog.dropTempView(name)
            self._release(frame, path)
        self._views.clear()
        if self._remote_dir is not None:
            with contextlib.suppress(Exception):
                self._delete_remote(self._remote_dir)
        if self._local_dir is not None:
            shutil.rmtree(self._local_dir, ignore_errors=True)
        with _lock:
            _engines.discard(self)
