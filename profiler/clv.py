"""Potential value: BG/NBD repeat purchases and Gamma-Gamma spend, fitted by maximum likelihood.

References
----------
FHL05 : Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
    the Pareto/NBD Model", Marketing Science 24(2), 275-284.
FH13 : Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note).
FHL05b : Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
    Analysis", Journal of Marketing Research 42(4), 415-430.

Time is measured in a chosen unit (days, weeks or months) as a fraction: days / 7 for weeks.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from .errors import NotFittedError, ProfilerError, clip

DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


class ConvergenceError(ProfilerError):
    """A model fit did not converge to a finite maximum of the likelihood."""


# ---------------------------------------------------------------------------------------------
# the RFM table: frequency, recency, T, monetary value


def rfm_from_transactions(
    transactions: pd.DataFrame,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ordered_at",
    monetary_value_col: str = "net_amount",
    calibration_end: str | pd.Timestamp,
    observation_end: str | pd.Timestamp | None = None,
    time_unit: str = "W",
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value from transactions.

    frequency is the number of repeat purchase days (orders on the same day are merged and their
    amounts summed); recency the time from the first to the last purchase day; T the time from
    the first purchase day to the end of the calibration day; monetary_value the mean value of
    the repeat purchase days (0 without a repeat).  Customers whose first purchase is after the
    calibration end are left out.  With ``observation_end``, frequency_holdout counts purchase
    days in (calibration_end, observation_end] and duration_holdout is that span.
    """
    unit = _unit_days(time_unit)
    cal_end = pd.Timestamp(calibration_end).normalize()
    frame = transactions[[customer_id_col, datetime_col, monetary_value_col]]
    day = pd.to_datetime(frame[datetime_col]).to_numpy().astype("datetime64[D]").astype(np.int64)
    cust, ids = pd.factorize(frame[customer_id_col], sort=True)
    amount = frame[monetary_value_col].to_numpy(dtype=np.float64)
    # Merge same-day purchases: one row per (customer, day).
    key = cust.astype(np.int64) * (day.max(initial=0) - day.min(initial=0) + 1) + (
        day - day.min(initial=0)
    )
    if len(key) and bool((key[1:] >= key[:-1]).all()):  # by customer and time (as the CAR's)
        change = np.r_[True, key[1:] != key[:-1]]
        inverse = np.cumsum(change) - 1
        first_row = np.flatnonzero(change)
    else:
        uniq, inverse = np.unique(key, return_inverse=True)
        first_row = np.full(len(uniq), len(key))
        np.minimum.at(first_row, inverse, np.arange(len(key)))
    day_amount = np.bincount(inverse, weights=amount)
    d_cust = cust[first_row]
    d_day = day[first_row]
    cal_day = int(np.datetime64(cal_end, "D").astype(np.int64))
    in_cal = d_day <= cal_day
    n = len(ids)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, d_cust[in_cal], d_day[in_cal])
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, d_cust[in_cal], d_day[in_cal])
    days_in_cal = np.bincount(d_cust[in_cal], minlength=n)
    is_first_day = in_cal & (d_day == first[d_cust])
    repeat = in_cal & ~is_first_day
    repeat_value = np.bincount(d_cust[repeat], weights=day_amount[repeat], minlength=n)
    seen = days_in_cal > 0
    frequency = np.maximum(days_in_cal - 1, 0)
    out = pd.DataFrame(
        {
            "frequency": frequency[seen].astype(np.float64),
            "recency": (last[seen] - first[seen]) / unit,
            "T": (cal_day - first[seen]) / unit,
            "monetary_value": np.where(
                frequency[seen] > 0, repeat_value[seen] / np.maximum(frequency[seen], 1), 0.0
            ),
        },
        index=pd.Index(np.asarray(ids)[seen], name=customer_id_col),
    )
    if observation_end is not None:
        obs_day = int(
            np.datetime64(pd.Timestamp(observation_end).normalize(), "D").astype(np.int64)
        )
        holdout = (d_day > cal_day) & (d_day <= obs_day)
        out["frequency_holdout"] = np.bincount(d_cust[holdout], minlength=n)[seen].astype(
            np.float64
        )
        out["duration_holdout"] = (obs_day - cal_day) / unit
    return out


def _unit_days(time_unit: str) -> float:
    if time_unit not in DAYS_PER_UNIT:
        raise ProfilerError(
            f"Unknown time unit '{clip(time_unit)}'. Expected D (days), W (weeks) or M (months)."
        )
    return DAYS_PER_UNIT[time_unit]


