"""Behaviour: inter-purchase time, purchase rhythm, basket size, breadth, channel mix, seasonality."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..calendar_parts import month_and_day, month_of_year, month_start
from ..car_context import CarContext
from ..contract import ORDER_CHANNELS
from ..declarations import declared
from ..features import ColumnDef, slug
from ._util import argmax_label, ratio
from .lifecycle import purchase_orders

FAMILY = "behaviour"
CHANNELS = [c for c in ORDER_CHANNELS if c != "unknown"]


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx, channel=CHANNELS)


def in_sale_period(times: np.ndarray, periods: list[list[int]]) -> np.ndarray:
    """True for timestamps within any [month, day, month, day] range (ranges may wrap the year)."""
    month, day = month_and_day(times)
    md = month.astype(np.int16) * 100 + day
    mask = np.zeros(len(times), dtype=bool)
    for m1, d1, m2, d2 in periods:
        lo, hi = m1 * 100 + d1, m2 * 100 + d2
        mask |= ((md >= lo) & (md <= hi)) if lo <= hi else ((md >= lo) | (md <= hi))
    return mask


def _distinct_per_customer(cust: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Number of distinct values (codes 0..63) per customer, for rows sorted by customer."""
    if len(cust) == 0:
        return np.zeros(n)
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]])
    bits = np.bitwise_or.reduceat(np.left_shift(np.uint64(1), values.astype(np.uint64)), starts)
    out = np.zeros(n)
    out[cust[starts]] = np.bitwise_count(bits)
    return out


def _runs_per_customer(cust: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Number of distinct values per customer, for rows sorted by customer, then value."""
    if len(cust) == 0:
        return np.zeros(n)
    new = np.r_[True, (cust[1:] != cust[:-1]) | (values[1:] != values[:-1])]
    return np.bincount(cust[new], minlength=n).astype(np.float64)


def _breadth(ctx: CarContext, column: str, kept: np.ndarray, lc: np.ndarray) -> np.ndarray:
    """Distinct values of a product attribute among a customer's kept lines."""
    values = ctx.facts[column]
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
    else:
        codes = pd.factorize(values)[0]
    codes = codes[kept]
    if codes.max(initial=0) < 64:
        return _distinct_per_customer(lc, np.maximum(codes, 0), ctx.n)
    order = np.lexsort((codes, lc))
    return _runs_per_customer(lc[order], codes[order], ctx.n)


def compute(ctx: CarContext) -> dict[str, Any]:
    n = ctx.n
    cust, time = purchase_orders(ctx)
    day = time.astype("datetime64[D]").astype(np.int64)
    # Consecutive distinct purchase days.
    if len(cust):
        new_day = np.r_[True, (cust[1:] != cust[:-1]) | (day[1:] != day[:-1])]
    else:
        new_day = np.zeros(0, dtype=bool)
    dcust, dday = cust[new_day], day[new_day]
    same = np.r_[False, dcust[1:] == dcust[:-1]] if len(dcust) else np.zeros(0, dtype=bool)
    gaps = np.diff(dday, prepend=dday[:1]).astype(np.float64)[same]
    gcust = dcust[same]
    g_n = np.bincount(gcust, minlength=n).astype(np.float64)
    g_sum = np.bincount(gcust, weights=gaps, minlength=n)
    g_sq = np.bincount(gcust, weights=gaps**2, minlength=n)
    mean = ratio(g_sum, g_n)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(
            g_n >= 2, (g_sq - g_n * np.nan_to_num(mean) ** 2) / np.maximum(g_n - 1, 1), np.nan
        )
    purchase_days = np.bincount(dcust, minlength=n).astype(np.float64)
    active_months = _runs_per_customer(cust, month_start(time).view(np.int64), n)
    orders = np.bincount(cust, minlength=n).astype(np.float64)
    kept = ctx.kept
    lc = ctx.cust[kept]
    facts = ctx.facts
    net = facts["net_gbp"].to_numpy()[kept]
    units = np.bincount(lc, weights=facts["quantity"].to_numpy(dtype=np.float64)[kept], minlength=n)
    lines = np.bincount(lc, minlength=n).astype(np.float64)
    spend = np.bincount(lc, weights=net, minlength=n)
    ch = ctx.level_codes("channel", CHANNELS)[kept]
    ok = ch >= 0
    by_channel = np.bincount(
        lc[ok] * len(CHANNELS) + ch[ok], weights=net[ok], minlength=n * len(CHANNELS)
    ).reshape(n, len(CHANNELS))
    lines_by_channel = np.bincount(
        lc[ok] * len(CHANNELS) + ch[ok], minlength=n * len(CHANNELS)
    ).reshape(n, len(CHANNELS))
    channels_used = (lines_by_channel > 0).sum(axis=1).astype(np.float64)
    times = facts["ordered_at"].to_numpy()[kept]
    q4 = month_of_year(times) >= 10
    sale = in_sale_period(times, ctx.spec["interests"]["sale_periods"])
    out: dict[str, Any] = {
        "ipt_mean_days": mean,
        "ipt_sd_days": np.sqrt(np.maximum(var, 0)) if var is not None else var,
        "purchase_days_ltd": purchase_days,
        "active_months_ltd": active_months,
        "orders_per_active_month": ratio(orders, active_months),
        "basket_units_mean": ratio(units, orders),
        "basket_lines_mean": ratio(lines, orders),
        "category_breadth": _breadth(ctx, "category", kept, lc),
        "sub_category_breadth": _breadth(ctx, "sub_category", kept, lc),
        "channels_used": channels_used,
        "omnichannel_flag": channels_used >= 2,
        "preferred_channel": argmax_label(by_channel, CHANNELS),
        "q4_share": ratio(np.bincount(lc, weights=np.where(q4, net, 0), minlength=n), spend),
        "sale_share": ratio(np.bincount(lc, weights=np.where(sale, net, 0), minlength=n), spend),
    }
    for j, c in enumerate(CHANNELS):
        out[f"share_ch_{slug(c)}_ltd"] = ratio(by_channel[:, j], spend)
    out["ipt_sd_days"] = np.where(g_n >= 2, out["ipt_sd_days"], np.nan)
    return out
