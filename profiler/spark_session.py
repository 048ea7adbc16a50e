"""The process's one SparkSession: started quietly, in UTC, locally or against a cluster.

A JVM holds one SparkContext, so everything in this process that uses Spark (the SQL engine of
``profiler/sql/spark.py``, ``profiler/spark_tasks.py``'s bucket tasks) shares the session
``get_spark`` starts; this Python process is always the driver (client mode).  The master comes
from the argument, else ``$PROFILER_SPARK_MASTER``, else the SparkContext already running in
this process (a notebook's), else ``local[2]``.

Time.  The JVMs run in UTC (``-Duser.timezone=UTC``) and so does the SQL session
(``spark.sql.session.timeZone``), so naive timestamps staged as UTC instants behave as naive ones.
ANSI mode (``spark.sql.ansi.enabled``, on by default since Spark 4.0) is turned off, as it was in
Spark 3 (see ``profiler/sql/spark.py`` for what that means for SQL).

``config`` entries are Spark settings applied when the context starts (``spark.driver.memory``,
``spark.executor.memory``, ...).  ``spark.driver.extraJavaOptions`` and
``spark.executor.extraJavaOptions`` are appended to our own (a later
``-Dlog4j2.configurationFile`` replaces the quiet logging).

Executors' Python.  By default the executors run this interpreter, with the folder holding the
``profiler`` package on their PYTHONPATH (``spark.executorEnv.PYTHONPATH``): right when they share
this installation (a standalone cluster on this machine, the same path on every host).
``spark.pyspark.python`` (in ``config`` or spark-defaults.conf) applies here too, where no
``spark-submit`` reads it, then ``$PYSPARK_PYTHON``.  Executors get a writable
``NUMBA_CACHE_DIR`` (``spark.executorEnv.NUMBA_CACHE_DIR``: the driver's ``$NUMBA_CACHE_DIR``,
else a folder in their ``/tmp``) so numba's cache never writes next to a read-only package.

Spark's own logging goes to stderr at level ERROR (the JVM still notes "Using incubator modules"
there); nothing is printed on stdout.  ``stop_spark()`` stops the context and runs the hooks
registered with ``on_stop`` (the SQL engine closes its engines there); the next ``get_spark``
starts a new context, which takes seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from .errors import ProfilerError

MASTER_ENV = "PROFILER_SPARK_MASTER"
DEFAULT_MASTER = "local[2]"
DEFAULT_APP_NAME = "customer-profiler"
INSTALL_PYSPARK = "pip install 'customer-profiler[spark]'"
INSTALL_JAVA = "apt-get install openjdk-17-jre-headless"
# Where executors' numba caches compiled functions, unless the caller or $NUMBA_CACHE_DIR says
# otherwise: /tmp exists and is writable on every Linux executor; the package folder may be
# read-only.
EXECUTOR_NUMBA_CACHE_DIR = "/tmp/profiler-numba-cache"
# The folder holding the profiler package, on the executors' PYTHONPATH by default.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Spark logs through log4j2 to stderr; at ERROR from the start.  Spark's own loggers are named
# too: Spark announces "Setting default log level" unless the logger of the class that starts
# it has a level of its own.  A failed task is reported by its caller in one line, so the
# executor's stack trace of it (local mode) and the scheduler's "aborting job" are not logged.
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
logger.executor.name = org.apache.spark.executor.Executor
logger.executor.level = off
logger.tasks.name = org.apache.spark.scheduler.TaskSetManager
logger.tasks.level = off
"""

# SQL settings every session gets (they are runtime settings: a session of a context started
# elsewhere gets them too).
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


class SparkError(ProfilerError):
    """Spark could not start, or a Spark job failed."""


class SparkUnavailable(SparkError):
    """Spark cannot start here: pyspark or a recent enough Java is missing."""


_lock = threading.RLock()
_session: Any = None  # the shared SparkSession (pyspark.sql.SparkSession)
_support_dir: str | None = None  # the quiet log4j2 file, for the life of the context
_stop_hooks: list[Callable[[], None]] = []
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
    """pyspark logs every failed query as JSON on stderr; the callers report it (one line)."""
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
    # Python tasks (the CAR's buckets) import this installation's profiler package; right for
    # executors that share it (one machine, or the same path on every host).
    conf["spark.executorEnv.PYTHONPATH"] = PACKAGE_ROOT
    conf["spark.executorEnv.NUMBA_CACHE_DIR"] = (
        os.environ.get("NUMBA_CACHE_DIR") or EXECUTOR_NUMBA_CACHE_DIR
    )
    conf.update(given)
    return conf


