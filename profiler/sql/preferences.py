"""Preferences and contactability in SQL: the same columns as profiler/families/preferences.py.

One query: the CAR's customers joined to their consent record known at D (dated before D + 1 day,
or undated).  The preferences table has one row per customer (its key; the loader quarantines
duplicates), so no row has to be chosen.  Flags are empty (<NA>) without a record known at D.

The preferred department keeps the source column's categories, in their order
(``side_tables.source_categories``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlglot import exp

from ..contract import OPT_IN_CHANNELS
from ..families.preferences import _FLAGS
from .customers import run_per_customer
from .engines import SqlEngine
from .facts import col
from .side_tables import (
    CODES,
    booleans,
    days_to_d,
    flags,
    floats,
    known_at,
    per_customer_sides,
    side,
    source_categories,
    texts,
)

DEPARTMENT = "preferred_department"


def _known_records(as_of: pd.Timestamp) -> exp.Select:
    return (
        exp.select(
            col("customer_id"),
            *(col(flag) for flag in _FLAGS),
            exp.cast(col(DEPARTMENT), "VARCHAR").as_(DEPARTMENT),
            days_to_d(col("consent_updated_at"), as_of).as_("consent_age_days"),
        )
        .from_("preferences")
        .where(known_at("consent_updated_at", as_of, keep_undated=True))
    )


def _department_labels(engine: SqlEngine, ctx: Any) -> list[str]:
    """The pandas family's labels: the column's categories, or (a column that is not categorical)
    the sorted values of the records known at D."""
    dtype = source_categories(ctx, "preferences", DEPARTMENT)
    if dtype is not None:
        return list(dtype.categories)
    value = exp.cast(col(DEPARTMENT), "VARCHAR")
    query = (
        exp.select(value.as_(DEPARTMENT))
        .distinct()
        .from_("preferences")
        .where(
            exp.and_(
                known_at("consent_updated_at", ctx.as_of, keep_undated=True),
                exp.Not(this=exp.Is(this=value.copy(), expression=exp.null())),
            )
        )
    )
    return sorted(str(v) for v in texts(engine.run(query), DEPARTMENT))


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    """The preferences family's columns, computed by a SQL engine, in the CAR's customer order
    (nothing when the preferences table is missing)."""
    if not ctx.source.has("preferences"):
        return {}
    sides = [side(engine, ctx, "preferences", _known_records(ctx.as_of), "p", CODES)]
    any_channel = exp.or_(
        *(exp.func("COALESCE", col(f"opt_in_{c}", "p"), exp.false()) for c in OPT_IN_CHANNELS)
    )
    contactable = exp.and_(
        exp.func("COALESCE", col("contactable", "p"), exp.false()), exp.paren(any_channel)
    )
    columns = [
        *(col(flag, "p").as_(flag) for flag in _FLAGS),
        exp.func("COALESCE", contactable, exp.false()).as_("contactable_any_channel"),
        col(DEPARTMENT, "p").as_(DEPARTMENT),
        col("consent_age_days", "p").as_("consent_age_days"),
    ]
    table = run_per_customer(engine, per_customer_sides(ctx, columns, sides), ctx, "preferences")
    out: dict[str, Any] = {flag: booleans(table, flag) for flag in _FLAGS}
    out["contactable_any_channel"] = flags(table, "contactable_any_channel")
    labels = _department_labels(engine, ctx)
    department = pd.Index(labels).get_indexer(texts(table, DEPARTMENT))
    out[DEPARTMENT] = pd.Categorical.from_codes(department.astype(np.int64), categories=labels)
    out["consent_age_days"] = floats(table, "consent_age_days")
    return out
