"""Order facts: accepted order lines joined to their product, in the reporting currency.

The one table the CAR, the metric catalog and the reconciliation all compute sales from, so a
sales figure means the same everywhere.  Columns:

customer_id, order_id, line_id, ordered_at, channel, store_id, country, product_id, category,
sub_category, department, collection, price_point, launch_date, quantity, discount, currency,
status, returned_at, net_gbp (amount paid, GBP at the line's daily rate), gross_gbp (list value
before discount, GBP), month (first day of the order month, datetime64).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .calendar_parts import month_start
from .contract import TABLES
from .loading import SourceData

PRODUCT_ATTRIBUTES = (
    "category",
    "sub_category",
    "department",
    "collection",
    "price_point",
    "launch_date",
)


def order_facts(source: SourceData) -> pd.DataFrame:
    """Order lines with product attributes and GBP amounts (see the module docstring)."""
    lines = source.tables["order_lines"]
    # Copy-on-write (pandas 3): the loaded columns are shared, not copied; new ones are added.
    facts = lines.drop(columns=["_row", "unit_price", "net_amount", "fx_to_reporting"])
    fx = lines["fx_to_reporting"].to_numpy(dtype=np.float64)
    facts["net_gbp"] = lines["net_amount"].to_numpy(dtype=np.float64) * fx
    if source.has_column("order_lines", "unit_price"):
        list_value = (
            lines["quantity"].to_numpy(dtype=np.float64)
            * lines["unit_price"].to_numpy(dtype=np.float64)
            * fx
        )
        facts["gross_gbp"] = np.where(np.isnan(list_value), facts["net_gbp"], list_value)
    else:
        keep = 1.0 - lines["discount"].to_numpy(dtype=np.float64)
        facts["gross_gbp"] = np.divide(
            facts["net_gbp"], keep, out=facts["net_gbp"].to_numpy().copy(), where=keep > 0
        )
    _attach_products(facts, source)
    facts["month"] = month_start(facts["ordered_at"].to_numpy()).astype("datetime64[ns]")
    return facts


def _attach_products(facts: pd.DataFrame, source: SourceData) -> None:
    spec = TABLES["products"]
    if source.has("products"):
        products = source.tables["products"].set_index("product_id")
        ids = facts["product_id"]
        if ids.dtype != products.index.dtype:
            products.index = products.index.astype(str)
            ids = ids.astype(str)
        position = products.index.get_indexer(ids)
        found = position >= 0
        for name in PRODUCT_ATTRIBUTES:
            column = products[name]
            if isinstance(column.dtype, pd.CategoricalDtype):
                codes = np.where(found, column.cat.codes.to_numpy()[np.maximum(position, 0)], -1)
                default = spec.column(name).default
                cats = list(column.cat.categories)
                if default is not None and default not in cats:
                    cats.append(default)
                if default is not None:
                    codes = np.where(codes < 0, cats.index(default), codes)
                facts[name] = pd.Categorical.from_codes(codes, categories=cats)
            else:
                values = column.to_numpy()[np.maximum(position, 0)]
                facts[name] = pd.Series(values).where(found).to_numpy()
    else:
        for name in PRODUCT_ATTRIBUTES:
            default = spec.column(name).default
            facts[name] = (
                pd.Categorical(np.repeat(np.array([default], dtype=object), len(facts)))
                if default is not None
                else pd.NaT
            )
