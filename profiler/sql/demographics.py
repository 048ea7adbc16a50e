"""Demographics and enrichment in SQL: the same columns as profiler/families/demographics.py.

One query: the CAR's customers joined to their customer record and their enrichment row (both
tables have one row per customer and are not cut at D, as in the pandas family).  Keys whose
types differ are compared as text, as ``families.demographics.lookup`` does.

Age is D's year less the birth year; its band is the last band of templates/features.yaml whose
[low, high) holds it (the pandas family assigns the bands in order), else ``unknown``.  Text
columns keep their source column's categories, in their order (``side_tables.source_categories``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlglot import exp

from ..families.demographics import _CUSTOMER_COLUMNS, _ENRICHMENT_COLUMNS
from .customers import run_per_customer
from .engines import SqlEngine
from .facts import col, number
from .side_tables import (
    LOOKUP,
    Side,
    categorical,
    codes,
    days_to_d,
    floats,
    per_customer_sides,
    side,
    source_categories,
    texts,
)


def _rows(table: str, names: list[str], extra: list[exp.Expression]) -> exp.Select:
    return exp.select(
        col("customer_id"),
        *(exp.cast(col(name), "VARCHAR").as_(name) for name in names),
        *extra,
    ).from_(table)


def _age_band(age: exp.Expression, bands: list[list[Any]]) -> exp.Expression:
    """Index of the age's band, the last matching one first; ``len(bands)`` (unknown) if none."""
    band = exp.Case()
    for j in reversed(range(len(bands))):
        low, high = bands[j][0], bands[j][1]
        band = band.when(
            exp.and_(
                exp.GTE(this=age.copy(), expression=number(low)),
                exp.LT(this=age.copy(), expression=number(high)),
            ),
            number(j),
        )
    return band.else_(number(len(bands))) if bands else number(0)


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    """The demographics family's columns, computed by a SQL engine, in the CAR's customer order."""
    sides: list[Side] = []
    columns: list[exp.Expression] = []
    customer_names, enrichment_names = list(_CUSTOMER_COLUMNS), list(_ENRICHMENT_COLUMNS)
    if ctx.source.has("customers"):
        birth = exp.cast(col("birth_year"), "DOUBLE")
        age = exp.Sub(this=exp.cast(number(ctx.as_of.year), "DOUBLE"), expression=birth)
        extra = [
            age.as_("age"),
            _age_band(exp.paren(age.copy()), ctx.spec["age_bands"]).as_("age_band"),
            days_to_d(col("created_at"), ctx.as_of).as_("crm_tenure_days"),
        ]
        sides.append(
            side(engine, ctx, "customers", _rows("customers", customer_names, extra), "c", LOOKUP)
        )
        columns += [col(name, "c").as_(name) for name in customer_names]
        columns += [
            col("age", "c").as_("age"),
            # Customers without a record have no age: unknown.
            exp.func("COALESCE", col("age_band", "c"), number(len(ctx.spec["age_bands"]))).as_(
                "age_band"
            ),
            col("crm_tenure_days", "c").as_("crm_tenure_days"),
        ]
    if ctx.source.has("enrichment"):
        sides.append(
            side(engine, ctx, "enrichment", _rows("enrichment", enrichment_names, []), "x", LOOKUP)
        )
        columns += [col(name, "x").as_(name) for name in enrichment_names]
    if not sides:
        return {}
    table = run_per_customer(engine, per_customer_sides(ctx, columns, sides), ctx, "demographics")
    out: dict[str, Any] = {}
    if ctx.source.has("customers"):
        for name in customer_names:
            dtype = source_categories(ctx, "customers", name)
            out[name] = categorical(texts(table, name), dtype)
        labels = [b[2] for b in ctx.spec["age_bands"]] + ["unknown"]
        out["age"] = floats(table, "age")
        out["age_band"] = pd.Categorical.from_codes(codes(table, "age_band"), categories=labels)
        out["crm_tenure_days"] = floats(table, "crm_tenure_days")
    if ctx.source.has("enrichment"):
        for name in enrichment_names:
            dtype = source_categories(ctx, "enrichment", name)
            out[name] = categorical(texts(table, name), dtype)
    return out
