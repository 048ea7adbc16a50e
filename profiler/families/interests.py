"""Interests and motivations: category affinity against the base, price point preference,
gifting, newness and collection affinity."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..calendar_parts import month_of_year
from ..car_context import CarContext
from ..declarations import declared
from ..features import ColumnDef, slug
from ._util import argmax_label, ratio
from .sales import levels

FAMILY = "interests"


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(
        FAMILY,
        ctx,
        category=lambda: levels(ctx, "category"),
        price_point=lambda: levels(ctx, "price_point"),
    )


def compute(ctx: CarContext) -> dict[str, Any]:
    n = ctx.n
    g = ctx.spec["interests"]
    facts = ctx.facts
    kept = ctx.kept
    lc = ctx.cust[kept]
    net = facts["net_gbp"].to_numpy()[kept]
    spend = np.bincount(lc, weights=net, minlength=n)
    out: dict[str, Any] = {}

    def by_level(slice_name: str) -> tuple[list[str], np.ndarray]:
        names = levels(ctx, slice_name)
        codes = ctx.level_codes(slice_name, names)[kept]
        ok = codes >= 0
        k = len(names)
        matrix = np.bincount(lc[ok] * k + codes[ok], weights=net[ok], minlength=n * k).reshape(n, k)
        return names, matrix

    cats, by_cat = by_level("category")
    base_share = _base_share(ctx, cats)
    for j, c in enumerate(cats):
        out[f"affinity_{slug(c)}"] = (
            ratio(by_cat[:, j], spend) / np.where(base_share[j] > 0, base_share[j], np.nan) * 100
        )
    pps, by_pp = by_level("price_point")
    for j, p in enumerate(pps):
        out[f"share_pp_{slug(p)}_ltd"] = ratio(by_pp[:, j], spend)
    colls, by_coll = by_level("collection")
    out["favourite_category"] = argmax_label(by_cat, cats)
    out["preferred_price_point"] = argmax_label(by_pp, pps)
    out["favourite_collection"] = argmax_label(by_coll, colls)
    times = facts["ordered_at"].to_numpy()[kept]
    month = month_of_year(times)
    gift_codes = [j for j, c in enumerate(cats) if c in g["gift_categories"]]
    gift = np.isin(ctx.level_codes("category", cats)[kept], gift_codes) & np.isin(
        month, g["gifting_months"]
    )
    out["gifting_share"] = ratio(
        np.bincount(lc, weights=np.where(gift, net, 0.0), minlength=n), spend
    )
    multi = facts["quantity"].to_numpy()[kept] > 1
    out["multi_unit_share"] = ratio(
        np.bincount(lc, weights=multi.astype(np.float64), minlength=n),
        np.bincount(lc, minlength=n).astype(np.float64),
    )
    launch = (
        facts["launch_date"].to_numpy()[kept]
        if "launch_date" in facts
        else np.full(len(lc), np.datetime64("NaT"))
    )
    launch = np.asarray(launch, dtype="datetime64[ns]")
    fresh = (
        ~np.isnat(launch)
        & ((times - launch) <= np.timedelta64(g["newness_days"], "D"))
        & (times >= launch)
    )
    out["newness_share"] = ratio(
        np.bincount(lc, weights=np.where(fresh, net, 0.0), minlength=n), spend
    )
    return out


def summarize(ctx: CarContext) -> dict[str, Any]:
    """Kept net pence of each category present in this part, and in all."""
    pence = ctx.facts["net_pence"].to_numpy()[ctx.kept]
    present = ctx.present_values("category")
    codes = ctx.level_codes("category", present)[ctx.kept]
    ok = codes >= 0
    by_value = np.bincount(codes[ok], weights=pence[ok], minlength=len(present))
    return {
        "category_pence": {v: int(p) for v, p in zip(present, by_value, strict=True)},
        "total_pence": int(pence.sum()),
    }


def reduce(parts: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """Every customer's kept net pence by category and in all: the affinity index's base,
    exact integers, the same in any order or parts."""
    by_category: dict[str, int] = {}
    for part in parts:
        for value, pence in part["category_pence"].items():
            by_category[value] = by_category.get(value, 0) + pence
    return {"category_pence": by_category, "total_pence": sum(p["total_pence"] for p in parts)}


def _base_share(ctx: CarContext, cats: list[str]) -> np.ndarray:
    """Each category's share of everyone's kept net spend."""
    base = ctx.globals["interests"]
    by_cat = np.array([base["category_pence"].get(c, 0) for c in cats], dtype=np.float64)
    return ratio(by_cat, np.full(len(cats), float(base["total_pence"])))
