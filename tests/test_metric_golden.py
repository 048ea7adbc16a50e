"""Golden values: every metric of the catalog on the hand-made sources of tests/car_data.py (CAR
as of 2024-12-31), each expected value worked out by hand from those rows.

``GOLDEN`` is the catalog as of D = 2024-12-31, the CAR's view: nothing after D exists, and O6,
which comes back on 2025-01-05, is a kept line of 2024 (net sales of 2024 are restated once it
is back).  ``GOLDEN_LATER`` is the same catalog as of 2025-12-31, when every row is known.

The rows behind the numbers (GBP = amount x the line's rate):
  c1: O1 2022-03-10 store leather 1000 kept; O2 2023-11-20 web fragrance 200 kept (2 units,
      list 250) + leather 900 returned 2023-12-01; O3 2024-12-31 23:59:59 store watches 5000
      (icon); O4 2025-01-01 00:00 store fragrance 100.
  c2: O5 2024-01-01 app fragrance 85; O6 2024-01-01 app leather 425 returned 2025-01-05;
      O7 2024-06-30 clienteling watches 2550 cancelled.
  c3: O8 2021-01-15 store leather 640; O9 2024-11-30 web fragrance 120 + 60 (half price, list 120).
  c4: O10 2024-10-15 store fragrance 80.   c6 (created after D): O11 2025-03-05 store 80.
Period-boundary cases: O3 on the last second of December, O4 on the first second of January,
O9 on the last day of November, O2's return booked in the month after the order, O6's in the
next year.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.car import build_car
from profiler.catalog import load_catalog
from profiler.loading import load_sources
from profiler.metrics import MetricEngine
from tests import car_data
from tests.conftest import write_table

NAN = float("nan")
# leather goods affinity: customer's leather share of kept spend / the base's (2065 / 7610), x 100
_BASE = 2065 / 7610
_AFFINITY = [1000 / 6200 / _BASE * 100, 425 / 510 / _BASE * 100, 640 / 820 / _BASE * 100, 0.0]

GOLDEN: list[tuple[str, str, float]] = [
    # sales: orders of 2024 are O3, O5, O6 (kept at D: back after it), O7 (cancelled), O9, O10
    ("net_sales", "2024", 5000 + 85 + 425 + 120 + 60 + 80),
    ("net_sales", "2024-12", 5000),  # 23:59:59 on the last day is in December
    ("net_sales", "2025-01", 0),  # after D: nothing known yet
    ("net_sales", "2024-11", 180),
    ("net_sales", "2024-Q4", 5000 + 180 + 80),
    ("net_sales", "ytd:2024-11", 85 + 425 + 180 + 80),
    ("net_sales", "r12:2024-12", 5770),
    ("net_sales", "asof", 1000 + 200 + 5000 + 85 + 425 + 640 + 180 + 80),  # the CAR's spend
    ("gross_sales", "2024", 5770),
    ("returns_booked", "2023-11", 0),
    ("returns_booked", "2023-12", 900),  # ordered in November, booked when it came back
    ("returns_booked", "2025-01", 0),  # O6's return is after D
    ("returned_sales", "2023-11", 900),
    ("return_rate", "2024", 0 / 5770),
    ("cancelled_sales", "2024", 2550),
    ("ordered_value", "2024", 5770 + 2550),
    ("cancellation_rate", "2024", 2550 / 8320),
    # margin: unit costs P1 400, P2 30, P3 2200 (GBP); every kept 2024 line has a known cost:
    # O3 2200, O5 30, O6 400 (kept at D), O9 30 + 30, O10 30
    ("cost_of_sales", "2024", 2720),
    ("costed_sales", "2024", 5770),
    ("gross_margin", "2024", 5770 - 2720),
    ("margin_rate", "2024", (5770 - 2720) / 5770),
    ("cost_coverage", "2024", 1.0),
    ("gross_margin", "2023-11", 200 - 30 * 2),  # O2: P2 x 2 kept; its returned P1 line is out
    ("orders", "2024", 5),
    ("aov", "2024", 5770 / 5),
    ("spend_per_customer", "2024", 5770 / 4),
    ("list_value", "2024", 5000 + 85 + 425 + 120 + 120 + 80),
    ("discount_value", "2024", 5830 - 5770),
    ("discount_rate", "2024", 60 / 5830),
    ("full_price_sales", "2024", 5000 + 85 + 425 + 120 + 80),
    ("full_price_share", "2024", 5710 / 5770),
    ("store_sales", "2024", 5000 + 80),
    ("digital_sales", "2024", 85 + 425 + 180),
    ("digital_share", "2024", 690 / 5770),
    ("clienteling_sales", "2024", 0),  # O7 was cancelled
    ("jewellery_watches_sales", "2024", 5000),  # O3's watch; O7's was cancelled
    ("jewellery_watches_sales", "2023", 0),
    ("jewellery_watches_share", "2024", 5000 / 5770),
    ("debt_balance", "asof", 1000),  # c3's balances are dated after D
    ("overdue_debt", "asof", 0),
    ("bad_debt", "asof", 0),
    ("overdue_share_of_balance", "asof", 0),
    ("account_holders", "asof", 1),
    # product
    ("units", "2024", 6),
    ("units", "2023-11", 2),  # O2's fragrance line has 2 units; the returned line is out
    ("kept_lines", "2024", 6),
    ("units_per_order", "2024", 6 / 5),
    ("purchase_frequency", "2024", 5 / 4),
    ("leather_goods_sales", "2024", 425),  # O6
    ("leather_goods_sales", "2022", 1000),
    ("leather_goods_share", "2022", 1.0),
    ("fragrance_beauty_sales", "2024", 85 + 180 + 80),
    ("fragrance_beauty_share", "2024", 345 / 5770),
    ("icon_sales", "2024", 5000),
    ("icon_share", "2024", 5000 / 5770),
    ("entry_sales", "2024", 345),
    ("entry_share", "2024", 345 / 5770),
    ("category_breadth_mean", "asof", (3 + 2 + 2 + 1) / 4),  # O6 is still kept at D
    # engagement: 2024 surveys are c1 web (NPS 6, CSAT 3) and c2 app (NPS 8, no CSAT)
    ("nps_responses", "2024", 2),
    ("nps_promoters", "2025-01", 0),  # the survey of 2025-01-10 is after D
    ("nps_detractors", "2024", 1),
    ("nps", "2024", (0 - 1) / 2 * 100),
    ("nps", "2023", 100),
    ("csat", "2024", 3),
    ("csat_store", "2023", 5),
    ("csat_web", "2024", 3),
    ("csat_app", "2024", NAN),  # an answer without a CSAT score
    ("csat_clienteling", "2024", NAN),
    ("ces", "2023", 6),
    ("ces", "2025", NAN),  # c3's enquiry of 2025-02-01 is after D
    ("interactions", "2024", 2),
    ("interacting_customers", "2024", 1),
    ("complaints", "2023", 1),
    # complaint rate: complaints / interactions of the period (2023: c2's complaint alone)
    ("complaint_rate", "2023", 1 / 1),
    ("complaint_rate", "2024", 0 / 2),  # c1's appointment and email click
    ("complaint_rate", "2025", NAN),  # c3's enquiry of 2025-02-01 is after D: 0 / 0
    ("engaged_customers", "asof", 1),
    ("active_engagement_rate", "asof", 1 / 5),
    # scores are kept to one decimal. c1: 0.30 x (1 - 30/365) + 0.25 x 2/12 + 0.10 x 1/6 +
    # 0.10 (survey) + 0.15 (opted in) = 58.4; c2: 10 (a survey; its consent is dated after D)
    (
        "engagement_score_mean",
        "asof",
        (round(100 * (0.30 * (1 - 30 / 365) + 0.25 * 2 / 12 + 0.10 / 6 + 0.10 + 0.15), 1) + 10) / 5,
    ),
    # preferences: c2's preferences are dated after D; c3 opted out of everything
    ("customers", "asof", 5),
    ("email_opted_in", "asof", 1),
    ("email_opt_in_rate", "asof", 1 / 5),
    ("sms_opted_in", "asof", 0),
    ("sms_opt_in_rate", "asof", 0),
    ("contactable_customers", "asof", 1),
    ("contactable_rate", "asof", 1 / 5),
    ("events_topic_opted_in", "asof", 1),
    ("events_topic_rate", "asof", 1 / 5),
    ("store_preferring", "asof", 3),  # c1 (2 of 3 orders), c3 (1 store, 1 web: earliest), c4
    ("store_preference_rate", "asof", 3 / 4),
    ("womenswear_preferring", "asof", 1),
    ("womenswear_preference_rate", "asof", 1 / 5),
    # lifecycle
    ("active_customers", "2024", 4),
    ("new_customers", "2024", 2),  # c2 (O5) and c4 (O10)
    ("new_customers", "2022", 1),
    ("returning_customers", "2024", 1),  # c3: back after 1,415 days
    ("lapsed_customers", "2022", 1),  # c3: 545 days after O8 is 2022-07-14
    ("lapsed_customers", "2023-09", 1),  # c1: 545 days after O1 is 2023-09-06, O2 came later
    ("lapsed_customers", "2024", 0),  # c2 lapses 2025-06-29 (O7 cancelled), after D
    ("lapsed_customers", "2025-06", 0),
    ("buyers", "asof", 4),
    # orders kept at D: c1 O1, O2, O3 (O4 is after D); c2 O5, O6 (its return is after D); c3 O8,
    # O9; c4 O10
    ("repeat_buyers", "asof", 3),
    ("repeat_rate", "asof", 3 / 4),
    # second purchase (another order with a kept line): c1 O2, c2 O6 (same day as O5, another
    # order), c3 O9; c4 has one order
    ("time_to_second_purchase", "asof", 620),  # median of c1 620, c2 0, c3 1,415 days
    # second purchase within 90 days, for the period's new customers whose 90 days are over by
    # D: 2024's new customers are c2 (O5, 2024-01-01: O6 the same day) and c4 (O10, 2024-10-15:
    # 77 days before D, not in yet); 2022's is c1 (O2 620 days later), 2021's c3
    ("new_customers_90d_on", "2024", 1),
    ("new_customers_90d_on", "asof", 3),  # c1, c2, c3
    ("new_customers_90d_on", "2024-10", 0),
    ("second_purchasers_90d", "2024", 1),  # c2
    ("second_purchasers_90d", "2022", 0),
    ("second_purchase_rate_90d", "2024", 1 / 1),
    ("second_purchase_rate_90d", "2022", 0 / 1),
    ("second_purchase_rate_90d", "2021", 0 / 1),
    ("second_purchase_rate_90d", "asof", 1 / 3),
    ("second_purchase_rate_90d", "2024-10", NAN),  # c4's 90 days are not over: no base yet
    ("stage_new", "asof", 1),  # c4
    ("stage_active", "asof", 1),  # c1: 'within 365 days' is the 365 days ending on D ...
    ("stage_lapsing", "asof", 1),  # ... so c2, who last bought exactly 365 days before D, lapses
    ("stage_lapsed", "asof", 0),
    ("stage_reactivated", "asof", 1),  # c3
    ("new_share", "asof", 1 / 4),
    ("active_share", "asof", 1 / 4),
    ("lapsing_share", "asof", 1 / 4),
    ("lapsed_share", "asof", 0),
    ("reactivated_share", "asof", 1 / 4),
    # a year before D is 2024-01-01 (2024 is a leap year): c1 was reactivated (O2 came 620 days
    # after O1), c2 new (O5 that day); c3 lapsed; only c1 is active now
    ("active_year_ago", "asof", 2),
    ("retained", "asof", 1),
    ("retention_rate", "asof", 1 / 2),
    ("churn_rate", "asof", 1 / 2),
    # demographics: ages at D from birth years 1980, 2001, 1960, 1990 (c2 unknown)
    ("very_high_wealth", "asof", 1),
    ("very_high_wealth_share", "asof", 1 / 5),
    ("uk_customers", "asof", 1),
    ("uk_share", "asof", 1 / 5),
    ("prestige_mosaic", "asof", 1),
    ("prestige_mosaic_share", "asof", 1 / 5),
    ("age_mean", "asof", (44 + 23 + 64 + 34) / 4),
    ("age_median", "asof", (34 + 44) / 2),
    # interests (buyers c1-c4; kept spend at D 6200, 510, 820, 80)
    ("leather_goods_affinity", "asof", sum(_AFFINITY) / 4),
    ("gifting_share_mean", "asof", (200 / 6200 + 0 + 180 / 820 + 0) / 4),
    ("gift_buyers", "asof", 2),
    ("gift_buyer_rate", "asof", 2 / 4),
    ("icon_preferring", "asof", 1),  # c1: 5000 of 6200 on the icon watch
    ("icon_preference_rate", "asof", 1 / 4),
    ("newness_share_mean", "asof", (0 + 0 + 180 / 820 + 80 / 80) / 4),
]

# The same rows as of 2025-12-31, when everything is known: O6 is back, so 2024 is restated.
LATER = "2025-12-31"
GOLDEN_LATER: list[tuple[str, str, float]] = [
    ("net_sales", "2024", 5000 + 85 + 120 + 60 + 80),
    ("net_sales", "2025-01", 100),  # 00:00:00 on the first day is in January
    ("gross_sales", "2024", 5770),
    ("returns_booked", "2025-01", 425),  # dated by the return
    ("returned_sales", "2024", 425),
    ("return_rate", "2024", 425 / 5770),
    ("orders", "2024", 4),
    ("aov", "2024", 5345 / 4),
    ("list_value", "2024", 5000 + 85 + 120 + 120 + 80),
    ("discount_rate", "2024", 60 / 5405),
    ("leather_goods_sales", "2024", 0),
    ("nps_promoters", "2025-01", 1),
    ("ces", "2025", 2),
    ("complaint_rate", "2025", 0 / 1),  # c3's enquiry is known now
    ("lapsed_customers", "2025-06", 1),  # c2: 545 days after 2024-01-01
    # O6 is back by 2025-12-31, so c2 has no second purchase; c4's 90 days are over
    ("new_customers_90d_on", "2024", 2),
    ("second_purchasers_90d", "2024", 0),
    ("second_purchase_rate_90d", "2024", 0 / 2),
    ("second_purchase_rate_90d", "2025", 0 / 1),  # c6, first purchase 2025-03-05
]

# Potential value on a CAR made by hand: four buyers and a prospect.
HAND_CAR = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e"],
        "orders_ltd": [3, 1, 2, 5, 0],
        "clv_12m": [100.0, 50.0, 250.0, 1000.0, np.nan],
        "p_alive": [0.9, 0.2, 0.5, 1.0, np.nan],
        "expected_orders_12m": [1.5, 0.1, 0.5, 4.0, np.nan],
        "potential_value_tier": pd.Categorical(
            ["medium", "low", "medium", "high", "prospect"],
            categories=["high", "medium", "low", "prospect"],
        ),
    }
)
POTENTIAL_GOLDEN = [
    ("clv_12m_total", 1400.0),
    ("clv_12m_mean", 350.0),
    ("clv_12m_p90", 250 + 0.7 * 750),  # sorted 50, 100, 250, 1000: rank 0.9 x 3 = 2.7
    ("p_alive_mean", 0.65),
    ("expected_orders_12m", 6.1),
    ("high_potential", 1),
    ("high_potential_share", 1 / 4),
]


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("golden")
    for name, rows in car_data.TABLES.items():
        write_table(folder, name, rows)
    source = load_sources(folder)
    return source, build_car(source, car_data.AS_OF).to_frame()


@pytest.fixture(scope="module")
def engine(hand) -> MetricEngine:
    source, car = hand
    return MetricEngine(load_catalog(), source=source, car=car, as_of=car_data.AS_OF)


@pytest.mark.parametrize(("name", "period", "expected"), GOLDEN, ids=lambda v: str(v))
def test_golden_value(engine: MetricEngine, name: str, period: str, expected: float) -> None:
    value = engine.value(name, period)
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("name", "period", "expected"), GOLDEN_LATER, ids=lambda v: str(v))
def test_golden_value_later(hand, name: str, period: str, expected: float) -> None:
    source, car = hand
    engine = MetricEngine(load_catalog(), source=source, car=car, as_of=LATER)
    assert engine.value(name, period) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("name", "expected"), POTENTIAL_GOLDEN)
def test_potential_golden_value(name: str, expected: float) -> None:
    engine = MetricEngine(load_catalog(), car=HAND_CAR, as_of="2024-12-31")
    buyers = HAND_CAR["orders_ltd"].to_numpy() > 0
    cohort = buyers if name != "high_potential_share" else None
    assert engine.value(name, "asof", cohort) == pytest.approx(expected)


def test_every_metric_has_a_golden_value() -> None:
    covered = {name for name, _, _ in GOLDEN + GOLDEN_LATER} | {n for n, _ in POTENTIAL_GOLDEN}
    assert set(load_catalog().metrics) - covered == set()


def test_cohorts_and_breakdowns_recompute_ratios_from_their_parts(engine: MetricEngine) -> None:
    car = engine.car
    assert car is not None
    europe = (car["home_country"].astype(str) != "GB").to_numpy()  # c2 (FR), c3 (US), c5 (IT)
    assert engine.value("net_sales", "2024", europe) == 85 + 425 + 180
    assert engine.value("aov", "2024", europe) == pytest.approx((85 + 425 + 180) / 3)
    by_channel = engine.value("aov", "2024", by="channel")
    assert by_channel.to_dict() == pytest.approx(
        {"app": (85.0 + 425) / 2, "store": (5000 + 80) / 2, "web": 180.0}
    )
    # the ratio of the whole is not the mean of the ratios of its parts
    assert engine.value("aov", "2024") != pytest.approx(by_channel.mean())


def test_tables_carry_the_catalog_stamp(engine: MetricEngine, tmp_path: Path) -> None:
    table = engine.table(["net_sales", "orders"], "2024")
    assert table.attrs["catalog"].startswith("metric catalog 1.2.0 (")
    assert table.loc[0, "net_sales"] == 5770


def test_a_period_the_metric_does_not_support_is_refused(engine: MetricEngine) -> None:
    with pytest.raises(Exception, match="not defined for month periods"):
        engine.value("stage_active", "2024-11")


def test_purchase_markers_match_a_per_customer_walk(demo_source) -> None:
    """first_purchase, days_since_previous_purchase and lapses_at against a plain walk through
    each customer's kept orders (time, then order id), for 300 demo customers."""
    from profiler.facts import order_facts
    from profiler.metrics import _facts_with_purchase_markers

    facts = _facts_with_purchase_markers(order_facts(demo_source), 545)
    customers = sorted(facts["customer_id"].unique())[:300]
    sample = facts[facts["customer_id"].isin(customers)]
    checked = 0
    for _, lines in sample.groupby("customer_id"):
        kept = lines[lines["status"] == "completed"]
        orders = kept.drop_duplicates("order_id").sort_values(["ordered_at", "order_id"])
        previous = None
        expected = {}
        times = list(orders["ordered_at"])
        for i, (order_id, at) in enumerate(zip(orders["order_id"], times, strict=True)):
            gap = (at - previous).total_seconds() / 86400 if previous is not None else NAN
            lapse = at.normalize() + pd.Timedelta(days=545)
            nxt = times[i + 1].normalize() if i + 1 < len(times) else None
            expected[order_id] = (i == 0, gap, lapse if nxt is None or nxt >= lapse else pd.NaT)
            previous = at
        for row in lines.itertuples():
            if row.status != "completed":
                assert not row.first_purchase and math.isnan(row.days_since_previous_purchase)
                assert pd.isna(row.lapses_at)
                continue
            first, gap, lapse = expected[row.order_id]
            assert row.first_purchase == first
            assert (
                math.isnan(gap) and math.isnan(row.days_since_previous_purchase)
            ) or math.isclose(gap, row.days_since_previous_purchase)
            assert (pd.isna(lapse) and pd.isna(row.lapses_at)) or lapse == row.lapses_at
            checked += 1
    assert checked > 1000


