"""The Spark session's settings, without starting Spark."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import profiler
from profiler import spark_session
from profiler.spark_session import (
    EXECUTOR_NUMBA_CACHE_DIR,
    _start_conf,
    executor_python,
    on_stop,
    stop_spark,
)


@pytest.fixture(autouse=True)
def no_real_session(monkeypatch, tmp_path):
    """The module's state as if no Spark ran: a session of other tests stays untouched."""
    monkeypatch.setattr(spark_session, "_session", None)
    monkeypatch.setattr(spark_session, "_support_dir", str(tmp_path))
    monkeypatch.setattr(spark_session, "_stop_hooks", [])


# Executors' Python: spark.pyspark.python, else $PYSPARK_PYTHON, else this interpreter.
@pytest.mark.parametrize(
    ("env", "given", "expected"),
    [
        (None, {}, sys.executable),
        ("/opt/py/bin/python", {}, "/opt/py/bin/python"),
        ("/opt/py/bin/python", {"spark.pyspark.python": "./env/bin/python"}, "./env/bin/python"),
    ],
)
def test_executor_python(monkeypatch, env, given, expected):
    if env is None:
        monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    else:
        monkeypatch.setenv("PYSPARK_PYTHON", env)
    assert executor_python(_start_conf("spark://host:7077", "test", given)) == expected


# Executors get a writable numba cache unless told otherwise; the caller's JVM options follow ours.
def test_numba_cache_python_path_and_java_options(monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    conf = _start_conf("spark://host:7077", "test", {})
    assert conf["spark.executorEnv.NUMBA_CACHE_DIR"] == EXECUTOR_NUMBA_CACHE_DIR
    assert conf["spark.executorEnv.PYTHONPATH"] == str(Path(profiler.__file__).parents[1])
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/home/me/.cache/numba")
    conf = _start_conf("spark://host:7077", "test", {})
    assert conf["spark.executorEnv.NUMBA_CACHE_DIR"] == "/home/me/.cache/numba"
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
