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

from profiler.facts import order_facts
from profiler.metrics import _facts_with_purchase_markers
from tests.built import Built
from tests.conftest import load_tables

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
