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

One SparkSession per process.  A JVM holds one SparkContext, so every ``SparkEngine`` in the process
shares it, each with its own ``newSession()``: its own temporary views and SQL settings, so two
engines may register tables of the same name.  ``close()`` drops an engine's views and staged files;
``stop_spark()`` closes every engine and stops the shared context (the next engine starts a new one,
which takes seconds).  ``config`` entries are Spark settings applied when the context starts
(``spark.driver.memory``, ``spark.executor.instances``, ...); ``spark.sql.*`` entries also apply to
a context that is already running.  Spark's own logging goes to stderr at level ERROR (the JVM still
notes "Using incubator modules" there); nothing is printed on stdout.
``spark.driver.extraJavaOptions`` given in ``config`` is appended to the engine's own (a later
``-Dlog4j2.configurationFile`` replaces its quiet logging).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlglot import exp

from .engines import SqlEngine, SqlEngineError

MASTER_ENV = "PROFILER_SPARK_MASTER"
STAGING_ENV = "PROFILER_SPARK_STAGING_DIR"
DEFAULT_MASTER = "local[2]"
INSTALL_PYSPARK = "pip install 'customer-profiler[spark]'"
INSTALL_JAVA = "apt-get install openjdk-17-jre-headless"

# Spark logs through log4j2 to stderr; at ERROR from the start.  Spark's own loggers are named
# too: Spark announces "Setting default log level" unless the logger of the class that starts
# it has a level of its own.
QUIET_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.spark.name = org.apache.spark
logger.spark.level = error
"""

# SQL settings every engine's session gets (they are runtime settings: a session of a context
# started elsewhere gets them too).
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


class SparkUnavailable(SqlEngineError):
    """Spark cannot start here: pyspark or a recent enough Java is missing."""


_lock = threading.RLock()
_session: Any = None  # the shared SparkSession (pyspark.sql.SparkSession)
_support_dir: str | None = None  # the quiet log4j2 file, for the life of the context
_engines: weakref.WeakSet[SparkEngine] = weakref.WeakSet()
_names = itertools.count()
_exit_hook = False


def is_local(master: str) -> bool:
    """True when the executors run on this machine and so share its file system."""
    return master.strip().lower().startswith("local")


def parse_java_version(text: str) -> int | None:
    """The major version in ``java -version`` output: 17 for "17.0.15", 8 for "1.8.0_392"."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def find_java() -> str | None:
    """The java that spark-submit runs: ``$JAVA_HOME/bin/java``, else ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("java")


def require_pyspark() -> str:
    """pyspark's version, or ``SparkUnavailable`` saying how to install it."""
    try:
        import pyspark
    except ImportError:
        raise SparkUnavailable(
            f"Spark needs pyspark, which is not installed: {INSTALL_PYSPARK}"
        ) from None
    return str(pyspark.__version__)


def require_java(spark_version: str) -> int:
    """The Java major version, or ``SparkUnavailable`` if Java is missing or too old for Spark
    (Spark 4 needs Java 17; Spark 3.5 runs on 8, 11 and 17)."""
    needed = 17 if int(spark_version.split(".")[0]) >= 4 else 8
    java = find_java()
    if java is None:
        where = "$JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "java on PATH"
        raise SparkUnavailable(
            f"Spark needs Java {needed} or newer, and there is no {where}: {INSTALL_JAVA}"
        )
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
        version = parse_java_version(done.stderr + done.stdout)
    except (OSError, subprocess.SubprocessError):
        version = None
    if version is None or version < needed:
        found = f"Java {version}" if version is not None else "a Java that does not run"
        raise SparkUnavailable(
            f"Spark {spark_version} needs Java {needed} or newer, but {java} is {found}: "
            f"{INSTALL_JAVA} (or point JAVA_HOME at a newer Java)"
        )
    return version


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """pyspark warns about pandas versions it has not certified; the Arrow paths used here do not
    go through pandas."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark\.")
        warnings.filterwarnings("ignore", message=r".*PySpark does not yet fully support")
        yield


def _silence_error_loggers() -> None:
    """pyspark logs every failed query as JSON on stderr; the engine reports it (one line)."""
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # Spark 3.5 has no such logging
        return
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _one_line(exc: BaseException) -> str:
    """The first meaningful line of a Spark error (py4j wraps Java errors in a preamble)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].startswith("An error occurred while calling") and len(lines) > 1:
        return lines[1].lstrip(": ")
    return lines[0]


def _merged_java_options(ours: str, config: dict[str, str], key: str) -> str:
    """Our JVM options, then the caller's (the JVM takes the last of a repeated -D)."""
    theirs = config.pop(key, "")
    return " ".join(option for option in (ours, theirs) if option)


