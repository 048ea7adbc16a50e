"""Breakdown benchmark: five metrics by category for one cohort and one year, from a CAR folder.

Usage: python bench/bench_breakdown.py --car /work/bench/bd_car --data /work/bench/data1m
(build the CAR first, in memory: 'profiler build --data DIR --out CAR --engine in-memory')

Ours: ``QueryEngine.breakdown`` (net sales, orders, buyers, units, average order value by
category) over the rows the build stored (``lines_order_lines.arrow``).  The reference, in the
same run: an idiomatic pandas filter (the cohort's customers, the year's dates, kept lines) and
groupby over the order lines already in memory with their category joined and their GBP amount
computed (the reading and the join are not timed).  Best of 3 each; the first (cold) breakdown
is reported separately.  Target: ours at most 0.5x pandas.  Also prints the stored rows' size
on disk against the activity table's.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from profiler import store
from profiler.query import QueryEngine

METRICS = ["net_sales", "orders", "active_customers", "units", "aov"]


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def best_of(fn, repeat: int = 3) -> tuple[float, object]:  # noqa: ANN001
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--car", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--cohort", default="Region: Europe")
    parser.add_argument("--year", default="2025")
    args = parser.parse_args()

    engine = QueryEngine.open(args.car)
    generation = store.open_generation(store.car_folder(args.car))
    lines_bytes = sum(
        (generation.path / m.name).stat().st_size
        for m in store.LINES.values()
        if (generation.path / m.name).exists()
    )
    activity_bytes = (generation.path / store.ACTIVITY.name).stat().st_size
    print(
        f"stored rows: {lines_bytes / 1e9:.2f} GB on disk "
        f"({(generation.path / store.LINES['order_lines'].name).stat().st_size / 1e9:.2f} GB order "
        f"lines); activity.arrow {activity_bytes / 1e9:.2f} GB; ratio {lines_bytes / activity_bytes:.2f}"
    )
    cohort = engine.cohorts.canonical(args.cohort)
    members = engine.cohorts.mask(cohort)
    print(f"{engine.n:,} customers; cohort {cohort}: {members.sum():,}")

    # The reference's data, in memory before the clock starts: lines with category and GBP.
    data = Path(args.data)
    lines = pq.read_table(
        data / "order_lines.parquet",
        columns=[
            "order_id", "customer_id", "ordered_at", "product_id", "quantity", "net_amount",
            "fx_to_reporting", "status",
        ],
    ).to_pandas()  # fmt: skip
    products = pq.read_table(data / "products.parquet", columns=["product_id", "category"])
    products = products.to_pandas().set_index("product_id")["category"]
    lines["category"] = lines["product_id"].map(products)
    lines["net_gbp"] = (lines["net_amount"] * lines["fx_to_reporting"]).round(2)
    ids = engine.car.loc[members, "customer_id"].to_numpy()
    start, end = pd.Timestamp(f"{args.year}-01-01"), pd.Timestamp(f"{int(args.year) + 1}-01-01")
    print(f"{len(lines):,} order lines in memory for pandas (peak {peak_gb():.1f} GB)")

    def pandas_breakdown() -> pd.DataFrame:
        chosen = lines[
            lines["customer_id"].isin(ids)
            & (lines["ordered_at"] >= start)
            & (lines["ordered_at"] < end)
            & (lines["status"] == "completed")
        ]
        groups = chosen.groupby("category", observed=True)
        out = groups.agg(
            net_sales=("net_gbp", "sum"),
            orders=("order_id", "nunique"),
            active_customers=("customer_id", "nunique"),
            units=("quantity", "sum"),
        )
        out["aov"] = out["net_sales"] / out["orders"]
        return out

    def ours() -> pd.DataFrame:
        return engine.breakdown(METRICS, "category", cohort, args.year)

    started = time.perf_counter()
    ours()
    cold = time.perf_counter() - started
    ours_s, table = best_of(ours)
    pandas_s, reference = best_of(pandas_breakdown)
    wide = table.pivot(index="dimension_value", columns="metric", values="value")
    wide = wide.loc[wide.index.isin(reference.index)]
    for name in METRICS:
        got = wide[name].reindex(reference.index).to_numpy(dtype=float)
        want = reference[name].to_numpy(dtype=float)
        assert np.allclose(got, want, rtol=1e-6), (name, got, want)
    print(f"breakdown of {len(METRICS)} metrics x {len(wide)} categories agrees with pandas")
    print(f"ours (cold, first call):      {cold * 1000:8.0f} ms")
    print(f"ours (best of 3):             {ours_s * 1000:8.0f} ms")
    print(f"pandas filter + groupby:      {pandas_s * 1000:8.0f} ms")
    print(f"ratio ours / pandas:          {ours_s / pandas_s:8.2f}  (target <= 0.5)")
    print(f"peak memory {peak_gb():.1f} GB")


if __name__ == "__main__":
    main()
