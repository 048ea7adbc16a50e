"""One order time everywhere: an order's time is its earliest line's.

The CAR (``car_context.order_times``), the catalog's purchase markers in pandas
(``metrics._facts_with_purchase_markers``) and in SQL (``sql.metrics.purchase_lines``) read an
order as the lines of one order_id and one customer in the facts as of D, kept when any line is
kept, at the earliest ordered_at among all its lines, kept or not.  Hand-made orders whose lines
carry different times, listed out of time order and with line_ids out of time order, are worked
out here by brute force and compared with the CAR's lifecycle columns, the pandas markers, the
DuckDB markers, and the metrics that read them (pandas engine, ``metric_table`` on DuckDB, and
the query ``profiler metrics sql`` prints, run on DuckDB).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlglot import exp

from profiler.car import build_car
from profiler.catalog import load_catalog
from profiler.cohorts import CohortSet
from profiler.loading import SourceData, load_sources
from profiler.metrics import MetricEngine
from profiler.periods import parse_period
from profiler.sql.engines import DuckDBEngine, frame_to_arrow
from profiler.sql.facts import FactsShape, col
from profiler.sql.metrics import CAR_TABLE, ORDER_LINES, car_table, metric_table, purchase_lines
from profiler.sql.render import render_metric
from tests.car_checks import assert_same_markers
from tests.conftest import write_table

AS_OF = pd.Timestamp("2025-12-31")
LAPSED_DAYS = 545


def line(order, line_id, customer, at, status="completed", returned_at=""):
    return {
        "order_id": order,
        "line_id": str(line_id),
        "customer_id": customer,
        "ordered_at": at,
        "net_amount": "10",
        "status": status,
        "returned_at": returned_at,
    }


# In file order.  Comments give the order's time (its earliest line's, kept or not).
LINES = [
    # c1, A at 2024-03-02 08:00: the earliest line is cancelled and listed last, and the first
    # kept line in the file (line 1) and the lowest kept line_id are the latest.  B, at
    # 2024-03-04 12:00, comes after A (before it, by A's first kept line).
    line("A", 1, "c1", "2024-03-10 10:00:00"),
    line("A", 3, "c1", "2024-03-05 09:00:00"),
    line("A", 2, "c1", "2024-03-02 08:00:00", "cancelled"),
    line("B", 1, "c1", "2024-03-04 12:00:00"),
    # C at 2025-10-01: its earliest line came back before D; 575.5 days after B, so B lapses on
    # 2025-08-31 (by A's first kept line, on 2025-09-06) and C is a return from lapsed.
    line("C", 2, "c1", "2025-10-03 00:00:00"),
    line("C", 1, "c1", "2025-10-01 00:00:00", "returned", "2025-10-20 00:00:00"),
    # c2: D at 2024-06-01; E at 2024-06-15 09:00, its line 2, listed after line 1.
    line("D", 1, "c2", "2024-06-01 00:00:00"),
    line("E", 1, "c2", "2024-06-20 15:00:00"),
    line("E", 2, "c2", "2024-06-15 09:00:00"),
    # c3 never bought: its only order was cancelled.
    line("F", 1, "c3", "2024-05-01 00:00:00", "cancelled"),
    # c4: G's line 1 is ordered after D and does not exist yet; as of D, G is at 2025-12-20,
    # and its returned line had not come back by D (a kept line as of D).
    line("G", 1, "c4", "2026-01-05 00:00:00"),
    line("G", 2, "c4", "2025-12-20 00:00:00", "returned", "2026-01-10 00:00:00"),
    # One order_id, two customers: two orders, as the CAR groups lines.
    line("H", 1, "c5", "2025-02-03 00:00:00"),
    line("H", 2, "c6", "2025-02-05 00:00:00"),
    line("H", 3, "c5", "2025-02-01 00:00:00", "cancelled"),
]


def brute_force(as_of: pd.Timestamp, lapsed_days: int) -> pd.DataFrame:
    """Each line known at the end of D with its markers, from the rule written out by hand."""
    cutoff = as_of + pd.Timedelta(days=1)
    lines = []
    for row in LINES:
        at = pd.Timestamp(row["ordered_at"])
        if at >= cutoff:
            continue
        back = pd.Timestamp(row["returned_at"]) if row["returned_at"] else None
        kept = row["status"] == "completed" or (
            row["status"] == "returned" and (back is None or back >= cutoff)
        )
        lines.append({**row, "at": at, "kept": kept})
    orders: dict[tuple[str, str], dict] = {}
    for row in lines:
        key = (row["customer_id"], row["order_id"])
        order = orders.setdefault(key, {"time": row["at"], "kept": False})
        order["time"] = min(order["time"], row["at"])
        order["kept"] = order["kept"] or row["kept"]
    markers: dict[tuple[str, str], dict] = {}
    for customer in sorted({c for c, _ in orders}):
        bought = sorted(
            (o["time"], oid) for (c, oid), o in orders.items() if c == customer and o["kept"]
        )
        for i, (time, oid) in enumerate(bought):
            previous = bought[i - 1][0] if i else None
            lapse_day = time.normalize() + pd.Timedelta(days=lapsed_days)
            next_day = bought[i + 1][0].normalize() if i + 1 < len(bought) else None
            markers[(customer, oid)] = {
                "first_purchase": i == 0,
                "days_since_previous_purchase": (
                    (time - previous) / pd.Timedelta(days=1) if previous is not None else np.nan
                ),
                "lapses_at": lapse_day if next_day is None or next_day >= lapse_day else pd.NaT,
                "time": time,
            }
    out = []
    for row in lines:
        m = markers.get((row["customer_id"], row["order_id"])) if row["kept"] else None
        out.append(
            {
                "customer_id": row["customer_id"],
                "order_id": row["order_id"],
                "line_id": int(row["line_id"]),
                "ordered_at": row["at"],
                "kept": row["kept"],
                "first_purchase": bool(m and m["first_purchase"]),
                "days_since_previous_purchase": m["days_since_previous_purchase"] if m else np.nan,
                "lapses_at": m["lapses_at"] if m else pd.NaT,
            }
        )
    return pd.DataFrame(out).set_index(["order_id", "line_id"]).sort_index()


def purchases(as_of: pd.Timestamp) -> dict[str, list[pd.Timestamp]]:
    """Each customer's kept orders' times, in time order (by hand: the CAR's lifecycle)."""
    want = brute_force(as_of, LAPSED_DAYS)
    times: dict[str, list[pd.Timestamp]] = {}
    cutoff = as_of + pd.Timedelta(days=1)
    for (oid, _), row in want.iterrows():
        if row["kept"]:
            earliest = min(
                pd.Timestamp(r["ordered_at"])
                for r in LINES
                if r["order_id"] == oid
                and r["customer_id"] == row["customer_id"]
                and pd.Timestamp(r["ordered_at"]) < cutoff
            )
            times.setdefault(row["customer_id"], []).append(earliest)
    return {c: sorted(set(t)) for c, t in times.items()}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> SourceData:
    folder = tmp_path_factory.mktemp("order_time")
    write_table(folder, "order_lines", LINES)
    return load_sources(folder, today="2026-02-01")


@pytest.fixture(scope="module")
def car(source: SourceData) -> pd.DataFrame:
    return build_car(source, AS_OF).to_frame()


@pytest.fixture(scope="module")
def duck(source: SourceData, car: pd.DataFrame):
    with DuckDBEngine(threads=1) as engine:
        engine.register_source(source)
        engine.register(CAR_TABLE, car_table(CohortSet(car), load_catalog()))
        yield engine


def markers_of(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    out["line_id"] = out["line_id"].astype(int)
    out["order_id"] = out["order_id"].astype(str)
    out = out.set_index(["order_id", "line_id"]).sort_index()
    return out[["kept", "first_purchase", "days_since_previous_purchase", "lapses_at"]]


def assert_markers_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.index) == list(want.index)
    assert_same_markers(got, want)


@pytest.mark.parametrize("as_of", [AS_OF, pd.Timestamp("2025-09-30")])
def test_pandas_and_duckdb_markers_are_the_brute_force(source, duck, as_of) -> None:
    want = brute_force(as_of, LAPSED_DAYS)
    pandas = MetricEngine(load_catalog(), source=source, as_of=as_of, lapsed_days=LAPSED_DAYS)
    assert_markers_equal(markers_of(pandas.frame("order_lines")), want)
    query = exp.select(
        *(col(c) for c in ["order_id", "line_id", "kept", "first_purchase"]),
        col("days_since_previous_purchase"),
        col("lapses_at"),
    ).from_(ORDER_LINES)
    for name, cte in purchase_lines(FactsShape.of(source), LAPSED_DAYS, as_of):
        query = query.with_(name, as_=cte)
    assert_markers_equal(markers_of(duck.run(query).to_pandas()), want)


def test_the_hand_worked_orders() -> None:
    """The brute force itself, on the orders the comments describe."""
    want = brute_force(AS_OF, LAPSED_DAYS)
    assert want.loc[("B", 1), "days_since_previous_purchase"] == 2 + 4 / 24
    assert not want.loc[("B", 1), "first_purchase"]
    assert want.loc[[("A", 1), ("A", 3)], "first_purchase"].all()
    assert want.loc[("C", 2), "days_since_previous_purchase"] == 575.5
    assert want.loc[("B", 1), "lapses_at"] == pd.Timestamp("2025-08-31")
    assert want.loc[("E", 1), "days_since_previous_purchase"] == 14.375
    assert ("G", 1) not in want.index and want.loc[("G", 2), "first_purchase"]


def test_car_lifecycle_is_the_brute_force(car: pd.DataFrame) -> None:
    times = purchases(AS_OF)
    assert times["c1"][0] == pd.Timestamp("2024-03-02 08:00")
    car = car.set_index("customer_id")
    for customer in car.index:
        bought = times.get(customer, [])
        row = car.loc[customer]
        if not bought:
            assert pd.isna(row["first_purchase_at"]), customer
            continue
        assert row["first_purchase_at"] == bought[0], customer
        assert row["last_purchase_at"] == bought[-1], customer
        second = bought[1] if len(bought) > 1 else pd.NaT
        assert row["second_purchase_at"] is pd.NaT or row["second_purchase_at"] == second
        assert row["acquisition_month"] == bought[0].strftime("%Y-%m"), customer


PERIODS = ["2024-03", "2024-06", "2024", "2025-02", "2025-08", "2025-10", "2025-12", "2025"]
METRICS = ["new_customers", "returning_customers", "lapsed_customers", "active_customers"]


def by_hand(name: str, period: str) -> float:
    """The metric from the brute-force markers (each line dated by its own ordered_at)."""
    want = brute_force(AS_OF, LAPSED_DAYS).reset_index()
    span = parse_period(period)
    if name == "lapsed_customers":
        dated = want["lapses_at"]
        rows = want[(dated >= span.start) & (dated < span.end)]
    else:
        rows = want[(want["ordered_at"] >= span.start) & (want["ordered_at"] < span.end)]
        rows = rows[
            {
                "new_customers": rows["first_purchase"],
                "returning_customers": rows["days_since_previous_purchase"] > LAPSED_DAYS,
                "active_customers": rows["kept"],
            }[name].astype(bool)
        ]
    return float(rows["customer_id"].nunique())


@pytest.mark.parametrize("period", PERIODS)
def test_metrics_agree_with_the_car_and_the_brute_force(source, car, duck, period) -> None:
    catalog = load_catalog()
    pandas = MetricEngine(catalog, source=source, car=car, as_of=AS_OF, lapsed_days=LAPSED_DAYS)
    sql = metric_table(
        duck,
        METRICS,
        period,
        catalog=catalog,
        shape=FactsShape.of(source),
        lapsed_days=LAPSED_DAYS,
        as_of=AS_OF,
    )
    span = parse_period(period)
    first = car["first_purchase_at"]
    acquired = float(((first >= span.start) & (first < span.end)).sum())
    assert pandas.value("new_customers", period) == acquired  # the CAR's acquisition dates
    for name in METRICS:
        want = by_hand(name, period)
        assert pandas.value(name, period) == want, name
        assert sql[name].iloc[0] == want, name


@pytest.mark.parametrize("name", ["new_customers", "returning_customers", "lapsed_customers"])
def test_printed_sql_gives_the_engine_figure(source, car, name: str, tmp_path: Path) -> None:
    """``profiler metrics sql``'s DuckDB query, run on DuckDB, equals the pandas engine."""
    catalog = load_catalog()
    cohorts = CohortSet(car)
    pandas = MetricEngine(catalog, source=source, car=car, as_of=AS_OF, lapsed_days=LAPSED_DAYS)
    con = duckdb.connect(config={"threads": 1})
    con.execute("SET TimeZone = 'UTC'")
    for table, frame in source.tables.items():
        con.register(table, frame_to_arrow(frame))
    con.register("car", pa.Table.from_pandas(cohorts.car))
    for period in ["2024", "2025"]:
        sql = render_metric(
            name,
            catalog,
            cohorts,
            "All customers",
            period,
            "duckdb",
            car_as_of=AS_OF,
            as_of=AS_OF,
            shape=FactsShape.of(source),
            lapsed_days=LAPSED_DAYS,
        ).sql
        ((got,),) = con.sql(sql).fetchall()
        assert got == pandas.value(name, period) == by_hand(name, period), (name, period)


@pytest.mark.xfail(
    strict=True,
    reason="row metrics date each line by its own ordered_at, not by its order's time: an order "
    "whose lines straddle a period boundary is counted where its kept lines fall",
)
def test_an_order_straddling_months_is_counted_in_its_own_month(tmp_path: Path) -> None:
    """Known gap: the CAR acquires c1 in February (the order's earliest line, cancelled, is on
    28 February), the catalog's new_customers counts c1 in March (its kept line's month)."""
    write_table(
        tmp_path,
        "order_lines",
        [
            line("A", 1, "c1", "2024-03-02 00:00:00"),
            line("A", 2, "c1", "2024-02-28 00:00:00", "cancelled"),
        ],
    )
    source = load_sources(tmp_path, today="2026-02-01")
    car = build_car(source, AS_OF).to_frame()
    assert car["acquisition_month"].tolist() == ["2024-02"]
    engine = MetricEngine(load_catalog(), source=source, car=car, as_of=AS_OF)
    assert engine.value("new_customers", "2024-02") == 1.0


@pytest.mark.xfail(
    strict=True,
    reason="row metrics date each line by its own ordered_at, and the activity table puts an "
    "order's distinct count in the month of its first line in file order",
)
def test_an_order_straddling_months_is_one_order_of_its_own_month(tmp_path: Path) -> None:
    """Known gap: order A's lines are on 31 January and 1 February (listed February first).
    The CAR places A in January; the pandas engine counts it in both months, the query engine
    (the activity table's distinct orders) in February, where its first listed line falls."""
    from profiler.activity import build_activity
    from profiler.query import QueryEngine

    write_table(
        tmp_path,
        "order_lines",
        [line("A", 2, "c1", "2024-02-01 01:00:00"), line("A", 1, "c1", "2024-01-31 23:00:00")],
    )
    source = load_sources(tmp_path, today="2026-02-01")
    catalog = load_catalog()
    result = build_car(source, AS_OF)
    car = result.to_frame()
    assert car["first_purchase_at"].tolist() == [pd.Timestamp("2024-01-31 23:00:00")]
    activity = build_activity(source, catalog, result.customer_ids, result.as_of)
    query = QueryEngine(car, activity, catalog, as_of=result.as_of)
    pandas = MetricEngine(catalog, source=source, car=car, as_of=AS_OF)
    for period, want in [("2024-01", 1.0), ("2024-02", 0.0)]:
        assert pandas.value("orders", period) == want, period
        assert query.value("orders", None, period) == want, period
