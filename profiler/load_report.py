"""What a load found: the load counts a user checks first (rows read = accepted + quarantined + withheld)
and the quarantine file `profiler validate` writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .loading import SourceData
from .outputs import replacing
from .safecsv import write_csv


def load_counts(source: SourceData) -> pd.DataFrame:
    """Per table: file, rows read, accepted, quarantined, and the columns that took defaults."""
    rows = []
    for name, report in source.reports.items():
        rows.append(
            {
                "table": name,
                "file": report.file or "(not provided)",
                "rows_read": report.rows_read,
                "accepted": report.accepted,
                "quarantined": report.quarantined,
                "withheld": sum(report.withheld.values()),
                "withheld_reasons": "; ".join(f"{r}: {n}" for r, n in report.withheld.items()),
                "defaulted_columns": ", ".join(report.defaulted_columns) if report.provided else "",
            }
        )
    return pd.DataFrame(rows)


def save_quarantine(source: SourceData, out_dir: str | Path, *, raw: bool = False) -> Path:
    """Write the quarantined rows (possibly none) to ``out_dir/quarantine.csv`` (``profiler
    validate``; a build writes its quarantine into the CAR folder's generation), whole or not
    at all, safe to open in a spreadsheet unless ``raw``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "quarantine.csv"
    with replacing(path) as tmp:
        write_csv(source.quarantine, tmp, raw=raw)
    return path
