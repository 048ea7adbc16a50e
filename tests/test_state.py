"""State at any date: metrics of customer state taken at the end of each period.

On the demo, the state of every customer at the end of a past day, taken from a build as of D,
equals the CAR built as of that day (lifecycle stages now and a year before, orders to date), and
so do the state metrics.  On hand-made orders, retention rate rises from 2023 to 2024 as the
orders say it does; a metric that exists only at D answers "as of D", never a period's label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profiler import views
from profiler.errors import ProfilerError
from profiler.state import STATE_COLUMNS
from tests.built import Built
from tests.conftest import load_tables

DEMO_D = "2025-06-30"
PAST_DAYS = {"2024": "2024-12-31", "2024-Q2": "2024-06-30", "2023-09": "2023-09-30"}
STATE_METRICS = [
    "buyers",
    "stage_new",
    "stage_active",
    "stage_lapsing",
    "stage_lapsed",
    "stage_reactivated",
    "new_share",
    "active_share",
    "lapsed_share",
    "reactivated_share",
    "active_year_ago",
    "retained",
    "retention_rate",
    "churn_rate",
    "repeat_buyers",
    "repeat_rate",
]


@pytest.fixture(scope="module")
def demo_full(demo_source) -> Built:
    return Built(demo_source, DEMO_D)


@pytest.mark.parametrize("period", list(PAST_DAYS))
def test_state_at_a_period_end_equals_the_car_built_that_day(demo_source, demo_full, period):
    day = PAST_DAYS[period]
    then = Built(demo_source, day)
    engine = demo_full.engine
    state = engine.state(engine.state_day(engine.period(period))).copy()
    assert str(engine.state_day(engine.period(period)).date()) == day
    state.index = demo_full.car["customer_id"].to_numpy()
    # Customers created after the day are in the later CAR only: they had no orders then.
    later = ~state.index.isin(then.car["customer_id"])
    assert (state.loc[later, "orders_ltd"] == 0).all()
    assert (state.loc[later, "lifecycle_stage"] == "prospect").all()
    got = state.loc[then.car["customer_id"].to_numpy()]
    for column in STATE_COLUMNS:
        want = then.car[column].to_numpy()
        assert np.array_equal(np.asarray(got[column]), np.asarray(want)), column
    # Returns between the day and D are what makes this bite: those orders count on the day.
    lines = demo_source.tables["order_lines"]
    after = (lines["ordered_at"] <= day) & (
        lines["returned_at"] > pd.Timestamp(day) + pd.Timedelta(days=1)
    )
    assert after.sum() > 0
    stages = then.car["lifecycle_stage"].value_counts()
    assert (stages > 0).sum() >= 3
    # The state metrics of the period are the metrics of that CAR, for the whole base.
    base = engine.cohorts.base
    mine = engine.values(STATE_METRICS, [base], period)
    theirs = then.engine.values(STATE_METRICS, [base], "asof")
    assert list(mine["period"]) == [engine.period(period).label] * len(STATE_METRICS)
    np.testing.assert_array_equal(mine["value"].to_numpy(), theirs["value"].to_numpy())


def test_state_as_of_d_equals_the_car_columns(demo_full) -> None:
    engine = demo_full.engine
    state = engine.state(engine.as_of)
    for column in STATE_COLUMNS:
        assert np.array_equal(np.asarray(state[column]), demo_full.car[column].to_numpy()), column


# Hand-made orders, D = 2024-12-31 (lifecycle: active within 365 days, lapsed after 545).
# End of 2023 (a year before: 2022-12-31): A, B, C were active; only A still is -> 1/3.
# End of 2024 (a year before: 2024-01-01): A, D, E were active; A and D still are -> 2/3.
# F bought in June 2023 and returned everything in March 2024: active at the end of 2023, and
# no buyer at the end of 2024.
ORDERS = {
    "A": ["2022-03-01", "2023-03-01", "2024-03-01"],
    "B": ["2022-06-01"],
    "C": ["2022-05-01", "2024-02-01"],
    "D": ["2023-02-01", "2024-06-01"],
    "E": ["2023-05-01"],
    "F": ["2023-06-01"],
}


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> Built:
    rows = []
    for customer, days in ORDERS.items():
        for k, day in enumerate(days):
            back = customer == "F"
            rows.append(
                {
                    "order_id": f"{customer}{k}",
                    "customer_id": customer,
                    "ordered_at": day,
                    "net_amount": 100,
                    "status": "returned" if back else "completed",
                    "returned_at": "2024-03-01" if back else "",
                }
            )
    source = load_tables(tmp_path_factory.mktemp("state-hand"), {"order_lines": rows})
    return Built(source, "2024-12-31")


def test_retention_rises_where_it_rose(hand: Built) -> None:
    engine = hand.engine
    table = {
        p: engine.values(
            ["retention_rate", "retained", "active_year_ago"], [engine.cohorts.base], p
        )
        for p in ("2023", "2024", "asof")
    }
    values = {p: dict(zip(t["metric"], t["value"], strict=True)) for p, t in table.items()}
    assert values["2023"] == {"retention_rate": 1 / 3, "retained": 1, "active_year_ago": 3}
    assert values["2024"] == {"retention_rate": 2 / 3, "retained": 2, "active_year_ago": 3}
    assert values["asof"] == values["2024"]  # 2024 ends on D
    compared = views.compare(engine, [engine.cohorts.base], ["retention_rate"], "2024", vs="2023")
    row = compared.iloc[0]
    assert row["vs_period"] == "2023"
    assert row["change"] == pytest.approx(1 / 3)


def test_a_return_ends_a_purchase_on_its_day(hand: Built) -> None:
    engine = hand.engine
    base = engine.cohorts.base
    at = {}
    for p in ("2023", "2024"):
        table = engine.values(["buyers", "stage_active"], [base], p)
        at[p] = dict(zip(table["metric"], table["value"], strict=True))
    # End of 2023: A, D, E, F active (B, C lapsed): six buyers.  End of 2024: F's order is gone.
    assert at["2023"] == {"buyers": 6, "stage_active": 4}
    assert at["2024"]["buyers"] == 5


def test_repeat_rate_at_each_period_end(hand: Built) -> None:
    """End of 2023: A has two orders of the six buyers.  End of 2024: A, C and D have two or
    more of the five buyers (F's only order came back)."""
    engine = hand.engine
    for period, (repeat, rate) in {"2023": (1, 1 / 6), "2024": (3, 3 / 5)}.items():
        table = engine.values(["repeat_buyers", "repeat_rate"], [engine.cohorts.base], period)
        assert list(table["value"]) == [repeat, rate], period


def test_state_metrics_have_a_monthly_trend(hand: Built) -> None:
    trend = hand.engine.monthly(["buyers"], "2023-01", "2023-12")
    assert list(trend["buyers"]) == [3, 4, 4, 4, 5] + [6] * 7  # D in Feb, E in May, F in June


def test_a_metric_known_only_at_d_says_so(demo_full) -> None:
    engine = demo_full.engine
    assert engine.timing("retention_rate") == "period_end"
    assert engine.timing("uk_share") == "as_of_d"
    assert engine.timing("net_sales") == "flow"
    table = engine.values(
        ["uk_share", "net_sales", "retention_rate"], [engine.cohorts.base], "2024"
    )
    assert list(table["period"]) == [f"as of {DEMO_D}", "2024", "2024"]
    compared = views.compare(
        engine, [engine.cohorts.base], ["uk_share", "retention_rate"], "2025", vs="2024"
    )
    by = compared.set_index("metric")
    assert pd.isna(by.loc["uk_share", "change"])
    assert by.loc["retention_rate", "vs_period"] == "2024"
    assert by.loc["retention_rate", "change"] != 0


def test_membership_at_d_or_at_the_period_end(hand: Built) -> None:
    """Active at D (end of 2024): A and D (C came back after a long gap: reactivated).  Active
    at the end of 2023: A, D, E and F."""
    engine = hand.engine
    at_d = engine.values(["buyers", "stage_active"], ["active"], "2023")
    at_end = engine.values(["buyers", "stage_active"], ["active"], "2023", membership="period-end")
    assert list(at_d["value"]) == [2, 2]
    assert list(at_end["value"]) == [4, 4]
    assert list(at_end["customers"]) == [4, 4]


def test_membership_at_the_period_end_needs_a_cohort_of_state(demo_full) -> None:
    engine = demo_full.engine
    with pytest.raises(ProfilerError, match="Cohort 'Region: Europe' reads region, known as of"):
        engine.values(["net_sales"], ["Region: Europe"], "2024", membership="period-end")
    with pytest.raises(ProfilerError, match="expected d or period-end"):
        engine.values(["net_sales"], ["Buyers"], "2024", membership="end")
    # Buyers (orders to date > 0) at the end of 2024 bought by then: the state metric says so.
    table = engine.values(["buyers"], ["Buyers"], "2024", membership="period-end")
    assert table["value"].iloc[0] == engine.value("buyers", engine.cohorts.base, "2024")


def test_the_compare_sheet_takes_members_at_each_period_end(demo_full) -> None:
    from workbook.content import default_inputs, load_layout, sheet_content

    engine = demo_full.engine
    layout = load_layout()
    sheet = next(s for s in layout["sheets"] if s["name"] == "Compare")
    inputs = default_inputs(engine, layout) | {
        **{f"CompareCohort{i}": "" for i in range(1, 7)},
        "CompareCohort1": "Buyers",
        "ComparePeriod": "2024",
        "CompareVsPeriod": "2023",
    }
    at_d = sheet_content(engine, sheet, inputs)
    at_end = sheet_content(engine, sheet, inputs | {"CompareMembership": "at each period's end"})
    assert f"(members as of {DEMO_D})" in at_d.blocks[0].title
    assert "(members at each period's end)" in at_end.blocks[0].title
    # Buyers at the end of 2024 are fewer than buyers at D: their 2024 figures differ.
    assert not at_d.blocks[0].frame["Buyers"].equals(at_end.blocks[0].frame["Buyers"])
    with pytest.raises(ProfilerError, match="reads region"):
        sheet_content(
            engine,
            sheet,
            inputs
            | {"CompareCohort1": "Region: Europe", "CompareMembership": "at each period's end"},
        )


def test_a_forked_child_computes_states_after_its_parent_did(hand: Built) -> None:
    """The stage kernel runs on every core; a child forked after the parent ran it (forked
    workers, the fault-injection tests) runs it serially instead of being terminated."""
    import os

    engine = hand.engine
    want = engine.values(["stage_active"], [engine.cohorts.base], "2023")["value"].iloc[0]
    engine._states.clear()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        got = engine.values(["stage_active"], [engine.cohorts.base], "2023")["value"].iloc[0]
        os._exit(0 if got == want else 3)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
