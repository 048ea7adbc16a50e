"""Potential value: BG/NBD + Gamma-Gamma fitted at D on every buyer's kept orders.

The models (profiler/clv.py) are fitted on the data visible at D only, so the columns obey the
no-leakage rule like every other family.  If a fit does not converge (too few repeat buyers, for
instance) the columns are empty and the reason is kept in the CAR's metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..car_context import CarContext
from ..clv import (
    DAYS_PER_UNIT,
    BetaGeoModel,
    ClvFit,
    ConvergenceError,
    GammaGammaModel,
    customer_lifetime_value,
    fitted_json,
    rfm_from_transactions,
)
from ..declarations import declared
from ..facts import pounds
from ..features import ColumnDef
from ._util import apply_cuts, rank_cuts, share_band_at

FAMILY = "potential"


def columns(ctx: CarContext) -> list[ColumnDef]:
    return declared(FAMILY, ctx)


def _transactions(ctx: CarContext) -> pd.DataFrame:
    """The part's kept orders: customer (CAR row in the part), time and kept net GBP, sorted
    by customer, time and amount.

    The Gamma-Gamma likelihood is flat enough that a last-bit difference in its inputs moves
    the estimates by about 1e-8, so every part must hand over identical inputs: an order's
    amount is the exact sum of its kept lines' whole pence (profiler/facts.py), as pounds."""
    kept_net = np.where(ctx.kept, ctx.facts["net_pence"].to_numpy(), 0)
    order_net = pounds(
        np.add.reduceat(kept_net, ctx.order_starts) if len(ctx.order_starts) else kept_net
    )
    keep = ctx.order_kept
    transactions = pd.DataFrame(
        {
            "customer_id": ctx.order_cust[keep],
            "ordered_at": ctx.order_time[keep],
            "net_amount": order_net[keep],
        }
    )
    order = _sort_order(*(transactions[c].to_numpy() for c in transactions.columns))
    if order is not None:
        transactions = transactions.iloc[order].reset_index(drop=True)
    return transactions


def _rfm(ctx: CarContext) -> pd.DataFrame:
    """Each buyer's frequency, recency, T and mean repeat spend, indexed by its row in the part."""
    if "potential_rfm" not in ctx.cache:
        spec = ctx.spec["potential_value"]
        transactions = _transactions(ctx)
        ctx.cache["potential_rfm"] = (
            rfm_from_transactions(
                transactions, calibration_end=ctx.as_of, time_unit=spec["time_unit"]
            )
            if len(transactions)
            else None
        )
    return ctx.cache["potential_rfm"]


def summarize(ctx: CarContext) -> dict[str, Any]:
    """The part's buyer summaries: the models are fitted on every buyer's (``reduce``)."""
    return {"n": ctx.n, "rfm": _rfm(ctx)}


def reduce(parts: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, Any]:
    """BG/NBD and Gamma-Gamma fitted on every buyer, in CAR row order, and where each potential
    value tier starts.  Each model degrades alone: without a purchase model nothing can be
    predicted; without a spend model, P(alive) and expected orders stay and only spend and CLV
    are empty.  ``meta`` is what the CAR's metadata records (figures, or why not)."""
    spec = spec["potential_value"]
    frames, offset = [], 0
    for part in parts:
        if part["rfm"] is not None:
            frames.append(part["rfm"].set_axis(part["rfm"].index + offset))
        offset += part["n"]
    out: dict[str, Any] = {"bg": None, "gg": None, "meta": None, "one_part": None}
    clv = np.full(offset, np.nan)
    if frames:
        rfm = pd.concat(frames) if len(frames) > 1 else frames[0]
        x = rfm["frequency"]
        try:
            out["bg"] = BetaGeoModel().fit(x, rfm["recency"], rfm["T"])
        except ConvergenceError as exc:
            out["meta"] = {"error": str(exc)}
        else:
            try:
                out["gg"] = GammaGammaModel().fit(x, rfm["monetary_value"])
            except ConvergenceError as exc:
                out["meta"] = {
                    "customers": int(len(rfm)),
                    "bgnbd": fitted_json(out["bg"]),
                    "gamma_gamma": {"error": str(exc)},
                    "time_unit": spec["time_unit"],
                }
            else:
                fit = ClvFit(rfm, out["bg"], out["gg"], spec["time_unit"])
                out["meta"] = {**fit.as_json(), "time_unit": spec["time_unit"]}
        predicted = _predict(out, rfm, spec, offset)
        clv = predicted["clv"]
        if len(parts) == 1:  # the whole population is the part: its predictions are these
            out["one_part"] = predicted
    shares = [t["top_share"] for t in spec["tiers"]]
    rows = np.arange(offset, dtype=np.int64)
    out["cuts"] = rank_cuts(-clv, np.isfinite(clv), rows, len(shares), share_band_at(shares))
    return out


