"""Preferences and contactability: opt-ins by channel and topic, contactable flag, consent age."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..contract import OPT_IN_CHANNELS, TOPICS
from ..declarations import declared
from ..features import ColumnDef
from ._util import category_codes, days_between, take

FAMILY = "preferences"
_FLAGS = (
    [f"opt_in_{c}" for c in OPT_IN_CHANNELS]
    + [f"topic_{t.replace(' ', '_')}" for t in TOPICS]
    + ["contactable"]
)


def columns(ctx: CarContext) -> list[ColumnDef]:
    from ..contract import TABLES

    table = TABLES["preferences"]
    flags = [{"flag": f, "about": table.column(f).description} for f in _FLAGS]
    return declared(FAMILY, ctx, flag=flags)


def summarize(ctx: CarContext) -> list[str]:
    """The departments this part's preference rows name: the column's categories when it has
    them (a loaded table's, the same in every part), else the values present."""
    if not ctx.source.has("preferences"):
        return []
    dept = ctx.source.tables["preferences"]["preferred_department"]
    if isinstance(dept.dtype, pd.CategoricalDtype):
        return [str(c) for c in dept.cat.categories]
    return sorted(dept.dropna().astype(str).unique())


def reduce(parts: list[list[str]], spec: dict[str, Any]) -> list[str]:
    """Every part's labels: one list when the parts agree (slices of one loaded table), else
    the sorted union."""
    lists = [p for p in parts if p]
    if lists and all(p == lists[0] for p in lists):
        return lists[0]
    return sorted({d for p in lists for d in p})


def compute(ctx: CarContext) -> dict[str, Any]:
    prefs = ctx.visible("preferences", "consent_updated_at", keep_undated=True)
    if prefs is None:
        return {}
    codes = ctx.codes_of(prefs["customer_id"])
    ok = codes >= 0
    row = np.full(ctx.n, -1, dtype=np.int64)
    row[codes[ok]] = np.flatnonzero(ok)
    out: dict[str, Any] = {}
    for flag in _FLAGS:
        values = prefs[flag].astype("boolean").to_numpy(dtype=np.float64, na_value=np.nan)
        picked = take(values, row)
        out[flag] = pd.array(np.where(np.isnan(picked), None, picked == 1), dtype="boolean")
    any_channel = np.zeros(ctx.n, dtype=bool)
    for c in OPT_IN_CHANNELS:
        any_channel |= out[f"opt_in_{c}"].fillna(False).to_numpy(dtype=bool)
    out["contactable_any_channel"] = (
        out["contactable"].fillna(False).to_numpy(dtype=bool) & any_channel
    )
    labels = ctx.globals["preferences"]
    codes_dept = category_codes(prefs["preferred_department"], labels)
    picked = take(codes_dept.astype(np.float64), row, missing=-1)
    out["preferred_department"] = pd.Categorical.from_codes(
        np.nan_to_num(picked, nan=-1).astype(np.int64), categories=labels
    )
    out["consent_age_days"] = days_between(
        ctx.as_of, take(prefs["consent_updated_at"].to_numpy(), row)
    )
    return out
