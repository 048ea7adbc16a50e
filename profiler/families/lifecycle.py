"""Lifecycle markers: first and last purchase, tenure, recency, stage now and a year ago."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numba import njit, prange

from ..car_context import CarContext
from ..cores import kernel
from ..declarations import declared
from ..features import ColumnDef
from ._util import days_between, first_per_group, last_per_group, take

FAMILY = "lifecycle"
STAGES = ["prospect", "new", "active", "lapsing", "lapsed", "reactivated"]


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx)


def purchase_orders(ctx: CarContext) -> tuple[np.ndarray, np.ndarray]:
    """Customer code and time of every order with a kept line, sorted by customer and time;
    found once per part (lifecycle, behaviour and the ranks' recency read it)."""
    if "purchases" not in ctx.cache:
        ctx.cache["purchases"] = _purchase_orders(ctx)
    return ctx.cache["purchases"]


def _purchase_orders(ctx: CarContext) -> tuple[np.ndarray, np.ndarray]:
    cust = ctx.order_cust[ctx.order_kept]
    time = ctx.order_time[ctx.order_kept]
    same = cust[1:] == cust[:-1]
    if np.any(cust[1:] < cust[:-1]) or np.any(same & (time[1:] < time[:-1])):
        order = np.lexsort((time, cust))
        cust, time = cust[order], time[order]
    return cust, time


NEVER = np.iinfo(np.int32).max  # the "gone" day of a purchase still kept


def stage_at(
    t: dict[str, int], n: int, cust: np.ndarray, day: np.ndarray, ref_day: int
) -> pd.Categorical:
    """Lifecycle stage of each of ``n`` customers on ``ref_day`` by the thresholds ``t`` (the
    spec's ``lifecycle``), from purchases (customer, day: sorted by customer, then day) on or
    before it."""
    starts = group_starts(cust, n)
    gone = np.full(len(day), NEVER, dtype=np.int64)
    codes = stage_codes(t, starts, day, gone, np.array([ref_day]), np.array([ref_day]))[0][0]
    return pd.Categorical.from_codes(codes, categories=STAGES)


def group_starts(cust: np.ndarray, n: int) -> np.ndarray:
    """Where each of ``n`` customers' rows start in a customer-sorted array (n + 1 offsets)."""
    return np.concatenate([[0], np.cumsum(np.bincount(cust, minlength=n))]).astype(np.int64)


def stage_codes(
    t: dict[str, int],
    starts: np.ndarray,
    day: np.ndarray,
    gone: np.ndarray,
    kept_on: np.ndarray,
    ref_days: np.ndarray,
) -> np.ndarray:
    """Stage codes (index into ``STAGES``) and purchase counts, one row per (kept_on, ref_day)
    pair, one column per customer: the stage on ``ref_day`` from the purchases on or before it
    that were still purchases at the end of ``kept_on`` (``day <= ref_day`` and
    ``gone > kept_on``), and how many such purchases there are.

    The one implementation of the stage rule: the CAR's stage columns (``stage_at``) and the
    state of any period's end (``profiler/state.py``) both come from here.  Compiled: the state
    of 36 month ends over ~7.5M orders is one pass per customer."""
    out = np.empty((len(ref_days), len(starts) - 1), dtype=np.int8)
    counts = np.empty((len(ref_days), len(starts) - 1), dtype=np.int32)
    _stage_codes(
        starts,
        np.ascontiguousarray(day),
        np.ascontiguousarray(gone),
        np.ascontiguousarray(kept_on, dtype=np.int64),
        np.ascontiguousarray(ref_days, dtype=np.int64),
        int(t["new_days"]),
        int(t["active_days"]),
        int(t["lapsed_days"]),
        out,
        counts,
    )
    return out, counts


@njit(cache=True, nogil=True)
def _stage(first, last, seen, back, ref, new, active, lapsed):  # noqa: ANN001, ANN202
    stage = 4  # lapsed
    if last > ref - lapsed:
        stage = 3  # lapsing
    if last > ref - active:
        stage = 2  # active
    if back:
        stage = 5  # reactivated
    if first > ref - new:
        stage = 1  # new
    if not seen:
        stage = 0  # prospect
    return stage


@kernel
def _stage_codes(starts, day, gone, kept_on, ref_days, new, active, lapsed, out, counts):  # noqa: ANN001, ANN202
    by_ref = np.argsort(ref_days)
    never = 2**31 - 1  # NEVER, whatever the dtype of gone
    for c in prange(len(starts) - 1):
        lo, hi = starts[c], starts[c + 1]
        kept_all = True
        for i in range(lo, hi):
            if gone[i] < never:
                kept_all = False
                break
        if kept_all:
            # Every purchase still one: walk them once, the days asked for in ascending order.
            # Reactivated: the latest purchase after a gap of more than `lapsed` days is within
            # `active` days of the day.
            i, first, last, seen, count, back_day = lo, -1, -1, False, 0, -(2**62)
            for j in range(len(by_ref)):
                k = by_ref[j]
                ref = ref_days[k]
                while i < hi and day[i] <= ref:
                    if seen and day[i] - last > lapsed:
                        back_day = day[i]
                    if not seen:
                        first, seen = day[i], True
                    last = day[i]
                    count += 1
                    i += 1
                back = seen and back_day > ref - active
                out[k, c] = _stage(first, last, seen, back, ref, new, active, lapsed)
                counts[k, c] = count
            continue
        for k in range(len(ref_days)):
            ref, kept = ref_days[k], kept_on[k]
            first = last = -1
            seen = back = False
            count = 0
            for i in range(lo, hi):
                if day[i] > ref:
                    break  # sorted by day
                if gone[i] <= kept:
                    continue
                if seen and day[i] - last > lapsed and day[i] > ref - active:
                    back = True
                if not seen:
                    first, seen = day[i], True
                last = day[i]
                count += 1
            out[k, c] = _stage(first, last, seen, back, ref, new, active, lapsed)
            counts[k, c] = count


def recency_days(ctx: CarContext) -> np.ndarray:
    """Days from the last purchase to D (NaN for prospects): the ``recency_days`` column."""
    cust, time = purchase_orders(ctx)
    return days_between(ctx.as_of, take(time, last_per_group(cust, ctx.n)))


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
    tenure = days_between(ctx.as_of, first)
    since_second = days_between(ctx.as_of, second)
    return {
        "first_purchase_at": first,
        "last_purchase_at": last,
        "second_purchase_at": second,
        "tenure_days": tenure,
        "recency_days": days_between(ctx.as_of, last),
        "days_since_second_purchase": since_second,
        "days_to_second_purchase": tenure - since_second,  # whole days; NaN without a second
        "acquisition_month": pd.Categorical(month.where(first_ts.notna(), None)),
        "acquisition_quarter": pd.Categorical(quarter),
        "lifecycle_stage": now,
        "lifecycle_stage_1y_ago": stage_at(ctx.spec["lifecycle"], ctx.n, cust, day, d_day - 365),
        "reactivated_flag": np.asarray(now == "reactivated"),
    }
