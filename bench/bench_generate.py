"""Time and peak memory of generating the demo retailer (target at 1M customers: ≤ 90 s, ≤ 8 GB).

Usage: python bench/bench_generate.py [--customers 1000000] [--out /tmp/profiler-bench-data]
"""

from __future__ import annotations

import argparse
import resource
import time

from profiler.demo import generate_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="/tmp/profiler-bench-data")
    args = parser.parse_args()
    started = time.perf_counter()
    report = generate_demo(
        args.customers,
        args.seed,
        args.out,
        progress=lambda m: print(f"{time.perf_counter() - started:6.1f} s  {m}", flush=True),
    )
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"customers={args.customers:,} order_lines={report.rows['order_lines']:,} seconds={report.seconds:.1f} peak_rss_gb={peak_gb:.2f}"
    )


if __name__ == "__main__":
    main()
