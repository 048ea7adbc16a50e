"""The query engine against the reference engine, and the cohort invariants.

``MetricEngine`` (tested value by value against hand-worked golden numbers) scans the order facts
for every question; ``QueryEngine`` answers from the pre-aggregated activity table.  Here every
metric of the catalog, for several cohorts and every kind of period, must agree between the two.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from profiler import views
from profiler.activity import build_activity
from profiler.car import build_car
from profiler.catalog import load_catalog
from profiler.cohorts import CohortSet
from profiler.errors import ProfilerError
from profiler.loading import load_sources
from profiler.metrics import MetricEngine
from profiler.query import QueryEngine
from tests import car_data
from tests.conftest import write_table

COHORTS = [
    "All customers",
    "Buyers",
    "Lifecycle: active",
    "Region: Europe",
    "Cross-channel explorers",
    "Treasured clients & Region: UK",
    "Europe best active",
]
PERIODS = ["2025", "2025-Q3", "2026-03", "ytd:2026-05", "r12:2026-06", "asof"]


@pytest.fixture(scope="module")
def engine(demo_car_dir) -> QueryEngine:
    return QueryEngine.open(demo_car_dir)


@pytest.fixture(scope="module")
def reference(engine: QueryEngine, demo_source) -> MetricEngine:
    return MetricEngine(engine.catalog, source=demo_source, car=engine.car, as_of=engine.as_of)


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-3)


@pytest.mark.parametrize("period", PERIODS)
def test_every_metric_matches_the_reference_engine(engine, reference, period) -> None:
    span = engine.period(period)
    # States at a past period's end are checked against builds as of that day (test_state.py).
    metrics = [
        m
        for m in engine.catalog.metrics
        if engine.supports(m, span) and (span.kind == "asof" or engine.timing(m) == "flow")
    ]
    table = engine.values(metrics, COHORTS, period)
    assert len(table) == len(metrics) * len(COHORTS)
    wrong = []
    for row in table.itertuples():
        expected = reference.value(row.metric, span, engine.cohorts.mask(row.cohort))
        if not same(expected, row.value):
            wrong.append((row.cohort, row.metric, expected, row.value))
    assert not wrong, wrong[:5]


def test_customer_counts_are_the_customers_with_data(engine, demo_source) -> None:
    """net_sales' customers = cohort members with a kept line in the period, counted by hand."""
    facts = MetricEngine(engine.catalog, source=demo_source).frame("order_lines")
    in_2025 = facts[(facts["ordered_at"].dt.year == 2025) & (facts["status"] == "completed")]
    members = set(engine.car.loc[engine.cohorts.mask("Region: Europe"), "customer_id"])
    expected = len(set(in_2025["customer_id"]) & members)
    table = engine.values(["net_sales", "aov"], ["Region: Europe"], "2025")
    assert table["customers"].tolist() == [expected, expected]  # aov: its denominator's


def test_segments_partition_the_buyers_and_add_up(engine) -> None:
    segments = engine.cohorts.group_names("Strategy segments")
    masks = np.array([engine.cohorts.mask(s) for s in segments])
    assert masks.sum(axis=0).max() == 1  # no customer in two segments
    # Every buyer is in one segment, except those who objected to profiling (no segment).
    buyers = engine.cohorts.mask("Buyers")
    objected = engine.car["profiling_opt_out"].to_numpy(dtype=bool)
    assert (objected & buyers).any()
    assert (masks.any(axis=0) == (buyers & ~objected)).all()
    table = engine.values(
        ["net_sales", "orders", "active_customers"], [*segments, "Buyers"], "2025"
    )
    wide = table.pivot(index="cohort", columns="metric", values="value")
    in_segments, everyone = wide.loc[segments].sum(), wide.loc["Buyers"]
    assert (in_segments <= everyone).all() and (in_segments >= 0.95 * everyone).all()
    for group in ("Lifecycle stages", "Regions", "Acquisition cohorts"):
        sizes = sum(engine.cohorts.size(c) for c in engine.cohorts.group_names(group))
        column = engine.cohorts.definitions[engine.cohorts.group_names(group)[0]].by
        assert sizes == engine.car[column].notna().sum()