def _predict(
    fitted: dict[str, Any], rfm: pd.DataFrame | None, spec: dict[str, Any], n: int
) -> dict[str, np.ndarray]:
    """P(alive), expected orders, expected spend and CLV of each of ``n`` customers whose
    buyers are ``rfm``'s rows (NaN for the others, and where a model failed)."""
    out = {k: np.full(n, np.nan) for k in ("p_alive", "expected", "spend", "clv")}
    if rfm is None:
        return out
    rows = rfm.index.to_numpy()
    x, t_x, big_t = (rfm[c] for c in ("frequency", "recency", "T"))
    bg, gg = fitted["bg"], fitted["gg"]
    if bg is not None:
        horizon = spec["horizon_months"] * DAYS_PER_UNIT["M"] / DAYS_PER_UNIT[spec["time_unit"]]
        out["p_alive"][rows] = bg.probability_alive(x, t_x, big_t)
        out["expected"][rows] = bg.conditional_expected_purchases(horizon, x, t_x, big_t)
    if gg is not None:
        out["spend"][rows] = gg.expected_average_spend(x, rfm["monetary_value"])
        out["clv"][rows] = _clv(fitted, rfm, spec)
    return out


def _clv(fitted: dict[str, Any], rfm: pd.DataFrame, spec: dict[str, Any]) -> np.ndarray:
    return customer_lifetime_value(
        fitted["bg"],
        fitted["gg"],
        rfm,
        months=spec["horizon_months"],
        monthly_discount_rate=spec["monthly_discount_rate"],
        time_unit=spec["time_unit"],
    )


def compute(ctx: CarContext) -> dict[str, Any]:
    """The part's predictions from the models fitted on every buyer (``ctx.globals``)."""
    spec = ctx.spec["potential_value"]
    fitted = ctx.globals["potential"]
    months = spec["horizon_months"]
    names = [t["tier"] for t in spec["tiers"]]
    rfm = _rfm(ctx)
    predicted = fitted["one_part"]
    if predicted is None or len(predicted["clv"]) != ctx.n:
        predicted = _predict(fitted, rfm, spec, ctx.n)
    buyer = np.zeros(ctx.n, dtype=bool)
    if rfm is not None:
        buyer[rfm.index.to_numpy()] = True
    clv = predicted["clv"]
    band = apply_cuts(-clv, buyer & np.isfinite(clv), ctx.rows, fitted["cuts"])
    tier = np.where(band >= 0, band, np.where(buyer, -1, len(names)))
    return {
        "p_alive": predicted["p_alive"],
        f"expected_orders_{months}m": predicted["expected"],
        "expected_avg_spend": predicted["spend"],
        f"clv_{months}m": clv,
        "potential_value_tier": pd.Categorical.from_codes(tier, categories=[*names, "prospect"]),
    }


def _sort_order(customer: np.ndarray, time: np.ndarray, amount: np.ndarray) -> np.ndarray | None:
    """The order of the rows by customer, time and amount (None: already in order).

    Orders usually arrive by customer and time already, with a few same-time ties; sorting
    just the tied runs by amount avoids a full three-key sort (6 s for 7M orders)."""
    if len(customer) < 2:
        return None
    c_next, t_next = customer[:-1] < customer[1:], time[:-1] < time[1:]
    same_c = customer[:-1] == customer[1:]
    tied = same_c & (time[:-1] == time[1:])
    if not (c_next | (same_c & t_next) | tied).all():
        return np.lexsort((amount, time, customer))
    if not (tied & (amount[:-1] > amount[1:])).any():
        return None
    in_run = np.r_[tied, False] | np.r_[False, tied]
    rows = np.flatnonzero(in_run)
    run = np.cumsum(np.r_[True, ~tied[rows[:-1]]])  # tied runs are contiguous
    order = np.arange(len(customer))
    order[rows] = rows[np.lexsort((amount[rows], run))]
    return order
