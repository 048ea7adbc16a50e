"""CLV models: published estimates, parameter recovery, conditional expectations against
numerical integration, the transaction summary against a brute force, and the CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from profiler.clv import (
    BetaGeoModel,
    ConvergenceError,
    GammaGammaModel,
    clv_validation_table,
    customer_lifetime_value,
    fit_clv,
    rfm_from_transactions,
)
from profiler.errors import NotFittedError
from workbook.cli import main

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    """The CDNOW sample summary (2,357 customers, 39-week calibration) used by the papers."""
    return pd.read_csv(DATA / "cdnow_summary.csv")


@pytest.fixture(scope="module")
def cdnow_transactions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CDNOW sample transactions (customer, date yyyymmdd, amount) as a CSV file."""
    raw = pd.read_csv(
        DATA / "cdnow_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer", "date", "cds", "amount"],
        dtype={"date": str},
    )
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    raw[["customer", "date", "amount"]].to_csv(path, index=False)
    return path


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow_summary: pd.DataFrame) -> None:
    """FHL05 ("Counting Your Customers the Easy Way"), section 5: r = 0.243, alpha = 4.414,
    a = 0.793, b = 2.426, LL = -9582.4 on the CDNOW sample."""
    model = BetaGeoModel().fit(cdnow_summary["x"], cdnow_summary["t_x"], cdnow_summary["T"])
    p = model.params_
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["a"], 3), round(p["b"], 3)) == (
        0.243,
        4.414,
        0.793,
        2.426,
    )
    assert round(model.loglik_, 1) == -9582.4
    assert model.customers_ == 2357
    assert all(0 < se < 1 for se in model.standard_errors_.values())


@pytest.fixture(scope="module")
def cdnow_calibration(cdnow_transactions: Path) -> pd.DataFrame:
    """The summary of the raw CDNOW transactions over the papers' 39-week calibration."""
    transactions = pd.read_csv(cdnow_transactions, dtype={"date": str})
    transactions["date"] = pd.to_datetime(transactions["date"], format="%Y%m%d")
    return rfm_from_transactions(
        transactions,
        customer_id_col="customer",
        datetime_col="date",
        monetary_value_col="amount",
        calibration_end="1997-09-30",
    )


def test_gamma_gamma_reproduces_fader_hardie_note(cdnow_calibration: pd.DataFrame) -> None:
    """Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": p = 6.25, q = 3.74,
    gamma = 15.44 on the 946 CDNOW customers with a repeat purchase in weeks 1-39."""
    summary = cdnow_calibration
    model = GammaGammaModel().fit(summary["frequency"], summary["monetary_value"])
    p = model.params_
    assert (round(p["p"], 2), round(p["q"], 2), round(p["gamma"], 2)) == (6.25, 3.74, 15.44)
    assert model.customers_ == 946


def test_summary_reproduces_the_published_cdnow_summary(
    cdnow_calibration: pd.DataFrame, cdnow_summary: pd.DataFrame
) -> None:
    summary = cdnow_calibration
    assert len(summary) == len(cdnow_summary) == 2357
    assert summary.index.tolist() == cdnow_summary["ID"].tolist()
    np.testing.assert_array_equal(summary["frequency"].to_numpy(), cdnow_summary["x"].to_numpy())
    np.testing.assert_allclose(
        summary["recency"].to_numpy(), cdnow_summary["t_x"].to_numpy(), atol=0.006
    )
    np.testing.assert_allclose(summary["T"].to_numpy(), cdnow_summary["T"].to_numpy(), atol=0.006)


