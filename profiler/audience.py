"""CRM audience selection: a cohort's customers who may be contacted on a channel, with consent.

Only ``customer_id`` and the CAR fields asked for leave the engine (the CAR holds no names,
emails or phones), and only for customers who are contactable (no suppression) and opted in to
the chosen channel as of the CAR's date, and who have not objected to profiling (the CAR's
``profiling_opt_out``, when it has the column).  Everyone else in the cohort is counted under the first
reason that excludes them, so selected + excluded = the cohort.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ProfilerError, clip
from .outputs import replacing
from .query import QueryEngine
from .safecsv import write_csv

CHANNELS = ("email", "sms", "phone", "post")
OBJECTION = "profiling_opt_out"  # CAR column: the customer objected to profiling (GDPR art. 21)
STRATUM = "strategy_segment"  # CAR column the control split is stratified by, when present
LAST_ORDER = "last_purchase_at"  # CAR column: time of the latest order with a kept line


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
    objection = [OBJECTION] if OBJECTION in engine.known_columns else []
    car = engine.ensure_columns(
        [*fields, *([order_by] if order_by else []), *(consent if has_consent else []), *objection]
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
    if objection:  # the customer objected to profiling: never selected by a profile
        reasons.append(
            ("objected to profiling", car[OBJECTION].fillna(False).astype(bool).to_numpy())
        )
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


def write_audience(
    audience: Audience, path: str, *, raw: bool = False, car_dir: str | Path | None = None
) -> None:
    """CSV for the CRM tool, written whole or not at all; no cell runs as a formula in a
    spreadsheet unless ``raw`` (``profiler/safecsv.py``).  With ``car_dir`` the file is
    registered in that CAR folder (``profiler.managed``), so erasure can purge it."""
    if car_dir is not None:  # first: a file erasure cannot find is never written
        from . import managed

        managed.register(
            car_dir, path, "audience", cohort=audience.cohort, channel=audience.channel
        )
    needs = int(audience.selected.memory_usage(deep=True).sum())
    with replacing(path, needs=needs) as tmp:
        write_csv(audience.selected, tmp, raw=raw)


@dataclass
class ControlSplit:
    """An audience split at random into treated (contacted) and control (held out): ``control``
    marks the selected rows held out; ``strata`` is each selected row's stratum (None: not
    stratified).  ``mde`` is the smallest response-rate uplift the split detects (80% power,
    5% two-sided), for the past response rate ``response_rate``."""

    audience: Audience
    share: float
    seed: int
    control: np.ndarray
    strata: pd.Series | None
    stratum_column: str | None
    window_days: int
    response_rate: float
    mde: float
    as_of: pd.Timestamp
    build_id: str | None

    @property
    def treated_rows(self) -> pd.DataFrame:
        return self.audience.selected[~self.control].reset_index(drop=True)

    @property
    def control_rows(self) -> pd.DataFrame:
        return self.audience.selected[self.control].reset_index(drop=True)

    def counts(self) -> pd.DataFrame:
        """Customers per stratum and group (one row "all" when not stratified)."""
        keys = (
            self.strata.fillna("(none)").astype(str).to_numpy()
            if self.strata is not None
            else np.full(len(self.control), "all", dtype=object)
        )
        frame = pd.DataFrame({"stratum": keys, "control": self.control})
        out = frame.groupby("stratum", sort=True)["control"].agg(
            treated=lambda c: int((~c).sum()), control=lambda c: int(c.sum())
        )
        return out.reset_index()

    def about(self) -> dict[str, Any]:
        """The sidecar: what the split was and what it can detect."""
        return {
            "cohort": self.audience.cohort,
            "channel": self.audience.channel,
            "control_share": self.share,
            "seed": self.seed,
            "stratified_by": self.stratum_column,
            "treated": int((~self.control).sum()),
            "control": int(self.control.sum()),
            "strata": self.counts().to_dict(orient="records"),
            "excluded": self.audience.excluded.to_dict(orient="records"),
            "car_as_of": f"{self.as_of:%Y-%m-%d}",
            "car_build_id": self.build_id,
            "power": {
                "response_rate": None if np.isnan(self.response_rate) else self.response_rate,
                "window_days": self.window_days,
                "minimum_detectable_uplift": None if np.isnan(self.mde) else self.mde,
                "power": 0.80,
                "alpha": 0.05,
                "formula": "(z_0.975 + z_0.80) * sqrt(p (1 - p) (1/n_t + 1/n_c)): Fleiss, "
                "Levin & Paik, Statistical Methods for Rates and Proportions (2003), 4.2",
            },
        }

    def power_line(self) -> str:
        """The power figure in one sentence."""
        if np.isnan(self.mde):
            return (
                "Power: not computed (the CAR has no last order date to give the past response "
                "rate)."
            )
        return (
            f"Power: with {int((~self.control).sum()):,} treated and {int(self.control.sum()):,} "
            f"control and a past response rate of {self.response_rate:.1%} (ordered in the "
            f"{self.window_days} days to {self.as_of:%Y-%m-%d}), the smallest uplift in response "
            f"rate this split detects at 80% power and 5% significance is "
            f"{self.mde * 100:.1f} percentage points."
        )


def split_control(
    engine: QueryEngine,
    audience: Audience,
    share: float,
    seed: int | None = None,
    *,
    window_days: int = 30,
) -> ControlSplit:
    """Hold out ``share`` of the selected customers at random as control, stratified by the
    CAR's strategy segment when it has one (``campaigns.control_split``); reproducible from
    ``seed`` (default: a fresh random one, recorded in the sidecar).

    The power figure (``campaigns.minimum_detectable_effect``: Fleiss, Levin & Paik, Statistical
    Methods for Rates and Proportions, two-sample normal approximation) uses as p the share of
    the selected customers who ordered in the ``window_days`` days to the CAR's date."""
    import secrets

    from .campaigns import control_split, minimum_detectable_effect

    seed = int(secrets.randbelow(2**31)) if seed is None else int(seed)
    selected = audience.selected
    columns = [c for c in (STRATUM, LAST_ORDER) if c in engine.known_columns]
    if LAST_ORDER not in columns and "recency_days" in engine.known_columns:
        columns.append("recency_days")
    car = engine.ensure_columns(columns).set_index("customer_id") if columns else None
    strata = None
    if car is not None and STRATUM in car.columns:
        strata = car[STRATUM].reindex(selected["customer_id"]).reset_index(drop=True)
    control = control_split(selected["customer_id"], strata, share, seed)
    n_c, n_t = int(control.sum()), int((~control).sum())
    if n_c == 0 or n_t == 0:
        empty = "control" if n_c == 0 else "treated"
        why = ""
        if not len(selected):  # say what left nobody: the largest reason
            top = audience.excluded.sort_values("customers", ascending=False).iloc[0]
            why = f" ({int(top['customers']):,} left out: {top['reason']})"
        raise ProfilerError(
            f"--control {share * 100:g}% of {len(selected):,} selected customers{why} leaves the "
            f"{empty} group empty; choose a larger audience or another share."
        )
    recent = None
    if car is not None and LAST_ORDER in car.columns:
        last = pd.to_datetime(car[LAST_ORDER].reindex(selected["customer_id"])).dt.normalize()
        recent = (last > engine.as_of - pd.Timedelta(days=window_days)).to_numpy()
    elif car is not None and "recency_days" in car.columns:
        days = car["recency_days"].reindex(selected["customer_id"]).to_numpy(dtype=float)
        recent = days < window_days
    p = float(recent.mean()) if recent is not None and len(recent) else float("nan")
    mde = minimum_detectable_effect(p, n_t, n_c) if not np.isnan(p) else float("nan")
    return ControlSplit(
        audience,
        share,
        seed,
        control,
        strata,
        STRATUM if strata is not None else None,
        window_days,
        p,
        mde,
        engine.as_of,
        engine.meta.get("build_id"),
    )


