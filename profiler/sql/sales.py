"""The CAR's sales grid in SQL: the same slices x measures x periods as profiler/families/sales.py.

One query per slice.  Lines are first summed per customer, level and time bin (disjoint pieces of
the periods, see ``car_context.bin_members``); the bins are then pivoted into one column per
measure, level and period.  Orders are counted per bin as distinct orders with a kept line, so a
period's orders are the sum of its bins' (an order's lines share its time).

Columns outside the total slice are stored as float32, as the pandas engine stores them: sums are
accumulated in double, rounded to float32, and derived measures are computed from the rounded
sums with each step rounded to float32, which gives the pandas engine's numbers to the bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlglot import exp

from ..car_context import bin_members
from ..families.sales import _needed, column_name
from .customers import per_customer, run_per_customer
from .facts import FactsShape, as_double, car_facts, case, col, number, text, timestamp

# The summed measures: their value on one fact line.
_LINE_VALUES = {
    "spend": lambda: case(col("kept"), col("net_gbp"), number(0)),
    "units": lambda: case(col("kept"), as_double(col("quantity")), number(0)),
    "lines": lambda: case(col("kept"), number(1), number(0)),
    "gross_spend": lambda: case(col("kept"), col("gross_gbp"), number(0)),
    "full_price_spend": lambda: case(
        exp.and_(col("kept"), exp.EQ(this=col("discount"), expression=number(0))),
        col("net_gbp"),
        number(0),
    ),
    "returns_value": lambda: case(col("returned"), col("net_gbp"), number(0)),
    "returned_lines": lambda: case(col("returned"), number(1), number(0)),
    "cancelled_value": lambda: case(col("cancelled"), col("net_gbp"), number(0)),
    "cancelled_lines": lambda: case(col("cancelled"), number(1), number(0)),
}


def _cast(node: exp.Expression, sql_type: str) -> exp.Cast:
    return exp.cast(node, sql_type)


def _ratio(num: exp.Expression, den: exp.Expression, sql_type: str) -> exp.Expression:
    """num / den in the column's type; NULL (NaN in the CAR) where den is not positive."""
    return case(
        exp.GT(this=den, expression=number(0)),
        _cast(exp.Div(this=num, expression=den.copy()), sql_type),
    )


def _derived(measure: str, s: dict[str, exp.Expression], sql_type: str) -> exp.Expression:
    """A measure from the base sums, each arithmetic step rounded to the column's type."""

    def minus(a: str, b: str) -> exp.Expression:
        return _cast(exp.Sub(this=s[a].copy(), expression=s[b].copy()), sql_type)

    def plus(a: str, b: str) -> exp.Expression:
        return _cast(exp.Add(this=s[a].copy(), expression=s[b].copy()), sql_type)

    if measure == "aov":
        return _ratio(s["spend"].copy(), s["orders"].copy(), sql_type)
    if measure == "discount_value":
        return minus("gross_spend", "spend")
    if measure == "discount_share":
        return _ratio(minus("gross_spend", "spend"), s["gross_spend"].copy(), sql_type)
    if measure == "full_price_share":
        return _ratio(s["full_price_spend"].copy(), s["spend"].copy(), sql_type)
    if measure == "return_rate":
        return _ratio(s["returns_value"].copy(), plus("spend", "returns_value"), sql_type)
    return s[measure].copy()


