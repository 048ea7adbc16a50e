"""Margin: the cost of each order line, and whether this data can give one.

The contract has two optional cost sources (docs/data-contract.md):

- ``order_lines.cost``: the cost of goods of the whole line, in the line's currency (converted
  to GBP at the line's daily rate, like ``net_amount``);
- ``products.unit_cost``: the cost of one unit, in GBP; the line's cost is quantity x unit cost.

**The line cost rule** (one place: ``line_cost``).  A line's cost is its ``order_lines.cost``
when that is given (non-empty), else quantity x its product's ``unit_cost`` when that is known,
else the line has no known cost.  The cost is rounded to whole pence at the line, half away
from zero, like every amount (``facts.to_minor_units``).  A line without a known cost is not
"free": it is left out of both sides of the margin, so gross margin is the net sales of the
kept lines *with* a known cost less their cost (``costed_sales - cost_of_sales``), and the
catalog's ``cost_coverage`` says what share of net sales the margin covers.  Returned and
cancelled lines are treated exactly as net sales treats them: the margin metrics and CAR
columns count kept lines only (status completed as of D), so a returned or cancelled line
brings neither its sales nor its cost.

When neither cost source was provided the order facts have no cost columns, and the margin
metrics (``QueryEngine.left_out_metric``), the CAR's margin family and a margin basis for the
strategy segments are left out with ``NOTE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from .loading import SourceData

# Columns the order facts gain when a cost is known: cost in whole pence (0 without a known
# cost), in pounds, and whether the line's cost is known.
COST_COLUMNS = ("cost_pence", "cost_gbp", "costed")
NOTE = "needs a cost of goods (products.unit_cost or order_lines.cost), which the data did not have"


def has_cost(source: SourceData) -> bool:
    """True when the data gives a cost for some lines: order_lines.cost or products.unit_cost
    came from the source files (not from a default)."""
    return source.has_column("order_lines", "cost") or source.has_column("products", "unit_cost")


def unit_costs(source: SourceData, product_ids: pd.Series) -> np.ndarray:
    """Each line's product unit cost in GBP (NaN: no products table, no unit_cost column, an
    unknown product or an empty cost)."""
    n = len(product_ids)
    if not source.has_column("products", "unit_cost"):
        return np.full(n, np.nan)
    products = source.tables["products"]
    index = products["product_id"]
    ids = product_ids
    if ids.dtype != index.dtype:
        index, ids = index.astype(str), ids.astype(str)
    position = pd.Index(index).get_indexer(ids)
    cost = products["unit_cost"].to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(position >= 0, cost[np.maximum(position, 0)], np.nan)


def line_cost(
    source: SourceData,
    product_ids: pd.Series,
    quantity: np.ndarray,
    fx: np.ndarray,
    line_cost_column: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(amount, rate, known) per line, by the module's rule: order_lines.cost at the line's
    rate when given, else quantity x products.unit_cost (GBP, rate 1), else unknown (amount 0,
    known False).  ``facts.order_facts`` turns amount x rate into whole pence."""
    n = len(product_ids)
    from_product = np.asarray(quantity, dtype=np.float64) * unit_costs(source, product_ids)
    rate = np.ones(n)
    amount = from_product
    if line_cost_column is not None:
        given = ~np.isnan(line_cost_column)
        amount = np.where(given, line_cost_column, from_product)
        rate = np.where(given, fx, 1.0)
    known = ~np.isnan(amount)
    return np.where(known, amount, 0.0), rate, known


def current_value_fallback(spec: dict, source: SourceData) -> str | None:
    """Why the strategy segments' current value is spend although features.yaml asks for margin
    (``strategy_segments.current_value_basis``); None when it is as asked."""
    asked = spec["strategy_segments"].get("current_value_basis", "spend") == "margin"
    if asked and not has_cost(source):
        return f"current value is spend, not margin as features.yaml asks: margin {NOTE}"
    return None