def write_split(
    split: ControlSplit, path: str, car_dir: str | Path | None, *, raw: bool = False
) -> tuple[Path, Path, Path]:
    """FILE.csv (treated only: what the CRM sends to), FILE.control.csv (held out, never
    contacted) and FILE.json (the sidecar), all three or none; both CSVs registered in the CAR
    folder (``profiler.managed``) before they are written, so erasure can always purge them (an
    entry whose file was never written is skipped)."""
    import json

    from . import managed
    from .campaigns import audience_files

    treated_file, control_file, sidecar = audience_files(path)
    if car_dir is not None:  # first: a file erasure cannot find is never written
        for file, group in ((treated_file, "treated"), (control_file, "control")):
            managed.register(
                car_dir,
                file,
                "audience",
                cohort=split.audience.cohort,
                channel=split.audience.channel,
                seed=split.seed,
                group=group,
            )
    treated, control = split.treated_rows, split.control_rows
    needs = int(split.audience.selected.memory_usage(deep=True).sum()) * 2
    with (
        replacing(treated_file, needs=needs) as t_tmp,
        replacing(control_file) as c_tmp,
        replacing(sidecar) as s_tmp,
    ):
        write_csv(treated, t_tmp, raw=raw)
        write_csv(control, c_tmp, raw=raw)
        s_tmp.write_text(json.dumps(split.about(), indent=1, default=str), encoding="utf-8")
    return treated_file, control_file, sidecar
