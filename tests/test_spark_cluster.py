"""map_buckets on a real Spark standalone cluster (a master and two workers on this machine), and
its error reporting without Spark."""

from __future__ import annotations

import importlib
import os
import threading
import time
import uuid
import zipfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from profiler.errors import ProfilerError
from profiler.spark_session import EXECUTOR_NUMBA_CACHE_DIR, SparkError, find_java, get_spark
from profiler.spark_tasks import (
    FAILED_MARK,
    SparkTaskError,
    map_buckets,
    task_error,
    write_part,
)
from tests import spark_cluster as spark_cluster_module
from tests.spark_cluster import Cluster, start_cluster


def on_cluster(test):
    """Runs on the standalone cluster (skipped with the reason without Java 17 or pyspark)."""
    return pytest.mark.spark(pytest.mark.spark_cluster(test))


def ancestors(pid: int) -> list[int]:
    """The process ids above ``pid``, up to init (Linux /proc)."""
    chain = []
    while pid > 1:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


WHERE = pa.schema(
    [
        ("bucket", pa.int32()),
        ("pid", pa.int64()),
        ("partition", pa.int32()),
        ("ancestors", pa.list_(pa.int64())),
        ("numba_cache", pa.string()),
    ]
)


def where_am_i(bucket: int) -> pd.DataFrame:
    """One row: the bucket and the process that ran it."""
    from pyspark import TaskContext

    time.sleep(0.3)  # long enough that one executor cannot take every task
    return pd.DataFrame(
        {
            "bucket": [bucket],
            "pid": [os.getpid()],
            "partition": [TaskContext.get().partitionId()],
            "ancestors": [ancestors(os.getpid())],
            "numba_cache": [os.environ.get("NUMBA_CACHE_DIR")],
        }
    )


@on_cluster
def test_each_bucket_runs_once_on_an_executor_of_both_workers(spark_on_cluster, spark_cluster):
    result = map_buckets(spark_on_cluster, [7, 3, 5, 1], where_am_i, WHERE).to_pandas()
    # Every bucket once, in the order asked, each in a Spark task of its own.
    assert result["bucket"].tolist() == [7, 3, 5, 1]
    assert result["partition"].tolist() == [0, 1, 2, 3]
    # In executor processes under the workers (the test started them), never the driver.
    assert os.getpid() not in result["pid"].tolist()
    workers = set()
    for chain in result["ancestors"]:
        under = set(chain) & set(spark_cluster.worker_pids)
        assert len(under) == 1
        workers |= under
    assert workers == set(spark_cluster.worker_pids)
    assert set(result["numba_cache"]) == {
        os.environ.get("NUMBA_CACHE_DIR") or EXECUTOR_NUMBA_CACHE_DIR
    }


def fail_on_two(bucket: int) -> pd.DataFrame:
    if bucket == 2:
        raise ValueError("bucket two is broken\nsecond line of the message")
    return pd.DataFrame({"bucket": [bucket]})


def profiler_error_on_one(bucket: int) -> pd.DataFrame:
    if bucket == 1:
        raise ProfilerError("Column 'amount' of orders.csv row 12: expected a number, got 'x'.")
    return pd.DataFrame({"bucket": [bucket]})


BUCKET_ONLY = pa.schema([("bucket", pa.int64())])


# A task that raises: one line on the driver naming the bucket and the task's own error; no Java
# stack on stderr.
@on_cluster
@pytest.mark.parametrize(
    ("task", "expected", "bucket"),
    [
        (fail_on_two, "Spark task for bucket 2 failed: ValueError: bucket two is broken", 2),
        (
            profiler_error_on_one,
            "Spark task for bucket 1 failed: Column 'amount' of orders.csv row 12: "
            "expected a number, got 'x'.",
            1,
        ),
        (
            lambda bucket: pd.DataFrame({"customer": [bucket]}),
            "Spark task for bucket 0 failed: the result has no column 'bucket'; "
            "expected ['bucket']",
            0,
        ),
    ],
)
def test_a_failing_task_is_one_line(spark_on_cluster, capfd, task, expected, bucket):
    buckets = [0, 1, 2, 3] if bucket else [0]
    with pytest.raises(SparkTaskError) as raised:
        map_buckets(spark_on_cluster, buckets, task, BUCKET_ONLY)
    assert str(raised.value) == expected
    assert raised.value.bucket == bucket
    assert "\tat org.apache" not in capfd.readouterr().err


