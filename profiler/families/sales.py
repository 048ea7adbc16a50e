"""Simple calculations: spend, orders, units, lines, AOV, returns, cancellations and discounts,
by slice (total, category, sub-category, department, price point, channel, country, collection)
and period (lifetime, last/prior 12 months, year to date, last four quarters)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..contract import TABLES
from ..features import ColumnDef, slug
from ._util import ratio

FAMILY = "sales"
# Measures summed straight from line weights; the rest are ratios of these.
_SUMMED = (
    "spend",
    "units",
    "lines",
    "gross_spend",
    "full_price_spend",
    "returns_value",
    "returned_lines",
    "cancelled_value",
    "cancelled_lines",
)
_PRODUCT_SLICES = ("category", "sub_category", "department", "price_point", "collection")


def levels(ctx: CarContext, slice_name: str) -> list[str]:
    """The values a slice takes: the contract's closed list, the product master, or the data as of D."""
    if slice_name == "total":
        return ["total"]
    key = ("levels", slice_name)
    if key in ctx.cache:
        return ctx.cache[key]
    source = ctx.source
    if (
        slice_name in _PRODUCT_SLICES
        and source.has("products")
        and source.has_column("products", slice_name)
    ):
        values = source.tables["products"][slice_name]
        present = sorted(
            {str(v) for v in pd.unique(values.astype("object")) if v == v and v is not None}
        )
    else:
        present = ctx.present_values(slice_name)
    table = "products" if slice_name in _PRODUCT_SLICES else "order_lines"
    allowed = TABLES[table].column(slice_name).allowed
    names = [v for v in allowed if v != "unknown" or "unknown" in present] if allowed else present
    ctx.cache[key] = names
    return names


def column_name(
    measure: str, slice_name: str, level: str, period: str, short: dict[str, str]
) -> str:
    if slice_name == "total":
        return f"{measure}_{period}"
    return f"{measure}_{short[slice_name]}_{slug(level)}_{period}"


def _grid(ctx: CarContext):
    spec = ctx.spec
    for grid in spec["sales"]:
        slice_name = grid["slice"]
        for level in levels(ctx, slice_name):
            for measure in grid["measures"]:
                for period in grid["periods"]:
                    yield grid, slice_name, level, measure, period


def columns(ctx: CarContext) -> list[ColumnDef]:
    spec = ctx.spec
    out = []
    for _, slice_name, level, measure, period in _grid(ctx):
        what = spec["measures"][measure]
        where = "" if slice_name == "total" else f" in {slice_name.replace('_', '-')} '{level}'"
        sources = ("order_lines", "products") if slice_name in _PRODUCT_SLICES else ("order_lines",)
        out.append(
            ColumnDef(
                column_name(measure, slice_name, level, period, spec["slice_names"]),
                FAMILY,
                f"{what['description'].capitalize()}{where}, {spec['periods'][period]['label']}.",
                what["unit"],
                sources,
                {
                    "measure": measure,
                    "slice": slice_name,
                    "level": level,
                    "period": period,
                    "period_def": spec["periods"][period],
                },
            )
        )
    return out


def _weights(ctx: CarContext) -> dict[str, np.ndarray]:
    facts = ctx.facts
    net = facts["net_gbp"].to_numpy(dtype=np.float64)
    kept, returned, cancelled = ctx.kept, ctx.returned, ctx.cancelled
    full_price = facts["discount"].to_numpy(dtype=np.float64) == 0
    return {
        "spend": np.where(kept, net, 0.0),
        "units": np.where(kept, facts["quantity"].to_numpy(dtype=np.float64), 0.0),
        "lines": kept.astype(np.float64),
        "gross_spend": np.where(kept, facts["gross_gbp"].to_numpy(dtype=np.float64), 0.0),
        "full_price_spend": np.where(kept & full_price, net, 0.0),
        "returns_value": np.where(returned, net, 0.0),
        "returned_lines": returned.astype(np.float64),
        "cancelled_value": np.where(cancelled, net, 0.0),
        "cancelled_lines": cancelled.astype(np.float64),
    }


def _needed(measures: list[str]) -> set[str]:
    need = set()
    for m in measures:
        need |= {
            "aov": {"spend", "orders"},
            "discount_value": {"gross_spend", "spend"},
            "discount_share": {"gross_spend", "spend"},
            "full_price_share": {"full_price_spend", "spend"},
            "return_rate": {"returns_value", "spend"},
        }.get(m, {m})
    return need


def _slice_codes(ctx: CarContext, slice_name: str, level_names: list[str]) -> np.ndarray:
    """Level index of each fact line (-1 for a value outside the levels)."""
    if slice_name == "total":
        return np.zeros(len(ctx.facts), dtype=np.int64)
    return ctx.level_codes(slice_name, level_names)


