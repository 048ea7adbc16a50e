"""Workbook benchmark: build the Excel profiler from a CAR folder and refresh it headless.

Usage: python bench/bench_workbook.py --car /tmp/profiler-bench-car [--out /tmp/bench-wb]

Targets at 1M customers (CAR already built): workbook build <= 5 s, headless refresh of the
whole workbook <= 10 s.  Reported: opening the engine (reading the CAR folder, once per
process), building (every sheet computed and written), refreshing with the engine loaded (what
the Refresh button does in a running Excel session) and 'profiler refresh' end to end (which
opens the engine too).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from profiler.query import QueryEngine
from workbook.book import FileBook
from workbook.builder import build_workbook
from workbook.macros import refresh_all


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--car", required=True)
    parser.add_argument("--out", default="/tmp/profiler-bench-workbook")
    args = parser.parse_args()
    out = Path(args.out) / "Customer_Profiler.xlsm"

    started = time.perf_counter()
    engine = QueryEngine.open(args.car)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    build_workbook(engine, out)
    built = time.perf_counter() - started
    started = time.perf_counter()
    refresh_all(FileBook(out), engine)
    refreshed = time.perf_counter() - started
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "workbook.cli", "refresh", str(out), "--car", args.car], check=True
    )
    cli = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"engine open: {opened:.1f} s ({engine.n:,} customers)")
    print(
        f"workbook build: {built:.1f} s (target 5 s: {built / 5:.2f}x), {out.stat().st_size / 1e6:.2f} MB"
    )
    print(f"refresh, engine loaded: {refreshed:.1f} s (target 10 s: {refreshed / 10:.2f}x)")
    print(f"'profiler refresh' end to end: {cli:.1f} s (target 10 s: {cli / 10:.2f}x)")
    print(f"peak RSS {peak:.1f} GB")


if __name__ == "__main__":
    main()
