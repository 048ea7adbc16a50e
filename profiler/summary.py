"""What a load found, in the few numbers a user checks first."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .loading import SourceData


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
                "defaulted_columns": ", ".join(report.defaulted_columns) if report.provided else "",
            }
        )
    return pd.DataFrame(rows)


def headline(source: SourceData) -> dict[str, object]:
    """Customers, orders, date range and completed net sales in the reporting currency."""
    lines = source.tables["order_lines"]
    completed = lines["status"] == "completed"
    gbp = lines["net_amount"] * lines["fx_to_reporting"]
    return {
        "customers": int(lines["customer_id"].nunique()),
        "orders": int(lines["order_id"].nunique()),
        "order_lines": len(lines),
        "first_order": lines["ordered_at"].min(),
        "last_order": lines["ordered_at"].max(),
        "net_sales_gbp": float(gbp[completed].sum()),
    }


def write_quarantine(source: SourceData, out_dir: str | Path) -> Path:
    """Write the quarantined rows (possibly none) to ``out_dir/quarantine.csv``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "quarantine.csv"
    tmp = path.with_suffix(".csv.tmp")
    source.quarantine.to_csv(tmp, index=False)
    tmp.replace(path)
    return path
