"""The demo's finance side: monthly booking rates, manual journals and the ledger.

The ledger is built from the same order lines the way a finance team books them, so it ties to
the order lines except for documented reconciling items (docs/data-contract.md):

* returns are booked in the month the goods come back, not the month of the order;
* cancelled orders placed on a month's last day are booked in that month and reversed in the
  next (they were cancelled after the month closed);
* Finance converts at the month's average rate (``fx_rates``), the order lines at the daily rate;
* a few manual journals (``journals``) are posted to net sales.

Its sums over lines (``ledger_parts``) add up over chunks of lines, so chunked generation
books the ledger once from every chunk's parts (``book_parts``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from ..facts import pounds, to_minor_units
from .profiles import END, REAL_CATEGORIES, START


def _months() -> pd.PeriodIndex:
    return pd.period_range(str(START)[:7], str(END)[:7], freq="M")


def monthly_fx_rates(fx: dict) -> pa.Table:
    days = pd.date_range(str(START), str(END), freq="D")
    month = days.strftime("%Y-%m")
    rows = []
    for cur, daily in fx.items():
        avg = pd.Series(daily).groupby(month).mean().round(6)
        rows.append(pd.DataFrame({"period": avg.index, "currency": cur, "rate": avg.to_numpy()}))
    frame = pd.concat(rows, ignore_index=True)
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)


def draw_journals(rng: np.random.Generator) -> pa.Table:
    months = _months().strftime("%Y-%m")
    reasons = [
        "Loyalty points accrual release",
        "Concession sales correction",
        "Gift card breakage recognised",
        "Price adjustment credit notes",
        "Duty-free refund correction",
        "Year-end sales cut-off adjustment",
    ]
    k = len(reasons)
    return pa.table(
        {
            "journal_id": [f"MJ-{i + 1:04d}" for i in range(k)],
            "period": pa.array(months[rng.integers(0, len(months), k)].tolist()),
            "channel": ["store", "web", "store", "app", "store", "web"],
            "category": pa.array(
                np.array(REAL_CATEGORIES)[rng.integers(0, len(REAL_CATEGORIES), k)].tolist()
            ),
            "amount": np.round(rng.choice([-1, 1], k) * rng.uniform(2_000, 40_000, k), 2),
            "description": reasons,
        }
    )


def book_ledger(
    lines: pa.Table, products: dict, fx_rates: pa.Table, journals: pa.Table
) -> pa.Table:
    """Book sales as Finance does; see the module docstring for the reconciling items."""
    return book_parts(ledger_parts(lines, products, fx_rates), journals)


def ledger_parts(lines: pa.Table, products: dict, fx_rates: pa.Table) -> pd.DataFrame:
    """The ledger's sums over order lines by month x channel x category: sales, late
    cancellations booked and reversed, and returns, in whole pence (each line booked at the
    month's rate and rounded to the penny, as an invoice line is).  Sums, so those of chunks of
    lines add up to those of all the lines."""
    frame = lines.select(
        ["ordered_at", "channel", "product_id", "net_amount", "currency", "status", "returned_at"]
    ).to_pandas()
    cat_of = pd.Series(np.array(REAL_CATEGORIES)[products["category"]], index=products["id"])
    frame["category"] = cat_of.reindex(frame["product_id"].to_numpy()).to_numpy()
    frame["channel"] = frame["channel"].astype(str)
    frame["currency"] = frame["currency"].astype(str)
    rates = fx_rates.to_pandas().set_index(["period", "currency"])["rate"]
    frame["month"] = frame["ordered_at"].dt.to_period("M")
    frame["rate"] = rates.reindex(
        pd.MultiIndex.from_arrays([frame["month"].astype(str), frame["currency"]])
    ).to_numpy()
    keys = ["month", "channel", "category"]
    sold = frame[frame["status"] != "cancelled"]

    def booked(frame: pd.DataFrame, rate: object) -> pd.Series:
        """Whole pence at the booking rate (missing where the month has no rate)."""
        rate = np.asarray(rate, dtype=np.float64)
        known = ~np.isnan(rate)
        pence = np.full(len(rate), np.nan)
        pence[known] = to_minor_units(frame["net_amount"].to_numpy()[known], rate[known])
        return pd.Series(pence, index=frame.index)

    sales = booked(sold, sold["rate"]).groupby([sold[k] for k in keys]).sum()
    # Cancelled after close: booked in the order month, reversed in the next.
    late = frame[(frame["status"] == "cancelled") & (frame["ordered_at"].dt.is_month_end)]
    late_value = booked(late, late["rate"]).groupby([late[k] for k in keys]).sum()
    reversal = late_value.copy()
    reversal.index = reversal.index.set_levels(reversal.index.levels[0] + 1, level=0)
    # Returns at the booking rate of the month they come back.
    back = frame[frame["status"] == "returned"].copy()
    back["month"] = back["returned_at"].dt.to_period("M")
    back_rate = rates.reindex(
        pd.MultiIndex.from_arrays([back["month"].astype(str), back["currency"]])
    ).to_numpy()
    returns = booked(back, back_rate).groupby([back[k] for k in keys]).sum()
    return pd.concat(
        {"sales": sales, "late": late_value, "reversal": -reversal, "returns": returns}, axis=1
    ).fillna(0.0)


def book_parts(parts: pd.DataFrame, journals: pa.Table) -> pa.Table:
    """The ledger from the lines' parts (``ledger_parts``) and the manual journals."""
    keys = ["month", "channel", "category"]
    last_month = _months()[-1]
    jr = journals.to_pandas()
    jr["month"] = pd.PeriodIndex(jr["period"], freq="M")
    jr["pence"] = to_minor_units(jr["amount"].to_numpy()).astype(np.float64)
    journal = jr.groupby(keys)["pence"].sum()
    parts = pd.concat([parts, journal.rename("journal")], axis=1).fillna(0.0)
    parts = parts[parts.index.get_level_values(0) <= last_month]
    net = parts["sales"] + parts["late"] + parts["reversal"] - parts["returns"] + parts["journal"]
    ledger = pd.DataFrame(
        {"net_sales": pounds(net.to_numpy()), "returns": pounds(parts["returns"].to_numpy())},
        index=parts.index,
    ).reset_index()
    ledger["month"] = ledger["month"].astype(str)
    ledger = ledger.rename(columns={"month": "period"}).sort_values(
        ["period", "channel", "category"], kind="stable"
    )
    return pa.Table.from_pandas(ledger, preserve_index=False).replace_schema_metadata(None)
