"""The lifecycle and behaviour families computed by a SQL engine equal the pandas families.

Every column is compared with the pandas family's own ``compute``: same keys, same dtypes
(categories and their order included), same values and missing values.  Spend shares are sums of
GBP amounts that an engine adds in its own order, so they are compared within 1e-9 relative;
everything else (times, day counts, inter-purchase mean and sd, stages) exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profiler.car import default_as_of
from profiler.car_context import build_context
from profiler.families import behaviour, lifecycle
from profiler.features import load_feature_spec
from profiler.loading import SourceData
from profiler.sql import behaviour as sql_behaviour
from profiler.sql import lifecycle as sql_lifecycle
from profiler.sql.engines import DuckDBEngine
from tests import car_data
from tests.car_data import _line
from tests.conftest import load_tables
from tests.sql_checks import assert_same_columns

SUM_SHARES = {
    "q4_share",
    "sale_share",
    "share_ch_store_ltd",
    "share_ch_web_ltd",
    "share_ch_app_ltd",
    "share_ch_clienteling_ltd",
}
PAIRS = [(lifecycle, sql_lifecycle), (behaviour, sql_behaviour)]


def line(order, cust, at, channel="store", net=100, status="completed", product="P1", **kw):
    """An order line of the edge cases (one unit, no discount, GBP)."""
    return _line(order, 1, cust, at, channel, product, 1, net, 0, net, "GBP", 1, status, **kw)


# Edge cases around D = 2024-12-31 (car_data.AS_OF).
EDGE_LINES = [
    # Sale periods [25 Jun, 31 Jul] and [26 Dec, 15 Jan] at their edges, Q4, two orders at one
    # time, and store and web spend tied (the preferred channel is the first listed: store).
    line("E01", "10", "2023-12-25T12:00:00", "app", 10),
    line("E02", "10", "2023-12-26T00:00:00", "app", 10),
    line("E03", "10", "2024-01-15T23:59:59", "app", 10),
    line("E04", "10", "2024-01-16T00:00:00", "app", 10),
    line("E05", "10", "2024-06-24T23:59:59", "app", 10),
    line("E06", "10", "2024-06-25T00:00:00", "store", 100),
    line("E07", "10", "2024-06-25T00:00:00", "web", 100),
    line("E08", "10", "2024-07-31T23:59:59", "app", 10),
    line("E09", "10", "2024-08-01T00:00:00", "unknown", 10),
    # Back after exactly lapsed_days (not reactivated) and after one day more (reactivated).
    line("E11", "11", "2022-12-04T10:00:00"),
    line("E12", "11", "2024-06-01T10:00:00"),
    line("E13", "12", "2022-12-03T10:00:00"),
    line("E14", "12", "2024-06-01T10:00:00"),
    # Bought exactly 365 days before D: new a year ago, lapsing now.
    line("E15", "13", "2024-01-01T08:00:00"),
    # Only a cancelled order, only a line returned by D: prospects with lines.
    line("E16", "14", "2024-05-01T10:00:00", status="cancelled"),
    line("E17", "20", "2024-05-01T10:00:00", status="returned", returned_at="2024-05-09T10:00:00"),
    # Only the unknown channel.
    line("E18", "15", "2024-03-01T10:00:00", "unknown", 50, product="P2"),
    # Reactivated a year ago, lapsed now.
    line("E19", "16", "2021-06-01T10:00:00"),
    line("E20", "16", "2023-06-01T10:00:00"),
    # 90 days before D is no longer new; 89 days is.
    line("E21", "17", "2024-10-02T00:00:00"),
    line("E22", "18", "2024-10-03T23:00:00"),
    # A kept line of nothing: no spend, so no shares and no preferred channel.
    line("E23", "19", "2024-04-01T10:00:00", "web", 0),
    # Two orders at one time: the second purchase is at the first's time.
    line("E24", "21", "2024-02-02T10:00:00", "web"),
    line("E25", "21", "2024-02-02T10:00:00", "web"),
    # Three purchase days: a standard deviation of the gaps.
    line("E26", "23", "2024-02-01T10:00:00"),
    line("E27", "23", "2024-02-11T10:00:00", "clienteling", 70),
    line("E28", "23", "2024-03-02T10:00:00", "clienteling", 30),
    line("E29", "23", "2024-03-02T18:00:00", "web", 30),
    line("E30", "23", "2025-01-01T00:00:00", "web", 30),  # after D
]
EDGE_CUSTOMERS = [  # every buyer, and "22", who never bought
    {**car_data.CUSTOMERS[0], "customer_id": c, "created_at": "2021-01-01"}
    for c in sorted({row["customer_id"] for row in EDGE_LINES} | {"22"})
]


@pytest.fixture(scope="module")
def engine():
    with DuckDBEngine(threads=2) as engine:
        yield engine


@pytest.fixture(scope="module")
def sources(demo_source, tmp_path_factory: pytest.TempPathFactory) -> dict[str, SourceData]:
    """name -> loaded sources; each test reads the one it names."""
    folder = tmp_path_factory.mktemp
    return {
        "demo": demo_source,
        "hand": load_tables(folder("hand"), car_data.TABLES),
        "hand_bare": load_tables(folder("hand-bare"), car_data.BARE_TABLES),
        "edges": load_tables(
            folder("edges"),
            {
                "customers": EDGE_CUSTOMERS,
                "products": car_data.PRODUCTS,
                "order_lines": EDGE_LINES,
            },
        ),
    }


@pytest.mark.parametrize(
    ("source_name", "as_of"),
    [
        ("demo", None),  # the default D: the day after the last line
        ("demo", "2025-08-15"),
        ("hand", car_data.AS_OF),
        ("hand_bare", car_data.AS_OF),
        ("edges", car_data.AS_OF),
    ],
)
def test_sql_equals_pandas(sources, engine, source_name, as_of) -> None:
    source = sources[source_name]
    as_of = default_as_of(source) if as_of is None else pd.Timestamp(as_of)
    ctx = build_context(source, as_of, load_feature_spec())
    engine.register_source(source)
    for family, sql_family in PAIRS:  # neither family reads an earlier family's columns
        assert_same_columns(family.compute(ctx), sql_family.compute(engine, ctx), close=SUM_SHARES)


def test_edge_cases_are_exercised(sources, engine) -> None:
    """The edge rows mean what their comments say (so the equality above covers them)."""
    source = sources["edges"]
    ctx = build_context(source, pd.Timestamp(car_data.AS_OF), load_feature_spec())
    engine.register_source(source)
    row = {str(c): i for i, c in enumerate(ctx.customer_ids)}
    life = sql_lifecycle.compute(engine, ctx)
    habits = sql_behaviour.compute(engine, ctx)
    stage, year_ago = life["lifecycle_stage"], life["lifecycle_stage_1y_ago"]
    expected_now = {
        "11": "active",
        "12": "reactivated",
        "13": "lapsing",
        "14": "prospect",
        "16": "lapsed",
        "17": "active",
        "18": "new",
        "20": "prospect",
        "22": "prospect",
    }
    assert {c: stage[row[c]] for c in expected_now} == expected_now
    assert (year_ago[row["13"]], year_ago[row["16"]]) == ("new", "reactivated")
    assert life["reactivated_flag"][row["12"]] and not life["reactivated_flag"][row["11"]]
    assert life["second_purchase_at"][row["21"]] == life["first_purchase_at"][row["21"]]
    assert habits["preferred_channel"][row["10"]] == "store"
    assert pd.isna(habits["preferred_channel"][row["15"]])
    assert pd.isna(habits["preferred_channel"][row["19"]])
    assert habits["sale_share"][row["10"]] == pytest.approx(230 / 270)
    assert habits["ipt_sd_days"][row["23"]] == pytest.approx(np.std([10, 20], ddof=1))


def test_spark_rendering(sources) -> None:
    """Days are DATEDIFF(end, start) in Spark; both queries render in Spark's dialect."""
    ctx = build_context(sources["hand"], pd.Timestamp(car_data.AS_OF), load_feature_spec())
    life = sql_lifecycle.lifecycle_query(ctx).sql(dialect="spark")
    habits = sql_behaviour.behaviour_query(ctx).sql(dialect="spark")
    assert "DATEDIFF(CAST('2024-12-31' AS DATE), CAST(`ordered_at` AS DATE))" in life
    assert "DATE_FORMAT(`g`.`first_at`, 'yyyy-MM')" in life
    assert "DATEDIFF(`purchase_day`, LAG(`purchase_day`)" in habits


@pytest.mark.spark
def test_sql_equals_pandas_on_spark(sources, request) -> None:
    """The edge cases on Spark: its DATEDIFF, DATE_FORMAT and window functions agree."""
    engine = request.getfixturevalue("spark_engine")
    source = sources["edges"]
    ctx = build_context(source, pd.Timestamp(car_data.AS_OF), load_feature_spec())
    engine.register_source(source)
    for family, sql_family in PAIRS:
        assert_same_columns(family.compute(ctx), sql_family.compute(engine, ctx), close=SUM_SHARES)
