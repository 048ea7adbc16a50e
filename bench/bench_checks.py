"""Source checks benchmark: what the reconciliation and the CLV holdout check, which an in-memory
``profiler build`` computes and stores in the CAR folder (``api.source_checks``), cost on their
own, on the same loaded sources, best of --repeat: the reconciliation, the order facts and the
holdout check one after the other, then ``source_checks`` (both, as the build runs them).

Usage: python bench/bench_checks.py --data /tmp/profiler-bench-data [--repeat 3]
       [--tree before=/path/to/a/checkout --tree after=/path/to/another]

With --tree, each checkout is timed in a child process of its own (one after the other, its
``profiler`` first on the import path), side by side, and their reconciliation tables and
holdout tables are compared with ``pandas.testing.assert_frame_equal`` (equal, or the run fails).
Without it, the ``profiler`` on the import path is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = ("reconciliation", "order_facts", "holdout", "source_checks")


def peak_gb() -> float:  # GiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def one(data: str, repeat: int, save: str) -> None:
    """Child process: load once, time each step best of ``repeat``, keep the tables in ``save``
    and print the timings as JSON."""
    import pandas as pd

    from profiler.api import source_checks
    from profiler.car import default_as_of
    from profiler.catalog import load_catalog
    from profiler.clv import holdout_check
    from profiler.facts import order_facts
    from profiler.loading import load_sources
    from profiler.memory import keep_freed_memory
    from profiler.reconcile import recent_reconciliation

    keep_freed_memory()  # as the CLI does
    started = time.perf_counter()
    source = load_sources(data)
    load_s = time.perf_counter() - started
    catalog = load_catalog()
    day = pd.Timestamp(default_as_of(source)).normalize()  # the build's D, as source_checks has it
    best = dict.fromkeys(STEPS, float("inf"))
    for _ in range(repeat):
        t = time.perf_counter()
        table = recent_reconciliation(source, catalog, day)
        best["reconciliation"] = min(best["reconciliation"], time.perf_counter() - t)
        t = time.perf_counter()
        facts = order_facts(source, day)
        kept = facts[facts["status"] == "completed"]
        best["order_facts"] = min(best["order_facts"], time.perf_counter() - t)
        t = time.perf_counter()
        holdout = holdout_check(kept, day)
        best["holdout"] = min(best["holdout"], time.perf_counter() - t)
        del facts, kept
        t = time.perf_counter()
        checks = source_checks(source, catalog, day)  # both, as the build runs them
        best["source_checks"] = min(best["source_checks"], time.perf_counter() - t)
    with open(save, "wb") as f:
        pickle.dump(
            {
                "reconciliation": table,
                "holdout": holdout,
                "stored reconciliation": checks["reconciliation"],
                "stored holdout": checks["holdout"],
            },
            f,
        )
    import profiler

    tree = str(Path(profiler.__file__).parent.parent)
    print(
        json.dumps({"load": load_s, **best, "peak_gb": peak_gb(), "rows": len(table), "tree": tree})
    )


def run_tree(tree: str, data: str, repeat: int, save: str) -> dict:
    env = {**os.environ, "PYTHONPATH": tree}
    done = subprocess.run(
        [sys.executable, "-P", __file__, "--child", save, "--data", data, "--repeat", str(repeat)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tree,
    )
    if done.returncode != 0:
        sys.exit(f"{tree}: {done.stderr.strip().splitlines()[-1:]}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="/tmp/profiler-bench-data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="NAME=checkout (repeatable)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # tuned already: the parent's environment
        one(args.data, args.repeat, args.child)
        return
    from profiler.memory import relaunch_tuned

    relaunch_tuned([sys.executable, *sys.argv])  # the allocator as the `profiler` command has it
    trees = dict(t.split("=", 1) for t in args.tree) or {"this": str(Path.cwd())}
    import pandas as pd

    results, tables = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, tree in trees.items():
            save = f"{scratch}/{name}.pkl"
            results[name] = run_tree(tree, args.data, args.repeat, save)
            with open(save, "rb") as f:
                tables[name] = pickle.load(f)
    print(f"best of {args.repeat}, seconds, on the sources of {args.data}:")
    print(f"{'step':<16}" + "".join(f"{name:>12}" for name in results))
    for step in ("load", *STEPS, "peak_gb"):
        print(f"{step:<16}" + "".join(f"{r[step]:>12.2f}" for r in results.values()))
    for name, r in results.items():
        print(f"{name}: profiler from {r['tree']}")
    names = list(tables)
    for other in names[1:]:
        for key, frame in tables[other].items():
            pd.testing.assert_frame_equal(tables[names[0]][key], frame)
        print(
            f"{other}: reconciliation ({results[other]['rows']} rows) and holdout tables equal "
            f"to {names[0]}'s"
        )


if __name__ == "__main__":
    main()