def test_summary_against_brute_force() -> None:
    rows = [
        ("a", "2024-01-01 10:00", 100.0),
        ("a", "2024-01-01 15:00", 50.0),  # same day: merged with the first purchase
        ("a", "2024-01-15 09:00", 30.0),
        ("a", "2024-01-29 09:00", 70.0),
        ("a", "2024-03-01 09:00", 999.0),  # after the calibration end: holdout
        ("b", "2024-02-01 12:00", 20.0),  # one purchase only
        ("c", "2024-02-20 12:00", 10.0),
        ("c", "2024-02-20 18:00", 5.0),  # one purchase day only
        ("d", "2024-03-05 12:00", 10.0),  # first purchase after calibration: left out
    ]
    tx = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "net_amount"])
    tx["ordered_at"] = pd.to_datetime(tx["ordered_at"])
    summary = rfm_from_transactions(
        tx, calibration_end="2024-02-29", observation_end="2024-03-31", time_unit="D"
    )
    # worked by hand: a buys on 01-01 (150), 01-15 (30), 01-29 (70) in calibration
    expected = pd.DataFrame(
        {
            "frequency": [2.0, 0.0, 0.0],
            "recency": [28.0, 0.0, 0.0],
            "T": [59.0, 28.0, 9.0],
            "monetary_value": [50.0, 0.0, 0.0],
            "frequency_holdout": [1.0, 0.0, 0.0],
            "duration_holdout": [31.0, 31.0, 31.0],
        },
        index=pd.Index(["a", "b", "c"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(summary, expected)
    shuffled = tx.iloc[[4, 8, 1, 6, 0, 7, 3, 5, 2]]  # not by customer and time: the sorting path
    pd.testing.assert_frame_equal(
        rfm_from_transactions(
            shuffled, calibration_end="2024-02-29", observation_end="2024-03-31", time_unit="D"
        ),
        expected,
    )
    weeks = rfm_from_transactions(tx, calibration_end="2024-02-29", time_unit="W")
    assert weeks.loc["a", "T"] == pytest.approx(59 / 7)


def _simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, seed: int) -> pd.DataFrame:
    """Customers from the BG/NBD story: Poisson purchases at rate lambda ~ Gamma(r, alpha),
    dropping out after each repeat purchase with probability p ~ Beta(a, b)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    big_t = rng.uniform(30, 80, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.exponential(1 / np.maximum(lam, 1e-12))
        made = alive & (t <= big_t)
        x[made] += 1
        t_x[made] = t[made]
        alive = made & (rng.random(n) >= p)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": big_t})


def test_bgnbd_recovers_known_parameters() -> None:
    truth = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    data = _simulate_bgnbd(50_000, *truth.values(), seed=7)
    fitted = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"]).params_
    for name, value in truth.items():
        assert fitted[name] == pytest.approx(value, rel=0.08), name


def test_gamma_gamma_recovers_known_parameters() -> None:
    rng = np.random.default_rng(3)
    n, p, q, gamma = 50_000, 6.0, 4.0, 15.0
    nu = rng.gamma(q, 1 / gamma, n)
    x = rng.integers(1, 8, n)
    totals = rng.gamma(p * x, 1 / nu)  # sum of x Gamma(p, nu) transactions
    fitted = GammaGammaModel().fit(x, totals / x).params_
    assert fitted["p"] == pytest.approx(p, rel=0.05)
    assert fitted["q"] == pytest.approx(q, rel=0.05)
    assert fitted["gamma"] == pytest.approx(gamma, rel=0.08)


def _posterior_expectation(
    params: tuple[float, float, float, float], x: float, t_x: float, big_t: float, t: float
) -> tuple[float, float]:
    """P(alive) and E[Y(t) | x, t_x, T] by integrating over lambda and p directly."""
    r, alpha, a, b = params
    prior_lam = stats.gamma(r, scale=1 / alpha)
    prior_p = stats.beta(a, b)

    def likelihood(lam: np.ndarray, p: np.ndarray, alive_only: bool) -> np.ndarray:
        alive = (1 - p) ** x * lam**x * np.exp(-lam * big_t)
        dead = p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x) if x > 0 else 0.0 * p
        return alive if alive_only else alive + dead

    # Integrate over the prior quantiles (u, v) on the unit square, where the integrand is
    # smooth, with a tensor Gauss-Legendre rule: the posterior is never written in closed form.
    nodes, weights = np.polynomial.legendre.leggauss(800)
    nodes, weights = (nodes + 1) / 2, weights / 2
    lam = prior_lam.ppf(nodes)[:, None]
    p = prior_p.ppf(nodes)[None, :]
    grid_weights = weights[:, None] * weights[None, :]

    def integral(f) -> float:
        return float(np.sum(grid_weights * f(lam, p)))

    total = integral(lambda lam, p: likelihood(lam, p, False))
    alive = integral(lambda lam, p: likelihood(lam, p, True))
    expected = integral(lambda lam, p: likelihood(lam, p, True) * (1 - np.exp(-lam * p * t)) / p)
    return alive / total, expected / total


@pytest.mark.parametrize(("x", "t_x", "big_t"), [(0, 0.0, 30.0), (2, 20.0, 35.0), (5, 10.0, 40.0)])
def test_conditional_expectation_and_p_alive_match_numerical_integration(
    x: int, t_x: float, big_t: float
) -> None:
    """Equation (10) of FHL05 and P(alive), against a direct integral over the posterior."""
    params = (0.6, 5.0, 1.4, 2.5)
    model = BetaGeoModel(params_=dict(zip(BetaGeoModel.NAMES, params, strict=True)))
    p_alive, expected = _posterior_expectation(params, x, t_x, big_t, t=26.0)
    assert model.probability_alive(x, t_x, big_t) == pytest.approx(p_alive, rel=1e-4)
    assert model.conditional_expected_purchases(26.0, x, t_x, big_t) == pytest.approx(
        expected, rel=1e-4
    )


def test_expected_purchases_of_a_new_customer_match_simulation() -> None:
    """Equation (7) of FHL05 against the mean count of 200,000 simulated new customers."""
    params = {"r": 0.5, "alpha": 6.0, "a": 0.8, "b": 2.5}
    counts = _simulate_to_horizon(200_000, params, horizon=40.0, seed=14)
    model = BetaGeoModel(params_=params)
    assert model.expected_purchases_new(40.0) == pytest.approx(counts.mean(), rel=0.03)


def _simulate_to_horizon(n: int, params: dict[str, float], horizon: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    count = np.zeros(n)
    t = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.exponential(1 / np.maximum(lam, 1e-12))
        made = alive & (t <= horizon)
        count[made] += 1
        alive = made & (rng.random(n) >= p)
    return count


def test_errors_are_clear() -> None:
    with pytest.raises(NotFittedError):
        BetaGeoModel().probability_alive(1, 1, 2)
    with pytest.raises(ConvergenceError, match="No customer made a repeat purchase"):
        BetaGeoModel().fit([0, 0], [0, 0], [10, 12])
    rng = np.random.default_rng(5)
    x = rng.integers(1, 6, 2_000).astype(float)
    m = rng.gamma(x * 6.0, 1 / (x * rng.gamma(4.0, 1 / 15.0, 2_000)))
    m[:3] = [0.0, -5.0, np.nan]  # a refund-only customer, a net negative one, a missing value
    model = GammaGammaModel().fit(x, m)
    assert model.excluded_ == 3 and model.customers_ == 1_997
    with pytest.raises(ConvergenceError, match="Gamma-Gamma"):
        GammaGammaModel().fit([0, 1], [0.0, 5.0])


def test_clv_is_discounted_expected_value(cdnow_summary: pd.DataFrame) -> None:
    summary = cdnow_summary.rename(
        columns={"x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    )
    fit = fit_clv(summary)
    value = customer_lifetime_value(
        fit.bgnbd, fit.gamma_gamma, summary, months=12, monthly_discount_rate=0.0
    )
    weeks = 12 * 365.25 / 12 / 7
    undiscounted = fit.bgnbd.conditional_expected_purchases(
        weeks, summary["frequency"], summary["recency"], summary["T"]
    ) * fit.gamma_gamma.expected_average_spend(summary["frequency"], summary["monetary_value"])
    np.testing.assert_allclose(value, undiscounted, rtol=1e-9)
    discounted = customer_lifetime_value(
        fit.bgnbd, fit.gamma_gamma, summary, months=12, monthly_discount_rate=0.01
    )
    assert (discounted <= value + 1e-12).all() and (discounted > 0.85 * value).all()


def _cdnow_args(command: str, path: Path) -> list[str]:
    """``profiler clv COMMAND`` on the CDNOW file with the papers' 39-week calibration."""
    return [
        "clv",
        command,
        str(path),
        "--customer-col",
        "customer",
        "--date-col",
        "date",
        "--amount-col",
        "amount",
        "--calibration-end",
        "1997-09-30",
    ]


def test_cli_fit_json_has_exactly_the_documented_shape(
    cdnow_transactions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _cdnow_args("fit", cdnow_transactions)
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"customers", "bgnbd", "gamma_gamma"}
    assert set(out["bgnbd"]) == {"r", "alpha", "a", "b", "loglik"}
    assert set(out["gamma_gamma"]) == {"p", "q", "gamma", "loglik", "customers"}
    assert out["customers"] == 2357 and out["gamma_gamma"]["customers"] == 946
    assert round(out["bgnbd"]["r"], 3) == 0.243 and round(out["bgnbd"]["loglik"], 1) == -9582.4
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "standard_error" in text and "-9,582.43" in text
    assert main([*args[:3], "--customer-col", "cust", *args[5:]]) == 1
    assert "Did you mean 'customer'?" in capsys.readouterr().err


def test_cli_validate_on_cdnow_holdout(
    cdnow_transactions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*_cdnow_args("validate", cdnow_transactions), "--holdout-end", "1998-06-30", "--csv"]
    assert main(args) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert list(table["calibration_frequency"]) == [
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7+",
        "total",
    ]
    total = table.iloc[-1]
    assert total["customers"] == 2357
    assert abs(total["predicted"] - total["actual"]) / total["actual"] < 0.15


def test_holdout_calibration_on_demo_data(tmp_path: Path) -> None:
    from profiler.demo import generate_demo

    generate_demo(3000, 5, tmp_path)
    lines = pd.read_parquet(tmp_path / "order_lines.parquet")
    kept = lines[lines["status"].astype(str) == "completed"]
    tx = pd.DataFrame(
        {
            "customer_id": kept["customer_id"],
            "ordered_at": kept["ordered_at"],
            "net_amount": kept["net_amount"] * kept["fx_to_reporting"],
        }
    )
    summary = rfm_from_transactions(
        tx, calibration_end=date(2025, 6, 30), observation_end=date(2026, 6, 30)
    )
    table = clv_validation_table(fit_clv(summary))
    total = table.iloc[-1]
    assert abs(total["predicted"] - total["actual"]) / total["actual"] < 0.25
