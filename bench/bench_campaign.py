"""Campaign report at scale: every campaign of a data folder measured, beside a pandas reference.

Usage: python bench/bench_campaign.py DATA_DIR [--window 30]

The report (``profiler.campaigns.campaign_reports``: load order_lines and campaigns through the
contract's loader, order facts in whole pence, per-customer responses, the intervals) is timed
in this process beside the reference a user would write without it, in the same run: pandas
reading the same Parquet files, keeping completed lines ordered in each window, and summing
each group's responders, orders and spend.  The reference converts money with the lines' own
``fx_to_reporting`` rounded to the penny (the contract's rule when a line carries its rate).
Both must give the same responders, orders and spend (to the penny) for every group: the script
says so or stops.  Prints the seconds of each and their ratio, and the peak memory of the
process after each (resource.getrusage: the report runs first, so the reference's figure is
not below it).  Generate the data once with
``profiler generate --customers 1000000 --out /work/bench/data1m``.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def reference(data: Path, window: int) -> pd.DataFrame:
    """campaign x group: customers, responders, orders, spend_pence, with plain pandas."""
    register = _read(data, "campaigns")
    lines = _read(
        data,
        "order_lines",
        ["customer_id", "order_id", "ordered_at", "net_amount", "status", "fx_to_reporting"],
    )
    lines = lines[lines["status"] == "completed"]
    rate = lines["fx_to_reporting"] if "fx_to_reporting" in lines else 1.0
    pence = np.asarray(lines["net_amount"] * rate * 100)
    lines = lines.assign(pence=np.sign(pence) * np.floor(np.abs(pence) + 0.5))
    lines = lines.assign(day=pd.to_datetime(lines["ordered_at"]).dt.normalize())
    rows = []
    for (name, sent), members in register.groupby(["campaign", "sent_at"]):
        start = pd.Timestamp(sent).normalize()
        inside = lines[(lines["day"] >= start) & (lines["day"] < start + pd.Timedelta(days=window))]
        inside = inside[inside["customer_id"].isin(members["customer_id"])]
        per = inside.groupby("customer_id").agg(
            orders=("order_id", "nunique"), spend_pence=("pence", "sum")
        )
        joined = members[["customer_id", "group"]].join(per, on="customer_id").fillna(0)
        for group, part in joined.groupby("group"):
            rows.append(
                {
                    "campaign": name,
                    "group": group,
                    "customers": len(part),
                    "responders": int((part["orders"] > 0).sum()),
                    "orders": int(part["orders"].sum()),
                    "spend_pence": int(part["spend_pence"].sum()),
                }
            )
    return pd.DataFrame(rows).set_index(["campaign", "group"]).sort_index()


def _read(data: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A demo table as Parquet or CSV (ids as text, as the register's)."""
    if (data / f"{table}.parquet").exists():
        frame = pd.read_parquet(data / f"{table}.parquet", columns=columns)
    else:
        frame = pd.read_csv(data / f"{table}.csv", usecols=columns)
    return frame.assign(customer_id=frame["customer_id"].astype(str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--window", type=int, default=30)
    args = parser.parse_args()

    from profiler.campaigns import campaign_reports

    started = time.perf_counter()
    reports = campaign_reports(args.data, args.window)
    ours = time.perf_counter() - started
    ours_peak = peak_gb()
    started = time.perf_counter()
    expected = reference(args.data, args.window)
    theirs = time.perf_counter() - started
    got = (
        pd.concat(
            [
                r.measured.groups.assign(
                    campaign=r.campaign,
                    spend_pence=(
                        r.measured.groups["spend_per_customer"]
                        * r.measured.groups["customers"]
                        * 100
                    ).round(),
                ).set_index(["campaign", "group"])[
                    ["customers", "responders", "orders", "spend_pence"]
                ]
                for r in reports
            ]
        )
        .astype("int64")
        .sort_index()
    )
    counts = ["customers", "responders", "orders"]
    pd.testing.assert_frame_equal(got[counts], expected[counts].astype("int64"))
    pence_apart = int((got["spend_pence"] - expected["spend_pence"]).abs().max())
    print(f"{args.data}: {len(reports)} campaigns, window {args.window} days")
    for r in reports:
        f = r.measured.figures
        print(f"  {r.title}")
        print(
            f"    uplift {f['uplift']:+.2%} (95% CI {f['uplift_low']:+.2%} to {f['uplift_high']:+.2%}), "
            f"incremental revenue £{f['incremental_revenue']:,.0f}, ROI {f['roi']:.2f}"
        )
    print(f"report: {ours:.1f} s, peak {ours_peak:.1f} GB")
    print(f"reference pandas (read, filter, group): {theirs:.1f} s, peak {peak_gb():.1f} GB")
    print(
        f"ratio report / reference: {ours / theirs:.2f}; customers, responders and orders equal "
        f"for every group; spend at most {pence_apart} pence apart (half-penny rounding)"
    )


if __name__ == "__main__":
    main()
