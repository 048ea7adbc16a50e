"""Engine benchmark: the same CAR built with each engine, its time and peak memory, and a
column-by-column check that the engines agree.

Usage: python bench/bench_engines.py --data /tmp/profiler-bench-data --out /tmp/profiler-bench-engines
       [--engines pandas,duckdb,duckdb-ranges,spark] [--spark-master local[2]] [--skip-check]
(generate the data first: python bench/bench_generate.py --customers 1000000; for Spark in local
mode at that size give the driver memory: PYSPARK_SUBMIT_ARGS="--driver-memory 10g pyspark-shell")

Each engine runs in its own process (so its peak RSS is its own): load and validate the sources,
build the CAR (timed per family) and write it; ``duckdb-ranges`` is the out-of-core build that
``profiler build --engine duckdb`` runs (order lines staged to disk, the CAR and activity table
written one customer range at a time).  Then every column of every engine's CAR is
compared with the pandas one: counts, dates, float32 columns and the sales grids' money (whole
pence / 100 in every engine) exactly, other float64 measures within 1e-9 relative.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from workbook.launcher import relaunch_tuned


def one(engine: str, data: str, out: str, spark_master: str | None) -> None:
    """Child process: build with one engine and print its timings as JSON."""
    from profiler import store
    from profiler.car import build_car
    from profiler.loading import load_sources
    from profiler.memory import keep_freed_memory
    from profiler.sql.engines import open_engine

    keep_freed_memory()  # as the CLI does

    timings: dict[str, float] = {}
    started = time.perf_counter()
    if engine == OUT_OF_CORE:
        print(json.dumps(out_of_core(data, out, started)))
        return
    source = load_sources(data)
    timings["load"] = time.perf_counter() - started
    last = [time.perf_counter()]

    def progress(family: str, done: int, total: int) -> None:
        now = time.perf_counter()
        timings[family] = now - last[0]
        last[0] = now

    built = time.perf_counter()
    if engine == "pandas":
        result = build_car(source, None, progress=progress)
    else:
        with open_engine(engine, spark_master=spark_master) as sql:
            result = build_car(source, None, progress=progress, engine=sql)
    timings["build"] = time.perf_counter() - built
    written = time.perf_counter()
    with store.building(out, required=(store.CAR, store.DICTIONARY)) as writer:
        writer.write_car(result)
    timings["write"] = time.perf_counter() - written
    timings["total"] = time.perf_counter() - started
    print(json.dumps(timings))


OUT_OF_CORE = "duckdb-ranges"  # what profiler build --engine duckdb runs


def out_of_core(data: str, out: str, started: float) -> dict[str, float]:
    """Order lines staged to disk in batches, the CAR built and written in customer ranges."""
    from profiler import store
    from profiler.catalog import load_catalog
    from profiler.sql.ranged import build_out_of_core

    timings: dict[str, float] = {}

    def loaded(source: object) -> None:
        timings["load"] = time.perf_counter() - started

    required = (store.CAR, store.DICTIONARY, store.ACTIVITY)
    with store.building(out, required=required) as writer:
        build_out_of_core(data, writer, load_catalog(), loaded=loaded)
    # The build includes the writing and the activity table.
    timings["build"] = time.perf_counter() - started - timings["load"]
    timings["write"] = 0.0
    timings["total"] = time.perf_counter() - started
    return timings


def run_child(engine: str, args: argparse.Namespace) -> dict[str, float]:
    out = Path(args.out) / engine
    command = [sys.executable, __file__, "--one", engine, "--data", args.data, "--out", str(out)]
    if args.spark_master:
        command += ["--spark-master", args.spark_master]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    output = child.stdout.read() if child.stdout else ""
    if status != 0:
        raise SystemExit(f"{engine}: the build failed (exit status {status >> 8})")
    timings = json.loads(output.strip().splitlines()[-1])
    timings["peak_gb"] = usage.ru_maxrss / 1024**2  # children's JVMs are not counted here
    return timings


def compare(reference: Path, other: Path, batch: int = 100) -> dict[str, object]:
    # (``reference`` and ``other`` are CAR folders; their current generations are compared)
    """Column-by-column agreement of two written CARs, a batch of columns at a time."""
    from profiler import store

    reference, other = store.open_generation(reference), store.open_generation(other)
    names = reference.car_columns()
    with reference.file(store.DICTIONARY).open(newline="") as file:
        rows = list(csv.DictReader(file))
    units = {row["column"]: row["unit"] for row in rows}
    money = {row["column"] for row in rows if row["family"] == "sales" and row["unit"] == "gbp"}
    worst, unequal = 0.0, []
    for i in range(0, len(names), batch):
        cols = names[i : i + batch]
        a = pq.read_table(reference.file(store.CAR), columns=cols)
        b = pq.read_table(other.file(store.CAR), columns=cols)
        for name in cols:
            x, y = a.column(name), b.column(name)
            if name in money:  # to the bit
                if not np.array_equal(x.to_numpy(), y.to_numpy(), equal_nan=True):
                    unequal.append(name)
            elif x.type == "double" and units.get(name) != "count":
                xa, ya = x.to_numpy(), y.to_numpy()
                both = ~(np.isnan(xa) & np.isnan(ya))
                scale = np.maximum(np.abs(xa[both]), 1e-300)
                rel = np.abs(xa[both] - ya[both]) / scale
                worst = max(worst, float(np.nanmax(rel, initial=0.0)))
                if not np.all(rel <= 1e-9) or np.isnan(xa).sum() != np.isnan(ya).sum():
                    unequal.append(name)
            elif pa.types.is_floating(x.type):  # float32: to the bit, NaN where NaN
                if x.type != y.type or not np.array_equal(
                    x.to_numpy(), y.to_numpy(), equal_nan=True
                ):
                    unequal.append(name)
            elif pa.types.is_dictionary(x.type):  # parts keep categories in order of appearance
                if not x.cast(x.type.value_type).equals(y.cast(y.type.value_type)):
                    unequal.append(name)
            elif not x.equals(y):
                unequal.append(name)
    return {"columns": len(names), "unequal": unequal, "max_relative_difference": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--engines", default="pandas,duckdb")
    parser.add_argument("--spark-master", default=None)
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    relaunch_tuned([sys.executable, *sys.argv])  # the allocator as the `profiler` command has it
    if args.one:
        one(args.one, args.data, args.out, args.spark_master)
        return
    engines = args.engines.split(",")
    results = {}
    for engine in engines:
        results[engine] = run_child(engine, args)
        t = results[engine]
        print(
            f"{engine:7s} total {t['total']:6.1f} s  (load {t['load']:.1f}, build {t['build']:.1f} "
            f"of which sales {t.get('sales', float('nan')):.1f}, write {t['write']:.1f})  "
            f"peak {t['peak_gb']:.1f} GB",
            flush=True,
        )
    if "pandas" in engines and not args.skip_check:
        for engine in engines:
            if engine == "pandas":
                continue
            check = compare(Path(args.out) / "pandas", Path(args.out) / engine)
            print(
                f"{engine} vs pandas: {check['columns']} columns, "
                f"{len(check['unequal'])} unequal {check['unequal'][:5]}, "
                f"max relative difference of money {check['max_relative_difference']:.2e}"
            )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
