"""Preferences and contactability: opt-ins by channel and topic, contactable flag, consent age."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..contract import OPT_IN_CHANNELS, TOPICS
from ..features import ColumnDef
from ._util import days_between, take

FAMILY = "preferences"
_SRC = ("preferences",)
_FLAGS = (
    [f"opt_in_{c}" for c in OPT_IN_CHANNELS]
    + [f"topic_{t.replace(' ', '_')}" for t in TOPICS]
    + ["contactable"]
)


def columns(ctx: CarContext) -> list[ColumnDef]:
    if not ctx.source.has("preferences"):
        return []
    from ..contract import TABLES

    spec = TABLES["preferences"]
    out = [
        ColumnDef(
            f,
            FAMILY,
            spec.column(f).description + " Empty when no consent record is known at D.",
            "flag",
            _SRC,
        )
        for f in _FLAGS
    ]
    out += [
        ColumnDef(
            "contactable_any_channel",
            FAMILY,
            "Contactable and opted in to at least one channel.",
            "flag",
            _SRC,
        ),
        ColumnDef(
            "preferred_department", FAMILY, "Department the customer prefers.", "category", _SRC
        ),
        ColumnDef(
            "consent_age_days",
            FAMILY,
            "Days since consent was last given or changed.",
            "days",
            _SRC,
        ),
    ]
    return out


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
    dept = prefs["preferred_department"]
    labels = (
        list(dept.cat.categories)
        if isinstance(dept.dtype, pd.CategoricalDtype)
        else sorted(dept.dropna().astype(str).unique())
    )
    codes_dept = (
        dept.cat.codes.to_numpy()
        if isinstance(dept.dtype, pd.CategoricalDtype)
        else pd.Index(labels).get_indexer(dept.astype(str))
    )
    picked = take(codes_dept.astype(np.float64), row, missing=-1)
    out["preferred_department"] = pd.Categorical.from_codes(
        np.nan_to_num(picked, nan=-1).astype(np.int64), categories=labels
    )
    out["consent_age_days"] = days_between(
        ctx.as_of, take(prefs["consent_updated_at"].to_numpy(), row)
    )
    return out
