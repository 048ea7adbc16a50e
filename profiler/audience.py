"""CRM audience selection: a cohort's customers who may be contacted on a channel, with consent.

Only ``customer_id`` and the CAR fields asked for leave the engine (the CAR holds no names,
emails or phones), and only for customers who are contactable (no suppression) and opted in to
the chosen channel as of the CAR's date.  Everyone else in the cohort is counted under the first
reason that excludes them, so selected + excluded = the cohort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ProfilerError, clip
from .outputs import replacing
from .query import QueryEngine
from .safecsv import write_csv

CHANNELS = ("email", "sms", "phone", "post")


@dataclass
class Audience:
    """The selected customers (in order) and who was excluded, by reason."""

    cohort: str
    channel: str
    selected: pd.DataFrame
    excluded: pd.DataFrame  # reason, customers

    @property
    def cohort_size(self) -> int:
        return len(self.selected) + int(self.excluded["customers"].sum())


def select_audience(
    engine: QueryEngine,
    cohort: str,
    *,
    channel: str = "email",
    fields: list[str] | None = None,
    order_by: str | None = None,
    limit: int | None = None,
) -> Audience:
    """The cohort's customers contactable on ``channel``, ordered by ``order_by`` (highest first,
    ties by customer_id) for service priority or sales targets, at most ``limit`` of them."""
    if channel not in CHANNELS:
        raise ProfilerError(
            f"Unknown channel '{clip(channel)}'; expected one of {', '.join(CHANNELS)}."
        )
    fields = list(dict.fromkeys(fields or []))
    consent = [f"opt_in_{channel}", "contactable"]
    has_consent = all(c in engine.known_columns for c in consent)
    car = engine.ensure_columns(
        [*fields, *([order_by] if order_by else []), *(consent if has_consent else [])]
    )
    in_cohort = engine.cohorts.mask(cohort)
    if has_consent:
        opt_in, contactable = car[f"opt_in_{channel}"], car["contactable"]
    else:  # no preferences table: nobody has consented, so nobody is exported
        opt_in = contactable = pd.Series(np.nan, index=car.index, dtype="object")
    reasons = [
        (
            "no consent record"
            if contactable.notna().any()
            else "no consent record (the preferences table was not provided)",
            contactable.isna().to_numpy(),
        ),
        ("suppressed (not contactable)", ~contactable.fillna(True).astype(bool).to_numpy()),
        (f"not opted in to {channel}", ~opt_in.fillna(False).astype(bool).to_numpy()),
    ]
    remaining = in_cohort.copy()
    excluded = []
    for reason, hit in reasons:
        caught = remaining & hit
        excluded.append({"reason": reason, "customers": int(caught.sum())})
        remaining &= ~caught
    chosen = car.loc[remaining, ["customer_id", *[f for f in fields if f != "customer_id"]]]
    if order_by:
        chosen = chosen.assign(_key=car.loc[remaining, order_by].to_numpy())
        chosen = chosen.sort_values(
            ["_key", "customer_id"], ascending=[False, True], na_position="last", kind="stable"
        ).drop(columns="_key")
    if limit is not None and limit < len(chosen):
        excluded.append({"reason": f"beyond the first {limit:,}", "customers": len(chosen) - limit})
        chosen = chosen.iloc[:limit]
    return Audience(cohort, channel, chosen.reset_index(drop=True), pd.DataFrame(excluded))


def write_audience(audience: Audience, path: str, *, raw: bool = False) -> None:
    """CSV for the CRM tool, written whole or not at all; no cell runs as a formula in a
    spreadsheet unless ``raw`` (``profiler/safecsv.py``)."""
    needs = int(audience.selected.memory_usage(deep=True).sum())
    with replacing(path, needs=needs) as tmp:
        write_csv(audience.selected, tmp, raw=raw)
