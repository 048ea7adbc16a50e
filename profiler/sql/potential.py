"""Potential value with a SQL engine: the engine gives the kept orders, the fit runs here.

BG/NBD + Gamma-Gamma are fitted by numerical optimisation (profiler/clv.py), which is no SQL
aggregate; the engine reduces the order lines to one row per kept order (its customer, time and
kept net GBP), and ``families.potential.from_transactions`` fits and scores exactly as the
pandas engine does.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlglot import exp

from ..families.potential import from_transactions
from .engines import SqlEngine
from .facts import FactsShape, car_facts, case, col, number, pounds
from .lifecycle import FACTS, purchase_orders


def kept_orders(shape: FactsShape, as_of: pd.Timestamp) -> exp.Select:
    """One row per order with a kept line on or before D (``lifecycle.purchase_orders``), with
    net_amount: the exact sum of its kept lines' whole pence, in pounds (see
    ``from_transactions``)."""
    pence = case(col("kept"), col("net_pence"), number(0))
    amount = pounds(exp.func("SUM", pence))
    return purchase_orders(amount.as_("net_amount")).with_(FACTS, as_=car_facts(shape, as_of))


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    table = engine.run(kept_orders(FactsShape.of(ctx.source), ctx.as_of))
    ids = table.column("customer_id").to_numpy()
    rows = ctx.codes_of(ids)
    if len(rows) and rows.min() < 0:
        raise AssertionError(f"{engine.name}: kept orders of customers outside the CAR")
    transactions = pd.DataFrame(
        {
            "customer_id": rows,
            "ordered_at": table.column("ordered_at").to_numpy().astype("datetime64[ns]"),
            "net_amount": table.column("net_amount").to_numpy(),
        }
    )
    return from_transactions(ctx, transactions)
