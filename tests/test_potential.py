"""The CAR's potential-value and strategy-segment families against brute forces: a per-customer
summary worked out in plain Python from the order lines, and bands ranked by hand."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.car import build_car
from profiler.clv import customer_lifetime_value, fit_clv
from profiler.features import load_feature_spec
from profiler.loading import SourceData, load_sources
from tests import car_data
from tests.conftest import write_table
from tests.money import exact_pence

AS_OF = "2025-12-31"


@pytest.fixture(scope="module")
def demo_car(demo_source: SourceData) -> pd.DataFrame:
    frame = build_car(demo_source, AS_OF).to_frame()
    return frame.set_index("customer_id")


def brute_force_summary(source: SourceData, as_of: str) -> pd.DataFrame:
    """frequency, recency, T (weeks) and mean repeat-day value from each kept line, one by one
    (each line in whole pence of GBP, rounded half away from zero)."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    day_value: dict[str, dict[pd.Timestamp, float]] = defaultdict(lambda: defaultdict(float))
    for row in source.tables["order_lines"].itertuples():
        if row.ordered_at >= end or row.status == "cancelled":
            continue
        if row.status == "returned" and row.returned_at < end:
            continue  # back by D: not kept
        pence = exact_pence([row.net_amount], [row.fx_to_reporting])[0]
        day_value[row.customer_id][row.ordered_at.normalize()] += pence / 100
    rows = {}
    for customer, days in day_value.items():
        ordered = sorted(days)
        repeat = [days[d] for d in ordered[1:]]
        rows[customer] = {
            "frequency": float(len(repeat)),
            "recency": (ordered[-1] - ordered[0]).days / 7,
            "T": (pd.Timestamp(as_of) - ordered[0]).days / 7,
            "monetary_value": sum(repeat) / len(repeat) if repeat else 0.0,
        }
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def test_potential_value_matches_a_fit_on_the_brute_force_summary(
    demo_source: SourceData, demo_car: pd.DataFrame
) -> None:
    summary = brute_force_summary(demo_source, AS_OF)
    fit = fit_clv(summary)
    x, t_x, big_t = (summary[c] for c in ("frequency", "recency", "T"))
    expected = pd.DataFrame(
        {
            "p_alive": fit.bgnbd.probability_alive(x, t_x, big_t),
            "expected_orders_12m": fit.bgnbd.conditional_expected_purchases(
                365.25 / 7, x, t_x, big_t
            ),
            "expected_avg_spend": fit.gamma_gamma.expected_average_spend(
                x, summary["monetary_value"]
            ),
            "clv_12m": customer_lifetime_value(fit.bgnbd, fit.gamma_gamma, summary),
        },
        index=summary.index,
    )
    buyers = demo_car[demo_car["orders_ltd"] > 0]
    assert sorted(buyers.index) == list(summary.index)
    # The model is fitted on every buyer; who objected to profiling gets no score.
    objected = buyers["profiling_opt_out"].astype(bool)
    assert objected.any()
    scored = summary.index[~objected.loc[summary.index].to_numpy()]
    got = buyers.loc[scored, expected.columns]
    np.testing.assert_allclose(got.to_numpy(), expected.loc[scored].to_numpy(), rtol=1e-6)
    assert buyers.loc[objected, expected.columns].isna().all().all()
    prospects = demo_car[demo_car["orders_ltd"] == 0]
    assert prospects["p_alive"].isna().all() and prospects["clv_12m"].isna().all()
    tier = prospects["potential_value_tier"]
    assert (tier[~prospects["profiling_opt_out"].astype(bool)] == "prospect").all()


def _bands_by_hand(values: pd.Series, shares: list[float], labels: list[str]) -> pd.Series:
    ranked = sorted(values.index, key=lambda c: (-values[c], c))
    out = {}
    for position, customer in enumerate(ranked):
        above = position / len(ranked)
        out[customer] = next(
            label for share, label in zip(shares, labels, strict=True) if above < share
        )
    return pd.Series(out)


