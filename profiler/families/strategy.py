"""Strategy segments: current value x potential value x engagement, three bands each.

The 27 cells and their names are in templates/features.yaml (strategy_segments).  Prospects have
no segment; neither has anyone when the potential-value models could not be fitted or the
interactions behind the engagement score are missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..features import ColumnDef
from ._util import share_bands

FAMILY = "strategy"
_SRC = ("order_lines", "interactions", "preferences", "surveys")


def columns(ctx: CarContext) -> list[ColumnDef]:
    strategy = ctx.spec["strategy_segments"]
    current = ", ".join(
        f"{b['band']} (top {b['top_share']:.0%})" for b in strategy["current_value"]
    )
    engaged = ", ".join(f"{b['band']} (>= {b['min_score']})" for b in strategy["engagement"])
    return [
        ColumnDef(
            "current_value_band",
            FAMILY,
            f"Current value band by spend in the last 12 months among buyers: {current} (ties by customer_id).",
            "category",
            ("order_lines",),
            {"bands": strategy["current_value"]},
        ),
        ColumnDef(
            "engagement_band",
            FAMILY,
            f"Engagement band by engagement_score: {engaged}.",
            "category",
            ("interactions", "preferences", "surveys"),
            {"bands": strategy["engagement"]},
        ),
        ColumnDef(
            "strategy_segment",
            FAMILY,
            "Strategy segment of a buyer: the name templates/features.yaml gives to its current_value_band / potential_value_tier / engagement_band cell (27 cells); empty for prospects.",
            "category",
            _SRC,
            strategy,
        ),
    ]


# The columns of earlier families this one ranks (a build in customer ranges keeps them whole).
READS = ("orders_ltd", "spend_l12m", "engagement_score", "potential_value_tier")


def compute(ctx: CarContext) -> dict[str, Any]:
    strategy = ctx.spec["strategy_segments"]
    built = ctx.built
    buyer = built["orders_ltd"] > 0
    current_labels = [b["band"] for b in strategy["current_value"]]
    current = share_bands(
        built["spend_l12m"], buyer, [b["top_share"] for b in strategy["current_value"]]
    )
    engagement_labels = [b["band"] for b in strategy["engagement"]]
    score = built.get("engagement_score")
    engagement = np.full(ctx.n, -1)
    if score is not None:
        score = np.asarray(score, dtype=np.float64)
        for j, band in reversed(list(enumerate(strategy["engagement"]))):
            engagement[score >= band["min_score"]] = j
    tiers = built["potential_value_tier"]
    potential_labels = [t["tier"] for t in ctx.spec["potential_value"]["tiers"]]
    potential = np.where(tiers.codes < len(potential_labels), tiers.codes, -1)
    names = list(dict.fromkeys(strategy["names"].values()))
    code_of = {
        cell: names.index(name) for cell, name in strategy["names"].items()
    }  # "current/potential/engagement" -> category code
    table = np.full((len(current_labels), len(potential_labels), len(engagement_labels)), -1)
    for i, c in enumerate(current_labels):
        for j, p in enumerate(potential_labels):
            for k, e in enumerate(engagement_labels):
                table[i, j, k] = code_of[f"{c}/{p}/{e}"]
    complete = buyer & (current >= 0) & (potential >= 0) & (engagement >= 0)
    segment = np.full(ctx.n, -1)
    segment[complete] = table[current[complete], potential[complete], engagement[complete]]
    return {
        "current_value_band": pd.Categorical.from_codes(current, categories=current_labels),
        "engagement_band": pd.Categorical.from_codes(engagement, categories=engagement_labels),
        "strategy_segment": pd.Categorical.from_codes(segment, categories=names),
    }