def _order_bits(ctx: CarContext, codes: np.ndarray, k: int) -> np.ndarray | None:
    """Per order, a bitmask of the levels in which it has a kept line (None when k > 64)."""
    if k > 64 or not len(ctx.order_starts):
        return None
    bits = np.where(
        ctx.kept & (codes >= 0),
        np.left_shift(np.uint64(1), np.maximum(codes, 0).astype(np.uint64)),
        np.uint64(0),
    )
    return np.bitwise_or.reduceat(bits, ctx.order_starts)


def _order_counts(
    ctx: CarContext, codes: np.ndarray, k: int, bin_of: np.ndarray, n_bins: int
) -> np.ndarray:
    """(k, n, bins) counts of orders with a kept line in each level."""
    n = ctx.n
    order_key = ctx.order_cust * n_bins + bin_of[ctx.order_starts]
    if k == 1:
        return (
            np.bincount(order_key[ctx.order_kept], minlength=n * n_bins)
            .reshape(1, n, n_bins)
            .astype(np.float64)
        )
    bits = _order_bits(ctx, codes, k)
    if bits is not None:
        # Peel the lowest set bit off each order until none is left: one (order, level) pair each.
        pair_order, pair_level = [], []
        orders = np.flatnonzero(bits)
        remaining = bits[orders]
        while len(orders):
            lowest = remaining & (~remaining + np.uint64(1))
            pair_order.append(orders)
            pair_level.append(np.bitwise_count(lowest - np.uint64(1)).astype(np.int64))
            remaining = remaining ^ lowest
            more = remaining != 0
            orders, remaining = orders[more], remaining[more]
        po, pl = np.concatenate(pair_order), np.concatenate(pair_level)
        flat = np.bincount(pl * (n * n_bins) + order_key[po], minlength=k * n * n_bins)
        return flat.reshape(k, n, n_bins).astype(np.float64)
    # More than 64 levels: de-duplicate (order, level) pairs directly.
    order_of_line = np.repeat(
        np.arange(len(ctx.order_starts)), np.diff(np.r_[ctx.order_starts, len(codes)])
    )
    ok = ctx.kept & (codes >= 0)
    pairs = pd.DataFrame({"o": order_of_line[ok], "l": codes[ok]}).drop_duplicates().to_numpy()
    flat = np.bincount(
        pairs[:, 1] * (n * n_bins) + order_key[pairs[:, 0]], minlength=k * n * n_bins
    )
    return flat.reshape(k, n, n_bins).astype(np.float64)


def compute(ctx: CarContext) -> dict[str, Any]:
    spec = ctx.spec
    short = spec["slice_names"]
    weights = _weights(ctx)
    out: dict[str, Any] = {}
    n = ctx.n
    for grid in spec["sales"]:
        slice_name = grid["slice"]
        level_names = levels(ctx, slice_name)
        k = len(level_names)
        codes = _slice_codes(ctx, slice_name, level_names)
        need = _needed(grid["measures"])
        dtype = np.float64 if slice_name == "total" else np.float32
        periods = tuple(grid["periods"])
        bin_of, n_bins, members = ctx.line_bins(periods)
        # A period's total is its bins' sum: one matrix product per measure does every period.
        membership = np.zeros((n_bins, len(periods)))
        for j, p in enumerate(periods):
            membership[members[p], j] = 1.0
        ok = codes >= 0
        sel = None if ok.all() else np.flatnonzero(ok)
        # Level-major keys: lines are sorted by customer, so the writes stream through k regions;
        # the product with the membership matrix then lands each (period, level) as one row.
        key = (np.maximum(codes, 0) * n + ctx.cust) * n_bins + bin_of
        if sel is not None:
            key = key[sel]
        sums: dict[str, np.ndarray] = {}  # measure -> (periods, k, n)
        for m in need:
            if m in _SUMMED:
                w = weights[m] if sel is None else weights[m][sel]
                flat = np.bincount(key, weights=w, minlength=n * k * n_bins).reshape(k * n, n_bins)
                sums[m] = (membership.T @ flat.T).reshape(len(periods), k, n)
        if "orders" in need:
            cube = _order_counts(ctx, codes, k, bin_of, n_bins)
            sums["orders"] = (membership.T @ cube.reshape(k * n, n_bins).T).reshape(
                len(periods), k, n
            )
        for measure in grid["measures"]:
            block = np.ascontiguousarray(_derive(measure, sums), dtype=dtype)  # (periods, k, n)
            for pi, period in enumerate(periods):
                for j, level in enumerate(level_names):
                    out[column_name(measure, slice_name, level, period, short)] = block[pi, j]
    return out


def _derive(measure: str, s: dict[str, np.ndarray]) -> np.ndarray:
    if measure == "aov":
        return ratio(s["spend"], s["orders"])
    if measure == "discount_value":
        return s["gross_spend"] - s["spend"]
    if measure == "discount_share":
        return ratio(s["gross_spend"] - s["spend"], s["gross_spend"])
    if measure == "full_price_share":
        return ratio(s["full_price_spend"], s["spend"])
    if measure == "return_rate":
        return ratio(s["returns_value"], s["spend"] + s["returns_value"])
    return s[measure]
