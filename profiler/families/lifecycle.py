"""Lifecycle markers: first and last purchase, tenure, recency, stage now and a year ago."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..features import ColumnDef
from ._util import days_between, first_per_group, last_per_group, take

FAMILY = "lifecycle"
STAGES = ["prospect", "new", "active", "lapsing", "lapsed", "reactivated"]
_SRC = ("order_lines",)


def columns(ctx: CarContext) -> list[ColumnDef]:
    t = ctx.spec["lifecycle"]
    rule = (
        f"prospect: no purchase; new: first purchase within {t['new_days']} days; reactivated: a purchase within "
        f"{t['active_days']} days after a gap of more than {t['lapsed_days']} days; active: last purchase within "
        f"{t['active_days']} days; lapsing: within {t['lapsed_days']} days; lapsed: longer ago"
    )
    d = dict(thresholds=t)
    return [
        ColumnDef(
            "first_purchase_at",
            FAMILY,
            "Time of the first order with a kept line.",
            "datetime",
            _SRC,
        ),
        ColumnDef(
            "last_purchase_at",
            FAMILY,
            "Time of the latest order with a kept line.",
            "datetime",
            _SRC,
        ),
        ColumnDef(
            "second_purchase_at",
            FAMILY,
            "Time of the second order with a kept line.",
            "datetime",
            _SRC,
        ),
        ColumnDef("tenure_days", FAMILY, "Days from the first purchase to D.", "days", _SRC),
        ColumnDef("recency_days", FAMILY, "Days from the latest purchase to D.", "days", _SRC),
        ColumnDef(
            "days_since_second_purchase",
            FAMILY,
            "Days from the second purchase to D.",
            "days",
            _SRC,
        ),
        ColumnDef(
            "acquisition_month",
            FAMILY,
            "Month of the first purchase (YYYY-MM): the acquisition cohort.",
            "month",
            _SRC,
        ),
        ColumnDef(
            "acquisition_quarter",
            FAMILY,
            "Quarter of the first purchase (YYYY-Qn).",
            "quarter",
            _SRC,
        ),
        ColumnDef(
            "lifecycle_stage", FAMILY, f"Lifecycle stage at D ({rule}).", "category", _SRC, d
        ),
        ColumnDef(
            "lifecycle_stage_1y_ago",
            FAMILY,
            "Lifecycle stage 365 days before D, from the data known then.",
            "category",
            _SRC,
            d,
        ),
        ColumnDef(
            "reactivated_flag",
            FAMILY,
            "True when the lifecycle stage at D is reactivated.",
            "flag",
            _SRC,
            d,
        ),
    ]


def purchase_orders(ctx: CarContext) -> tuple[np.ndarray, np.ndarray]:
    """Customer code and day number of every order with a kept line, sorted by customer and time."""
    cust = ctx.order_cust[ctx.order_kept]
    time = ctx.order_time[ctx.order_kept]
    same = cust[1:] == cust[:-1]
    if np.any(cust[1:] < cust[:-1]) or np.any(same & (time[1:] < time[:-1])):
        order = np.lexsort((time, cust))
        cust, time = cust[order], time[order]
    return cust, time


def stage_at(
    t: dict[str, int], n: int, cust: np.ndarray, day: np.ndarray, ref_day: int
) -> pd.Categorical:
    """Lifecycle stage of each of ``n`` customers on ``ref_day`` by the thresholds ``t`` (the
    spec's ``lifecycle``), from purchases (customer, day: sorted by customer, then day) on or
    before it.  The CAR's stage columns and the state metrics of any period
    (``profiler/state.py``) are both this function."""
    seen = day <= ref_day
    cust, day = cust[seen], day[seen]
    # Rows are sorted by customer, then time: the first and last rows of a customer are enough.
    first_i, last_i = first_per_group(cust, n), last_per_group(cust, n)
    bought = first_i >= 0
    safe_day = day if len(day) else np.zeros(1, dtype=np.int64)
    first = safe_day[np.maximum(first_i, 0)]
    last = safe_day[np.maximum(last_i, 0)]
    gap = np.diff(day, prepend=day[:1]) if len(day) else day
    same = np.r_[False, cust[1:] == cust[:-1]] if len(cust) else np.zeros(0, dtype=bool)
    back = same & (gap > t["lapsed_days"]) & (day > ref_day - t["active_days"])
    reactivated = np.zeros(n, dtype=bool)
    reactivated[cust[back]] = True
    stage = np.full(n, 4, dtype=np.int8)  # lapsed
    stage[last > ref_day - t["lapsed_days"]] = 3
    stage[last > ref_day - t["active_days"]] = 2
    stage[reactivated] = 5
    stage[first > ref_day - t["new_days"]] = 1
    stage[~bought] = 0
    return pd.Categorical.from_codes(stage, categories=STAGES)


def compute(ctx: CarContext) -> dict[str, Any]:
    cust, time = purchase_orders(ctx)
    first_i = first_per_group(cust, ctx.n)
    last_i = last_per_group(cust, ctx.n)
    purchases = np.bincount(cust, minlength=ctx.n)
    second_i = np.where(purchases >= 2, first_i + 1, -1)  # rows are sorted by customer, then time
    first = take(time, first_i)
    last = take(time, last_i)
    second = take(time, second_i)
    day = time.astype("datetime64[D]").astype(np.int64)
    d_day = int(np.datetime64(ctx.as_of, "D").astype(np.int64))
    now = stage_at(ctx.spec["lifecycle"], ctx.n, cust, day, d_day)
    first_ts = pd.Series(first)
    month = first_ts.dt.strftime("%Y-%m")
    quarter = (
        first_ts.dt.year.astype("Int64").astype(str)
        + "-Q"
        + first_ts.dt.quarter.astype("Int64").astype(str)
    )
    quarter = quarter.where(first_ts.notna(), None)
    return {
        "first_purchase_at": first,
        "last_purchase_at": last,
        "second_purchase_at": second,
        "tenure_days": days_between(ctx.as_of, first),
        "recency_days": days_between(ctx.as_of, last),
        "days_since_second_purchase": days_between(ctx.as_of, second),
        "acquisition_month": pd.Categorical(month.where(first_ts.notna(), None)),
        "acquisition_quarter": pd.Categorical(quarter),
        "lifecycle_stage": now,
        "lifecycle_stage_1y_ago": stage_at(ctx.spec["lifecycle"], ctx.n, cust, day, d_day - 365),
        "reactivated_flag": np.asarray(now == "reactivated"),
    }