def grid_query(
    grid: dict[str, Any],
    level_names: list[str],
    spec: dict[str, Any],
    as_of: pd.Timestamp,
    shape: FactsShape,
    has_customers: bool,
) -> tuple[exp.Select, list[str]]:
    """The query of one slice's grid (customer_id first, sorted by it) and its column names."""
    slice_name = grid["slice"]
    periods = tuple(grid["periods"])
    sql_type = "DOUBLE" if slice_name == "total" else "FLOAT"
    need = _needed(grid["measures"])
    summed = [m for m in _LINE_VALUES if m in need]
    bounds, members = bin_members(spec, as_of, periods)

    # 1. Per customer and cell (level x bin): the summed measures and the orders.
    n_bins = len(bounds) + 1
    ordered_at = col("ordered_at")
    bin_of = _sum_all(
        [exp.cast(exp.GTE(this=ordered_at.copy(), expression=timestamp(b)), "INT") for b in bounds]
    )
    if slice_name == "total":
        key = bin_of
    else:
        level = exp.cast(col(slice_name), "VARCHAR")
        index = exp.Case(this=level)
        for i, v in enumerate(level_names):
            index = index.when(text(v), number(i * n_bins))
        key = exp.Add(this=index, expression=exp.paren(bin_of))
    measures = [*summed, *(["orders"] if "orders" in need else [])]
    cells = exp.select(
        col("customer_id"),
        key.as_("cell"),
        *(exp.func("SUM", _LINE_VALUES[m]()).as_(m) for m in summed),
        *(
            [
                exp.cast(
                    exp.Count(this=exp.Distinct(expressions=[case(col("kept"), col("order_id"))])),
                    "DOUBLE",
                ).as_("orders")
            ]
            if "orders" in need
            else []
        ),
    ).from_(car_facts(shape, as_of).subquery("f"))
    if slice_name != "total":
        cells = cells.where(
            exp.In(
                this=exp.cast(col(slice_name), "VARCHAR"),
                expressions=[text(v) for v in level_names],
            )
        )
    cells = cells.group_by(col("customer_id"), key.copy())

    # 2. One row per customer: a column per cell and measure (c<cell>_<measure>).
    used = sorted(
        {i * n_bins + int(b) for i in range(len(level_names)) for p in periods for b in members[p]}
    )
    # A second aggregate when there is one measure: with one, Spark names a pivoted column by
    # the cell alone, DuckDB by cell and measure; with two or more both say <cell>_<measure>.
    named = [exp.func("SUM", col(m)).as_(m) for m in measures]
    if len(named) == 1:
        named.append(exp.func("COUNT", exp.Star()).as_("n"))
    pivot = exp.Pivot(
        expressions=named,
        fields=[
            exp.In(
                this=col("cell"),
                expressions=[
                    exp.PivotAlias(this=number(c), alias=exp.to_identifier(f"c{c}")) for c in used
                ],
            )
        ],
    )
    pivot_select = exp.select(exp.Star()).from_(
        exp.Table(
            this=exp.Subquery(
                this=exp.select(col("customer_id"), *(col(m) for m in measures), col("cell")).from_(
                    cells.subquery("cells")
                )
            ),
            pivots=[pivot],
        )
    )

    # 3. Every customer of the CAR; a period's sum is the sum of its bins.
    short = spec["slice_names"]
    out_columns, names = [], []
    for i, lv in enumerate(level_names):
        for measure in grid["measures"]:
            for p in periods:
                sums = {
                    m: _cast(
                        _sum_all(
                            [
                                exp.func(
                                    "COALESCE", col(f"c{i * n_bins + int(b)}_{m}", "g"), number(0)
                                )
                                for b in members[p]
                            ]
                        ),
                        sql_type,
                    )
                    for m in measures
                }
                name = column_name(measure, slice_name, lv, p, short)
                out_columns.append(_derived(measure, sums, sql_type).as_(name))
                names.append(name)
    return per_customer(pivot_select, out_columns, has_customers, as_of), names


def _sum_all(terms: list[exp.Expression]) -> exp.Expression:
    """terms[0] + terms[1] + ... (0 for no terms)."""
    if not terms:
        return number(0)
    total = terms[0]
    for term in terms[1:]:
        total = exp.Add(this=total, expression=term)
    return total


def compute(engine, ctx, levels) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The sales family's columns, computed by a SQL engine, in the CAR's customer order.

    ``levels(ctx, slice)`` gives each slice's levels (the same as the pandas engine's).  The
    engine must hold the accepted source tables.
    """
    shape = FactsShape.of(ctx.source)
    out: dict[str, np.ndarray] = {}
    for grid in ctx.spec["sales"]:
        query, names = grid_query(
            grid,
            levels(ctx, grid["slice"]),
            ctx.spec,
            ctx.as_of,
            shape,
            ctx.source.has("customers"),
        )
        table = run_per_customer(engine, query, ctx, f"the sales grid '{grid['slice']}'")
        dtype = np.float64 if grid["slice"] == "total" else np.float32
        for name in names:
            out[name] = table.column(name).to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    return out