# Big outputs go from the executors to shared storage; the driver gets their paths.
@on_cluster
def test_tasks_write_parquet_that_the_driver_reads(spark_on_cluster, tmp_path: Path):
    shared = tmp_path / "out"
    shared.mkdir()

    def write_bucket(bucket: int) -> pd.DataFrame:
        frame = pd.DataFrame(
            {"customer_id": [bucket * 100 + i for i in range(bucket + 1)], "pid": os.getpid()}
        )
        # A file:// URI as an hdfs:// or s3:// one would be, or a plain path.
        where = shared / f"bucket-{bucket}.parquet"
        uri = write_part(frame, f"file://{where}" if bucket else str(where))
        return pd.DataFrame({"bucket": [bucket], "path": [uri], "rows": [len(frame)]})

    schema = pa.schema([("bucket", pa.int64()), ("path", pa.string()), ("rows", pa.int64())])
    written = map_buckets(spark_on_cluster, [0, 1, 2], write_bucket, schema).to_pandas()
    assert written["rows"].tolist() == [1, 2, 3]
    assert written["path"].tolist() == [
        str(shared / "bucket-0.parquet"),
        f"file://{shared}/bucket-1.parquet",
        f"file://{shared}/bucket-2.parquet",
    ]
    assert sorted(p.name for p in shared.iterdir()) == [f"bucket-{b}.parquet" for b in (0, 1, 2)]
    parts = pq.read_table([str(shared / f"bucket-{b}.parquet") for b in (0, 1, 2)]).to_pandas()
    assert parts["customer_id"].tolist() == [0, 100, 101, 200, 201, 202]
    assert os.getpid() not in set(parts["pid"])


# One shared object (a broadcast) reaches every task; the declared types come back, including
# those Spark has not (categories, unsigned integers, naive nanosecond timestamps).
@on_cluster
def test_shared_object_and_types_round_trip(spark_on_cluster):
    names = {0: "zero", 1: "one", 2: "two"}

    def task(bucket: int, shared: dict[int, str]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "bucket": pd.Series([bucket], dtype="uint8"),
                "name": pd.Categorical([shared[bucket]]),
                "at": pd.to_datetime([f"2024-0{bucket + 1}-15 10:30:00"]),
                "share": [bucket / 4],
            }
        )

    schema = pa.schema(
        [
            ("bucket", pa.uint8()),
            ("name", pa.dictionary(pa.int32(), pa.string())),
            ("at", pa.timestamp("ns")),
            ("share", pa.float64()),
        ]
    )
    result = map_buckets(spark_on_cluster, [2, 0, 1], task, schema, shared=names)
    assert result.schema == schema
    expected = pd.DataFrame(
        {
            "bucket": pd.Series([2, 0, 1], dtype="uint8"),
            "name": pd.Categorical(["two", "zero", "one"]),
            "at": pd.to_datetime(
                ["2024-03-15 10:30", "2024-01-15 10:30", "2024-02-15 10:30"]
            ).astype("datetime64[ns]"),
            "share": [0.5, 0.0, 0.25],
        }
    )
    got = result.to_pandas()
    got["name"] = got["name"].astype(str).astype("category")
    expected["name"] = expected["name"].astype(str).astype("category")
    pd.testing.assert_frame_equal(got, expected, check_categorical=False)


# The CAR build of issue 22 on the cluster: every bucket's families in executors of the two
# workers, the CAR, activity and order days equal to the in-memory build's.
@on_cluster
def test_the_car_builds_on_the_cluster(spark_on_cluster, spark_cluster, demo_source, tmp_path):
    from tests.test_spark_build import assert_equals_in_memory, build_with_spark

    out = tmp_path / "car"
    result, messages = build_with_spark(demo_source.data_dir, out, spark_cluster.master_url)
    assert any(m.startswith(f"16 customer buckets on {spark_cluster.master_url}") for m in messages)
    assert_equals_in_memory(demo_source, result, out)


# A package the executors cannot import otherwise reaches them as a zip (sc.addPyFile), and its
# functions travel by name: how profiler/ reaches executors that have only its dependencies.
@on_cluster
def test_a_zipped_package_reaches_the_executors(spark_on_cluster, tmp_path: Path):
    name = f"shipped_{uuid.uuid4().hex[:8]}"
    archive = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as package:
        package.writestr(
            f"{name}/__init__.py",
            "import os\n"
            "import pandas as pd\n"
            "def task(bucket):\n"
            "    return pd.DataFrame({'bucket': [bucket], 'origin': [__file__]})\n",
        )
    spark_on_cluster.sparkContext.addPyFile(str(archive))
    module = importlib.import_module(name)
    schema = pa.schema([("bucket", pa.int64()), ("origin", pa.string())])
    result = map_buckets(spark_on_cluster, [0, 1], module.task, schema).to_pandas()
    assert result["bucket"].tolist() == [0, 1]
    for origin in result["origin"]:
        assert f"{name}.zip" in origin and origin != module.__file__


