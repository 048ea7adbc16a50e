"""Money to the penny.

The rounding rule (profiler/facts.py: ``to_minor_units``) against Python's decimal arithmetic on
grids of half pennies, negative amounts and rates with many decimals, in numpy and in SQL; then
one figure everywhere: the CAR's spend, the catalog's net sales (query engine and reference
engine), the reconciliation and the retention triangle's revenue agree to the penny with a
line-by-line decimal brute force, on the demo and on a bare four-column order-lines export.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlglot import exp

from profiler.facts import HALF_TOLERANCE, to_minor_units
from profiler.loading import SourceData
from profiler.periods import months_between
from profiler.reconcile import reconcile
from profiler.retention import retention_triangle
from profiler.sql.engines import DuckDBEngine
from profiler.sql.facts import col, minor_units
from tests.built import Built
from tests.conftest import load_tables
from tests.money import as_pence, exact_pence

# --- the rule -------------------------------------------------------------------------------------

RATES = [
    "1",
    "0.85",
    "0.8512345678",
    "1.1742059",
    "0.0061234567",
    "157.3399999999",
    "0.01",
    "3.125",
    "0.000123456789",
]


def documented(amount: float, rate: float) -> int:
    """The rule as documented, in exact decimals: half away from zero, and a value less than
    HALF_TOLERANCE (relative) below a half penny counts as the half (a double cannot tell them
    apart)."""
    value = Decimal(repr(amount)) * Decimal(repr(rate)) * 100
    size = abs(value)
    whole = int(size)
    fraction = size - whole
    up = fraction >= Decimal("0.5") - size * Decimal(HALF_TOLERANCE)
    pence = whole + int(up)
    return -pence if value < 0 else pence


def grid() -> tuple[np.ndarray, np.ndarray]:
    """Half pennies and their neighbours, signed, at many magnitudes, times every rate; and
    random amounts with two or three decimals."""
    rng = np.random.default_rng(17)
    texts = []
    for units in (0, 1, 9, 10, 99, 1234, 83_886, 1_000_000, 123_456_789):
        for cents in ("005", "015", "125", "335", "495", "505", "995", "004", "006", "5"):
            texts.append(f"{units}.{cents}")
    texts += [f"{rng.integers(0, 10**7)}.{rng.integers(0, 1000):03d}" for _ in range(3000)]
    texts += [f"{rng.integers(0, 10**5)}.{rng.integers(0, 100):02d}" for _ in range(3000)]
    amounts = [float(t) for t in texts] + [-float(t) for t in texts]
    pairs = [(a, float(r)) for a in amounts for r in RATES[:3]]
    pairs += [(a, float(r)) for a in amounts[::7] for r in RATES[3:]]
    amount, rate = zip(*pairs, strict=True)
    return np.array(amount), np.array(rate)


def test_half_pennies_round_away_from_zero() -> None:
    amounts = np.array([10.005, -10.005, 0.125, -0.125, 1.005, 2.675, 0.5, -0.5, 0.004, -0.004])
    assert to_minor_units(amounts).tolist() == [1001, -1001, 13, -13, 101, 268, 50, -50, 0, 0]
    assert to_minor_units(np.array([0.005]), 1.0).tolist() == [1]  # not banker's rounding
    assert to_minor_units(np.array([100.0]), np.array([0.85])).dtype == np.int64


def test_rounding_equals_decimal_arithmetic_on_a_grid() -> None:
    amount, rate = grid()
    got = to_minor_units(amount, rate)
    rule = [documented(a, r) for a, r in zip(amount.tolist(), rate.tolist(), strict=True)]
    assert got.tolist() == rule
    # The tolerance is the only place the rule departs from plain decimal rounding, and it
    # never does on amounts with few decimals times rates of ten or so.
    plain = exact_pence(amount.tolist(), rate.tolist())
    differs = [i for i, (a, b) in enumerate(zip(rule, plain, strict=True)) if a != b]
    assert len(amount) > 40_000 and not differs, differs[:5]


def test_many_decimals_and_the_tolerance() -> None:
    """A product lands a little off the exact half in doubles, either side: both are taken as
    the half; a value clearly below it (a millionth of a penny) is not."""
    assert to_minor_units(np.array([1.015]), 1.0)[0] == 102  # 101.49999999999999 in doubles
    assert to_minor_units(np.array([0.145]), 1.0)[0] == 15
    assert to_minor_units(np.array([2.0]), 0.0025)[0] == 1  # 0.5 pence exactly
    assert to_minor_units(np.array([1.0]), 0.004999999)[0] == 0  # 0.4999999 pence
    assert to_minor_units(np.array([-1.0]), 0.004999999)[0] == 0


def _sql_pence(engine, amount: np.ndarray, rate: np.ndarray) -> np.ndarray:  # noqa: ANN001
    engine.register("money", pa.table({"amount": amount, "rate": rate}))
    query = exp.select(minor_units(col("amount"), col("rate")).as_("pence")).from_("money")
    return engine.run(query).column("pence").to_numpy()


def test_duckdb_rounds_to_the_same_pence() -> None:
    amount, rate = grid()
    with DuckDBEngine(threads=1) as engine:
        got = _sql_pence(engine, amount, rate)
    assert got.dtype == np.int64
    assert np.array_equal(got, to_minor_units(amount, rate))


@pytest.mark.spark
def test_spark_rounds_to_the_same_pence(request) -> None:
    engine = request.getfixturevalue("spark_engine")
    amount, rate = grid()
    amount, rate = amount[::5], rate[::5]
    assert np.array_equal(_sql_pence(engine, amount, rate), to_minor_units(amount, rate))


# --- one figure everywhere ------------------------------------------------------------------------

BARE_LINES = [
    # order_id, customer_id, ordered_at, net_amount: half pennies, a refund, many decimals
    ("B1", "7", "2024-01-15T10:00:00", "10.005"),
    ("B1", "7", "2024-01-15T10:00:00", "0.125"),
    ("B2", "7", "2024-03-31T23:59:59", "-25.335"),
    ("B3", "8", "2024-04-01T00:00:00", "999999.995"),
    ("B4", "8", "2024-06-30T12:00:00", "1.015"),
    ("B5", "9", "2024-02-29T08:00:00", "83886.085"),
    ("B6", "9", "2024-07-01T09:00:00", "0.004"),
    ("B7", "10", "2024-05-05T10:00:00", "123.4567"),
]


@pytest.fixture(scope="module")
def bare_source(tmp_path_factory: pytest.TempPathFactory) -> SourceData:
    rows = [
        {"order_id": o, "customer_id": c, "ordered_at": t, "net_amount": a}
        for o, c, t, a in BARE_LINES
    ]
    return load_tables(tmp_path_factory.mktemp("bare-money"), {"order_lines": rows})


def kept_pence(source: SourceData, as_of: pd.Timestamp, start=None, end=None) -> int:  # noqa: ANN001
    """Net sales in pence, line by line in decimals: kept as of D, ordered in [start, end)."""
    lines = source.tables["order_lines"]
    cutoff = as_of + pd.Timedelta(days=1)
    total = 0
    for row in lines.itertuples(index=False):
        if row.ordered_at >= cutoff or row.status == "cancelled":
            continue
        if row.status == "returned" and row.returned_at < cutoff:
            continue
        if (start is not None and row.ordered_at < start) or (
            end is not None and row.ordered_at >= end
        ):
            continue
        total += exact_pence([row.net_amount], [row.fx_to_reporting])[0]
    return total


@pytest.fixture(scope="module", params=["demo", "bare"])
def views(request: pytest.FixtureRequest) -> tuple[SourceData, Built]:
    if request.param == "demo":
        source = request.getfixturevalue("demo_source")
        return source, Built(source, "2025-12-31")
    source = request.getfixturevalue("bare_source")
    return source, Built(source, None)


def test_car_spend_equals_net_sales_as_of_to_the_penny(views) -> None:
    source, v = views
    expected = kept_pence(source, v.result.as_of)
    assert as_pence(v.car["spend_ltd"]).sum() == expected
    assert v.engine.value("net_sales", None, "asof") == expected / 100
    assert v.reference.value("net_sales", "asof") == expected / 100
    # the sliced grids add up to the total, in pence
    channels = [c for c in v.car.columns if c.startswith("spend_ch_") and c.endswith("_ltd")]
    assert sum(as_pence(v.car[c]).sum() for c in channels) == expected
    assert all(v.car[c].dtype == np.float64 for c in channels)


def test_periods_to_the_penny(views) -> None:
    source, v = views
    year = v.result.as_of.year
    for period in (f"{year}", f"{year}-Q1", f"{year}-02", f"r12:{year}-06"):
        span = v.engine.period(period)
        expected = kept_pence(source, v.result.as_of, span.start, span.end) / 100
        assert v.engine.value("net_sales", None, period) == expected, period
        assert v.reference.value("net_sales", period) == expected, period


def test_retention_revenue_to_the_penny(views) -> None:
    """The triangle's cumulative spend x cohort size, summed over cohorts at each one's last
    complete month, is the net sales of every month up to the last complete one."""
    source, v = views
    triangle = retention_triangle(v.engine, measure="cumulative_spend")
    rows = triangle[triangle["acquisition"] != "Weighted mean"]
    offsets = [c for c in rows.columns if isinstance(c, int)]
    total = 0
    for values, customers in zip(rows[offsets].to_numpy(), rows["customers"], strict=True):
        if customers == 0:  # a month nobody was acquired in
            continue
        last = np.flatnonzero(~np.isnan(values)).max()  # the cohort's last complete month
        total += int(np.rint(values[last] * customers * 100))
    last_month = pd.Period(triangle.attrs["last_complete"], "M")
    expected = kept_pence(
        source, v.result.as_of, end=last_month.end_time.normalize() + pd.Timedelta(days=1)
    )
    assert total == expected
    revenue = retention_triangle(v.engine, measure="revenue")
    assert (revenue[0].dropna() == 1.0).all()


def test_reconciliation_uses_the_same_pence(demo_source) -> None:
    v = Built(demo_source, "2025-12-31")
    months = months_between("2025-01", "2025-12")
    table = reconcile(demo_source, v.engine.catalog, months, as_of=v.result.as_of).table
    sales = table[table["measure"] == "net_sales"]
    for month in months:
        cells = sales[sales["period"] == month.label]
        assert as_pence(cells["profiler"]).sum() == round(
            v.engine.value("net_sales", None, month.label) * 100
        ), month.label
    assert (table["residual"] == 0).all()
