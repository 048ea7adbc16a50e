"""Which engine builds the CAR when the user does not say: pandas while the order lines fit.

pandas is the fastest engine while everything fits in memory (docs/engines.md: 1M customers,
24.8M order lines, 87.7 s against DuckDB's 246 s), but it holds every order line and the whole
CAR: measured at 12.2 GB peak for those 24.8M lines, about 490 bytes a line, and killed at 24 GB
by the 91.4M lines of 5M customers.  Past the share of memory below, DuckDB's out-of-core build
(profiler/staging.py, profiler/sql/ranged.py) takes over.
"""

from __future__ import annotations

import os
from pathlib import Path

from .loading import find_source_file

BYTES_PER_LINE = 490  # pandas engine's peak memory per order line, measured at 1M customers
CSV_BYTES_PER_LINE = 110  # a CSV order line's size on disk (demo data), to estimate its rows
MEMORY_SHARE = 0.6  # of physical memory the pandas engine may plan to use


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def order_line_count(data_dir: str | Path) -> int | None:
    """The order lines' row count from Parquet metadata, or estimated from a CSV's size."""
    path = find_source_file(Path(data_dir), "order_lines")
    if path is None:
        return None
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # unreadable: loading reports it in one line
            return None
    return path.stat().st_size // CSV_BYTES_PER_LINE


def choose_engine(data_dir: str | Path, memory: int | None = None) -> tuple[str, str]:
    """``("pandas" | "duckdb", why)`` for the sources in ``data_dir``."""
    lines = order_line_count(data_dir)
    memory = memory or physical_memory()
    limit = int(memory * MEMORY_SHARE / BYTES_PER_LINE)
    if lines is None or lines <= limit:
        shown = "unknown" if lines is None else f"{lines:,}"
        return "pandas", f"{shown} order lines fit in memory (up to {limit:,} here)"
    return "duckdb", f"{lines:,} order lines are more than fit in memory ({limit:,} here)"
