"""Objection to profiling (GDPR art. 21): the ``profiling_opt_out`` flag, and the scores withheld.

A customer whose preferences row says ``profiling_opt_out`` keeps every descriptive fact (spend,
orders, recency, lifecycle, value tier: they feed the anonymous totals, which do not change) but
gets no per-customer score or profile: the BG/NBD / Gamma-Gamma outputs, the potential value
tier, the RFM scores and segment, the engagement score and band and the strategy segment are
blank (``withhold``), and personas skip them (profiler/personas.py).  The models are still
FITTED on everyone and the ranks still count everyone: a fit or a tier cut is an aggregate, and
fitting on all keeps every other customer's values exactly as in a build where nobody objected.
Only the result for the customer who objected is withheld.

The flag is the preferences row as loaded, whatever the as-of date: an objection applies to
every build made after it, including one of a past date.  Without a preferences table nobody
has objected (False).  ``withhold`` runs in ``car.compute_part``, which the in-memory,
out-of-core and Spark builds all go through, so their CARs stay identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..declarations import declared
from ..features import ColumnDef

FAMILY = "privacy"
COLUMN = "profiling_opt_out"

# Families whose every column is a model score, and single scores or profiles of other families.
WITHHELD_FAMILIES = ("potential",)
WITHHELD_COLUMNS = (
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_score",
    "rfm_segment",
    "engagement_score",
    "engagement_band",
    "strategy_segment",
)
REASON = "objected to profiling (preferences.profiling_opt_out)"


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx)


def compute(ctx: CarContext) -> dict[str, Any]:
    return {COLUMN: opted_out(ctx)}


def opted_out(ctx: CarContext) -> np.ndarray:
    """True for each customer whose preferences row objects to profiling (any date)."""
    flags = np.zeros(ctx.n, dtype=bool)
    if not ctx.source.has("preferences"):
        return flags
    prefs = ctx.source.tables["preferences"]
    if COLUMN not in prefs.columns:
        return flags
    codes = ctx.codes_of(prefs["customer_id"])
    yes = prefs[COLUMN].astype("boolean").fillna(False).to_numpy(dtype=bool) & (codes >= 0)
    flags[codes[yes]] = True
    return flags


def withheld(definitions: list[ColumnDef]) -> list[str]:
    """The built columns blank for a customer who objected to profiling."""
    return withheld_names({d.name: d.family for d in definitions})


def withheld_names(families: dict[str, str]) -> list[str]:
    """``withheld`` from column -> family (a CAR's car_dictionary.csv)."""
    return [
        name
        for name, family in families.items()
        if family in WITHHELD_FAMILIES or name in WITHHELD_COLUMNS
    ]


def withhold(columns: dict[str, Any], definitions: list[ColumnDef]) -> None:
    """Blank, in place, the scores and profiles of the customers who objected to profiling."""
    if COLUMN not in columns:
        return
    who = np.asarray(columns[COLUMN], dtype=bool)
    if not who.any():
        return
    for name in withheld(definitions):
        columns[name] = blank(columns[name], who)


def blank(values: Any, who: np.ndarray) -> Any:
    """``values`` with the rows of ``who`` missing, in the column's own type."""
    if isinstance(values, pd.Categorical):
        codes = np.where(who, -1, values.codes)
        return pd.Categorical.from_codes(
            codes, categories=values.categories, ordered=values.ordered
        )
    if isinstance(values, pd.api.extensions.ExtensionArray):
        out = values.copy()
        out[who] = pd.NA
        return out
    values = np.asarray(values)
    if values.dtype.kind == "M":
        return np.where(who, np.datetime64("NaT"), values).astype(values.dtype)
    if values.dtype.kind in "iub":
        values = values.astype(np.float64)
    if values.dtype.kind == "f":
        return np.where(who, np.nan, values)
    out = values.astype(object)
    out[who] = None
    return out