def test_repeat_rate_and_time_to_second_purchase_on_the_demo_match_the_order_lines(
    demo_car_dir, demo_source
):
    """repeat_rate and time_to_second_purchase as of D against pandas over the raw order lines:
    of the CAR's customers with an order holding a kept line by D, the share with two such
    orders, and the median days from the first such order to the second."""
    from profiler.query import QueryEngine

    engine = QueryEngine.open(demo_car_dir)
    day_after = engine.as_of + pd.Timedelta(days=1)
    lines = demo_source.tables["order_lines"]
    kept = (lines["ordered_at"] < day_after) & (
        (lines["status"] == "completed")
        | ((lines["status"] == "returned") & ~(lines["returned_at"] < day_after))
    )
    orders = lines[kept].groupby("customer_id")["order_id"].nunique()
    orders = orders[orders.index.isin(engine.car["customer_id"])]
    buyers, second = int((orders >= 1).sum()), int((orders >= 2).sum())
    assert buyers > 1000 and 0 < second < buyers
    assert engine.value("buyers", period="asof") == buyers
    assert engine.value("repeat_buyers", period="asof") == second
    rate = engine.value("repeat_rate", period="asof")
    assert rate == pytest.approx(second / buyers, rel=1e-12)
    # time to second purchase: the median of the days from the first to the second order
    first = lines[kept].groupby(["customer_id", "order_id"])["ordered_at"].min().reset_index()
    first = first[first["customer_id"].isin(engine.car["customer_id"])]
    first = first.sort_values(["customer_id", "ordered_at", "order_id"])
    days = first["ordered_at"].dt.normalize()
    first["n"] = first.groupby("customer_id").cumcount()
    one = days[first["n"] == 0].set_axis(first.loc[first["n"] == 0, "customer_id"])
    two = days[first["n"] == 1].set_axis(first.loc[first["n"] == 1, "customer_id"])
    gaps = (two - one.reindex(two.index)).dt.days
    assert len(gaps) == second
    assert engine.value("time_to_second_purchase", period="asof") == gaps.median()
