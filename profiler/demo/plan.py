"""The demo's plan: a targets table (docs/data-contract.md, ``targets``) so the demo's dashboard,
summary and compare show actuals "against plan".

A retailer's plan is last year's actuals plus growth, with customer-experience goals set as
round numbers.  So: net sales and orders of each of the last four quarters of the data (and of
the last complete year, and of the 12 months to the data's end) are last year's same quarter (year) with 8% and 5% growth, rounded; the
"Crown jewels" segment is planned at 40% of the base's net sales; NPS, CSAT, customer effort
and the complaint rate have fixed goals every quarter.  No random draw is made: the other
tables' random stream is untouched, so they stay byte-identical with or without the plan.

``plan_parts`` sums over lines and adds up over chunks of lines (as the ledger's parts do), so
chunked generation writes the same plan as one stream of the same lines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .profiles import END

SALES_GROWTH, ORDERS_GROWTH = 1.08, 1.05
CROWN_JEWELS_SHARE = 0.40
# Goals set by Client Experience (the demo's NPS runs around -20, its CSAT near 3.7).
EXPERIENCE_GOALS = (
    ("nps", -15.0),
    ("csat", 3.8),
    ("ces", 4.0),
    ("complaint_rate", 0.045),
)


def plan_parts(lines: pa.Table) -> pd.DataFrame:
    """Kept net sales (GBP) and orders by calendar quarter of order, from order lines:
    additive over chunks of lines (order ids do not repeat across chunks)."""
    kept = lines.filter(pc.equal(lines["status"], "completed"))
    frame = pd.DataFrame(
        {
            "quarter": pd.PeriodIndex(
                kept["ordered_at"].to_pandas().dt.tz_localize(None), freq="Q"
            ).astype(str),
            "gbp": kept["net_amount"].to_numpy() * kept["fx_to_reporting"].to_numpy(),
            "order_id": kept["order_id"].to_numpy(),
        }
    )
    grouped = frame.groupby("quarter")
    return pd.DataFrame(
        {"net_sales": grouped["gbp"].sum(), "orders": grouped["order_id"].nunique()}
    )


def plan_table(parts: pd.DataFrame) -> pa.Table:
    """The targets: the base's net sales and orders of the last four quarters and the last
    complete year, Crown jewels' net sales, and the experience goals of each quarter."""
    last = pd.Period(str(END), freq="Q")
    quarters = [last - k for k in range(3, -1, -1)]
    year = last.year - 1 if last.quarter < 4 else last.year
    rows = []

    def sales(periods: list[pd.Period]) -> tuple[float, float]:
        before = [str(p - 4) for p in periods]
        got = parts.reindex(before).fillna(0.0)
        return float(got["net_sales"].sum()), float(got["orders"].sum())

    spans = [(str(q).replace("Q", "-Q"), [q]) for q in quarters]
    spans.append((str(year), [pd.Period(f"{year}Q{i}", freq="Q") for i in range(1, 5)]))
    if last.end_time.normalize() == pd.Timestamp(END):  # the data ends with a quarter
        spans.append((f"r12:{pd.Timestamp(END):%Y-%m}", quarters))  # the workbook's default
    for label, periods in spans:
        net_sales, orders = sales(periods)
        plan = round(net_sales * SALES_GROWTH, -3)
        rows.append(("net_sales", label, "", plan, "Finance"))
        rows.append(("orders", label, "", float(round(orders * ORDERS_GROWTH)), "Finance"))
        rows.append(
            ("net_sales", label, "Crown jewels", round(plan * CROWN_JEWELS_SHARE, -3), "Finance")
        )
    for q in quarters:
        label = str(q).replace("Q", "-Q")
        rows.extend((m, label, "", goal, "Client Experience") for m, goal in EXPERIENCE_GOALS)
    frame = pd.DataFrame(rows, columns=["metric", "period", "cohort", "target", "owner"])
    frame["target"] = frame["target"].astype(np.float64)
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
