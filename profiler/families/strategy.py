"""Strategy segments: current value x potential value x engagement, three bands each.

The 27 cells and their names are in templates/features.yaml (strategy_segments).  Current value
is spend in the last 12 months, or gross margin (``current_value_basis: margin``, with a cost of
goods in the data; without one, spend, and ``availability.segment_mode`` says so).  Without the
interactions behind the engagement score the segments are current value x potential value, 9
cells (``names_without_engagement``), and the dictionary says so.  Prospects have no segment;
neither has anyone when the potential-value models could not be fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..declarations import declared
from ..features import ColumnDef
from ..margin import has_cost
from . import margin as margin_family
from ._util import RankCuts, apply_cuts, rank_cuts, share_band_at
from .value import rank_inputs

FAMILY = "strategy"


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx)


# The columns of earlier families this one ranks (a build in customer ranges keeps them whole).
READS = ("orders_ltd", "spend_l12m", "engagement_score", "potential_value_tier")


def uses_margin(spec: dict[str, Any], source: Any) -> bool:
    """True when current value is gross margin: ``current_value_basis: margin`` and the data
    gives a cost of goods (else spend: ``margin_fallback`` says why)."""
    basis = spec["strategy_segments"].get("current_value_basis", "spend")
    return basis == "margin" and has_cost(source)


def current_values(ctx: CarContext) -> np.ndarray:
    """What buyers are ranked by for the current value band: spend in the last 12 months, or
    gross margin in the last 12 months (``uses_margin``)."""
    if uses_margin(ctx.spec, ctx.source):
        built = ctx.built.get("margin_l12m")
        return built if built is not None else margin_family.totals(ctx)["margin_l12m"]
    return rank_inputs(ctx)["spend_l12m"]


def summarize(ctx: CarContext) -> dict[str, np.ndarray]:
    inputs = rank_inputs(ctx)
    return {"orders_ltd": inputs["orders_ltd"], "spend_l12m": current_values(ctx)}


def reduce(parts: list[dict[str, np.ndarray]], spec: dict[str, Any]) -> RankCuts:
    """Where each current-value band starts among every buyer (by ``current_values``: the
    summaries' ``spend_l12m`` holds margin when current value is margin)."""
    orders = np.concatenate([p["orders_ltd"] for p in parts])
    spend12 = np.concatenate([p["spend_l12m"] for p in parts])
    shares = [b["top_share"] for b in spec["strategy_segments"]["current_value"]]
    rows = np.arange(len(orders), dtype=np.int64)
    return rank_cuts(-spend12, orders > 0, rows, len(shares), share_band_at(shares))


def compute(ctx: CarContext) -> dict[str, Any]:
    strategy = ctx.spec["strategy_segments"]
    built = ctx.built
    buyer = built["orders_ltd"] > 0
    current_labels = [b["band"] for b in strategy["current_value"]]
    current = apply_cuts(-current_values(ctx), buyer, ctx.rows, ctx.globals["strategy"])
    tiers = built["potential_value_tier"]
    potential_labels = [t["tier"] for t in ctx.spec["potential_value"]["tiers"]]
    potential = np.where(tiers.codes < len(potential_labels), tiers.codes, -1)
    score = built.get("engagement_score")
    out: dict[str, Any] = {
        "current_value_band": pd.Categorical.from_codes(current, categories=current_labels)
    }
    axes = [(current_labels, current), (potential_labels, potential)]
    if not _with_engagement(ctx):  # value x potential, 9 cells
        cells = strategy["names_without_engagement"]
    else:
        engagement_labels = [b["band"] for b in strategy["engagement"]]
        engagement = np.full(ctx.n, -1)
        if score is not None:
            score = np.asarray(score, dtype=np.float64)
            for j, band in reversed(list(enumerate(strategy["engagement"]))):
                engagement[score >= band["min_score"]] = j
        out["engagement_band"] = pd.Categorical.from_codes(engagement, categories=engagement_labels)
        cells = strategy["names"]
        axes.append((engagement_labels, engagement))
    out["strategy_segment"] = _segments(cells, axes, buyer, ctx.n)
    return out


def _with_engagement(ctx: CarContext) -> bool:
    """Engagement is an axis only when the interactions behind the engagement score were
    provided (decided from the sources: a ranged build asks for the columns before computing)."""
    return ctx.source.has("interactions")


def _segments(
    cells: dict[str, str], axes: list[tuple[list[str], np.ndarray]], buyer: Any, n: int
) -> pd.Categorical:
    """Each buyer's cell name: ``cells`` maps "band/band[/band]" (one band per axis) to a name;
    a customer missing a band on any axis has no segment."""
    names = list(dict.fromkeys(cells.values()))
    shape = tuple(len(labels) for labels, _ in axes)
    table = np.full(shape, -1)
    for index in np.ndindex(*shape):
        key = "/".join(axes[a][0][i] for a, i in enumerate(index))
        table[index] = names.index(cells[key])
    complete = np.asarray(buyer, dtype=bool).copy()
    for _, codes in axes:
        complete &= codes >= 0
    segment = np.full(n, -1)
    segment[complete] = table[tuple(codes[complete] for _, codes in axes)]
    return pd.Categorical.from_codes(segment, categories=names)