def executor_python(conf: dict[str, str]) -> str:
    """The Python the executors run: ``spark.pyspark.python`` (from ``config`` or
    ``spark-defaults.conf``), else ``$PYSPARK_PYTHON``, else this interpreter."""
    return conf.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON") or sys.executable


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
                raise SparkError(
                    f"Spark is already running in this process with master '{running.master}', "
                    f"not '{master}'; call profiler.spark_session.stop_spark() first."
                )
            if _session is None or _session.sparkContext is not running:
                _session = SparkSession.builder.getOrCreate()
            return _session
        require_java(spark_version)
        master = master or DEFAULT_MASTER
        conf = _start_conf(master, app_name, config)
        builder = SparkSession.builder
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            with _quiet():
                session = builder.getOrCreate()
        except Exception as exc:
            raise SparkError(f"Spark could not start ({master}): {_one_line(exc)}") from exc
        session.sparkContext.setLogLevel("ERROR")
        # ``spark.pyspark.python`` is read by spark-submit only: a context started from Python
        # takes the executors' Python from $PYSPARK_PYTHON (default ``python3``) and sends it
        # with every task.  The context's settings include spark-defaults.conf.
        settings = dict(session.sparkContext.getConf().getAll())
        session.sparkContext.pythonExec = executor_python(settings)
        _silence_error_loggers()
        _session = session
        if not _exit_hook:
            atexit.register(_remove_support_dir)
            _exit_hook = True
        return session


def get_spark(
    master: str | None = None,
    *,
    app_name: str = DEFAULT_APP_NAME,
    config: dict[str, Any] | None = None,
) -> Any:
    """The process's SparkSession, started if none is running.

    Parameters
    ----------
    master
        Spark master URL: ``local[N]``, ``spark://host:7077``, ``yarn``, ``k8s://...``; default
        ``$PROFILER_SPARK_MASTER``, else the SparkContext already running in this process, else
        ``local[2]``.  A running context with another master is an error (``stop_spark`` first).
    app_name
        The application's name in the cluster manager.
    config
        Spark settings for a context that starts here, e.g. ``{"spark.executor.memory": "8g"}``.

    Raises
    ------
    SparkUnavailable
        pyspark or Java 17 is missing (the message says what to install).
    SparkError
        Spark could not start, or runs already with another master.
    """
    return _shared_session(master or os.environ.get(MASTER_ENV), app_name, dict(config or {}))


def on_stop(hook: Callable[[], None]) -> None:
    """Run ``hook`` (once per registration) whenever ``stop_spark`` stops the context, before it
    stops: users of the session drop what they hold in it."""
    with _lock:
        if hook not in _stop_hooks:
            _stop_hooks.append(hook)


def stop_spark() -> None:
    """Stop the process's SparkSession, after the ``on_stop`` hooks (the SQL engines close)."""
    global _session
    with _lock:
        for hook in list(_stop_hooks):
            hook()
        if _session is not None:
            with contextlib.suppress(Exception):  # already stopped, or the JVM is gone
                _session.stop()
            _session = None
        _remove_support_dir()


def _remove_support_dir() -> None:
    """The quiet log4j2 file and the warehouse folder (at stop, and at exit)."""
    global _support_dir
    if _support_dir is not None:
        shutil.rmtree(_support_dir, ignore_errors=True)
        _support_dir = None


def spark_arrow_type(kind: pa.DataType, *, naive_as_utc: bool) -> pa.DataType:
    """The Arrow type a column travels to Spark as: dictionaries decoded, timestamps in
    microseconds (naive ones as UTC instants when ``naive_as_utc``, else kept naive), unsigned
    integers widened to the next signed type, half floats and 64-bit dates widened or narrowed
    to Spark's, large strings as strings, and an all-missing column as text (Spark has no usable
    null type)."""
    if pa.types.is_dictionary(kind):
        return spark_arrow_type(kind.value_type, naive_as_utc=naive_as_utc)
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", tz="UTC" if naive_as_utc or kind.tz is not None else None)
    simple = {
        pa.types.is_null: pa.string(),
        pa.types.is_uint8: pa.int16(),
        pa.types.is_uint16: pa.int32(),
        pa.types.is_unsigned_integer: pa.int64(),
        pa.types.is_float16: pa.float32(),
        pa.types.is_date64: pa.date32(),
        pa.types.is_large_string: pa.string(),
    }
    return next((to for test, to in simple.items() if test(kind)), kind)
