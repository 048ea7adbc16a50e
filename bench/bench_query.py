"""Query-engine benchmark: cohort metrics and retention on a built CAR folder.

Usage: python bench/bench_query.py --car /tmp/profiler-bench-car [--period r12:2026-06]
(build the CAR first: python bench/bench_car.py ... or 'profiler build --data DIR --out CAR')

Targets on the CAR of 1M customers (2 cores): one cohort x 20 metrics <= 10 ms median; the 27
strategy segments x 30 metrics <= 100 ms; a 36 x 36 monthly retention triangle <= 1 s; a
state metric (retention rate, taken at each month's end) for 36 months <= 1 s.  The
reference, measured side by side on the same CAR: an idiomatic pandas filter + 20 aggregates, and
a groupby of 30 columns over the strategy segments.  Queries are timed warm (the engine keeps the
CAR in memory and caches cohort masks and per-period vectors); the first, cold query of a
period is reported separately.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import pandas as pd

from profiler.query import QueryEngine
from profiler.retention import retention_triangle

COHORT = "Europe best active"
METRICS_20 = [
    "net_sales", "gross_sales", "returns_booked", "returned_sales", "return_rate",
    "cancelled_sales", "orders", "aov", "spend_per_customer", "discount_rate",
    "full_price_share", "digital_share", "units", "units_per_order", "active_customers",
    "new_customers", "returning_customers", "nps", "csat", "interactions",
]  # fmt: skip
METRICS_30 = [
    *METRICS_20,
    "store_sales", "digital_sales", "clienteling_sales", "list_value", "discount_value",
    "kept_lines", "leather_goods_share", "icon_share", "complaints", "lapsed_customers",
]  # fmt: skip
CAR_20 = [
    "spend_ltd", "orders_ltd", "spend_l12m", "orders_l12m", "recency_days", "tenure_days",
    "rfm_score", "clv_12m", "p_alive", "engagement_score", "category_breadth", "channels_used",
    "q4_share", "sale_share", "basket_units_mean", "ipt_mean_days", "balance", "overdue_amount",
    "expected_orders_12m", "age",
]  # fmt: skip


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def timed(fn, repeat: int) -> tuple[float, float]:
    """Median and first run in milliseconds."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), runs[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--car", required=True)
    parser.add_argument("--period", default="r12:2026-06")
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()

    started = time.perf_counter()
    engine = QueryEngine.open(args.car)
    print(
        f"open: {time.perf_counter() - started:.1f} s ({engine.n:,} customers, {len(engine.activity):,} customer-months, peak {peak_gb():.1f} GB)"
    )
    started = time.perf_counter()
    segments = engine.cohorts.group_names("Strategy segments")
    for name in [COHORT, *segments]:
        engine.cohorts.mask(name)
    print(f"cohort masks (first use): {(time.perf_counter() - started) * 1000:.0f} ms")
    metrics_20 = [m for m in METRICS_20 if m in engine.catalog.metrics]
    metrics_30 = [m for m in METRICS_30 if m in engine.catalog.metrics]

    started = time.perf_counter()
    engine.values(metrics_30, [COHORT], args.period)
    print(
        f"cold period (per-customer vectors for {len(metrics_30)} metrics): {(time.perf_counter() - started) * 1000:.0f} ms"
    )

    one, _ = timed(lambda: engine.values(metrics_20, [COHORT], args.period), args.repeat)
    many, _ = timed(lambda: engine.values(metrics_30, segments, args.period), args.repeat)
    tri_med, tri_first = timed(lambda: retention_triangle(engine, grain="month", max_cohorts=36), 5)
    triangle = retention_triangle(engine, grain="month", max_cohorts=36)

    spend_cats = [c for c in engine.known_columns if c.startswith("spend_cat_")][:10]
    car = engine.ensure_columns([c for c in CAR_20 if c in engine.known_columns] + spend_cats)
    mask = engine.cohorts.mask(COHORT)
    columns = [c for c in CAR_20 if c in car.columns]
    numeric = car[columns].astype("float64")
    ref_one, _ = timed(lambda: numeric[mask].agg(["sum"]).iloc[0], args.repeat)
    seg = engine.cohorts.car["strategy_segment"]
    columns_30 = columns + spend_cats
    numeric_30 = car[columns_30].astype("float64").assign(segment=seg.to_numpy())
    ref_many, _ = timed(
        lambda: numeric_30.groupby("segment", observed=True).sum(), max(5, args.repeat // 4)
    )

    print(
        f"one cohort x {len(metrics_20)} metrics: {one:.1f} ms median (target 10 ms: {one / 10:.2f}x); pandas filter + {len(columns)} aggregates {ref_one:.1f} ms (ratio {one / ref_one:.2f})"
    )
    print(
        f"{len(segments)} segments x {len(metrics_30)} metrics: {many:.1f} ms median (target 100 ms: {many / 100:.2f}x); pandas groupby of {len(columns_30)} columns {ref_many:.1f} ms (ratio {many / ref_many:.2f})"
    )
    print(
        f"retention triangle {len(triangle) - 1} cohorts x {triangle.shape[1] - 3} periods: {tri_med:.0f} ms median, first {tri_first:.0f} ms (target 1 s: {tri_med / 1000:.2f}x)"
    )
    last = engine.as_of - pd.DateOffset(months=1)
    first = last - pd.DateOffset(months=35)
    started = time.perf_counter()
    states = engine.monthly(["retention_rate", "active_share"], f"{first:%Y-%m}", f"{last:%Y-%m}")
    state_s = time.perf_counter() - started
    engine._states.clear()
    started = time.perf_counter()
    engine.monthly(["retention_rate", "active_share"], f"{first:%Y-%m}", f"{last:%Y-%m}")
    warm_s = time.perf_counter() - started
    print(
        f"period-end states (retention rate, active share) for {len(states)} months: {state_s:.2f} s first call, {warm_s:.2f} s again with the states recomputed (target 1 s: {state_s:.2f}x / {warm_s:.2f}x)"
    )
    print(f"peak RSS {peak_gb():.1f} GB")
    assert np.isfinite(engine.values(["net_sales"], [COHORT], args.period)["value"]).all()


if __name__ == "__main__":
    main()
