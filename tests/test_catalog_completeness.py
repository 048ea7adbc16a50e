"""Catalog completeness (issue 24 item 7): the second-purchase rate of a period, and a ``must``
metric for every sub-topic the brief names in every insight area.

The second-purchase rate of a period (``second_purchase_rate_90d``): of the customers whose
first purchase fell in the period and at least 90 days before D, the share whose next purchase
came within 90 days.  It is checked here by brute force on a bare four-column export (order id,
customer, time, amount) built with its boundaries (exactly 90 days, 91 days, a first purchase
exactly 90 days before D, one 89 days before), the same number from MetricEngine (the
reference), the query engine over a built CAR and DuckDB.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from profiler.catalog import (
    BRIEF_TOPICS,
    DEFAULT_CATALOG,
    TOPICS,
    load_catalog,
    topic_gaps,
    validate,
)
from profiler.errors import LeftOut
from profiler.facts import order_facts
from profiler.loading import load_sources
from profiler.metrics import _facts_with_purchase_markers
from profiler.query import PRODUCTS_LEFT_OUT
from tests import car_data
from tests.built import Built
from tests.conftest import load_tables, write_table

AS_OF = "2025-06-30"  # 90 days before is 2025-04-01
RATE = ["new_customers_90d_on", "second_purchasers_90d", "second_purchase_rate_90d"]
# order_id, customer_id, ordered_at, net_amount
LINES = [
    ("A1", "a", "2025-01-01T09:00:00", "100"),  # a: second on day 90 (2025-04-01): counts
    ("A2", "a", "2025-04-01T23:00:00", "50"),
    ("B1", "b", "2025-01-01T10:00:00", "100"),  # b: second on day 91: does not
    ("B2", "b", "2025-04-02T08:00:00", "50"),
    ("C1", "c", "2025-04-01T12:00:00", "80"),  # c: first exactly 90 days before D: in the base
    ("D1", "d", "2025-04-02T12:00:00", "80"),  # d: first 89 days before D: not yet in the base
    ("D2", "d", "2025-04-05T12:00:00", "80"),
    ("E1", "e", "2024-12-31T23:59:00", "70"),  # e: acquired in 2024, back the next minute
    ("E2", "e", "2025-01-01T00:01:00", "70"),
    ("G1", "g", "2025-03-01T10:00:00", "60"),  # g: two orders on one day: day 0 counts
    ("G2", "g", "2025-03-01T11:00:00", "60"),
    ("H1", "h", "2025-03-15T10:00:00", "60"),  # h: back after D only (not known at D)
    ("H2", "h", "2025-07-01T10:00:00", "60"),
]
# Worked out by hand: (metric, period) -> value
EXPECTED = {
    ("new_customers_90d_on", "2025"): 5,  # a, b, c, g, h (107 days; back after D only)
    ("second_purchasers_90d", "2025"): 2,  # a, g (d: 89 days before D, not in yet)
    ("second_purchase_rate_90d", "2025"): 2 / 5,
    ("second_purchase_rate_90d", "2024"): 1.0,  # e
    ("second_purchase_rate_90d", "2025-04"): 0.0,  # c in, d not yet
    ("second_purchase_rate_90d", "asof"): 3 / 6,  # a, g, e of a, b, c, g, h, e
}


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Built:
    rows = [
        {"order_id": o, "customer_id": c, "ordered_at": t, "net_amount": a} for o, c, t, a in LINES
    ]
    source = load_tables(tmp_path_factory.mktemp("bare-second"), {"order_lines": rows})
    return Built(source, AS_OF)


def brute_force(lines: list[tuple[str, str, str, str]], as_of: str, period: tuple[str, str]):
    """(base, second purchasers) walking each customer's orders known at the end of D."""
    cutoff = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    start, end = (pd.Timestamp(p) for p in period)
    orders: dict[str, dict[str, pd.Timestamp]] = {}
    for order_id, customer, at, _ in lines:
        when = pd.Timestamp(at)
        if when < cutoff:
            seen = orders.setdefault(customer, {})
            seen[order_id] = min(seen.get(order_id, when), when)
    base = second = 0
    for seen in orders.values():
        times = sorted(seen.values())
        first = times[0]
        if not (start <= first < end) or (pd.Timestamp(as_of) - first.normalize()).days < 90:
            continue
        base += 1
        if len(times) > 1 and (times[1].normalize() - first.normalize()).days <= 90:
            second += 1
    return base, second


@pytest.mark.parametrize(("name", "period"), list(EXPECTED))
def test_second_purchase_rate_by_hand_on_every_engine(bare: Built, name: str, period: str) -> None:
    want = EXPECTED[(name, period)]
    assert bare.reference.value(name, period) == pytest.approx(want)
    assert bare.engine.value(name, period=period) == pytest.approx(want)


