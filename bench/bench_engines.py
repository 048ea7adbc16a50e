"""Build benchmark: the same CAR built in memory, out of core and on Spark, end to end (load,
build, write the CAR, the activity table and the order days), with time, peak memory and a
column-by-column check that every build equals the in-memory one.

Usage: python bench/bench_engines.py --data /tmp/profiler-bench-data --out /tmp/profiler-bench-engines
       [--engines in-memory,out-of-core,spark] [--spark-master spark://127.0.0.1:7077] [--skip-check]
(generate the data first: python bench/bench_generate.py --customers 1000000)

Each build runs in its own process, so its peak RSS is its own and its forked workers' (the
largest of them); a Spark build's executors are other processes, reported by the cluster.
Every column is compared exactly: numbers and dates to the bit, categories by value (Parquet
parts keep categories in order of appearance).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from profiler.memory import relaunch_tuned

ENGINES = ("in-memory", "out-of-core", "spark")


def one(engine: str, data: str, out: str, spark_master: str | None) -> None:
    """Child process: one build (``profiler.build``, as ``profiler build`` runs it), its
    timings printed as JSON."""
    import profiler
    from profiler.memory import keep_freed_memory

    keep_freed_memory()  # as the CLI does
    result = profiler.build(data, out, engine=engine, spark_master=spark_master)
    steps = result.timings
    timings = {"load": steps["loaded"], "total": steps["total"]}
    if "computed" in steps:
        timings["build"] = steps["computed"] - steps["loaded"]
    print(json.dumps(timings))


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
    timings["peak_gb"] = usage.ru_maxrss / 1024**2  # the child or its largest forked worker
    return timings


def compare(reference: Path, other: Path, batch: int = 100) -> dict[str, object]:
    """Column-by-column equality of two written CARs (their current generations)."""
    from profiler import store

    reference, other = store.open_generation(reference), store.open_generation(other)
    names = reference.car_columns()
    unequal = []
    for i in range(0, len(names), batch):
        cols = names[i : i + batch]
        a = pq.read_table(reference.file(store.CAR), columns=cols)
        b = pq.read_table(other.file(store.CAR), columns=cols)
        for name in cols:
            x, y = a.column(name), b.column(name)
            if pa.types.is_dictionary(x.type):
                x, y = x.cast(x.type.value_type), y.cast(y.type.value_type)
            if pa.types.is_floating(x.type):
                same = x.type == y.type and np.array_equal(
                    x.to_numpy(), y.to_numpy(), equal_nan=True
                )
            else:
                same = x.equals(y)
            if not same:
                unequal.append(name)
    return {"columns": len(names), "unequal": unequal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--engines", default="in-memory,out-of-core")
    parser.add_argument("--spark-master", default=None)
    parser.add_argument("--skip-check", action="store_true")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    relaunch_tuned([sys.executable, *sys.argv])  # the allocator as the `profiler` command has it
    if args.one:
        one(args.one, args.data, args.out, args.spark_master)
        return
    engines = args.engines.split(",")
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise SystemExit(f"Unknown engine(s) {sorted(unknown)}; expected some of {list(ENGINES)}")
    results = {}
    for engine in engines:
        results[engine] = t = run_child(engine, args)
        print(
            f"{engine:12s} total {t['total']:7.1f} s  (load {t['load']:.1f})  "
            f"peak {t['peak_gb']:.1f} GB",
            flush=True,
        )
    if "in-memory" in engines and not args.skip_check:
        for engine in engines:
            if engine != "in-memory":
                check = compare(Path(args.out) / "in-memory", Path(args.out) / engine)
                print(
                    f"{engine} vs in-memory: {check['columns']} columns, "
                    f"{len(check['unequal'])} unequal {check['unequal'][:5]}"
                )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
