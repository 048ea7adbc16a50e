"""Single-customer view at scale: how long one customer's profile takes from an open engine.

Usage: python bench/bench_customer.py CAR_DIR [--lookups 20]

Beside it, in the same run, the reference a user would write without the view: pandas reading
the same CAR columns for that one customer (``pd.read_parquet(..., filters=[customer_id ==
id])``).  Prints the seconds of each and their ratio.  Build the CAR once with
``profiler build --data /work/bench/data1m --out CAR_DIR``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("car")
    parser.add_argument("--lookups", type=int, default=20)
    args = parser.parse_args()

    import profiler
    from profiler import store
    from profiler.customer import ITEMS, customer_profile

    started = time.perf_counter()
    engine = profiler.open(args.car)
    opened = time.perf_counter() - started
    ids = engine.car["customer_id"].astype(str).to_numpy()
    rng = np.random.default_rng(7)
    chosen = rng.choice(ids, args.lookups + 1, replace=False)
    started = time.perf_counter()
    customer_profile(engine, chosen[0])
    first = time.perf_counter() - started
    view, reference = [], []
    columns = [i.column for i in ITEMS if i.column in engine.known_columns]
    path = engine.generation.file(store.CAR)
    key = engine.car["customer_id"].iloc[:1].to_numpy()[0]
    for customer_id in chosen[1:]:
        started = time.perf_counter()
        customer_profile(engine, customer_id)
        view.append(time.perf_counter() - started)
        value = type(key)(customer_id) if not isinstance(key, str) else customer_id
        started = time.perf_counter()
        row = pd.read_parquet(
            path, columns=["customer_id", *columns], filters=[("customer_id", "==", value)]
        )
        reference.append(time.perf_counter() - started)
        assert len(row) == 1
    v, r = statistics.median(view), statistics.median(reference)
    print(f"CAR {args.car}: {engine.n:,} customers; engine opened in {opened:.1f} s")
    print(f"first profile (builds the id index and reads the dictionary): {first:.2f} s")
    print(f"profile, median of {args.lookups}: {v:.3f} s")
    print(f"reference pandas read_parquet filter, same columns, median: {r:.3f} s")
    print(f"ratio view / reference: {v / r:.2f}")


if __name__ == "__main__":
    main()
