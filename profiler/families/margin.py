"""Margin: cost of goods, gross margin and margin rate of each customer's kept lines.

Only when the data gives a cost of goods (``profiler/margin.py``: order_lines.cost, else
quantity x products.unit_cost); else the family is left out with ``margin.NOTE``.  Kept lines
only, as spend counts them (a returned or cancelled line brings neither sales nor cost), and
only the lines whose cost is known (the rest are in neither side of the margin).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import margin
from ..car_context import CarContext
from ..declarations import declared
from ..facts import PENCE
from ..features import ColumnDef
from ._util import ratio

FAMILY = "margin"
LEFT_OUT = f"left out: {margin.NOTE}"
PERIODS = ("ltd", "l12m")


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx) if margin.has_cost(ctx.source) else []


def totals(ctx: CarContext) -> dict[str, np.ndarray]:
    """Per customer and period (ltd, l12m): cost, costed sales and margin in pounds (summed
    in whole pence); computed once per part."""
    if "margin_totals" not in ctx.cache:
        facts = ctx.facts
        costed = ctx.kept & facts["costed"].to_numpy(dtype=bool)
        net = facts["net_pence"].to_numpy(dtype=np.float64)
        cost = facts["cost_pence"].to_numpy(dtype=np.float64)
        out: dict[str, np.ndarray] = {}
        for period in PERIODS:
            rows = costed if period == "ltd" else costed & ctx.line_mask(period)
            codes = ctx.cust[rows]
            sales = np.bincount(codes, weights=net[rows], minlength=ctx.n)
            spent = np.bincount(codes, weights=cost[rows], minlength=ctx.n)
            out[f"costed_sales_{period}"] = sales / PENCE
            out[f"cost_{period}"] = spent / PENCE
            out[f"margin_{period}"] = (sales - spent) / PENCE
        ctx.cache["margin_totals"] = out
    return ctx.cache["margin_totals"]


def compute(ctx: CarContext) -> dict[str, Any]:
    t = totals(ctx)
    out: dict[str, Any] = {}
    for period in PERIODS:
        out[f"cost_{period}"] = t[f"cost_{period}"]
        out[f"margin_{period}"] = t[f"margin_{period}"]
        out[f"margin_rate_{period}"] = ratio(t[f"margin_{period}"], t[f"costed_sales_{period}"])
    return out
