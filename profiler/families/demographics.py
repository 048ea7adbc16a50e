"""Demographics and enrichment: age and age band, home country, region, wealth band, Mosaic group and type."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..declarations import declared
from ..features import ColumnDef

FAMILY = "demographics"
_CUSTOMER_COLUMNS = ("home_country", "home_store", "preferred_language", "gender")
_ENRICHMENT_COLUMNS = ("region", "city", "wealth_band", "mosaic_group", "mosaic_type")


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx)


def lookup(ctx: CarContext, frame: pd.DataFrame, column: str) -> pd.Series | pd.Categorical:
    """Per-customer value of a one-row-per-customer table's column (missing where no row)."""
    series = frame.set_index("customer_id")[column]
    ids = ctx.customer_ids
    if series.index.dtype != ids.dtype:
        series.index = series.index.astype(str)
        ids = ids.astype(str)
    return series.reindex(ids)


def compute(ctx: CarContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    customers = ctx.source.tables.get("customers")
    if customers is not None:
        for name in _CUSTOMER_COLUMNS:
            out[name] = pd.Categorical(lookup(ctx, customers, name))
        birth = lookup(ctx, customers, "birth_year").to_numpy(dtype=np.float64, na_value=np.nan)
        age = ctx.as_of.year - birth
        labels = [b[2] for b in ctx.spec["age_bands"]] + ["unknown"]
        band = np.full(len(age), len(labels) - 1)
        for j, (lo, hi, _label) in enumerate(ctx.spec["age_bands"]):
            band[(age >= lo) & (age < hi)] = j
        out["age"] = age
        out["age_band"] = pd.Categorical.from_codes(band, categories=labels)
        created = lookup(ctx, customers, "created_at").to_numpy(dtype="datetime64[ns]")
        from ._util import days_between

        out["crm_tenure_days"] = days_between(ctx.as_of, created)
    enrichment = ctx.source.tables.get("enrichment")
    if enrichment is not None:
        for name in _ENRICHMENT_COLUMNS:
            out[name] = pd.Categorical(lookup(ctx, enrichment, name))
    return out
