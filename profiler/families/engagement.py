"""Engagement: interactions by channel, type and topic; days since the last; a 0-100 score."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..contract import INTERACTION_CHANNELS, INTERACTION_TYPES, OPT_IN_CHANNELS
from ..declarations import declared
from ..features import ColumnDef, slug
from ._util import category_codes, days_between, last_per_group, take

FAMILY = "engagement"
PERIODS = ("ltd", "l12m")


def summarize(ctx: CarContext) -> list[str]:
    """The topics of this part's interactions known at D."""
    frame = ctx.visible("interactions", "at")
    if frame is None:
        return []
    return sorted(
        {str(v) for v in pd.unique(frame["topic"].astype("object")) if v == v and v is not None}
    )


def reduce(parts: list[list[str]], spec: dict[str, Any]) -> list[str]:
    return sorted({t for part in parts for t in part})


def _topics(ctx: CarContext) -> list[str]:
    """Every customer's interaction topics known at D (the global pass's)."""
    return ctx.globals["engagement"]


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(
        FAMILY,
        ctx,
        period=[{"period": p, "period_def": ctx.spec["periods"][p]} for p in PERIODS],
        channel=INTERACTION_CHANNELS,
        type=INTERACTION_TYPES,
        topic=lambda: _topics(ctx),
    )


def compute(ctx: CarContext) -> dict[str, Any]:
    frame = ctx.visible("interactions", "at")
    if frame is None:
        return {}
    n = ctx.n
    codes = ctx.codes_of(frame["customer_id"])
    at = frame["at"].to_numpy()
    ok = codes >= 0
    out: dict[str, Any] = {}
    masks = {p: ok & ctx.in_period(at, p) for p in PERIODS}
    for p in PERIODS:
        out[f"interactions_{p}"] = np.bincount(codes[masks[p]], minlength=n).astype(np.float64)

    def split(column: str, labels: list[str], prefix: str, periods: tuple[str, ...]) -> None:
        k = len(labels)
        level = category_codes(frame[column], labels)
        for p in periods:
            sel = masks[p] & (level >= 0)
            matrix = np.bincount(codes[sel] * k + level[sel], minlength=n * k).reshape(n, k)
            for j, label in enumerate(labels):
                out[f"interactions_{prefix}_{slug(label)}_{p}"] = matrix[:, j].astype(np.float32)

    split("channel", list(INTERACTION_CHANNELS), "ch", PERIODS)
    split("type", list(INTERACTION_TYPES), "type", PERIODS)
    split("topic", _topics(ctx), "topic", ("ltd",))
    order = np.lexsort((at, codes))
    last = take(at[order][ok[order]], last_per_group(codes[order][ok[order]], n))
    out["days_since_last_interaction"] = days_between(ctx.as_of, last)
    out["engagement_score"] = engagement_score(ctx, out)
    return out


def engagement_score(ctx: CarContext, cols: dict[str, Any]) -> np.ndarray:
    """templates/features.yaml engagement_score, component by component."""
    n = ctx.n
    parts: dict[str, np.ndarray] = {}
    days = np.nan_to_num(cols["days_since_last_interaction"], nan=np.inf)
    parts["interaction recency"] = np.clip(1 - days / 365, 0, 1)
    parts["interactions l12m"] = cols["interactions_l12m"]
    parts["email clicks l12m"] = np.asarray(
        cols["interactions_type_email_click_l12m"], dtype=np.float64
    )
    parts["events l12m"] = np.asarray(
        cols["interactions_type_event_attendance_l12m"], dtype=np.float64
    )
    surveys = ctx.visible("surveys", "at")
    answered = np.zeros(n)
    if surveys is not None:
        recent = ctx.in_period(surveys["at"].to_numpy(), "l12m")
        c = ctx.codes_of(surveys["customer_id"])[recent]
        answered[c[c >= 0]] = 1.0
    parts["survey answered l12m"] = answered
    opted = np.zeros(n)
    prefs = ctx.visible("preferences", "consent_updated_at", keep_undated=True)
    if prefs is not None:
        any_opt = np.zeros(len(prefs), dtype=bool)
        for ch in OPT_IN_CHANNELS:
            any_opt |= prefs[f"opt_in_{ch}"].fillna(False).to_numpy(dtype=bool)
        c = ctx.codes_of(prefs["customer_id"])
        opted[c[(c >= 0) & any_opt]] = 1.0
    parts["opted in"] = opted
    score = np.zeros(n)
    for component in ctx.spec["engagement_score"]["components"]:
        value = parts[component["name"]]
        if "cap" in component:
            value = np.minimum(value, component["cap"]) / component["cap"]
        score += component["weight"] * value
    return np.round(100 * score, 1)
