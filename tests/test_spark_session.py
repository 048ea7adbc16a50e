"""The Spark session's settings, without starting Spark."""

from __future__ import annotations

import sys

import pytest

from profiler import spark_session
from profiler.spark_session import EXECUTOR_NUMBA_CACHE_DIR, _start_conf, on_stop, stop_spark


@pytest.fixture(autouse=True)
def no_real_session(monkeypatch, tmp_path):
    """The module's state as if no Spark ran: a session of other tests stays untouched."""
    monkeypatch.setattr(spark_session, "_session", None)
    monkeypatch.setattr(spark_session, "_support_dir", str(tmp_path))
    monkeypatch.setattr(spark_session, "_stop_hooks", [])


# Executors' Python: this interpreter when they run on this machine; on a cluster only what the
# caller or $PYSPARK_PYTHON says (the driver's path means nothing on another node).
@pytest.mark.parametrize(
    ("master", "env", "given", "expected"),
    [
        ("local[2]", None, {}, sys.executable),
        ("local[2]", "/opt/py/bin/python", {}, None),
        ("local[2]", None, {"spark.pyspark.python": "/venv/bin/python"}, "/venv/bin/python"),
        ("spark://host:7077", None, {}, None),
        ("yarn", None, {"spark.pyspark.python": "./env/bin/python"}, "./env/bin/python"),
    ],
)
def test_executor_python(monkeypatch, master, env, given, expected):
    if env is None:
        monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    else:
        monkeypatch.setenv("PYSPARK_PYTHON", env)
    conf = _start_conf(master, "test", given)
    assert conf.get("spark.pyspark.python") == expected


# Executors get a writable numba cache unless told otherwise; the caller's JVM options follow ours.
def test_numba_cache_and_java_options():
    conf = _start_conf("spark://host:7077", "test", {})
    assert conf["spark.executorEnv.NUMBA_CACHE_DIR"] == EXECUTOR_NUMBA_CACHE_DIR
    assert conf["spark.executor.extraJavaOptions"] == "-Duser.timezone=UTC"
    given = {
        "spark.executorEnv.NUMBA_CACHE_DIR": "/scratch/numba",
        "spark.executor.extraJavaOptions": "-XX:+UseG1GC",
    }
    conf = _start_conf("spark://host:7077", "test", given)
    assert conf["spark.executorEnv.NUMBA_CACHE_DIR"] == "/scratch/numba"
    assert conf["spark.executor.extraJavaOptions"] == "-Duser.timezone=UTC -XX:+UseG1GC"


def test_stop_runs_the_hooks_once_each():
    calls = []

    def hook():
        calls.append("closed")

    on_stop(hook)
    on_stop(hook)
    stop_spark()
    assert calls == ["closed"]
