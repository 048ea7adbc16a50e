"""Voice of the customer: NPS (latest, mean, count, class), CSAT overall and by channel, effort."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..contract import SURVEY_CHANNELS
from ..declarations import declared
from ..features import ColumnDef, slug
from ._util import category_codes, days_between, last_per_group, ratio, take

FAMILY = "voice"
NPS_CLASSES = ["promoter", "passive", "detractor", "none"]


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx, channel=SURVEY_CHANNELS)


def compute(ctx: CarContext) -> dict[str, Any]:
    n = ctx.n
    out: dict[str, Any] = {}
    surveys = ctx.visible("surveys", "at")
    if surveys is not None:
        codes = ctx.codes_of(surveys["customer_id"])
        order = np.lexsort((surveys["at"].to_numpy(), codes))
        codes = codes[order]
        nps = surveys["nps"].to_numpy(dtype=np.float64, na_value=np.nan)[order]
        csat = surveys["csat"].to_numpy(dtype=np.float64, na_value=np.nan)[order]
        at = surveys["at"].to_numpy()[order]
        ok = codes >= 0
        has_nps = ok & ~np.isnan(nps)
        latest = take(nps[has_nps], last_per_group(codes[has_nps], n))
        nps_count = np.bincount(codes[has_nps], minlength=n).astype(np.float64)
        has_csat = ok & ~np.isnan(csat)
        csat_count = np.bincount(codes[has_csat], minlength=n).astype(np.float64)
        cls = np.select([latest >= 9, latest >= 7, latest >= 0], [0, 1, 2], 3)
        out |= {
            "nps_latest": latest,
            "nps_mean": ratio(
                np.bincount(codes[has_nps], weights=nps[has_nps], minlength=n), nps_count
            ),
            "nps_count": nps_count,
            "nps_class": pd.Categorical.from_codes(cls, categories=NPS_CLASSES),
            "csat_mean": ratio(
                np.bincount(codes[has_csat], weights=csat[has_csat], minlength=n), csat_count
            ),
            "csat_count": csat_count,
            "surveys_count": np.bincount(codes[ok], minlength=n).astype(np.float64),
            "days_since_last_survey": days_between(
                ctx.as_of, take(at[ok], last_per_group(codes[ok], n))
            ),
        }
        channel = category_codes(surveys["channel"].iloc[order], list(SURVEY_CHANNELS))
        for j, c in enumerate(SURVEY_CHANNELS):
            sel = has_csat & (channel == j)
            count = np.bincount(codes[sel], minlength=n).astype(np.float64)
            out[f"csat_{slug(c)}_mean"] = ratio(
                np.bincount(codes[sel], weights=csat[sel], minlength=n), count
            )
            out[f"csat_{slug(c)}_count"] = count
    interactions = ctx.visible("interactions", "at")
    if interactions is not None:
        codes = ctx.codes_of(interactions["customer_id"])
        effort = interactions["effort_score"].to_numpy(dtype=np.float64, na_value=np.nan)
        sel = (codes >= 0) & ~np.isnan(effort)
        count = np.bincount(codes[sel], minlength=n).astype(np.float64)
        out["effort_score_mean"] = ratio(
            np.bincount(codes[sel], weights=effort[sel], minlength=n), count
        )
        out["effort_score_count"] = count
    return out