def test_base_against_itself_indexes_at_100(engine) -> None:
    table = views.compare(engine, ["All customers"], period="2025", vs="2024")
    finite = table["index_vs_base"].dropna()
    assert len(finite) > 5 and np.allclose(finite, 100)
    dive = views.deep_dive(engine, "All customers", "r12:2026-06")
    assert np.allclose(dive["index"].dropna(), 100)
    assert set(dive["area"]) == set(views.AREAS)


def test_comparison_columns_are_differences_and_indices(engine) -> None:
    table = views.compare(
        engine, ["Region: Europe", "Store loyalists"], ["net_sales", "aov"], "2025", "2024"
    )
    for row in table.itertuples():
        now = engine.value(row.metric, row.cohort, "2025")
        before = engine.value(row.metric, row.cohort, "2024")
        base = engine.value(row.metric, "All customers", "2025")
        assert same(row.value, now) and same(row.vs_value, before)
        assert same(row.change_pct, (now - before) / abs(before))
        if row.metric == "net_sales":  # a total: per customer of each cohort
            size, base_size = engine.cohorts.size(row.cohort), engine.cohorts.size("All customers")
            assert same(row.index_vs_base, (now / size) / (base / base_size) * 100)
            assert same(row.diff_vs_base, now / size - base / base_size)
        else:  # a level (AOV): the plain ratio and difference
            assert same(row.index_vs_base, now / base * 100)
            assert same(row.diff_vs_base, now - base)
        # AOV and net sales are better higher: above the base is good.
        assert row.verdict_vs_base == ("good" if row.diff_vs_base > 0 else "bad")
    with pytest.raises(ProfilerError, match="At most 8"):
        views.compare(
            engine,
            engine.cohorts.group_names("Personas") + ["Buyers", "Region: UK", "Region: Europe"],
        )


def test_dashboard_against_prior_and_last_year(engine) -> None:
    board = views.dashboard(engine, "2026-Q1").set_index("metric")
    spend = board.loc["net_sales"]
    assert same(spend["value"], engine.value("net_sales", None, "2026-Q1"))
    assert same(spend["prior"], engine.value("net_sales", None, "2025-Q4"))
    assert same(spend["last_year"], engine.value("net_sales", None, "2025-Q1"))
    assert same(spend["vs_prior_pct"], spend["value"] / spend["prior"] - 1)
    assert (
        math.isnan(board.loc["debt_balance", "prior"])
        and "only" in board.loc["debt_balance", "note"]
    )
    assert board.loc["lapsed_customers", "value"] > 0


def test_small_cells_are_flagged(engine) -> None:
    table = engine.values(
        ["net_sales", "active_customers"],
        engine.cohorts.group_names("Strategy segments"),
        "2025-03",
    )
    assert (table["small"] == (table["customers"] < engine.cohorts.min_size)).all()
    assert table["small"].any() and not table["small"].all()


def test_cohort_errors_are_one_line_with_position_and_suggestion(engine) -> None:
    spec = {
        "base": "All customers",
        "groups": [
            {
                "group": "G",
                "cohorts": [
                    {"name": "All customers", "filter": ""},
                    {"name": "Bad", "filter": 'regoin == "Europe"'},
                ],
            }
        ],
    }
    with pytest.raises(ProfilerError, match="unknown column 'regoin'.*Did you mean 'region'"):
        CohortSet(engine.car, spec)
    spec["groups"][0]["cohorts"][1]["filter"] = 'region == "Europe" and'
    with pytest.raises(ProfilerError) as err:
        CohortSet(engine.car, spec)
    assert "\n" not in str(err.value) and "Bad" in str(err.value)
    spec["groups"][0]["cohorts"][1]["filter"] = "__import__('os').system('true')"
    with pytest.raises(ProfilerError):
        CohortSet(engine.car, spec)
    with pytest.raises(ProfilerError, match="Did you mean 'Treasured clients'"):
        engine.cohorts.mask("Treasured client")


def test_sub_segments_and_intersections(engine) -> None:
    cohorts = engine.cohorts
    inside = cohorts.mask("Treasured clients in Asia Pacific")
    expected = (
        cohorts.mask("Treasured clients") & (engine.car["region"] == "Asia Pacific").to_numpy()
    )
    assert (inside == expected).all()
    both = cohorts.mask("Treasured clients & Region: Asia Pacific")
    assert (both == expected).all()


