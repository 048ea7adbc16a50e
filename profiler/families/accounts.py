"""Account and debt: balance, overdue, bad debt written off, portfolio and account manager."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..declarations import declared
from ..features import ColumnDef
from ._util import ratio
from .demographics import lookup

FAMILY = "accounts"
_AMOUNTS = ("credit_limit", "balance", "overdue_amount", "bad_debt_written_off")


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx)


def compute(ctx: CarContext) -> dict[str, Any]:
    accounts = ctx.visible("accounts", "as_of", keep_undated=True)
    if accounts is None:
        return {}
    out: dict[str, Any] = {}
    for name in _AMOUNTS:
        out[name] = lookup(ctx, accounts, name).to_numpy(dtype=np.float64, na_value=np.nan)
    present = pd.Index(
        accounts["customer_id"].astype(str)
        if accounts["customer_id"].dtype != ctx.customer_ids.dtype
        else accounts["customer_id"]
    )
    ids = (
        ctx.customer_ids
        if accounts["customer_id"].dtype == ctx.customer_ids.dtype
        else ctx.customer_ids.astype(str)
    )
    out["has_account"] = present.get_indexer(ids) >= 0
    out["credit_utilisation"] = ratio(
        np.nan_to_num(out["balance"]), np.nan_to_num(out["credit_limit"])
    )
    for name in ("portfolio", "account_manager"):
        out[name] = pd.Categorical(lookup(ctx, accounts, name))
    return out
