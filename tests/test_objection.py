"""Objection to profiling (preferences.profiling_opt_out): the customers who objected keep their
descriptive facts but get no model score, segment or persona; everyone else's values, and the
anonymous totals of the descriptive metrics, are those of a build where nobody objected.  The
engines' equality with objections is checked on the demo, which has them (test_out_of_core,
test_spark_build)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from profiler.car import build_car
from profiler.catalog import load_catalog
from profiler.cohorts import load_cohort_spec
from profiler.demo import generate_demo
from profiler.families import privacy
from profiler.loading import load_sources
from profiler.personas import fit_personas
from tests.built import Built
from tests.car_checks import assert_same_frames

TODAY = "2026-11-22"


@pytest.fixture(scope="module")
def two_folders(tmp_path_factory: pytest.TempPathFactory):
    """The demo retailer (300 customers) as given, and the same with every 7th customer who
    has a preferences row objecting to profiling."""
    plain = tmp_path_factory.mktemp("nobody-objected")
    generate_demo(300, 5, plain)
    objected = tmp_path_factory.mktemp("some-objected")
    for f in plain.iterdir():
        if f.is_file():
            shutil.copy(f, objected / f.name)
    prefs = pd.read_parquet(objected / "preferences.parquet")
    who = prefs["customer_id"].astype(str).iloc[::7].tolist()
    prefs["profiling_opt_out"] = prefs["customer_id"].astype(str).isin(who)
    prefs.to_parquet(objected / "preferences.parquet", index=False)
    return plain, objected, who


@pytest.fixture(scope="module")
def builds(two_folders):
    plain, objected, who = two_folders
    a = Built(load_sources(plain, today=TODAY), None)
    b = Built(load_sources(objected, today=TODAY), None)
    return a, b, who


def _mask(car: pd.DataFrame, who: list[str]) -> np.ndarray:
    return car["customer_id"].astype(str).isin(who).to_numpy()


def test_the_flag_is_in_the_car_and_false_without_preferences(builds, two_folders) -> None:
    a, b, who = builds
    assert not a.car["profiling_opt_out"].any()
    assert b.car["profiling_opt_out"].to_numpy().sum() == len(who) > 10
    assert (b.car["profiling_opt_out"].to_numpy() == _mask(b.car, who)).all()
    plain, _, _ = two_folders
    bare = load_sources(plain, today=TODAY, tables=["customers", "products", "order_lines"])
    car = build_car(bare).to_frame()
    assert car["profiling_opt_out"].dtype == bool and not car["profiling_opt_out"].any()


def test_who_objected_has_no_scores_and_the_others_are_unchanged(builds) -> None:
    a, b, who = builds
    withheld = privacy.withheld(b.result.definitions)
    for name in ("p_alive", "clv_12m", "potential_value_tier", "engagement_score"):
        assert name in withheld
    assert "strategy_segment" in withheld and "rfm_segment" in withheld
    mask = _mask(b.car, who)
    buyers = (b.car["orders_ltd"] > 0).to_numpy()
    assert (mask & buyers).sum() > 5  # some who objected would have had scores
    for name in withheld:
        assert b.car.loc[mask, name].isna().all(), name
        assert a.car.loc[mask & buyers, name].notna().any() or name.startswith("rfm"), name
    others = b.car.columns.drop("profiling_opt_out")
    assert_same_frames(a.car.loc[~mask, others], b.car.loc[~mask, others])
    kept = [c for c in others if c not in withheld]
    assert_same_frames(a.car[kept], b.car[kept])  # descriptive facts stay for everyone
    assert b.result.models == a.result.models  # fitted on everyone


def test_the_descriptive_totals_are_unchanged(builds) -> None:
    a, b, _ = builds
    catalog = load_catalog()
    withheld = set(privacy.withheld(b.result.definitions))

    def reads(name: str) -> set[str]:
        m = catalog.get(name)
        return set(m.columns_read).union(*(reads(p) for p in m.parts))

    names, _ = a.engine.available_metrics(list(catalog.metrics))
    metrics = [name for name in names if not reads(name) & withheld]
    assert "clv_12m_total" not in metrics  # covers the scored customers only
    assert len(metrics) > 10
    want = a.engine.values(metrics, ["All customers"])
    got = b.engine.values(metrics, ["All customers"])
    assert len(want) == len(metrics)
    assert np.allclose(want["value"], got["value"], equal_nan=True)
    assert (want["customers"].to_numpy() == got["customers"].to_numpy()).all()


def test_personas_skip_who_objected(builds) -> None:
    """Personas are clustered on the buyers who did not object (the CAR withholds the
    engagement score they cluster on from those who did)."""
    _, b, who = builds
    spec = dict(load_cohort_spec()["personas"], k=3)
    labels = pd.Series(np.asarray(fit_personas(b.car, spec).labels, dtype=object))
    mask = _mask(b.car, who)
    buyers = (b.car["orders_ltd"] > 0).to_numpy()
    assert labels[mask].isna().all()
    assert labels[~mask & buyers].notna().all()


def test_a_past_strategy_segment_is_withheld_too(builds) -> None:
    """Migration's segment at a past date is the CAR built then: none for who objected."""
    from profiler import migration

    _, b, who = builds
    day = f"{b.result.as_of - pd.Timedelta(days=365):%Y-%m-%d}"
    then = build_car(b.source, day).to_frame()
    member = migration.membership_at(b.source, day, "strategy")
    got = pd.Series(np.asarray(member.segment, dtype=object))
    want = then["strategy_segment"].astype(object)
    assert (got.isna().to_numpy() == want.isna().to_numpy()).all()
    assert (got.dropna().to_numpy() == want.dropna().to_numpy()).all()
    mask = _mask(then, who)
    assert got[mask].isna().all() and got[~mask].notna().any()