# ---------------------------------------------------------------------------------------------
# fitting helpers


# Why a fit runs away, by model: what to check in the data.
RUNAWAY_CAUSES = {
    "BG/NBD": "check the time unit (weeks suit most retail data), that enough customers repeat, "
    "and that dates are right",
    "Gamma-Gamma": "the likely cause is spend nearly constant per customer (the model learns "
    "from how a customer's order values vary); P(alive) and expected orders do not need it",
}


def _fit(
    objective: Any, x0: np.ndarray, names: tuple[str, ...], model: str
) -> tuple[np.ndarray, float, np.ndarray]:
    """Maximise a log-likelihood; return the estimates, the log-likelihood and standard errors.

    ``objective(params)`` gives the total negative log-likelihood and its analytic gradient.  The
    search runs over log-parameters (all parameters are positive) on the per-customer mean, so
    tolerances do not depend on the number of customers; a few Newton steps on the numerical
    Hessian of the analytic gradient then polish the optimum to the papers' printed precision.
    """
    n = max(objective.customers, 1)

    def mean_neg(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        value, grad = objective(params)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros_like(theta)
        return value / n, grad * params / n

    with np.errstate(all="ignore"):
        result = optimize.minimize(
            mean_neg,
            np.log(x0),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
        )
        theta, value = result.x, result.fun
        for _ in range(8):
            _, grad = mean_neg(theta)
            hess = _hessian(lambda t: mean_neg(t)[1], theta)
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                break
            candidate = theta - step
            new_value = mean_neg(candidate)[0]
            if not new_value <= value:
                break
            theta, value = candidate, new_value
            if np.max(np.abs(step)) < 1e-12:
                break
    params = np.exp(theta)
    if not np.isfinite(value) or not np.all(np.isfinite(params)) or np.any(params > 1e8):
        away = [
            f"{name} = {value:.3g}"
            for name, value in zip(names, params, strict=True)
            if not np.isfinite(value) or value > 1e8
        ]
        raise ConvergenceError(
            f"The {model} fit did not converge: {', '.join(away) or 'the likelihood'} ran away; "
            f"{RUNAWAY_CAUSES.get(model, 'check the data')}."
        )
    with np.errstate(all="ignore"):
        hess = _hessian(lambda p: objective(p)[1], params)
        try:
            variance = np.diag(np.linalg.inv(hess))
        except np.linalg.LinAlgError:
            variance = np.full(len(params), np.nan)
    se = np.sqrt(np.where(variance > 0, variance, np.nan))
    return params, -float(objective(params)[0]), se


def _hessian(gradient: Any, point: np.ndarray) -> np.ndarray:
    """Central differences of an analytic gradient, symmetrised."""
    k = len(point)
    h = np.maximum(np.abs(point) * 1e-5, 1e-8)
    hess = np.empty((k, k))
    for j in range(k):
        up, down = point.copy(), point.copy()
        up[j] += h[j]
        down[j] -= h[j]
        hess[:, j] = (gradient(up) - gradient(down)) / (2 * h[j])
    return (hess + hess.T) / 2


class _ByFrequency:
    """Distinct frequencies and their counts: terms that depend only on x are computed once per
    distinct x (a few hundred values) instead of once per customer."""

    def __init__(self, x: np.ndarray) -> None:
        self.values, self.counts = np.unique(x, return_counts=True)
        self.customers = len(x)

    def total(self, per_value: np.ndarray) -> float:
        return float(np.dot(self.counts, per_value))


class _BgNbdObjective(_ByFrequency):
    """Total negative log-likelihood of FHL05 equation (6) and its analytic gradient.

    With A1..A4 as in the paper, L = ln(e^A3 + [x > 0] e^A4) and w4 = [x > 0] e^(A4 - L),
    w3 = 1 - w4, the partial derivatives of ln L_i are
      d/dr     = psi(r + x) - psi(r) + ln alpha - w3 ln(alpha + T) - w4 ln(alpha + t_x)
      d/dalpha = r / alpha - (r + x) (w3 / (alpha + T) + w4 / (alpha + t_x))
      d/da     = psi(a + b) - psi(a + b + x) + w4 / a
      d/db     = psi(a + b) + psi(b + x) - psi(b) - psi(a + b + x) - w4 / (b + x - 1).
    """

    def __init__(self, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> None:
        super().__init__(x)
        self.x, self.t_x, self.big_t = x, t_x, big_t
        self.repeat = x > 0
        self.x_less_1 = np.where(self.repeat, x - 1, 0.0)

    def __call__(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = params
        x, xs, n = self.x, self.values, self.customers
        ln_aT = np.log(alpha + self.big_t)
        ln_atx = np.log(alpha + self.t_x)
        a3 = -(r + x) * ln_aT
        b_x1 = b + self.x_less_1
        a4 = np.where(self.repeat, np.log(a) - np.log(b_x1) - (r + x) * ln_atx, -np.inf)
        big_l = np.logaddexp(a3, a4)
        w4 = np.exp(a4 - big_l)
        w3 = 1.0 - w4
        by_x = (
            special.gammaln(r + xs)
            + special.gammaln(a + b)
            + special.gammaln(b + xs)
            - special.gammaln(b)
            - special.gammaln(a + b + xs)
        )
        loglik = self.total(by_x) + n * (r * np.log(alpha) - special.gammaln(r)) + big_l.sum()
        psi_abx = special.digamma(a + b + xs)
        grad = np.array(
            [
                self.total(special.digamma(r + xs))
                + n * (np.log(alpha) - special.digamma(r))
                - np.dot(w3, ln_aT)
                - np.dot(w4, ln_atx),
                n * r / alpha - np.dot(r + x, w3 / (alpha + self.big_t) + w4 / (alpha + self.t_x)),
                self.total(special.digamma(a + b) - psi_abx) + w4.sum() / a,
                self.total(special.digamma(a + b) + special.digamma(b + xs) - psi_abx)
                - n * special.digamma(b)
                - np.sum(w4 / b_x1),
            ]
        )
        return -loglik, -grad


class _GammaGammaObjective(_ByFrequency):
    """Total negative log-likelihood of the Gamma-Gamma model (see GammaGammaModel.loglik) and
    its analytic gradient:
      d/dp     = x (psi(px + q) - psi(px) + ln m + ln x - ln(gamma + m x))
      d/dq     = psi(px + q) - psi(q) + ln gamma - ln(gamma + m x)
      d/dgamma = q / gamma - (px + q) / (gamma + m x).
    """

    def __init__(self, x: np.ndarray, m: np.ndarray) -> None:
        super().__init__(x)
        self.x, self.mx = x, m * x
        self.sum_ln_m = float(np.log(m).sum())
        self.sum_x_ln_m = float(np.dot(x, np.log(m)))
        self.sum_x_ln_x = float(np.dot(x, np.log(x)))

    def __call__(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, gamma = params
        xs, n = self.values, self.customers
        ln_gmx = np.log(gamma + self.mx)
        loglik = (
            self.total(special.gammaln(p * xs + q) - special.gammaln(p * xs))
            - n * special.gammaln(q)
            + n * q * np.log(gamma)
            + p * self.sum_x_ln_m
            - self.sum_ln_m
            + p * self.sum_x_ln_x
            - p * np.dot(self.x, ln_gmx)
            - q * ln_gmx.sum()
        )
        psi_pxq = special.digamma(p * xs + q)
        grad = np.array(
            [
                self.total(xs * (psi_pxq - special.digamma(p * xs)))
                + self.sum_x_ln_m
                + self.sum_x_ln_x
                - np.dot(self.x, ln_gmx),
                self.total(psi_pxq) - n * special.digamma(q) + n * np.log(gamma) - ln_gmx.sum(),
                n * q / gamma - np.sum((p * self.x + q) / (gamma + self.mx)),
            ]
        )
        return -loglik, -grad


# ---------------------------------------------------------------------------------------------
# BG/NBD


@dataclass
class BetaGeoModel:
    """The BG/NBD model of repeat purchasing (FHL05)."""

    params_: dict[str, float] | None = None
    standard_errors_: dict[str, float] | None = None
    loglik_: float | None = None
    customers_: int | None = None

    NAMES = ("r", "alpha", "a", "b")

    @staticmethod
    def loglik(
        params: np.ndarray, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """Per-customer log-likelihood, equation (6) of FHL05, in log space."""
        r, alpha, a, b = params
        x, t_x = frequency, recency
        ln_a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
        ln_a2 = (
            special.gammaln(a + b)
            + special.gammaln(b + x)
            - special.gammaln(b)
            - special.gammaln(a + b + x)
        )
        ln_a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            ln_a4 = np.where(
                x > 0,
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                -np.inf,
            )
        return ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)

    def fit(self, frequency: Any, recency: Any, T: Any) -> BetaGeoModel:
        """Maximum-likelihood estimates of r, alpha, a, b."""
        x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        if len(x) == 0:
            raise ConvergenceError("No customers to fit the BG/NBD model on.")
        if not (x > 0).any():
            raise ConvergenceError(
                "No customer made a repeat purchase: the BG/NBD model cannot be fitted. Use a longer calibration period."
            )

        scale = max(float(np.mean(big_t)), 1e-6)
        params, ll, se = _fit(
            _BgNbdObjective(x, t_x, big_t), np.array([1.0, scale, 1.0, 1.0]), self.NAMES, "BG/NBD"
        )
        self.params_ = dict(zip(self.NAMES, params.tolist(), strict=True))
        self.standard_errors_ = dict(zip(self.NAMES, se.tolist(), strict=True))
        self.loglik_ = ll
        self.customers_ = len(x)
        return self

    def _p(self) -> tuple[float, float, float, float]:
        if self.params_ is None:
            raise NotFittedError("The BG/NBD model is not fitted yet: call fit() first.")
        return tuple(self.params_[n] for n in self.NAMES)  # type: ignore[return-value]

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x)),
        as derived in Fader, Hardie & Lee's note "Computing P(alive) Using the BG/NBD Model"."""
        x = np.asarray(frequency, dtype=np.float64)
        odds = self._dropout_odds(x, recency, T)
        return np.where(x > 0, 1.0 / (1.0 + odds), 1.0)

    def _dropout_odds(self, x: np.ndarray, recency: Any, T: Any) -> np.ndarray:
        """a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x): the odds that a repeat buyer
        dropped out after the last purchase, shared by P(alive) and equation (10)."""
        r, alpha, a, b = self._p()
        t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (recency, T))
        with np.errstate(divide="ignore", invalid="ignore"):
            log_d = (
                np.log(a)
                - np.log(np.maximum(b + x - 1, 1e-300))
                + (r + x) * (np.log(alpha + big_t) - np.log(alpha + t_x))
            )
        return np.exp(np.minimum(log_d, 700))

    def expected_purchases_new(self, t: Any) -> np.ndarray:
        """E[X(t)] for a customer just acquired: equation (7) of FHL05."""
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype=np.float64)
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)

    def conditional_expected_purchases(
        self, t: Any, frequency: Any, recency: Any, T: Any
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in (T, T + t], equation (10) of FHL05."""
        r, alpha, a, b = self._p()
        x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
        t = np.asarray(t, dtype=np.float64)
        z = t / (alpha + big_t + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        numerator = (
            (a + b + x - 1)
            / (a - 1)
            * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp)
        )
        denominator = 1 + np.where(x > 0, self._dropout_odds(x, t_x, big_t), 0.0)
        return numerator / denominator


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma


@dataclass
class GammaGammaModel:
    """The Gamma-Gamma model of average transaction value (FH13; FHL05b)."""

    params_: dict[str, float] | None = None
    standard_errors_: dict[str, float] | None = None
    loglik_: float | None = None
    customers_: int | None = None
    excluded_: int = 0

    NAMES = ("p", "q", "gamma")

    @staticmethod
    def loglik(params: np.ndarray, frequency: np.ndarray, monetary_value: np.ndarray) -> np.ndarray:
        """Per-customer log-likelihood of the mean of x transactions: the marginal density of the
        average transaction value given p, q and gamma in FH13 (the likelihood FHL05b maximise)."""
        p, q, gamma = params
        x, m = frequency, monetary_value
        return (
            special.gammaln(p * x + q)
            - special.gammaln(p * x)
            - special.gammaln(q)
            + q * np.log(gamma)
            + (p * x - 1) * np.log(m)
            + p * x * np.log(x)
            - (p * x + q) * np.log(gamma + m * x)
        )

    def fit(self, frequency: Any, monetary_value: Any) -> GammaGammaModel:
        """Fit on repeat customers (frequency > 0) with a positive mean repeat value."""
        x = np.asarray(frequency, dtype=np.float64)
        m = np.asarray(monetary_value, dtype=np.float64)
        repeat = x > 0
        usable = repeat & (m > 0) & np.isfinite(m)
        self.excluded_ = int((repeat & ~usable).sum())
        x, m = x[usable], m[usable]
        if len(x) < 2:
            raise ConvergenceError(
                "Fewer than two repeat customers with a positive spend: the Gamma-Gamma model cannot be fitted."
            )

        params, ll, se = _fit(
            _GammaGammaObjective(x, m),
            np.array([1.0, 1.0, max(float(np.mean(m)), 1e-6)]),
            self.NAMES,
            "Gamma-Gamma",
        )
        self.params_ = dict(zip(self.NAMES, params.tolist(), strict=True))
        self.standard_errors_ = dict(zip(self.NAMES, se.tolist(), strict=True))
        self.loglik_ = ll
        self.customers_ = len(x)
        return self

    def expected_average_spend(self, frequency: Any, monetary_value: Any) -> np.ndarray:
        """E[M | x, m_x] = (q - 1)/(px + q - 1) x gamma p/(q - 1) + px/(px + q - 1) x m_x: the
        conditional expectation of FH13, a weighted mean of the population mean and the customer's."""
        if self.params_ is None:
            raise NotFittedError("The Gamma-Gamma model is not fitted yet: call fit() first.")
        p, q, gamma = (self.params_[n] for n in self.NAMES)
        x = np.asarray(frequency, dtype=np.float64)
        m = np.nan_to_num(np.asarray(monetary_value, dtype=np.float64))
        denominator = p * x + q - 1
        # With q <= 1 the population mean spend is infinite: no estimate for non-repeaters.
        return np.where(
            denominator > 0, p * (gamma + x * m) / np.where(denominator > 0, denominator, 1), np.nan
        )


# ---------------------------------------------------------------------------------------------
# CLV


def customer_lifetime_value(
    bgnbd: BetaGeoModel,
    gamma_gamma: GammaGammaModel,
    rfm: pd.DataFrame,
    *,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    time_unit: str = "W",
) -> np.ndarray:
    """Discounted value of the next ``months`` months, in the currency of the amounts.

    Sum over months i = 1..H of (E[Y(i)] - E[Y(i-1)]) x E[M] / (1 + d)^i, with E[Y] from
    equation (10) of FHL05 and E[M] from the Gamma-Gamma model (FHL05b, section on CLV).
    """
    unit = _unit_days(time_unit)
    spend = gamma_gamma.expected_average_spend(rfm["frequency"], rfm["monetary_value"])
    x, t_x, big_t = (rfm[c].to_numpy(dtype=np.float64) for c in ("frequency", "recency", "T"))

    def expected_by(i: int) -> np.ndarray:
        return bgnbd.conditional_expected_purchases(i * DAYS_PER_UNIT["M"] / unit, x, t_x, big_t)

    # The months' E[Y] are independent and scipy's special functions release the GIL.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        cumulative = list(pool.map(expected_by, range(1, months + 1)))
    value = np.zeros(len(rfm))
    previous = np.zeros(len(rfm))
    for i, expected in enumerate(cumulative, start=1):
        value += (expected - previous) * spend / (1 + monthly_discount_rate) ** i
        previous = expected
    return value


def fitted_json(model: BetaGeoModel | GammaGammaModel) -> dict[str, Any]:
    """A fitted model's estimates and log-likelihood, for car_meta.json and --json."""
    assert model.params_ is not None
    return {**{k: _num(v) for k, v in model.params_.items()}, "loglik": _num(model.loglik_)}


@dataclass
class ClvFit:
    """Both models fitted on one RFM table."""

    rfm: pd.DataFrame
    bgnbd: BetaGeoModel
    gamma_gamma: GammaGammaModel
    time_unit: str

    def as_json(self) -> dict[str, Any]:
        """The figures ``profiler clv fit --json`` prints."""
        gg = self.gamma_gamma
        return {
            "customers": int(len(self.rfm)),
            "bgnbd": fitted_json(self.bgnbd),
            "gamma_gamma": {**fitted_json(gg), "customers": int(gg.customers_ or 0)},
        }

    def parameter_table(self) -> pd.DataFrame:
        """model, parameter, estimate, standard error: for the screen and the workbook."""
        rows = []
        for model, fitted in (("BG/NBD", self.bgnbd), ("Gamma-Gamma", self.gamma_gamma)):
            assert fitted.params_ is not None and fitted.standard_errors_ is not None
            for name, value in fitted.params_.items():
                rows.append(
                    {
                        "model": model,
                        "parameter": name,
                        "estimate": value,
                        "standard_error": fitted.standard_errors_[name],
                    }
                )
        return pd.DataFrame(rows)


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def fit_clv(rfm: pd.DataFrame, time_unit: str = "W") -> ClvFit:
    """Fit BG/NBD on every customer and Gamma-Gamma on repeat customers."""
    bg = BetaGeoModel().fit(rfm["frequency"], rfm["recency"], rfm["T"])
    gg = GammaGammaModel().fit(rfm["frequency"], rfm["monetary_value"])
    return ClvFit(rfm, bg, gg, time_unit)


def holdout_check(
    transactions: pd.DataFrame,
    as_of: pd.Timestamp,
    weeks: int = 52,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "ordered_at",
    monetary_value_col: str = "net_gbp",
) -> pd.DataFrame:
    """Predicted vs actual purchases in the last ``weeks`` to ``as_of`` when the model is fitted
    on the time before (``clv_validation_table``): the CLV model's calibration check, which
    ``profiler build`` stores in the CAR folder for the workbook's Potential Value sheet."""
    rfm = rfm_from_transactions(
        transactions,
        customer_id_col=customer_id_col,
        datetime_col=datetime_col,
        monetary_value_col=monetary_value_col,
        calibration_end=as_of - pd.Timedelta(weeks=weeks),
        observation_end=as_of,
    )
    return clv_validation_table(fit_clv(rfm))


def clv_validation_table(fit: ClvFit) -> pd.DataFrame:
    """Predicted vs actual repeat purchases in the holdout, by calibration frequency 0..7+ and in total."""
    rfm = fit.rfm
    if "frequency_holdout" not in rfm:
        raise ProfilerError(
            "The RFM table has no holdout: give an observation end after the calibration end."
        )
    predicted = fit.bgnbd.conditional_expected_purchases(
        rfm["duration_holdout"], rfm["frequency"], rfm["recency"], rfm["T"]
    )
    band = np.minimum(rfm["frequency"].to_numpy(), 7).astype(int)
    frame = pd.DataFrame(
        {"band": band, "predicted": predicted, "actual": rfm["frequency_holdout"].to_numpy()}
    )
    table = (
        frame.groupby("band")
        .agg(customers=("actual", "size"), actual=("actual", "sum"), predicted=("predicted", "sum"))
        .reset_index()
    )
    table["calibration_frequency"] = table["band"].map(lambda v: "7+" if v == 7 else str(v))
    total = pd.DataFrame(
        [
            {
                "calibration_frequency": "total",
                "customers": len(frame),
                "actual": frame["actual"].sum(),
                "predicted": frame["predicted"].sum(),
            }
        ]
    )
    table = pd.concat(
        [table[["calibration_frequency", "customers", "actual", "predicted"]], total],
        ignore_index=True,
    )
    table["difference_pct"] = (
        (table["predicted"] - table["actual"]) / table["actual"].where(table["actual"] > 0) * 100
    )
    return table


def read_transactions(
    path: str | Path, customer_col: str, date_col: str, amount_col: str
) -> pd.DataFrame:
    """A CSV or Parquet transaction file with the three named columns (one-line error otherwise)."""
    import difflib

    path = Path(path)
    if not path.exists():
        raise ProfilerError(f"{path}: no such file.")
    try:
        # Dates are read as text: a compact 19970101 must not become a number.
        frame = (
            pd.read_parquet(path)
            if path.suffix == ".parquet"
            else pd.read_csv(path, dtype={date_col: str})
        )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ProfilerError(f"{path}: cannot be read ({str(exc).splitlines()[0]}).") from None
    for column in (customer_col, date_col, amount_col):
        if column not in frame.columns:
            close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1)
            hint = (
                f" Did you mean '{close[0]}'?"
                if close
                else f" Columns: {', '.join(map(str, frame.columns))}."
            )
            raise ProfilerError(f"{path}: no column '{column}'.{hint}")
    dates = pd.to_datetime(frame[date_col], errors="coerce", format="mixed")
    if dates.isna().all():
        raise ProfilerError(
            f"{path}: column '{date_col}' holds no dates (first value {frame[date_col].iloc[0]!r})."
        )
    amounts = pd.to_numeric(frame[amount_col], errors="coerce")
    bad = int((dates.isna() | amounts.isna()).sum())
    out = pd.DataFrame(
        {"customer_id": frame[customer_col], "ordered_at": dates, "net_amount": amounts}
    )
    out.attrs["unreadable_rows"] = bad
    return out.dropna(subset=["ordered_at", "net_amount"])