@pytest.mark.parametrize(
    "period",
    [("2024-01-01", "2025-01-01"), ("2025-01-01", "2026-01-01"), ("2025-04-01", "2025-05-01")],
)
def test_brute_force_agrees_with_the_hand_values(bare: Built, period: tuple[str, str]) -> None:
    base, second = brute_force(LINES, AS_OF, period)
    label = {"2024-01-01": "2024", "2025-01-01": "2025", "2025-04-01": "2025-04"}[period[0]]
    assert bare.reference.value("new_customers_90d_on", label) == base
    assert bare.reference.value("second_purchasers_90d", label) == second
    rate = bare.engine.value("second_purchase_rate_90d", period=label)
    assert rate == pytest.approx(second / base)


def test_second_purchase_rate_on_duckdb(bare: Built) -> None:
    import pyarrow as pa

    from profiler.sql.engines import DuckDBEngine
    from profiler.sql.facts import FactsShape
    from profiler.sql.metrics import CAR_TABLE, metric_table

    with DuckDBEngine(threads=1) as engine:
        engine.register_source(bare.source)
        engine.register(CAR_TABLE, pa.Table.from_pandas(bare.car[["customer_id"]]))
        for period in ["2024", "2025", "2025-04", "asof"]:
            span = bare.reference.period(period)
            got = metric_table(
                engine,
                RATE,
                span,
                {"everyone": None},
                catalog=bare.reference.catalog,
                shape=FactsShape.of(bare.source),
                as_of=bare.reference.as_of,
            )
            for name in RATE:
                want = bare.reference.value(name, span)
                value = float(got[name].iloc[0])
                assert (math.isnan(want) and math.isnan(value)) or value == pytest.approx(want)


def test_the_markers_on_the_demo_match_a_walk(demo_source) -> None:
    """days_to_next_purchase and days_to_as_of against each customer's kept orders, walked."""
    as_of = pd.Timestamp("2025-06-30")
    facts = _facts_with_purchase_markers(order_facts(demo_source, as_of), 545, as_of)
    kept = facts[facts["kept"]]
    customers = sorted(kept["customer_id"].unique())[:300]
    sample = kept[kept["customer_id"].isin(customers)]
    checked = 0
    for _, lines in sample.groupby("customer_id"):
        at = lines.groupby("order_id")["ordered_at"].min().reset_index()
        at = at.sort_values(["ordered_at", "order_id"]).reset_index(drop=True)
        days = at["ordered_at"].dt.normalize()
        to_next = dict(zip(at["order_id"], (days.shift(-1) - days).dt.days, strict=True))
        for row in lines.itertuples():
            want = to_next[row.order_id]
            got = row.days_to_next_purchase
            assert (math.isnan(want) and math.isnan(got)) or got == want
            day = at.loc[at["order_id"] == row.order_id, "ordered_at"].iloc[0].normalize()
            assert row.days_to_as_of == (as_of - day).days
            checked += 1
    assert checked > 1000
    not_kept = facts[~facts["kept"]]
    assert not_kept["days_to_next_purchase"].isna().all() and not_kept["days_to_as_of"].isna().all()
    assert np.isfinite(kept["days_to_as_of"]).all()


# ---------------------------------------------------------------------------------------------
# sub-topics: a must metric for every (area, sub-topic) the brief names

# The brief's words, area by area (issue 24 item 7), as the catalog spells the topics.
BRIEF = {
    "sales": ["channel", "category", "debt"],
    "product": ["volume", "frequency", "category"],
    "engagement": ["activities", "channels", "topics"],
    "preferences": ["topics", "channels", "departments", "contactability"],
    "lifecycle": ["new", "lapsing"],
    "demographics": ["wealth", "location", "mosaic"],
    "interests": ["product_type", "price_point", "reasons_to_buy"],
}


def test_the_brief_topics_are_the_briefs() -> None:
    assert {a: list(t) for a, t in BRIEF_TOPICS.items()} == BRIEF
    for area, topics in BRIEF_TOPICS.items():
        assert set(topics) <= set(TOPICS[area]), area


@pytest.mark.parametrize(("area", "topic"), [(a, t) for a, ts in BRIEF.items() for t in ts])
def test_every_brief_topic_has_an_approved_must_metric(area: str, topic: str) -> None:
    catalog = load_catalog()
    musts = [
        m.name
        for m in catalog.metrics.values()
        if (m.area, m.topic) == (area, topic) and m.priority == "must" and m.status == "approved"
    ]
    assert musts, f"{area}/{topic}: no approved must metric"


def test_every_metric_has_a_topic_of_its_area_and_no_gap_remains() -> None:
    catalog = load_catalog()
    assert [n for n, m in catalog.metrics.items() if m.topic not in TOPICS[m.area]] == []
    assert topic_gaps(catalog) == []


