"""Intake benchmark: reading a retailer's CSV export as the profiler does, beside pyarrow.

Usage: python bench/bench_intake.py --csv FILE [--batch-rows 1000000]
(e.g. 20M order lines: python -c "import pyarrow.parquet as pq, pyarrow.csv as pc;
pc.write_csv(pq.read_table('DATA/order_lines.parquet'), 'order_lines.csv')")

Target: reading with detection and mapping costs at most 1.3x pyarrow's own CSV reader (``pyarrow.csv.read_csv`` with its
defaults) on the same file.  Measured side by side in one run, each reader three times (median):

- the profiler's whole-file read (``loading.read_table_file``: every column as text, quoted line
  breaks allowed, as a pandas frame), which ``profiler build`` uses while the lines fit memory;
- its streamed read (``loading.read_table_batches``), which the out-of-core build uses.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import pyarrow.csv as pv

from profiler.loading import read_table_batches, read_table_file
from profiler.mapping import Mapping, TableMapping, apply


def median_seconds(fn, repeat: int = 3) -> tuple[float, object]:
    runs, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--batch-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    path = Path(args.csv)
    size = path.stat().st_size
    ref, table = median_seconds(lambda: pv.read_csv(path))
    rows = table.num_rows
    del table
    whole, frame = median_seconds(lambda: len(read_table_file(path)))
    streamed, counted = median_seconds(
        lambda: sum(len(f) for f in read_table_batches(path, args.batch_rows))
    )
    assert frame == counted == rows, (frame, counted, rows)
    mapping = Mapping(
        path.parent / "mapping.yaml",
        {
            "order_lines": TableMapping(
                "order_lines",
                columns={"order_id": "order_id", "customer_id": "customer_id"},
                derive={"net_amount": "quantity * unit_price"},
                values={"currency": "GBP"},
            )
        },
        "",
    )
    mapped, _ = median_seconds(
        lambda: sum(
            len(apply(mapping, "order_lines", f, path))
            for f in read_table_batches(path, args.batch_rows)
        )
    )
    print(f"{path.name}: {rows:,} rows, {size / 1024**3:.2f} GB")
    print(f"pyarrow.csv.read_csv: {ref:.2f} s")
    print(f"profiler whole-file read: {whole:.2f} s ({whole / ref:.2f}x; target 1.3x)")
    print(
        f"profiler streamed read ({args.batch_rows:,} rows a batch): {streamed:.2f} s ({streamed / ref:.2f}x)"
    )
    print(
        f"streamed read + dialect detection + a mapping (rename, net_amount = quantity x unit_price, "
        f"a constant currency): {mapped:.2f} s ({mapped / ref:.2f}x; target 1.3x)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS {peak:.1f} GB")


if __name__ == "__main__":
    main()
