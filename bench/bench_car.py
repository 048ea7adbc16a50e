"""CAR benchmark: load, build and write the CAR of the demo retailer, then a ~60-column core
(spend totals, per-category spend/orders, per-channel spend, last 4 quarters, recency, tenure,
return rate, discount share, RFM) computed side by side three ways: by the CAR's own engine, by a
polars lazy query and by idiomatic pandas groupbys.

The build is ``profiler.build`` (in memory), timed step by step by its ``timings``.

Usage: python bench/bench_car.py --data /tmp/profiler-bench-data [--out /tmp/profiler-bench-car] [--skip-reference]
(generate the data first: python bench/bench_generate.py --customers 1000000; the polars
reference needs ``pip install -e .[bench]``)

Targets at 1M customers / ~20M order lines on a 2-core machine: CAR (>= 1,200 columns) computed
in <= 30 s, sources to persisted CAR in <= 60 s, peak RSS <= 10 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import pandas as pd

import profiler
from profiler import store
from profiler.car_context import build_context
from profiler.contract import ORDER_CHANNELS
from profiler.facts import order_facts
from profiler.families import lifecycle, sales, value
from profiler.features import load_feature_spec
from profiler.loading import load_sources
from profiler.memory import keep_freed_memory, relaunch_tuned
from profiler.partition import ensure


def peak_gb() -> float:  # GiB
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


CORE_GRIDS = [  # the reference core's sales columns, as feature definitions
    {
        "slice": "total",
        "measures": ["spend", "orders", "gross_spend", "discount_share", "return_rate"],
        "periods": ["ltd", "l12m", "lq1", "lq2", "lq3", "lq4"],
    },
    {"slice": "category", "measures": ["spend", "orders"], "periods": ["ltd"]},
    {"slice": "channel", "measures": ["spend", "orders"], "periods": ["ltd"]},
]


def our_core(source: object, as_of: pd.Timestamp) -> dict:
    """The same core with the CAR's own engine, from the loaded sources: the context (order
    facts cut at D, grouped by customer), the sales grids above, lifecycle markers (recency,
    tenure) and value scores (RFM), each family's global statistics (the sales' levels, the
    RFM cuts) found on the whole population just before it runs, as ``build_car`` does."""
    spec = {**load_feature_spec(), "sales": CORE_GRIDS}
    ctx = build_context(source, as_of, spec)
    for family in (sales, lifecycle, value):
        ensure(ctx, family.FAMILY)
        ctx.built.update(family.compute(ctx))
    return ctx.built


def polars_core(data: str, as_of: pd.Timestamp) -> object:
    """The same core as a polars lazy query, from the Parquet files to the collected frame."""
    import polars as pl

    net = (pl.col("net_amount") * pl.col("fx_to_reporting")).alias("net")
    gross = (pl.col("quantity") * pl.col("unit_price") * pl.col("fx_to_reporting")).alias("gross")
    products = pl.scan_parquet(f"{data}/products.parquet").select("product_id", "category")
    categories = products.select(pl.col("category").cast(pl.String).unique()).collect()
    facts = (
        pl.scan_parquet(f"{data}/order_lines.parquet")
        .join(products, on="product_id", how="left")
        .with_columns(
            net, gross, pl.col("channel").cast(pl.String), pl.col("status").cast(pl.String)
        )
        .with_columns(pl.col("category").cast(pl.String))
    )
    # As of D (profiler/facts.py): a line returned after D is kept, a return counts by D.
    back = pl.col("returned_at") < as_of
    facts = facts.with_columns(
        pl.when((pl.col("status") == "returned") & ~back.fill_null(False))
        .then(pl.lit("completed"))
        .otherwise(pl.col("status"))
        .alias("status")
    ).filter(pl.col("ordered_at") < as_of)
    kept = facts.filter(pl.col("status") == "completed")
    by_level = []
    for col, values in (
        ("category", categories["category"].to_list()),
        ("channel", list(ORDER_CHANNELS)),
    ):
        for v in values:
            chosen = pl.col(col) == v
            by_level.append(pl.col("net").filter(chosen).sum().alias(f"spend_{col}_{v}"))
            by_level.append(pl.col("order_id").filter(chosen).n_unique().alias(f"orders_{col}_{v}"))
    quarters = []
    for q in range(4):
        end = as_of - pd.DateOffset(months=3 * q)
        start = end - pd.DateOffset(months=3)
        inside = (pl.col("ordered_at") >= start) & (pl.col("ordered_at") < end)
        quarters.append(pl.col("net").filter(inside).sum().alias(f"spend_lq{q + 1}"))
    core = kept.group_by("customer_id").agg(
        pl.col("net").sum().alias("spend_ltd"),
        pl.col("order_id").n_unique().alias("orders_ltd"),
        pl.col("ordered_at").max().alias("last"),
        pl.col("ordered_at").min().alias("first"),
        (pl.col("gross") - pl.col("net")).sum().alias("discount"),
        pl.col("gross").sum().alias("gross_ltd"),
        *by_level,
        *quarters,
    )
    returned = (
        facts.filter(pl.col("status") == "returned")
        .group_by("customer_id")
        .agg(pl.col("net").sum().alias("returned"))
    )
    as_of_lit = pl.lit(as_of.to_pydatetime())
    core = core.join(returned, on="customer_id", how="left").with_columns(
        (as_of_lit - pl.col("last")).dt.total_days().alias("recency_days"),
        (as_of_lit - pl.col("first")).dt.total_days().alias("tenure_days"),
        (pl.col("returned") / (pl.col("spend_ltd") + pl.col("returned"))).alias("return_rate"),
        (pl.col("discount") / pl.col("gross_ltd")).alias("discount_share"),
    )
    n = pl.len()
    rfm = [
        ((pl.col(col).rank("ordinal") - 1) * 5 // n + 1).alias(f"rfm_{name}")
        for name, col in (("r", "recency_days"), ("f", "orders_ltd"), ("m", "spend_ltd"))
    ]
    return core.with_columns(rfm).collect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="/tmp/profiler-bench-data")
    parser.add_argument("--out", default="/tmp/profiler-bench-car")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    relaunch_tuned([sys.executable, *sys.argv])  # the allocator as the `profiler` command has it
    keep_freed_memory()
    # Loaded, built and written as `profiler build` does it (profiler.build): a new generation
    # (the CAR, its dictionary, the activity table, the reconciliation and CLV holdout, the
    # metadata) made current in one step; each step timed by the build.  What the atomic swap
    # costs is timed on its own: from the last file written to the new generation being current
    # and the oldest one pruned (metadata, rename, pointer, prune).  Run the benchmark twice
    # into one --out to include a prune of a full 1M generation.
    kept_before = len(list(Path(args.out).glob(f"{store.GENERATION_PREFIX}*")))
    result = profiler.build(args.data, args.out, engine="in-memory")
    t = result.timings
    swap = t["total"] - t["files"]
    print(
        f"load {t['loaded']:.1f} s; build {t['computed'] - t['loaded']:.1f} s ({result.n_columns:,} columns, {len(result.customer_ids):,} customers); write {t['car_written'] - t['computed']:.1f} s; sources to persisted CAR {t['car_written']:.1f} s; "
        f"activity {t['activity_written'] - t['car_written']:.1f} s; reconciliation and CLV holdout {t['checked'] - t['activity_written']:.1f} s; end to end {t['total']:.1f} s; peak RSS {peak_gb():.1f} GiB"
    )
    print(
        f"atomic swap (metadata, rename, pointer, prune; {kept_before} generation(s) there "
        f"before): {swap * 1000:.1f} ms = {swap / t['total']:.3%} of end to end"
    )
    if not args.skip_reference:
        as_of, build_s = result.as_of, t["computed"] - t["loaded"]
        del result
        source = load_sources(args.data)  # the references run on the loaded sources alone
        t = time.perf_counter()
        ours = our_core(source, as_of)
        core_s = time.perf_counter() - t
        t = time.perf_counter()
        frame = polars_core(args.data, as_of + pd.Timedelta(days=1))
        polars_s = time.perf_counter() - t
        facts = order_facts(source, as_of)  # the order lines as of D, as the CAR reads them
        t = time.perf_counter()
        reference = pandas_core(facts, as_of + pd.Timedelta(days=1))
        pandas_s = time.perf_counter() - t
        print(
            f"core (~60 columns), side by side: ours {core_s:.1f} s ({len(ours)} columns, from the "
            f"loaded sources); polars lazy {polars_s:.1f} s ({frame.shape[1]} columns, from the "
            f"Parquet files); pandas groupbys {pandas_s:.1f} s ({reference.shape[1]} columns, from "
            f"the order facts). ours / polars = {core_s / polars_s:.2f}; "
            f"CAR build / polars core = {build_s / polars_s:.2f}"
        )


if __name__ == "__main__":
    main()