def test_personas_are_reproducible_and_cover_buyers_only(engine) -> None:
    again = CohortSet(engine.car.drop(columns=["persona"], errors="ignore"), engine.cohorts.spec)
    first = engine.cohorts.car["persona"].astype(object).fillna("-").tolist()
    assert again.car["persona"].astype(object).fillna("-").tolist() == first
    buyers = engine.cohorts.mask("Buyers")  # but no persona for who objected to profiling
    profiled = buyers & ~engine.car["profiling_opt_out"].to_numpy(dtype=bool)
    assert engine.cohorts.car["persona"].notna().to_numpy().tolist() == profiled.tolist()
    sizes = [engine.cohorts.size(p) for p in engine.cohorts.group_names("Personas")]
    assert sizes == sorted(sizes, reverse=True)
    assert "sd" in engine.cohorts.personas.describe(engine.cohorts.group_names("Personas")[0])


def test_activity_uses_only_data_to_the_as_of_day(tmp_path) -> None:
    """Hand data as of 2024-12-31: O3 at 23:59:59 on D is in, O4 at 00:00 next day is out, O6
    returned after D is kept; the catalog and the CAR agree."""
    for table, rows in car_data.TABLES.items():
        write_table(tmp_path, table, rows)
    source = load_sources(tmp_path, today="2025-06-01")
    catalog = load_catalog()
    result = build_car(source, car_data.AS_OF)
    activity = build_activity(source, catalog, result.customer_ids, result.as_of)
    engine = QueryEngine(result.to_frame(), activity, catalog, as_of=result.as_of)
    assert engine.value("net_sales", None, "2024-12") == 5000
    assert engine.value("net_sales", None, "2025-01") == 0  # after D: not in the CAR's data
    # O6 (EUR 500 at 0.85) comes back after D: as of D it is a kept line of 2024.
    assert engine.value("net_sales", None, "2024") == 5000 + 85 + 425 + 120 + 60 + 80
    assert engine.value("returns_booked", None, "2025-01") == 0
    assert engine.value("returned_sales", None, "2024") == 0
    assert engine.value("orders", "All customers", "asof") == 8  # kept: O1-O3, O5, O6, O8-O10
    car = result.to_frame()
    assert engine.value("orders", "All customers", "asof") == car["orders_ltd"].sum()
    assert engine.value("net_sales", "All customers", "asof") == car["spend_ltd"].sum()
    assert not engine.complete(engine.period("2025-01")) and engine.complete(
        engine.period("2024-12")
    )


def test_views_carry_catalog_stamp_and_labels(engine) -> None:
    table = views.summary(engine, "2025")
    assert table.attrs["catalog"] == engine.catalog.stamp
    assert {"label", "unit", "customers", "small"} <= set(table.columns)
    assert table["cohort"].iloc[0] == "All customers"
    assert isinstance(table, pd.DataFrame)


def test_monthly_trend_equals_month_by_month_queries(engine) -> None:
    trend = engine.monthly(
        ["net_sales", "aov", "new_customers", "orders"], "2025-01", "2025-12", "Region: Europe"
    )
    assert trend["month"].tolist()[:2] == ["2025-01", "2025-02"] and len(trend) == 12
    for row in trend.itertuples():
        month = engine.values(
            ["net_sales", "aov", "new_customers", "orders"], ["Region: Europe"], row.month
        )
        expected = dict(zip(month["metric"], month["value"], strict=True))
        for name in ("net_sales", "aov", "new_customers", "orders"):
            assert same(getattr(row, name), expected[name]), (row.month, name)
    with pytest.raises(ProfilerError, match="as of the CAR's date only"):
        engine.monthly(["debt_balance"], "2025-01", "2025-02")


def test_empty_cohorts_count_zero_customers(engine) -> None:
    empty = "Buyers & Lifecycle: prospect"  # prospects have no purchases
    assert engine.cohorts.size(empty) == 0
    table = engine.values(["net_sales", "active_customers"], [empty, "Buyers", empty], "2025")
    assert table.loc[table["cohort"] == empty, "customers"].tolist() == [0, 0, 0, 0]
    assert table.loc[table["cohort"] == empty, "value"].fillna(0).tolist() == [0, 0, 0, 0]
