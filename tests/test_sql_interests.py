"""The interests family computed by a SQL engine equals the pandas family.

Every column is compared with ``profiler.families.interests.compute``: same keys in the same
order, same dtypes (categories and their order included), same values and missing values.  Spend
shares and the affinity index divide sums of GBP amounts that an engine adds in its own order,
so they are compared within 1e-9 relative; the favourites and the multi-unit share (a ratio of
counts) exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from profiler.car import default_as_of
from profiler.car_context import build_context
from profiler.families import FAMILIES, interests
from profiler.features import load_feature_spec
from profiler.loading import SourceData
from profiler.sql import interests as sql_interests
from profiler.sql.engines import DuckDBEngine
from tests import car_data
from tests.car_data import _line
from tests.conftest import load_tables
from tests.sql_checks import assert_same_columns


def line(order, cust, at, product="LG", net=100, qty=1, status="completed", **kw):
    """An order line of the edge cases (no discount, GBP)."""
    return _line(order, 1, cust, at, "store", product, qty, net, 0, net, "GBP", 1, status, **kw)


# Products of the edge cases: two gift categories, two others; WA has no launch date, UN
# nothing but its id.
EDGE_PRODUCTS = [
    {
        "product_id": "LG",
        "category": "leather goods",
        "sub_category": "handbags",
        "department": "women",
        "collection": "Icons",
        "price_point": "core",
        "launch_date": "2024-01-01",
    },
    {
        "product_id": "FR",
        "category": "fragrance",
        "sub_category": "eau de parfum",
        "department": "unisex",
        "collection": "Resort",
        "price_point": "entry",
        "launch_date": "2024-09-01",
    },
    {
        "product_id": "JW",
        "category": "jewellery",
        "sub_category": "rings",
        "department": "women",
        "collection": "Cruise",
        "price_point": "high",
        "launch_date": "2024-06-01",
    },
    {
        "product_id": "WA",
        "category": "watches",
        "sub_category": "automatic",
        "department": "men",
        "collection": "Cruise",
        "price_point": "icon",
        "launch_date": "",
    },
    {
        "product_id": "UN",
        "category": "",
        "sub_category": "",
        "department": "",
        "collection": "",
        "price_point": "",
        "launch_date": "",
    },
]

# Edge cases around D = 2024-12-31 (car_data.AS_OF).
EDGE_LINES = [
    # Gifting months [11, 12]: 31 Oct 23:59:59 is out, 1 Nov 00:00 and 31 Dec 23:59:59 are in;
    # leather goods in November is not a gift category.
    line("G1", "30", "2024-10-31T23:59:59", "FR", 10),
    line("G2", "30", "2024-11-01T00:00:00", "FR", 20),
    line("G3", "30", "2023-12-31T23:59:59", "JW", 30),
    line("G4", "30", "2024-11-15T10:00:00", "LG", 40),
    # Newness (90 days, LG launched 2024-01-01): at launch and at launch + 90 days 00:00 new,
    # one second later not; a jewellery line bought before its launch is not new.
    line("N1", "31", "2024-01-01T00:00:00", "LG", 1),
    line("N2", "31", "2024-03-31T00:00:00", "LG", 2),
    line("N3", "31", "2024-03-31T00:00:01", "LG", 4),
    line("N4", "31", "2024-05-31T23:59:59", "JW", 8),
    # Ties: equal spend in every slice; the first listed level wins though bought last.
    line("T1", "32", "2024-02-01T10:00:00", "FR", 100),
    line("T2", "32", "2024-02-02T10:00:00", "LG", 100),
    line("T3", "32", "2024-02-03T10:00:00", "JW", 60),
    line("T4", "32", "2024-02-03T11:00:00", "WA", 40),
    # A product known by its id alone (the contract's defaults: category and collection
    # "unknown", which become levels, and price point core; no launch date) and one without a
    # launch date: never new; watches tie with unknown and are listed first.
    line("U1", "33", "2024-04-01T10:00:00", "UN", 500),
    line("U2", "33", "2024-04-02T10:00:00", "WA", 500),
    # Only a kept line of nothing: no spend, so no shares and no favourites; one unit.
    line("Z1", "34", "2024-04-01T10:00:00", "LG", 0),
    # Only lines returned by D and cancelled: no kept lines at all.
    line("R1", "35", "2024-05-01T10:00:00", "FR", 50, status="cancelled"),
    line("R2", "35", "2024-05-01T10:00:00", "JW", 50, status="returned", returned_at="2024-05-09"),
    # Multi-unit lines; a line returned after D is still kept (and new: a day after its launch);
    # a line after D is ignored.
    line("M1", "36", "2024-06-01T10:00:00", "FR", 90, qty=3),
    line("M2", "36", "2024-06-02T10:00:00", "JW", 10, status="returned", returned_at="2025-01-03"),
    line("M3", "36", "2025-01-01T00:00:00", "LG", 999, qty=2),
]
EDGE_CUSTOMERS = [  # every buyer, and "37", who never bought
    {**car_data.CUSTOMERS[0], "customer_id": c, "created_at": "2021-01-01"}
    for c in sorted({row["customer_id"] for row in EDGE_LINES} | {"37"})
]
EXACT = {"multi_unit_share"}  # float64 columns that are ratios of counts


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
            {"customers": EDGE_CUSTOMERS, "products": EDGE_PRODUCTS, "order_lines": EDGE_LINES},
        ),
    }


def _context(source: SourceData, as_of: str | None):
    """The CAR context at D with the families before interests computed into ``ctx.built``."""
    as_of_ts = default_as_of(source) if as_of is None else pd.Timestamp(as_of)
    ctx = build_context(source, as_of_ts, load_feature_spec())
    for family in FAMILIES[: FAMILIES.index(interests)]:
        ctx.built.update(family.compute(ctx))
    return ctx


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
    ctx = _context(source, as_of)
    engine.register_source(source)
    expected = interests.compute(ctx)
    got = sql_interests.compute(engine, ctx)
    assert {d.name for d in interests.columns(ctx)} == set(got)
    assert_same_columns(expected, got, close=set(expected) - EXACT)
    assert pd.Series(got["gifting_share"]).notna().any()


def test_edge_cases_are_exercised(sources, engine) -> None:
    """The edge rows mean what their comments say (so the equality above covers them)."""
    ctx = _context(sources["edges"], car_data.AS_OF)
    engine.register_source(sources["edges"])
    got = sql_interests.compute(engine, ctx)
    row = {str(c): i for i, c in enumerate(ctx.customer_ids)}

    def value(name: str, customer: str):
        return got[name][row[customer]]

    assert value("gifting_share", "30") == pytest.approx(50 / 100)
    assert value("newness_share", "31") == pytest.approx(3 / 15)
    assert value("newness_share", "33") == 0
    assert value("newness_share", "36") == pytest.approx(10 / 100)  # JW a day after launch
    assert value("multi_unit_share", "36") == 0.5
    assert value("multi_unit_share", "34") == 0
    assert (value("favourite_category", "32"), value("favourite_collection", "32")) == (
        "leather goods",
        "Cruise",  # JW 60 + WA 40, tied with Icons and Resort, listed first
    )
    assert value("preferred_price_point", "32") == "entry"  # entry 100 = core 100, listed first
    assert value("share_pp_icon_ltd", "33") == pytest.approx(
        0.5
    )  # the product without attributes is core
    assert value("favourite_category", "33") == "watches"
    assert value("favourite_collection", "33") == "Cruise"
    for customer in ("34", "35", "37"):
        assert pd.isna(value("favourite_category", customer))
        assert np.isnan(value("affinity_fragrance", customer))
        assert np.isnan(value("gifting_share", customer))
    assert np.isnan(value("multi_unit_share", "35"))


def test_spark_rendering(sources) -> None:
    """The query renders in Spark's dialect with its interval and window syntax."""
    ctx = build_context(sources["hand"], pd.Timestamp(car_data.AS_OF), load_feature_spec())
    names = {s: interests.levels(ctx, s) for s in sql_interests.SLICES}
    spark = sql_interests.interests_query(ctx, names).sql(dialect="spark")
    assert "`ordered_at` <= `launch_date` + INTERVAL '90' DAY" in spark
    assert "MONTH(`ordered_at`) IN (11, 12)" in spark
    assert "ROW_NUMBER() OVER (PARTITION BY `customer_id` ORDER BY `v` DESC, `level`" in spark


@pytest.mark.spark
def test_sql_equals_pandas_on_spark(sources, request) -> None:
    """The edge cases on Spark: its intervals, MONTH and window functions agree."""
    engine = request.getfixturevalue("spark_engine")
    ctx = _context(sources["edges"], car_data.AS_OF)
    engine.register_source(sources["edges"])
    expected = interests.compute(ctx)
    assert_same_columns(expected, sql_interests.compute(engine, ctx), close=set(expected) - EXACT)
