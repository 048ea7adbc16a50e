"""Account and debt in SQL: the same columns as profiler/families/accounts.py.

One query: the CAR's customers joined to their account snapshot known at D (dated on or before D,
or undated).  The accounts table has one row per customer (its key), so no row has to be chosen.
Keys whose types differ are compared as text, as ``families.demographics.lookup`` does.
Portfolio and account manager keep their source column's categories, in their order
(``side_tables.source_categories``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlglot import exp

from ..families.accounts import _AMOUNTS
from .customers import run_per_customer
from .engines import SqlEngine
from .facts import col, number, ratio
from .side_tables import (
    LOOKUP,
    categorical,
    flags,
    floats,
    known_at,
    per_customer_sides,
    side,
    source_categories,
    texts,
)

_TEXTS = ("portfolio", "account_manager")


def _known_accounts(as_of: pd.Timestamp) -> exp.Select:
    return (
        exp.select(
            col("customer_id"),
            *(exp.cast(col(name), "DOUBLE").as_(name) for name in _AMOUNTS),
            *(exp.cast(col(name), "VARCHAR").as_(name) for name in _TEXTS),
        )
        .from_("accounts")
        .where(known_at("as_of", as_of, keep_undated=True))
    )


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    """The accounts family's columns, computed by a SQL engine, in the CAR's customer order
    (nothing when the accounts table is missing)."""
    if not ctx.source.has("accounts"):
        return {}
    sides = [side(engine, ctx, "accounts", _known_accounts(ctx.as_of), "a", LOOKUP)]
    zero = number(0)
    columns = [
        *(col(name, "a").as_(name) for name in _AMOUNTS),
        exp.Not(this=exp.Is(this=col("customer_id", "a"), expression=exp.null())).as_(
            "has_account"
        ),
        # Missing amounts count as 0 (np.nan_to_num), so no limit gives no utilisation.
        ratio(
            exp.func("COALESCE", col("balance", "a"), zero),
            exp.func("COALESCE", col("credit_limit", "a"), zero.copy()),
        ).as_("credit_utilisation"),
        *(col(name, "a").as_(name) for name in _TEXTS),
    ]
    table = run_per_customer(engine, per_customer_sides(ctx, columns, sides), ctx, "accounts")
    out: dict[str, Any] = {name: floats(table, name) for name in _AMOUNTS}
    out["has_account"] = flags(table, "has_account")
    out["credit_utilisation"] = floats(table, "credit_utilisation")
    for name in _TEXTS:
        out[name] = categorical(texts(table, name), source_categories(ctx, "accounts", name))
    return out
