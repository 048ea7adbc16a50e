"""Demographics and enrichment: age and age band, home country, region, wealth band, Mosaic group and type."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..features import ColumnDef

FAMILY = "demographics"
_CUSTOMER_COLUMNS = {
    "home_country": "Country of residence.",
    "home_store": "Store the customer is attached to.",
    "preferred_language": "Preferred language.",
    "gender": "Self-declared gender.",
}
_ENRICHMENT_COLUMNS = {
    "region": "Region of residence (enrichment).",
    "city": "City of residence (enrichment).",
    "wealth_band": "Estimated wealth band (enrichment).",
    "mosaic_group": "Geo-demographic (Mosaic-like) group.",
    "mosaic_type": "Geo-demographic (Mosaic-like) type within the group.",
}


def columns(ctx: CarContext) -> list[ColumnDef]:
    out: list[ColumnDef] = []
    if ctx.source.has("customers"):
        c = ("customers",)
        out += [
            ColumnDef(name, FAMILY, text, "category", c) for name, text in _CUSTOMER_COLUMNS.items()
        ]
        bands = ctx.spec["age_bands"]
        out += [
            ColumnDef(
                "age", FAMILY, "Age in whole years at D (D's year less birth year).", "years", c
            ),
            ColumnDef(
                "age_band",
                FAMILY,
                "Age band: " + ", ".join(b[2] for b in bands) + ", or unknown.",
                "category",
                c,
                {"bands": bands},
            ),
            ColumnDef(
                "crm_tenure_days",
                FAMILY,
                "Days from the customer record's creation to D.",
                "days",
                c,
            ),
        ]
    if ctx.source.has("enrichment"):
        out += [
            ColumnDef(name, FAMILY, text, "category", ("enrichment",))
            for name, text in _ENRICHMENT_COLUMNS.items()
        ]
    return out


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
