"""The CAR built on a Spark cluster: each customer bucket's families run on an executor.

Spark reads and validates the sources itself (profiler/spark_intake.py: the loader's rules run
on the executors, the order lines staged by customer bucket).  Then the same two passes as the
out-of-core build (profiler/outofcore.py), with Spark's executors as the workers: one Spark
task per bucket (``spark_tasks.map_buckets``).  The first pass returns each bucket's summary (only those reach the
driver, which reduces them to the global statistics); the second builds the bucket with the
statistics and writes its CAR part and its activity and order days itself.

Where the files live.  The staged order lines, the side tables by bucket and the new CAR
generation are read and written by the executors directly, so the CAR folder must be on storage
every executor sees at the same path (the machine itself for a standalone cluster on one host;
a shared mount such as NFS otherwise).  How the package reaches the executors is in
docs/engines.md ("Running on a Spark cluster").
"""

from __future__ import annotations

import gc
import pickle
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from .car import CarResult
from .catalog import Catalog
from .loading import SourceData
from .memory import hand_back_memory
from .outofcore import (
    BucketJob,
    build_bucket,
    finish,
    first_pass,
    plan_buckets,
    summarize_bucket,
)
from .spark_intake import stage_with_spark
from .spark_session import _shared_session
from .spark_tasks import map_buckets
from .store import GenerationWriter

_RESULT = pa.schema([("bucket", pa.int64()), ("payload", pa.binary())])


def build_on_spark(
    data: str | Path,
    writer: GenerationWriter,
    catalog: Catalog,
    *,
    as_of: str | pd.Timestamp | None = None,
    spec: dict[str, Any] | None = None,
    master: str | None = None,
    today: pd.Timestamp | str | None = None,
    progress: Callable[[str], None] | None = None,
    loaded: Callable[[SourceData], None] | None = None,
) -> CarResult:
    """What ``profiler build --engine spark`` runs (``master``: a Spark master URL, default
    ``$PROFILER_SPARK_MASTER`` or ``local[2]``)."""
    started = time.perf_counter()
    say = progress or (lambda message: None)
    stage = writer.scratch("staging")
    try:
        spark = _shared_session(master, "customer-profiler build", {})
        source = stage_with_spark(spark, data, stage / "sources", today=today, progress=progress)
        if loaded:
            loaded(source)
        job = plan_buckets(source, as_of, spec, stage / "side")
        del source  # the side tables are on shared storage by bucket: the executors read them
        gc.collect()
        hand_back_memory()
        say(f"{job.buckets} customer buckets on {spark.sparkContext.master}")
        summaries = run_buckets(spark, job, summarize_bucket)
        ids = first_pass(job, summaries)
        say(f"global statistics found ({time.perf_counter() - started:,.0f} s so far)")
        job.catalog, job.writer, job.scratch = catalog, writer, writer.scratch("buckets")
        built = [
            (definitions, left_out)
            for definitions, left_out, _ in run_buckets(spark, job, build_bucket)
        ]
        say(f"writing the activity table ({time.perf_counter() - started:,.0f} s so far)")
        result = finish(job, ids, built, "spark")
        result.seconds = time.perf_counter() - started
        return result
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def run_buckets(spark: Any, job: BucketJob, task: Callable[[BucketJob, int], Any]) -> list[Any]:
    """``task(job, b)`` for every bucket, one Spark task each (``map_buckets``: the job sent once
    per executor, a failed bucket one line), results in bucket order."""

    def on_executor(b: int, shipped: BucketJob) -> pd.DataFrame:
        return pd.DataFrame({"bucket": [b], "payload": [pickle.dumps(task(shipped, b))]})

    table = map_buckets(spark, range(job.buckets), on_executor, _RESULT, shared=job)
    return [pickle.loads(payload) for payload in table.column("payload").to_pylist()]