def test_a_wrong_topic_and_a_missing_must_are_reported(tmp_path) -> None:  # noqa: ANN001
    import shutil

    folder = tmp_path / "metrics"
    shutil.copytree(DEFAULT_CATALOG, folder)
    sales = folder / "sales.yaml"
    text = sales.read_text().replace("  topic: debt\n", "  topic: dept\n", 1)
    sales.write_text(text)
    catalog = load_catalog(folder)
    problems = validate(catalog)
    assert len(problems) == 1 and "sales.yaml:" in problems[0]
    assert "unknown topic 'dept' for area sales" in problems[0] and "debt" in problems[0]
    # every debt metric moved away: the gap is named
    sales.write_text(sales.read_text().replace("  topic: debt\n", "  topic: value\n"))
    assert ("sales", "debt") in topic_gaps(load_catalog(folder))


# ---------------------------------------------------------------------------------------------
# the new metrics where their sources are missing

NEW = [
    "second_purchase_rate_90d",
    "new_customers_90d_on",
    "second_purchasers_90d",
    "jewellery_watches_sales",
    "jewellery_watches_share",
    "womenswear_preference_rate",
]


def test_new_metrics_on_a_bare_export(bare: Built) -> None:
    """Four columns: the second-purchase rate works; the category metrics and the department
    preference are left out with the usual note (no products table; no preferences table)."""
    engine = bare.engine
    kept, reasons = engine.available_metrics(NEW)
    assert kept == ["second_purchase_rate_90d", "new_customers_90d_on", "second_purchasers_90d"]
    assert reasons["jewellery_watches_sales"] == PRODUCTS_LEFT_OUT
    assert reasons["jewellery_watches_share"] == PRODUCTS_LEFT_OUT
    assert "preferred_department" in reasons["womenswear_preference_rate"]
    # the product metrics already in the catalog say the same (they were 0 before)
    assert engine.left_out_metric("leather_goods_share") == PRODUCTS_LEFT_OUT
    with pytest.raises(LeftOut, match="is left out: needs the products table"):
        engine.value("jewellery_watches_sales", period="2025")
    with pytest.raises(LeftOut, match="needs the products table"):
        bare.reference.value("jewellery_watches_sales", "2025")
    from profiler.periods import parse_period
    from profiler.sql.facts import FactsShape
    from profiler.sql.metrics import compile_metric

    with pytest.raises(LeftOut, match="needs the products table"):
        compile_metric(
            "jewellery_watches_sales",
            bare.reference.catalog,
            parse_period("2025"),
            None,
            FactsShape.of(bare.source),
        )


@pytest.mark.parametrize("missing", ["products", "preferences", "customers", "interactions"])
def test_new_metrics_with_an_optional_table_missing(
    tmp_path_factory: pytest.TempPathFactory, missing: str
) -> None:
    """The hand data of the golden tests without one optional table: each new metric has its
    golden value, or is left out with a reason naming what is missing."""
    folder = tmp_path_factory.mktemp(f"no-{missing}")
    for name, rows in car_data.TABLES.items():
        if name != missing:
            write_table(folder, name, rows)
    built = Built(load_sources(folder), car_data.AS_OF)
    kept, reasons = built.engine.available_metrics(NEW)
    assert {"second_purchase_rate_90d", "new_customers_90d_on"} <= set(kept)
    assert built.engine.value("second_purchase_rate_90d", period="2024") == 1.0
    if missing == "products":
        assert reasons["jewellery_watches_sales"] == PRODUCTS_LEFT_OUT
    else:
        assert built.engine.value("jewellery_watches_sales", period="2024") == 5000
    if missing == "preferences":
        assert "preferred_department" in reasons["womenswear_preference_rate"]
    for name in kept:  # the query engine and the reference agree on what is left
        want = built.reference.value(
            name, "2024" if name != "womenswear_preference_rate" else "asof"
        )
        got = built.engine.value(
            name, period="2024" if name != "womenswear_preference_rate" else "asof"
        )
        assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want), name


def test_the_docs_coverage_table_is_the_catalogs() -> None:
    """docs/metrics.md's sub-topic table names, for each brief sub-topic, exactly the catalog's
    must metrics of that area and topic."""
    import re
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    table = text.split("## Sub-topics", 1)[1].split("\n\n")[2]
    catalog = load_catalog()
    seen = set()
    for row in table.splitlines()[2:]:
        area, named, _ = (cell.strip() for cell in row.strip("|").split("|"))
        area = area.split(" ")[0]
        for topic, names in re.findall(r"(\w+): ((?:`\w+`(?:, )?)+)", named):
            want = sorted(
                n
                for n, m in catalog.metrics.items()
                if (m.area, m.topic, m.priority) == (area, topic, "must")
            )
            assert sorted(re.findall(r"`(\w+)`", names)) == want, (area, topic)
            seen.add((area, topic))
    assert seen == {(a, t) for a, ts in BRIEF_TOPICS.items() for t in ts}
