"""CLV benchmark: the transaction rfm, the BG/NBD and Gamma-Gamma fits and 12-month CLV on
the demo retailer's kept order lines.

Usage: python bench/bench_clv.py --data /tmp/profiler-bench-data [--calibration-end YYYY-MM-DD]
(generate the data first: python bench/bench_generate.py --customers 1000000)

Target at 1M customers: both models fitted in <= 30 s on a 2-core machine. References: the
archived lifetimes package fits the 2,357 CDNOW customers in 0.06 s (25 microseconds per
customer, 25 s per million if it scaled linearly); PyMC-Marketing's MAP fit takes 5 s on them.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from profiler.clv import customer_lifetime_value, fit_clv, rfm_from_transactions


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--calibration-end", help="default: the last order day")
    args = parser.parse_args()

    start = time.perf_counter()
    columns = ["customer_id", "ordered_at", "net_amount", "fx_to_reporting", "status"]
    lines = pq.read_table(f"{args.data}/order_lines.parquet", columns=columns).to_pandas()
    kept = lines[lines["status"].astype(str) == "completed"]
    transactions = pd.DataFrame(
        {
            "customer_id": kept["customer_id"].to_numpy(),
            "ordered_at": kept["ordered_at"].to_numpy(),
            "net_amount": (kept["net_amount"] * kept["fx_to_reporting"]).to_numpy(),
        }
    )
    del lines, kept
    read_s = time.perf_counter() - start
    calibration_end = args.calibration_end or transactions["ordered_at"].max().normalize()

    start = time.perf_counter()
    rfm = rfm_from_transactions(transactions, calibration_end=calibration_end)
    rfm_s = time.perf_counter() - start

    start = time.perf_counter()
    fit = fit_clv(rfm)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    clv = customer_lifetime_value(fit.bgnbd, fit.gamma_gamma, rfm)
    clv_s = time.perf_counter() - start

    n = len(rfm)
    print(f"transactions: {len(transactions):,}  customers: {n:,}")
    print(f"read: {read_s:.1f} s  rfm: {rfm_s:.1f} s")
    print(
        f"fit both models: {fit_s:.1f} s (target 30 s: {fit_s / 30:.2f} of it; lifetimes scaled "
        f"linearly, 25 s: {fit_s / (0.06 / 2357 * n):.2f}x)"
    )
    print(f"12-month CLV for every customer: {clv_s:.1f} s  (total {np.nansum(clv):,.0f})")
    print(fit.parameter_table().to_string(index=False))
    print(f"peak RSS: {peak_gb():.2f} GB")


if __name__ == "__main__":
    main()