def _start_conf(master: str, app_name: str, config: dict[str, Any]) -> dict[str, str]:
    """Everything the context starts with: our settings, then the caller's."""
    global _support_dir
    given = {key: str(value) for key, value in config.items()}
    if _support_dir is None:
        _support_dir = tempfile.mkdtemp(prefix="profiler-spark-")
    log4j = os.path.join(_support_dir, "log4j2.properties")
    with open(log4j, "w", encoding="utf-8") as handle:
        handle.write(QUIET_LOG4J2)
    conf = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.ui.showConsoleProgress": "false",
        # The CAR's columns come back to the driver: a slice of the sales grid at 1M customers
        # is ~1.5 GB, past the 1 GB default cap on collected results.
        "spark.driver.maxResultSize": "0",
        # Python tasks (the CAR's buckets, profiler/spark_build.py) run this installation.
        "spark.pyspark.python": sys.executable,
        "spark.executorEnv.PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "spark.executorEnv.NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR")
        or str(Path.home() / ".cache" / "numba-profiler"),
        **SESSION_CONF,
    }
    if is_local(master):
        conf.update(
            {
                "spark.ui.enabled": "false",
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                # An in-memory catalog still creates its warehouse folder; keep it out of the cwd.
                "spark.sql.warehouse.dir": os.path.join(_support_dir, "warehouse"),
            }
        )
    conf["spark.driver.extraJavaOptions"] = _merged_java_options(
        f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log4j}",
        given,
        "spark.driver.extraJavaOptions",
    )
    conf["spark.executor.extraJavaOptions"] = _merged_java_options(
        "-Duser.timezone=UTC", given, "spark.executor.extraJavaOptions"
    )
    conf.update(given)
    return conf


def _shared_session(master: str | None, app_name: str, config: dict[str, Any]) -> Any:
    """The process's SparkSession, started with ``master`` (default ``local[2]``) if none is
    running; a running one must have that master (any, when ``master`` is None)."""
    global _session, _exit_hook
    spark_version = require_pyspark()
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    with _lock:
        running = SparkContext._active_spark_context
        if running is not None:
            if master is not None and running.master != master:
                raise SqlEngineError(
                    f"Spark is already running in this process with master '{running.master}', "
                    f"not '{master}'; call profiler.sql.spark.stop_spark() first."
                )
            if _session is None or _session.sparkContext is not running:
                _session = SparkSession.builder.getOrCreate()
            return _session
        require_java(spark_version)
        # Python tasks run this interpreter (pyspark reads the variable when the context starts).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        master = master or DEFAULT_MASTER
        builder = SparkSession.builder
        for key, value in _start_conf(master, app_name, config).items():
            builder = builder.config(key, value)
        try:
            with _quiet():
                session = builder.getOrCreate()
        except Exception as exc:
            raise SqlEngineError(f"Spark could not start ({master}): {_one_line(exc)}") from exc
        session.sparkContext.setLogLevel("ERROR")
        _silence_error_loggers()
        _session = session
        if not _exit_hook:
            atexit.register(_remove_local_files)
            _exit_hook = True
        return session


def stop_spark() -> None:
    """Close every SparkEngine of this process and stop the SparkSession they share."""
    global _session, _support_dir
    with _lock:
        for engine in list(_engines):
            engine.close()
        if _session is not None:
            with contextlib.suppress(Exception):  # already stopped, or the JVM is gone
                _session.stop()
            _session = None
        if _support_dir is not None:
            shutil.rmtree(_support_dir, ignore_errors=True)
            _support_dir = None


def _remove_local_files() -> None:
    """At exit: the staged Parquet files of engines never closed (the JVM dies with us)."""
    for engine in list(_engines):
        if engine._local_dir is not None:
            shutil.rmtree(engine._local_dir, ignore_errors=True)
    if _support_dir is not None:
        shutil.rmtree(_support_dir, ignore_errors=True)


def _plain_type(kind: pa.DataType) -> pa.DataType:
    """The Arrow type a column is staged as (see the module docstring)."""
    if pa.types.is_dictionary(kind):
        return _plain_type(kind.value_type)
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_null(kind):
        return pa.string()
    if pa.types.is_uint8(kind):
        return pa.int16()
    if pa.types.is_uint16(kind):
        return pa.int32()
    if pa.types.is_unsigned_integer(kind):
        return pa.int64()
    if pa.types.is_float16(kind):
        return pa.float32()
    if pa.types.is_date64(kind):
        return pa.date32()
    return kind


def to_spark_arrow(table: pa.Table) -> pa.Table:
    """``table`` with the types Spark reads as meant: dictionaries decoded, timestamps as UTC
    microseconds (naive ones taken as UTC), unsigned integers widened, null columns as text."""
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = _plain_type(field.type)
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
        base = _shared_session(master or os.environ.get(MASTER_ENV), app_name, dict(config or {}))
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
