"""Order facts as of a day D: accepted order lines joined to their product, in the reporting
currency, each line in the state it was in at the end of D.

The one table the CAR, the activity table, the metric catalog and the reconciliation compute
sales from (``order_facts``), so a sales figure means the same everywhere; profiler/sql/facts.py
writes the same rules in SQL.  Two rules live here and nowhere else:

- **As of D** (``state_as_of``): only lines ordered on or before D exist; a line returned after
  D is a completed line as of D (its ``returned_at`` is empty); a return on or before D is a
  return.  Cancelled lines carry no date in the contract, so a cancelled line is cancelled from
  the start.  ``as_of=None`` is the data as it stands: every line and every return.
- **Money** (``to_minor_units``): an amount is converted to GBP at the line and rounded there to
  whole pence, half away from zero (see docs/data-contract.md); every total is a sum of those
  whole pence, so it is exact, and shown as pence / 100.

Columns: customer_id, order_id, line_id, ordered_at, channel, store_id, country, product_id,
category, sub_category, department, collection, price_point, launch_date, quantity, discount,
currency, net_amount (paid, in the line currency), status and returned_at (as of D), net_pence
and gross_pence (int64: amount paid and list value before discount, in whole pence of GBP at the
line's daily rate), net_gbp and gross_gbp (the same in pounds, pence / 100), month (first day of
the order month, datetime64).  When the data gives a cost of goods (profiler/margin.py):
cost_pence, cost_gbp and costed (the line's cost is known).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from .calendar_parts import month_start
from .contract import TABLES
from .loading import SourceData
from .margin import has_cost, line_cost

PRODUCT_ATTRIBUTES = (
    "category",
    "sub_category",
    "department",
    "collection",
    "price_point",
    "launch_date",
)
# Money columns of the facts (pounds, for reading and filtering) and their whole pence, which
# every sum of money adds up instead.
MONEY_COLUMNS = {"net_gbp": "net_pence", "gross_gbp": "gross_pence", "cost_gbp": "cost_pence"}
PENCE = 100  # minor units per pound
# How far from a half penny a product amount x rate x 100 may land through binary floating
# point and still be taken as the half (4 units in the last place; a decimal amount and rate
# multiplied in doubles are off by at most about 3).
HALF_TOLERANCE = 2.0**-50
DAY = pd.Timedelta(days=1)


def to_minor_units(amount: np.ndarray, rate: np.ndarray | float = 1.0) -> np.ndarray:
    """``amount x rate`` in whole pence (int64), rounded half away from zero.

    ``amount x rate x 100`` is computed in doubles (in this order: SQL engines compute the same
    bits, ``profiler/sql/facts.py: minor_units``).  A decimal such as 10.005 has no exact double
    (it is stored as 10.00499999...), so a value within ``HALF_TOLERANCE`` (relative) below a
    half penny counts as the half: 10.005 -> 1001 pence, -10.005 -> -1001, 0.125 x 1 -> 13.
    """
    amount = np.ascontiguousarray(amount, dtype=np.float64)
    rates = np.broadcast_to(np.asarray(rate, dtype=np.float64), amount.shape)
    out = np.empty(amount.shape, dtype=np.int64)
    _minor_units(amount.ravel(), np.ascontiguousarray(rates).ravel(), out.ravel())
    return out


@njit(cache=True, nogil=True)
def _minor_units(amount, rate, out):  # noqa: ANN001, ANN202
    """One pass, no temporaries (20M lines would need ~1 GB of them in numpy); IEEE doubles as
    numpy and the SQL engines compute them (no fast-math: nothing fused or reordered)."""
    for i in range(len(amount)):
        value = amount[i] * rate[i] * PENCE
        size = abs(value)
        whole = np.floor(size)
        pence = whole + 1.0 if size - whole >= 0.5 - size * HALF_TOLERANCE else whole
        out[i] = int(-pence if value < 0 else pence)


def pence_column(source: str | None, column: str | None) -> str | None:
    """The whole-pence column to sum for a metric reading ``column`` of ``source`` (None: not
    money)."""
    return MONEY_COLUMNS.get(column or "") if source == "order_lines" else None


def pounds(pence: np.ndarray | int) -> np.ndarray | float:
    """Whole pence as pounds: the double nearest the exact decimal (pence / 100)."""
    return np.asarray(pence, dtype=np.float64) / PENCE


def state_as_of(
    ordered_at: np.ndarray,
    status: pd.Series,
    returned_at: np.ndarray,
    as_of: pd.Timestamp | None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """The as-of rule for order lines: which lines exist at the end of D (None: all of them) and
    which are returned lines that had not come back by then (their status as of D is
    ``completed`` and their ``returned_at`` empty)."""
    returned = (status == "returned").to_numpy(dtype=bool, na_value=False)
    if as_of is None:
        return None, np.zeros(len(returned), dtype=bool)
    cutoff = np.datetime64(pd.Timestamp(as_of).normalize() + DAY, "ns")
    known = ordered_at < cutoff
    not_back = returned & ~(returned_at < cutoff)  # an empty returned_at is not back either
    return (None if known.all() else known), not_back


def order_facts(source: SourceData, as_of: pd.Timestamp | str | None = None) -> pd.DataFrame:
    """Order lines with product attributes and GBP amounts, as of the end of day ``as_of``
    (see the module docstring); ``None``: the data as it stands."""
    lines = source.tables["order_lines"]
    as_of = pd.Timestamp(as_of).normalize() if as_of is not None else None
    known, not_back = state_as_of(
        lines["ordered_at"].to_numpy(), lines["status"], lines["returned_at"].to_numpy(), as_of
    )
    # Copy-on-write (pandas 3): the loaded columns are shared, not copied; new ones are added.
    dropped = ["_row", "unit_price", "fx_to_reporting", "cost"]
    facts = lines.drop(columns=[c for c in dropped if c in lines])
    if known is not None:
        facts = facts[known].reset_index(drop=True)
        not_back = not_back[known]

    def column(name: str) -> np.ndarray:
        values = lines[name].to_numpy(dtype=np.float64)
        return values if known is None else values[known]

    if not_back.any():
        facts["status"] = _as_completed(facts["status"], not_back)
        facts["returned_at"] = facts["returned_at"].mask(not_back)
    fx, net = column("fx_to_reporting"), column("net_amount")
    facts["net_pence"] = to_minor_units(net, fx)
    if source.has_column("order_lines", "unit_price"):
        list_value = column("quantity") * column("unit_price")
        gross = np.where(np.isnan(list_value), net, list_value)
    else:
        keep = 1.0 - column("discount")
        gross = np.divide(net, keep, out=net.copy(), where=keep > 0)
    facts["gross_pence"] = to_minor_units(gross, fx)
    facts["net_gbp"] = pounds(facts["net_pence"].to_numpy())
    facts["gross_gbp"] = pounds(facts["gross_pence"].to_numpy())
    if has_cost(source):  # profiler/margin.py: the line cost rule
        given = column("cost") if source.has_column("order_lines", "cost") else None
        amount, rate, known = line_cost(source, facts["product_id"], column("quantity"), fx, given)
        facts["cost_pence"] = to_minor_units(amount, rate)
        facts["cost_gbp"] = pounds(facts["cost_pence"].to_numpy())
        facts["costed"] = known
    _attach_products(facts, source)
    facts["month"] = month_start(facts["ordered_at"].to_numpy()).astype("datetime64[ns]")
    return facts


def _as_completed(status: pd.Series, which: np.ndarray) -> pd.Series:
    """``status`` with the chosen lines set to ``completed`` (categories kept)."""
    if not isinstance(status.dtype, pd.CategoricalDtype):
        return status.mask(which, "completed")
    if "completed" not in status.cat.categories:
        status = status.cat.add_categories(["completed"])
    codes = status.cat.codes.to_numpy().copy()
    codes[which] = list(status.cat.categories).index("completed")
    return pd.Series(pd.Categorical.from_codes(codes, dtype=status.dtype), index=status.index)


def data_end(source: SourceData) -> pd.Timestamp:
    """The last day in the order lines: the latest order or return, so facts as of it hold
    every line and every return the data knows."""
    last = source.latest("order_lines", "ordered_at")
    if source.has_column("order_lines", "returned_at"):
        back = source.latest("order_lines", "returned_at")
        if pd.notna(back):
            last = max(last, back)
    return pd.Timestamp(last).normalize()


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
