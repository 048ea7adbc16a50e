"""CAR benchmark: load, build and write the CAR of the demo retailer, with a 60-column core
computed side by side by idiomatic pandas groupbys for reference.

Usage: python bench/bench_car.py --data /tmp/profiler-bench-data [--out /tmp/profiler-bench-car] [--skip-reference]
(generate the data first: python bench/bench_generate.py --customers 1000000)

Targets at 1M customers / ~20M order lines on a 2-core machine: CAR (>= 1,200 columns) computed
in <= 30 s, sources to persisted CAR in <= 60 s, peak RSS <= 10 GB.
"""

from __future__ import annotations

import argparse
import resource
import time

import pandas as pd

from profiler.car import build_car, write_car
from profiler.facts import order_facts
from profiler.loading import load_sources
from profiler.memory import keep_freed_memory


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def pandas_core(facts: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The reference: a ~60-column core with idiomatic pandas groupbys."""
    kept = facts[facts["status"] == "completed"]
    g = kept.groupby("customer_id")
    core = pd.DataFrame(
        {
            "spend_ltd": g["net_gbp"].sum(),
            "orders_ltd": g["order_id"].nunique(),
            "last": g["ordered_at"].max(),
            "first": g["ordered_at"].min(),
        }
    )
    for col in ("category", "channel"):
        core = core.join(
            kept.pivot_table(
                index="customer_id", columns=col, values="net_gbp", aggfunc="sum", observed=True
            ).add_prefix(f"spend_{col}_")
        )
        core = core.join(
            kept.groupby(["customer_id", col], observed=True)["order_id"]
            .nunique()
            .unstack()
            .add_prefix(f"orders_{col}_")
        )
    for q in range(4):
        end = as_of - pd.DateOffset(months=3 * q)
        start = end - pd.DateOffset(months=3)
        part = kept[(kept["ordered_at"] >= start) & (kept["ordered_at"] < end)]
        core[f"spend_lq{q + 1}"] = part.groupby("customer_id")["net_gbp"].sum()
    core["recency_days"] = (as_of - core["last"]).dt.days
    core["tenure_days"] = (as_of - core["first"]).dt.days
    returned = facts[facts["status"] == "returned"].groupby("customer_id")["net_gbp"].sum()
    core["return_rate"] = returned / (core["spend_ltd"] + returned)
    core["discount_share"] = (kept["gross_gbp"] - kept["net_gbp"]).groupby(
        kept["customer_id"]
    ).sum() / g["gross_gbp"].sum()
    for name, col in (("r", "recency_days"), ("f", "orders_ltd"), ("m", "spend_ltd")):
        core[f"rfm_{name}"] = pd.qcut(core[col].rank(method="first"), 5, labels=False) + 1
    return core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="/tmp/profiler-bench-data")
    parser.add_argument("--out", default="/tmp/profiler-bench-car")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    keep_freed_memory()  # as the CLI does
    started = time.perf_counter()
    source = load_sources(args.data)
    loaded = time.perf_counter()
    result = build_car(source)
    built = time.perf_counter()
    write_car(result, args.out)
    written = time.perf_counter()
    print(
        f"load {loaded - started:.1f} s; build {result.seconds:.1f} s ({result.n_columns:,} columns, {len(result.customer_ids):,} customers); write {written - built:.1f} s; end to end {written - started:.1f} s; peak RSS {peak_gb():.1f} GB"
    )
    if not args.skip_reference:
        facts = order_facts(source)
        t = time.perf_counter()
        core = pandas_core(facts, result.as_of + pd.Timedelta(days=1))
        ref = time.perf_counter() - t
        print(
            f"reference pandas groupby core: {core.shape[1]} columns in {ref:.1f} s; CAR build / reference = {result.seconds / ref:.2f}"
        )


if __name__ == "__main__":
    main()
