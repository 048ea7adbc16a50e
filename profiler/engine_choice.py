"""How the CAR is built when the user does not say: in memory while the order lines fit.

The in-memory build is the fastest while everything fits (one part, no files between passes),
but it holds every order line and the whole CAR: measured at 12.2 GB peak for 24.8M lines,
about 490 bytes a line, and killed at 24 GB by the 91.4M lines of 5M customers.  Past the share
of memory below, the out-of-core build (profiler/staging.py, profiler/outofcore.py) takes over:
the same families, one customer bucket at a time.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

ENGINES = ("auto", "in-memory", "out-of-core", "spark")
# --engine's earlier names, still taken
FORMER_NAMES = {"pandas": "in-memory", "duckdb": "out-of-core"}

BYTES_PER_LINE = 490  # the in-memory build's peak memory per order line, measured at 1M customers
MEMORY_SHARE = 0.6  # of physical memory the in-memory build may plan to use
SAMPLE_BYTES = 4 * 1024**2  # of a CSV read to count its lines, or to estimate them past it


def physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def order_line_count(data_dir: str | Path) -> tuple[int, str] | None:
    """The order lines' row count and how it was known: from Parquet metadata; for a CSV
    counted when the file is small, else estimated from the bytes per line of its first
    ``SAMPLE_BYTES`` (of its text, for a .csv.gz: the file's own compression ratio)."""
    from .mapping import find_source_file  # here: the CLI imports the engine names at start-up

    path = find_source_file(Path(data_dir), "order_lines")
    if path is None:
        return None
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows, "counted"
        return _csv_lines(path)
    except Exception:  # unreadable: loading reports it in one line
        return None


def _csv_lines(path: Path) -> tuple[int, str]:
    """Counted when the text fits the sample; else the file's size over its bytes per line,
    measured at its start, middle and end (ids and amounts grow longer down a file)."""
    size = path.stat().st_size
    with open(path, "rb") as raw:
        if path.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw) as text:
                sample = text.read(SAMPLE_BYTES)
                if not text.read(1):
                    return _records(sample), "counted"
                newlines, read = sample.count(b"\n"), raw.tell()  # compressed bytes behind it
            return int(newlines * size / max(read, 1)), "estimated from the start of its text"
        if size <= SAMPLE_BYTES:
            return _records(raw.read()), "counted"
        part = SAMPLE_BYTES // 3
        newlines = 0
        for offset in (0, size // 2, size - part):
            raw.seek(offset)
            newlines += raw.read(part).count(b"\n")
    return int(newlines * size / (3 * part)) - 1, "estimated from its bytes per line"


def _records(text: bytes) -> int:
    lines = text.count(b"\n") + (0 if text.endswith(b"\n") or not text else 1)
    return max(lines - 1, 0)  # the header


def choose_engine(data_dir: str | Path, memory: int | None = None) -> tuple[str, str]:
    """``("in-memory" | "out-of-core", why)`` for the sources in ``data_dir``."""
    found = order_line_count(data_dir)
    memory = memory or physical_memory()
    limit = int(memory * MEMORY_SHARE / BYTES_PER_LINE)
    if found is None:
        return "in-memory", f"order lines not counted; up to {limit:,} fit in memory here"
    lines, how = found
    about = "" if how == "counted" else "about "
    counted = f"{about}{lines:,} order lines ({how})"
    if lines <= limit:
        return "in-memory", f"{counted} fit in memory (up to {limit:,} here)"
    return "out-of-core", f"{counted} are more than fit in memory ({limit:,} here)"