# The same call in local mode: the Python workers run this interpreter.
@pytest.mark.spark
def test_map_buckets_in_local_mode(spark_engine):
    spark = get_spark()
    result = map_buckets(spark, [4, 2], where_am_i, WHERE).to_pandas()
    assert result["bucket"].tolist() == [4, 2]
    assert os.getpid() in result["ancestors"][0]


# write_part replaces an earlier attempt's file whole and leaves no partial file behind.
def test_write_part_replaces_whole(tmp_path: Path):
    target = tmp_path / "deep" / "bucket-3.parquet"
    write_part(pd.DataFrame({"x": [1, 2]}), str(target))
    assert write_part(pa.table({"x": [7]}), f"file://{target}") == f"file://{target}"
    assert pq.read_table(target).column("x").to_pylist() == [7]
    assert [p.name for p in target.parent.iterdir()] == ["bucket-3.parquet"]


def test_write_part_needs_an_absolute_place():
    with pytest.raises(SparkError, match=r"Cannot write 'out/b\.parquet': expected an absolute"):
        write_part(pa.table({"x": [1]}), "out/b.parquet")


# A cluster that does not come up in time is stopped whole: no JVM is left behind.
@on_cluster
def test_a_failed_start_leaves_nothing_running(tmp_path: Path):
    pytest.importorskip("pyspark")
    if find_java() is None:
        pytest.skip("Spark is not available: no Java")
    started: list[Cluster] = []
    real_wait = spark_cluster_module._wait_for_workers

    def wait(cluster, workers, timeout):
        started.append(cluster)
        real_wait(cluster, workers, timeout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(spark_cluster_module, "_wait_for_workers", wait)
        with pytest.raises(RuntimeError, match=r"0 of 2 Spark workers registered in 0\.1 s"):
            start_cluster(tmp_path, timeout=0.1)
    (cluster,) = started
    assert len(cluster.groups) == 3 and cluster.processes == []
    assert cluster.survivors() == []


# Input checked before Spark starts a job.
def test_no_buckets_is_an_empty_table():
    pytest.importorskip("pyspark")
    assert map_buckets(None, [], fail_on_two, BUCKET_ONLY) == BUCKET_ONLY.empty_table()


def test_a_task_that_cannot_travel_is_one_line():
    pytest.importorskip("pyspark")
    lock = threading.Lock()
    with pytest.raises(SparkError, match=r"the task cannot be sent to the executors: .*lock"):
        map_buckets(None, [1], lambda bucket: lock, BUCKET_ONLY)


def test_repeated_buckets_are_refused():
    pytest.importorskip("pyspark")
    with pytest.raises(SparkError, match=r"buckets \[3\] are given more than once"):
        map_buckets(None, [1, 3, 3], fail_on_two, BUCKET_ONLY)


# Spark's reports (as py4j and pyspark word them) become one line.
@pytest.mark.parametrize(
    ("report", "error", "expected"),
    [
        (
            "An exception was thrown from the Python worker. Please see the stack trace below.\n"
            'Traceback (most recent call last):\n  File "x.py", line 3, in f\n'
            f"RuntimeError: {FAILED_MARK} bucket=12: KeyError: 'c9'\n",
            SparkTaskError,
            "Spark task for bucket 12 failed: KeyError: 'c9'",
        ),
        (
            "Traceback (most recent call last):\nModuleNotFoundError: No module named 'profiler'\n",
            SparkTaskError,
            "Spark task failed: ModuleNotFoundError: No module named 'profiler'; the executors "
            "cannot import the profiler package or a dependency: ship it to them "
            "(docs/engines.md, 'Running on a Spark cluster')",
        ),
        (
            "An error occurred while calling o77.collectAsArrowToPython.\n"
            ": org.apache.spark.SparkException: Job aborted: executor 1 lost\n"
            "\tat org.apache.spark.scheduler.DAGScheduler.failJob(DAGScheduler.scala:1)\n",
            SparkError,
            "Spark job failed: org.apache.spark.SparkException: Job aborted: executor 1 lost",
        ),
    ],
)
def test_spark_reports_become_one_line(report, error, expected):
    found = task_error(Exception(report))
    assert type(found) is error
    assert str(found) == expected
