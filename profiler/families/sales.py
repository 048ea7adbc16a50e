"""Simple calculations: spend, orders, units, lines, AOV, returns, cancellations and discounts,
by slice (total, category, sub-category, department, price point, channel, country, collection)
and period (lifetime, last/prior 12 months, year to date, last four quarters)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..contract import TABLES
from ..declarations import declared, name_of
from ..facts import PENCE
from ..features import ColumnDef, FeatureSpecError, spec_where
from . import _kernels
from ._util import ratio

FAMILY = "sales"
_PRODUCT_SLICES = ("category", "sub_category", "department", "price_point", "collection")


def _data_slices(spec: dict[str, Any]) -> list[str]:
    """The slices whose levels come from the data: every grid's, and the interests'."""
    named = [g["slice"] for g in spec["sales"]] + ["category", "price_point", "collection"]
    return [s for s in dict.fromkeys(named) if s != "total"]


def _present(ctx: CarContext, slice_name: str) -> list[str]:
    """The values a slice takes in this part: the product master's, else the lines' as of D."""
    source = ctx.source
    if (
        slice_name in _PRODUCT_SLICES
        and source.has("products")
        and source.has_column("products", slice_name)
    ):
        values = source.tables["products"][slice_name]
        return sorted(
            {str(v) for v in pd.unique(values.astype("object")) if v == v and v is not None}
        )
    return ctx.present_values(slice_name)


def summarize(ctx: CarContext) -> dict[str, list[str]]:
    return {s: _present(ctx, s) for s in _data_slices(ctx.spec)}


def reduce(parts: list[dict[str, list[str]]], spec: dict[str, Any]) -> dict[str, list[str]]:
    """The levels of each slice among every customer: the contract's closed list ("unknown"
    only when it occurs), else the values present."""
    out = {}
    for slice_name in _data_slices(spec):
        present = sorted({v for part in parts for v in part[slice_name]})
        table = "products" if slice_name in _PRODUCT_SLICES else "order_lines"
        allowed = TABLES[table].column(slice_name).allowed
        out[slice_name] = (
            [v for v in allowed if v != "unknown" or "unknown" in present] if allowed else present
        )
    return out


def levels(ctx: CarContext, slice_name: str) -> list[str]:
    """The values a slice takes among every customer (the global pass's, ``reduce``)."""
    return ["total"] if slice_name == "total" else ctx.globals["sales"][slice_name]


def _cell(
    spec: dict[str, Any], slice_name: str, level: str, measure: str, period: str
) -> dict[str, Any]:
    """The variables of one grid cell, as templates/columns.yaml's sales entries read them."""
    return {
        "slice": slice_name,
        "short": spec["slice_names"].get(slice_name),
        "level": level,
        "slice_from": None
        if slice_name == "total"
        else ("products" if slice_name in _PRODUCT_SLICES else "order_lines"),
        "measure": measure,
        "measure_def": spec["measures"][measure],
        "period": period,
        "period_def": spec["periods"][period],
    }


def column_name(
    measure: str, slice_name: str, level: str, period: str, spec: dict[str, Any]
) -> str:
    """The declared name of a grid cell's column."""
    return name_of(FAMILY, spec, _cell(spec, slice_name, level, measure, period))


def _cells(ctx: CarContext) -> Iterator[dict[str, Any]]:
    spec = ctx.spec
    for grid in spec["sales"]:
        slice_name = grid["slice"]
        for level in levels(ctx, slice_name):
            for measure in grid["measures"]:
                for period in grid["periods"]:
                    yield _cell(spec, slice_name, level, measure, period)


def columns(ctx: CarContext) -> list[ColumnDef]:
    _check_measures(ctx.spec)
    return declared(FAMILY, ctx, cell=lambda: _cells(ctx))


# The measures made from the period sums, and the sums each needs; every other measure is a sum
# of the kernel (``_kernels.SUMMED``) or the orders count.
DERIVED = {
    "aov": {"spend", "orders"},
    "discount_value": {"gross_spend", "spend"},
    "discount_share": {"gross_spend", "spend"},
    "full_price_share": {"full_price_spend", "spend"},
    "return_rate": {"returns_value", "spend"},
}
COMPUTED = (*_kernels.SUMMED, "orders", *DERIVED)


def _check_measures(spec: dict[str, Any]) -> None:
    """Every measure a grid asks for has a computation (a new kind needs its kernel)."""
    for g, grid in enumerate(spec["sales"]):
        for j, measure in enumerate(grid["measures"]):
            if measure not in COMPUTED:
                raise FeatureSpecError(
                    f"{spec_where(spec, ('sales', g, 'measures', j))}: measure '{measure}' has no "
                    f"computation; the sales grids compute {', '.join(COMPUTED)} (a new kind of "
                    "measure needs its kernel in profiler/families/_kernels.py or sales.derive)."
                )


def _needed(measures: list[str]) -> set[str]:
    need = set()
    for m in measures:
        need |= DERIVED.get(m, {m})
    return need


def _slice_codes(ctx: CarContext, slice_name: str, level_names: list[str]) -> np.ndarray:
    """Level index of each fact line (-1 for a value outside the levels)."""
    if slice_name == "total":
        return np.zeros(len(ctx.facts), dtype=np.int8)
    return ctx.level_codes(slice_name, level_names)


def _inputs(ctx: CarContext) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The kernel's line inputs, and each line's order number."""
    facts = ctx.facts
    inputs = {
        "net": facts["net_pence"].to_numpy(),
        "qty": facts["quantity"].to_numpy(dtype=np.float64),
        "gross": facts["gross_pence"].to_numpy(),
        "full_price": facts["discount"].to_numpy(dtype=np.float64) == 0,
    }
    order = np.zeros(len(facts), dtype=np.int64)
    if len(ctx.order_starts):
        order[ctx.order_starts[1:]] = 1
        order = np.cumsum(order)
    return inputs, order


def totals(ctx: CarContext) -> dict[str, np.ndarray]:
    """Orders and spend of the total slice in its periods (``orders_ltd``, ``spend_l12m``, ...):
    the same kernel as the grid, so the same bits as its columns."""
    grid = next(g for g in ctx.spec["sales"] if g["slice"] == "total")
    narrow = {"slice": "total", "measures": ["orders", "spend"], "periods": grid["periods"]}
    return _compute_grid(ctx, narrow, *_inputs(ctx))


def compute(ctx: CarContext) -> dict[str, Any]:
    inputs, order = _inputs(ctx)
    out: dict[str, Any] = {}
    # The compiled pass releases the GIL: grids run side by side, one a core.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for grid_out in pool.map(
            lambda grid: _compute_grid(ctx, grid, inputs, order), ctx.spec["sales"]
        ):
            out.update(grid_out)
    return out


def count_dtype(slice_name: str) -> type:
    """The type of a grid's counts and ratios: float32 outside the total slice (whole numbers
    below 2**24 are exact; ratios keep about 7 digits), float64 in it.  Money is always float64
    (see ``grid_columns``)."""
    return np.float64 if slice_name == "total" else np.float32


def _compute_grid(
    ctx: CarContext, grid: dict[str, Any], inputs: dict[str, np.ndarray], order: np.ndarray
) -> dict[str, Any]:
    """The columns of one slice x measures x periods grid, in one compiled pass over the lines."""
    n = ctx.n
    slice_name = grid["slice"]
    level_names = levels(ctx, slice_name)
    k = len(level_names)
    codes = _slice_codes(ctx, slice_name, level_names)
    need = _needed(grid["measures"])
    dtype = count_dtype(slice_name)
    periods = tuple(grid["periods"])
    bin_of, n_bins, members = ctx.line_bins(periods)
    bin_periods = np.full((n_bins, len(periods)), -1, dtype=np.int64)
    bin_count = np.zeros(n_bins, dtype=np.int64)
    for pi, p in enumerate(periods):
        for b in members[p]:
            bin_periods[b, bin_count[b]] = pi
            bin_count[b] += 1
    money = [m for m in _kernels.SUMMED if m in need and m in _kernels.MONEY]
    counted = [m for m in _kernels.SUMMED if m in need and m not in _kernels.MONEY]
    slot_of = {m: i for i, m in enumerate(money + counted)}
    slots = np.array([slot_of.get(m, -1) for m in _kernels.SUMMED], dtype=np.int64)
    money_block = np.empty((len(money), len(periods), k, n), dtype=np.float64)
    count_block = np.empty((len(counted), len(periods), k, n), dtype=dtype)
    orders_block = (
        np.empty((len(periods), k, n), dtype=dtype)
        if "orders" in need
        else np.zeros((1, 1, 1), dtype=dtype)
    )
    _kernels.grid_sums(
        ctx.cust,
        order,
        codes,
        bin_of,
        inputs["net"],
        inputs["qty"],
        inputs["gross"],
        inputs["full_price"],
        ctx.kept,
        ctx.returned,
        ctx.cancelled,
        slots,
        bin_periods,
        bin_count,
        n,
        money_block,
        count_block,
        orders_block,
        "orders" in need,
    )
    sums = {m: money_block[i] for i, m in enumerate(money)}
    sums.update({m: count_block[i] for i, m in enumerate(counted)})
    if "orders" in need:
        sums["orders"] = orders_block
    return grid_columns(grid, level_names, sums, ctx.spec)


def grid_columns(
    grid: dict[str, Any],
    level_names: list[str],
    sums: dict[str, np.ndarray],
    spec: dict[str, Any],
) -> dict[str, np.ndarray]:
    """A grid's columns from its period sums (measure -> periods x levels x customers; money in
    whole pence, as float64), with the derived measures; every engine's sales grid ends here
    (profiler/sql/sales.py too), so both give the same bits.

    Money columns (unit ``gbp``) are float64 pounds in every slice: a sum of whole pence / 100,
    the double nearest the exact figure (float32 would lose pennies above about GBP 83,000).
    Counts and ratios are ``count_dtype``."""
    dtype = count_dtype(grid["slice"])
    money = {m for m, what in spec["measures"].items() if what["unit"] == "gbp"}
    # Measures made from pence first (differences and ratios), then the pence become pounds.
    made = {m: derive(m, sums) for m in grid["measures"] if m not in sums and m != "aov"}
    for m in _kernels.MONEY:
        if m in sums:
            np.divide(sums[m], PENCE, out=sums[m])
    if "discount_value" in made:
        made["discount_value"] = made["discount_value"] / PENCE
    if "aov" in grid["measures"]:
        made["aov"] = ratio(sums["spend"], sums["orders"])  # pounds per order, as the catalog's
    out: dict[str, np.ndarray] = {}
    for measure in grid["measures"]:
        values = made[measure] if measure in made else sums[measure]
        kind = np.float64 if measure in money else dtype
        block = np.ascontiguousarray(values, dtype=kind)  # (periods, k, n)
        for pi, period in enumerate(grid["periods"]):
            for j, level in enumerate(level_names):
                out[column_name(measure, grid["slice"], level, period, spec)] = block[pi, j]
    return out


def derive(measure: str, s: dict[str, np.ndarray]) -> np.ndarray:
    """A measure made from the period sums (money in whole pence): the discount in pence, and
    the shares and rates (the same whatever the unit)."""
    if measure == "discount_value":
        return s["gross_spend"] - s["spend"]
    if measure == "discount_share":
        return ratio(s["gross_spend"] - s["spend"], s["gross_spend"])
    if measure == "full_price_share":
        return ratio(s["full_price_spend"], s["spend"])
    if measure == "return_rate":
        return ratio(s["returns_value"], s["spend"] + s["returns_value"])
    raise KeyError(measure)
