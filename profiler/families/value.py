"""Value scores: RFM quintiles and segments, value tier and repeat rate (current value).

Forward-looking value is the potential family's (profiler/families/potential.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..declarations import declared
from ..features import ColumnDef
from . import lifecycle, sales
from ._util import RankCuts, apply_cuts, quintile_at, rank_cuts, share_band_at

FAMILY = "value"


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx)


def half_up(values: np.ndarray) -> np.ndarray:
    return np.floor(values + 0.5)


# The columns of earlier families this one ranks.
READS = ("orders_ltd", "spend_ltd", "spend_l12m", "recency_days")


def rank_inputs(ctx: CarContext) -> dict[str, np.ndarray]:
    """What customers are ranked by: lifetime orders and spend, spend in the last 12 months
    (the sales family's totals) and recency (the lifecycle family's): the columns when they are
    built, else computed by the same kernels, once per part."""
    if all(name in ctx.built for name in READS):  # built already: one part
        return {name: ctx.built[name] for name in READS}
    if "rank_inputs" not in ctx.cache:
        totals = sales.totals(ctx)
        ctx.cache["rank_inputs"] = {
            "orders_ltd": totals["orders_ltd"],
            "spend_ltd": totals["spend_ltd"],
            "spend_l12m": totals["spend_l12m"],
            "recency_days": lifecycle.recency_days(ctx),
        }
    return ctx.cache["rank_inputs"]


def summarize(ctx: CarContext) -> dict[str, np.ndarray]:
    """This part's rank inputs; the global pass ranks every customer's."""
    return rank_inputs(ctx)


def reduce(parts: list[dict[str, np.ndarray]], spec: dict[str, Any]) -> dict[str, RankCuts]:
    """Where each RFM quintile and value tier starts among every customer."""
    every = {k: np.concatenate([p[k] for p in parts]) for k in READS}
    rows = np.arange(len(every["orders_ltd"]), dtype=np.int64)
    buyer = every["orders_ltd"] > 0
    spend12 = every["spend_l12m"]
    tiers = [t["top_share"] for t in spec["value_tiers"]]
    return {
        "r": rank_cuts(-every["recency_days"], buyer, rows, 5, quintile_at),
        "f": rank_cuts(every["orders_ltd"], buyer, rows, 5, quintile_at),
        "m": rank_cuts(every["spend_ltd"], buyer, rows, 5, quintile_at),
        "tier": rank_cuts(-spend12, buyer & (spend12 > 0), rows, len(tiers), share_band_at(tiers)),
    }


def _score(band: np.ndarray) -> np.ndarray:
    return np.where(band >= 0, band + 1.0, np.nan)


def compute(ctx: CarContext) -> dict[str, Any]:
    built = ctx.built
    cuts = ctx.globals["value"]
    rows = ctx.rows
    orders = built["orders_ltd"]
    spend = built["spend_ltd"]
    spend12 = built["spend_l12m"]
    buyer = orders > 0
    r = _score(apply_cuts(-built["recency_days"], buyer, rows, cuts["r"]))
    f = _score(apply_cuts(orders, buyer, rows, cuts["f"]))
    m = _score(apply_cuts(spend, buyer, rows, cuts["m"]))
    score = half_up((r + f + m) / 3)
    fm = half_up((f + m) / 2)
    names = [s["name"] for s in ctx.spec["rfm"]["segments"]]
    segment = np.full(ctx.n, -1)
    for j, rule in reversed(list(enumerate(ctx.spec["rfm"]["segments"]))):
        segment[buyer & (r >= rule["r_min"]) & (fm >= rule["fm_min"])] = j
    tiers = ctx.spec["value_tiers"]
    labels = [t["tier"] for t in tiers] + ["inactive", "prospect"]
    band = apply_cuts(-spend12, buyer & (spend12 > 0), rows, cuts["tier"])
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
