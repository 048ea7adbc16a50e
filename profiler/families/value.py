"""Value scores: RFM quintiles and segments, value tier and repeat rate (current value).

Forward-looking value is the potential family's (profiler/families/potential.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..features import ColumnDef
from ._util import share_bands

FAMILY = "value"
_SRC = ("order_lines",)


def columns(ctx: CarContext) -> list[ColumnDef]:
    rfm = ctx.spec["rfm"]
    tiers = ctx.spec["value_tiers"]
    tier_text = ", ".join(f"{t['tier']} (top {t['top_share']:.0%})" for t in tiers)
    quintile = "quintile score 1-5 among buyers (5 best; ties broken by customer_id)"
    return [
        ColumnDef("rfm_r", FAMILY, f"Recency {quintile}: more recent is better.", "score", _SRC),
        ColumnDef("rfm_f", FAMILY, f"Frequency {quintile}: lifetime orders.", "score", _SRC),
        ColumnDef("rfm_m", FAMILY, f"Monetary {quintile}: lifetime spend.", "score", _SRC),
        ColumnDef(
            "rfm_score",
            FAMILY,
            "Mean of the three RFM scores, rounded half up (1-5); empty for prospects.",
            "score",
            _SRC,
        ),
        ColumnDef(
            "rfm_segment",
            FAMILY,
            "RFM segment: the first rule of templates/features.yaml rfm.segments that the recency score and the rounded mean of frequency and monetary scores meet.",
            "category",
            _SRC,
            rfm,
        ),
        ColumnDef(
            "value_tier",
            FAMILY,
            f"Value tier by spend in the last 12 months among buyers with such spend: {tier_text}, the first tier whose share exceeds the share of buyers ranked above the customer (ties by customer_id); inactive (no spend in 12 months) or prospect.",
            "category",
            _SRC,
            {"tiers": tiers},
        ),
        ColumnDef(
            "repeat_rate",
            FAMILY,
            "Observed repeat rate: (lifetime orders - 1) / lifetime orders.",
            "ratio",
            _SRC,
        ),
    ]


def quintile(values: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Scores 1-5 by ascending value among eligible rows; ties by row order (customer_id)."""
    idx = np.flatnonzero(eligible)
    order = idx[np.lexsort((idx, values[idx]))]
    score = np.full(len(values), np.nan)
    score[order] = np.floor(np.arange(len(order)) * 5 / max(len(order), 1)) + 1
    return score


def half_up(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5)


# The columns of earlier families this one ranks (a build in customer ranges keeps them whole).
READS = ("orders_ltd", "spend_ltd", "spend_l12m", "recency_days")


def compute(ctx: CarContext) -> dict[str, Any]:
    built = ctx.built
    orders = built["orders_ltd"]
    spend = built["spend_ltd"]
    spend12 = built["spend_l12m"]
    buyer = orders > 0
    r = quintile(-built["recency_days"], buyer)
    f = quintile(orders, buyer)
    m = quintile(spend, buyer)
    score = half_up((r + f + m) / 3)
    fm = half_up((f + m) / 2)
    names = [s["name"] for s in ctx.spec["rfm"]["segments"]]
    segment = np.full(ctx.n, -1)
    for j, rule in reversed(list(enumerate(ctx.spec["rfm"]["segments"]))):
        segment[buyer & (r >= rule["r_min"]) & (fm >= rule["fm_min"])] = j
    tiers = ctx.spec["value_tiers"]
    labels = [t["tier"] for t in tiers] + ["inactive", "prospect"]
    band = share_bands(spend12, buyer & (spend12 > 0), [t["top_share"] for t in tiers])
    tier = np.where(band >= 0, band, np.where(buyer, len(tiers), len(tiers) + 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat = np.where(buyer, (orders - 1) / np.where(buyer, orders, 1), np.nan)
    return {
        "rfm_r": r,
        "rfm_f": f,
        "rfm_m": m,
        "rfm_score": score,
        "rfm_segment": pd.Categorical.from_codes(segment, categories=names),
        "value_tier": pd.Categorical.from_codes(tier, categories=labels),
        "repeat_rate": repeat,
    }