def test_strategy_segments_match_bands_worked_by_hand(
    demo_source: SourceData, demo_car: pd.DataFrame
) -> None:
    spec = load_feature_spec()
    strategy, tiers = spec["strategy_segments"], spec["potential_value"]["tiers"]
    buyers = demo_car[demo_car["orders_ltd"] > 0]
    # Bands rank every buyer, those who objected to profiling included (their CLV is withheld
    # from the CAR, so it comes from the brute-force fit here); they get no tier or segment.
    summary = brute_force_summary(demo_source, AS_OF)
    fit = fit_clv(summary)
    clv = pd.Series(customer_lifetime_value(fit.bgnbd, fit.gamma_gamma, summary), summary.index)
    objected = buyers["profiling_opt_out"].astype(bool)
    potential = _bands_by_hand(
        clv.loc[buyers.index], [t["top_share"] for t in tiers], [t["tier"] for t in tiers]
    )
    current = _bands_by_hand(
        buyers["spend_l12m"],
        [b["top_share"] for b in strategy["current_value"]],
        [b["band"] for b in strategy["current_value"]],
    )
    assert buyers.loc[objected, ["potential_value_tier", "strategy_segment"]].isna().all().all()
    for customer, row in buyers[~objected].iterrows():
        engagement = next(
            b["band"] for b in strategy["engagement"] if row["engagement_score"] >= b["min_score"]
        )
        cell = f"{current[customer]}/{potential[customer]}/{engagement}"
        assert row["potential_value_tier"] == potential[customer], customer
        assert row["current_value_band"] == current[customer], customer
        assert row["strategy_segment"] == strategy["names"][cell], customer
    assert demo_car.loc[demo_car["orders_ltd"] == 0, "strategy_segment"].isna().all()
    # the segments partition the buyers; the top 20% by potential are 'high'
    assert buyers.loc[~objected, "strategy_segment"].notna().all()
    assert (potential == "high").mean() == pytest.approx(0.2, abs=0.01)


def test_a_fit_that_fails_leaves_the_columns_empty_and_says_why(tmp_path: Path) -> None:
    """Four buyers cannot carry a BG/NBD fit: the build goes on and records the reason."""
    for name, rows in car_data.TABLES.items():
        write_table(tmp_path, name, rows)
    result = build_car(load_sources(tmp_path), car_data.AS_OF)
    assert "did not converge" in result.models["potential_value"]["error"]
    frame = result.to_frame()
    assert frame[["p_alive", "clv_12m", "strategy_segment"]].isna().all().all()
    buyers = frame["orders_ltd"] > 0
    assert frame.loc[buyers, "potential_value_tier"].isna().all()
    assert (frame.loc[~buyers, "potential_value_tier"] == "prospect").all()


def test_a_spend_model_that_runs_away_leaves_p_alive_and_expected_orders(
    tmp_path: Path, capsys
) -> None:
    """Every order of every customer costs the same: the Gamma-Gamma fit runs away (nothing
    varies to learn from) while the BG/NBD fit converges.  Only the spend and CLV columns are
    left empty; the note names the model, the parameters that ran away and the likely cause."""
    from workbook.cli import main

    rng = np.random.default_rng(1)
    rows = []
    for c in range(400):
        for k, day in enumerate(np.sort(rng.choice(700, rng.integers(1, 8), replace=False))):
            at = pd.Timestamp("2023-01-01") + pd.Timedelta(days=int(day))
            rows.append(
                {
                    "order_id": f"O{c}-{k}",
                    "customer_id": f"C{c}",
                    "ordered_at": f"{at:%Y-%m-%d}",
                    "net_amount": "100.00",
                }
            )
    write_table(tmp_path / "data", "order_lines", rows)
    result = build_car(load_sources(tmp_path / "data"), "2024-12-31")
    model = result.models["potential_value"]
    assert "error" not in model and model["bgnbd"]["loglik"] < 0
    said = model["gamma_gamma"]["error"]
    assert said.startswith("The Gamma-Gamma fit did not converge: p = ")
    assert "ran away" in said and "spend nearly constant per customer" in said
    frame = result.to_frame()
    buyers = frame["orders_ltd"] > 0
    assert frame.loc[buyers, ["p_alive", "expected_orders_12m"]].notna().all().all()
    assert frame[["expected_avg_spend", "clv_12m"]].isna().all().all()
    assert main(["build", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "car")]) == 0
    out = capsys.readouterr().out
    assert "BG/NBD fitted on 400 buyers" in out and "spend and CLV columns are empty" in out
