"""The CAR's sales grid in SQL: the same slices x measures x periods as profiler/families/sales.py.

One query per slice sums the lines per customer, level and time bin (disjoint pieces of the
periods, see ``car_context.bin_members``) and counts each cell's distinct orders with a kept
line; an order's lines share its time, so a period's orders are the sum of its bins'.  The cells
come back in long form and each period's sums are the sums of its bins' cells (``np.bincount``
over customer and level): a reshape, not a definition, so it runs here rather than as a
1,000-column SQL pivot, which took most of the engines' time.

Money is summed in whole pence (``net_pence``, ``gross_pence`` of the order facts: exact), counts
as counts; the sums are then held as the pandas engine holds them (money in float64, counts
float32 outside the total slice: accumulated in double, rounded once) and the columns and the
derived measures (AOV, shares, rates) come from ``families.sales.grid_columns``, the pandas
engine's own code, so both give the same bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlglot import exp

from ..car_context import bin_members
from ..families._kernels import MONEY
from ..families.sales import _needed, count_dtype
from ..families.sales import grid_columns as pandas_grid_columns
from .facts import FactsShape, as_double, car_facts, case, col, number, text, timestamp

# The summed measures: their value on one fact line (money in whole pence).
_LINE_VALUES = {
    "spend": lambda: case(col("kept"), col("net_pence"), number(0)),
    "units": lambda: case(col("kept"), as_double(col("quantity")), number(0)),
    "lines": lambda: case(col("kept"), number(1), number(0)),
    "gross_spend": lambda: case(col("kept"), col("gross_pence"), number(0)),
    "full_price_spend": lambda: case(
        exp.and_(col("kept"), exp.EQ(this=col("discount"), expression=number(0))),
        col("net_pence"),
        number(0),
    ),
    "returns_value": lambda: case(col("returned"), col("net_pence"), number(0)),
    "returned_lines": lambda: case(col("returned"), number(1), number(0)),
    "cancelled_value": lambda: case(col("cancelled"), col("net_pence"), number(0)),
    "cancelled_lines": lambda: case(col("cancelled"), number(1), number(0)),
}


def cells_query(
    grid: dict[str, Any],
    level_names: list[str],
    spec: dict[str, Any],
    as_of: pd.Timestamp,
    shape: FactsShape,
) -> tuple[exp.Select, list[str]]:
    """Per customer, level index and time bin of one slice: the summed measures (as doubles:
    whole pence are exact in them) and the distinct kept orders.  Returns the query and its
    measure columns."""
    slice_name = grid["slice"]
    need = _needed(grid["measures"])
    summed = [m for m in _LINE_VALUES if m in need]
    bounds, _ = bin_members(spec, as_of, tuple(grid["periods"]))
    ordered_at = col("ordered_at")
    bin_of = _sum_all(
        [exp.cast(exp.GTE(this=ordered_at.copy(), expression=timestamp(b)), "INT") for b in bounds]
    )
    if slice_name == "total":
        level: exp.Expression = number(0)
    else:
        level = exp.Case(this=exp.cast(col(slice_name), "VARCHAR"))
        for i, v in enumerate(level_names):
            level = level.when(text(v), number(i))
    orders = exp.Count(this=exp.Distinct(expressions=[case(col("kept"), col("order_id"))]))
    measures = [*summed, *(["orders"] if "orders" in need else [])]
    query = exp.select(
        col("customer_id"),
        level.as_("level"),
        bin_of.as_("bin"),
        *(as_double(exp.func("SUM", _LINE_VALUES[m]())).as_(m) for m in summed),
        *([as_double(orders).as_("orders")] if "orders" in need else []),
    ).from_(car_facts(shape, as_of).subquery("f"))
    if slice_name != "total":
        query = query.where(
            exp.In(
                this=exp.cast(col(slice_name), "VARCHAR"),
                expressions=[text(v) for v in level_names],
            )
        )
    keys = [col("customer_id"), bin_of.copy()]
    if slice_name != "total":  # (a constant would read as a column position)
        keys.append(level.copy())
    return query.group_by(*keys), measures


def _sum_all(terms: list[exp.Expression]) -> exp.Expression:
    """terms[0] + terms[1] + ... (0 for no terms)."""
    if not terms:
        return number(0)
    total = terms[0]
    for term in terms[1:]:
        total = exp.Add(this=total, expression=term)
    return total


def sql_grid_columns(
    engine: Any, ctx: Any, grid: dict[str, Any], level_names: list[str], shape: FactsShape
) -> dict[str, np.ndarray]:
    """One slice's columns: the engine's cells summed into periods, then derived."""
    slice_name = grid["slice"]
    periods = tuple(grid["periods"])
    query, measures = cells_query(grid, level_names, ctx.spec, ctx.as_of, shape)
    cells = engine.run(query)
    rows = ctx.codes_of(cells.column("customer_id").to_numpy())
    if len(rows) and rows.min() < 0:
        raise AssertionError(f"{engine.name}: sales cells of customers outside the CAR")
    k, n = len(level_names), ctx.n
    slot = cells.column("level").to_numpy().astype(np.int64) * n + rows
    bins = cells.column("bin").to_numpy()
    _, members = bin_members(ctx.spec, ctx.as_of, periods)
    dtype = count_dtype(slice_name)
    sums = {
        m: np.empty((len(periods), k, n), dtype=np.float64 if m in MONEY else dtype)
        for m in measures
    }
    values = {m: cells.column(m).to_numpy() for m in measures}  # read once, not per period
    for pi, period in enumerate(periods):
        inside = np.isin(bins, members[period])
        where = slot[inside]
        for m in measures:
            total = np.bincount(where, weights=values[m][inside], minlength=k * n)
            sums[m][pi] = total.reshape(k, n)  # counts rounded once to their type
    return pandas_grid_columns(grid, level_names, sums, ctx.spec)


def compute(engine, ctx, levels) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The sales family's columns, computed by a SQL engine, in the CAR's customer order.

    ``levels(ctx, slice)`` gives each slice's levels (the same as the pandas engine's).  The
    engine must hold the accepted source tables.
    """
    shape = FactsShape.of(ctx.source)
    out: dict[str, np.ndarray] = {}
    for grid in ctx.spec["sales"]:
        out.update(sql_grid_columns(engine, ctx, grid, levels(ctx, grid["slice"]), shape))
    return out
