"""Time and peak memory of generating the demo retailer (target at 1M customers: ≤ 90 s, ≤ 8 GB;
with chunks of 1M customers, 5M customers / ~100M order lines on a 24 GB machine).

Usage: python bench/bench_generate.py [--customers 1000000] [--chunk 1000000] [--seed 42]
                                      [--out /tmp/profiler-bench-data]

Above --chunk customers the population is generated a chunk at a time (``chunk_customers``),
so peak memory is that of one chunk; --chunk 0 builds every table in memory at once.
"""

from __future__ import annotations

import argparse
import resource
import time

from profiler.demo import DEFAULT_CHUNK_CUSTOMERS, generate_demo


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--chunk",
        type=int,
        default=DEFAULT_CHUNK_CUSTOMERS,
        help="customers per chunk above which to chunk; 0: no chunks (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="/tmp/profiler-bench-data")
    args = parser.parse_args()
    started = time.perf_counter()
    report = generate_demo(
        args.customers,
        args.seed,
        args.out,
        chunk_customers=args.chunk or None,
        progress=lambda m: print(f"{time.perf_counter() - started:6.1f} s  {m}", flush=True),
    )
    # ru_maxrss is in KiB on Linux.
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    chunk = f"{args.chunk:,}" if args.chunk else "none"
    print(
        f"customers={args.customers:,} chunk={chunk} chunks={report.chunks} "
        f"order_lines={report.rows['order_lines']:,} seconds={report.seconds:.1f} "
        f"peak_rss_gb={peak_gb:.2f}"
    )


if __name__ == "__main__":
    main()
