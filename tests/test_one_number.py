"""One version of every number: a grid of metrics x cohorts x periods read from every output a
user reaches gives the same figure, to the penny.

The figure of record is the query engine's (``QueryEngine.values`` over the demo CAR folder).
Every other output must equal it: the CLI (summary, profile, compare, dashboard, retention
--measure revenue, reconcile, as CSV), the workbook's cells, the Excel functions (called as
Python), a snapshot, and the catalog compiled to SQL on DuckDB and on Spark.  Money is compared
in whole pence, counts exactly, and rates and ratios to 1e-12 relative (the SQL engines divide
the same integers, in another order of addition for non-money sums).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from profiler.cohorts import CohortSet
from profiler.query import QueryEngine
from profiler.sql.engines import DuckDBEngine
from profiler.sql.facts import FactsShape
from profiler.sql.metrics import CAR_TABLE, car_table, cohort_condition, metric_table
from profiler.store import open_generation
from udfs import profiler_udfs
from workbook.cli import main
from workbook.content import default_inputs, load_layout
from workbook.snapshot import snapshot

METRICS = [
    "net_sales",
    "gross_sales",
    "returned_sales",
    "orders",
    "active_customers",
    "aov",
    "spend_per_customer",
    "return_rate",
]
STATE = ["buyers", "stage_active", "retention_rate", "active_share"]  # at each period's end
COHORTS = ["All customers", "Buyers", "Region: Europe", "Store loyalists"]
PERIODS = ["2025", "2026-Q1", "2026-03"]


def same(metric: str, engine: QueryEngine, a: float, b: float) -> bool:
    """Equal to the penny (money), exactly (counts), or to 1e-12 relative (rates, ratios)."""
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(float(b)))
    unit = engine.metric(metric).unit
    if unit == "GBP":
        return round(float(a) * 100) == round(float(b) * 100)
    if engine.metric(metric).aggregation in ("count", "count_distinct"):
        return float(a) == float(b)
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)


@pytest.fixture(scope="module")
def engine(demo_car_dir: Path) -> QueryEngine:
    return QueryEngine.open(demo_car_dir)


@pytest.fixture(scope="module")
def record(engine: QueryEngine) -> dict[tuple[str, str, str], float]:
    """The figure of record for every cell of the grid."""
    out = {}
    for period in PERIODS:
        table = engine.values(METRICS + STATE, COHORTS, period)
        for row in table.itertuples():
            out[(row.metric, row.cohort, period)] = row.value
    return out


@pytest.fixture(scope="module")
def small(engine: QueryEngine) -> set[tuple[str, str, str]]:
    """The cells of the grid computed on fewer customers than the minimum cohort size."""
    out = set()
    for period in PERIODS:
        table = engine.values(METRICS + STATE, COHORTS, period)
        out |= {(r.metric, r.cohort, period) for r in table.itertuples() if r.small}
    return out


def cli_csv(capsys, *args: str) -> pd.DataFrame:
    assert main([*args, "--csv", "--raw"]) == 0
    return pd.read_csv(io.StringIO(capsys.readouterr().out))


def check(engine, record, got: dict[tuple[str, str, str], float], where: str) -> int:
    wrong = [
        (key, record[key], value)
        for key, value in got.items()
        if not same(key[0], engine, record[key], value)
    ]
    assert not wrong, f"{where}: {wrong[:5]}"
    return len(got)


def test_the_grid_is_in_the_data(engine, record) -> None:
    assert engine.as_of >= pd.Timestamp("2026-03-31")
    for period in PERIODS:
        assert record[("net_sales", "Store loyalists", period)] > 0
        assert record[("retention_rate", "All customers", period)] > 0
    # Pennies that a float32 or a sum of pounds would lose: the grid holds odd pence.
    assert any(round(v * 100) % 10 for (m, _, _), v in record.items() if m == "net_sales")
    # States differ between periods: each period's end is its own.
    assert (
        record[("stage_active", "All customers", "2025")]
        != record[("stage_active", "All customers", "2026-Q1")]
    )


def test_cli_summary_profile_compare(engine, record, demo_car_dir, capsys) -> None:
    car = str(demo_car_dir)
    checked = 0
    for period in PERIODS:
        table = cli_csv(
            capsys, "summary", "--car", car, "--period", period, "--cohorts", ",".join(COHORTS)
        )
        got = {
            (r.metric, r.cohort, period): r.value
            for r in table.itertuples()
            if r.metric in METRICS + STATE
        }
        checked += check(engine, record, got, f"summary {period}")
        table = cli_csv(
            capsys, "compare", "--car", car, "--period", period,
            "--cohorts", ",".join(COHORTS[1:]), "--metrics", ",".join(METRICS + STATE),
        )  # fmt: skip
        got = {(r.metric, r.cohort, period): r.value for r in table.itertuples()}
        got |= {(r.metric, "All customers", period): r.base_value for r in table.itertuples()}
        checked += check(engine, record, got, f"compare {period}")
        for cohort in COHORTS[2:]:
            table = cli_csv(capsys, "deep-dive", cohort, "--car", car, "--period", period)
            got = {
                (r.metric, cohort, period): r.value
                for r in table.itertuples()
                if r.metric in METRICS + STATE
            }
            got |= {
                (r.metric, "All customers", period): r.base_value
                for r in table.itertuples()
                if r.metric in METRICS + STATE
            }
            checked += check(engine, record, got, f"profile {cohort} {period}")
    assert checked > 250


def test_cli_dashboard(engine, record, demo_car_dir, capsys) -> None:
    for period in PERIODS:
        table = cli_csv(capsys, "dashboard", "--car", str(demo_car_dir), "--period", period)
        got = {
            (r.metric, "All customers", period): r.value
            for r in table.itertuples()
            if r.metric in METRICS + STATE
        }
        assert ("net_sales", "All customers", period) in got
        check(engine, record, got, f"dashboard {period}")


def test_cli_retention_revenue_is_the_cohorts_net_sales(engine, demo_car_dir, capsys) -> None:
    """A revenue cell is the acquisition cohort's net sales in the quarter, over its net sales in
    its first quarter: both are the catalog's net_sales for the cohort 'Acquired Q'."""
    table = cli_csv(
        capsys,
        "retention",
        "--car",
        str(demo_car_dir),
        "--grain",
        "quarter",
        "--measure",
        "revenue",
    ).set_index("acquisition")
    checked = 0
    for start in ["2024-Q1", "2024-Q3", "2025-Q2"]:
        cohort, first = f"Acquired {start}", pd.Period(start, freq="Q")
        at_start = engine.value("net_sales", cohort, start)
        for age in range(5):
            quarter = str(first + age).replace("Q", "-Q")
            want = engine.value("net_sales", cohort, quarter) / at_start
            assert math.isclose(table.loc[start, str(age)], want, rel_tol=1e-12), (start, age)
            checked += 1
    assert checked == 15


def test_cli_reconcile_is_the_catalog_figure(engine, demo_car_dir, demo_source, capsys) -> None:
    table = cli_csv(
        capsys, "reconcile", "--car", str(demo_car_dir), "--data", str(demo_source.data_dir),
        "--from", "2026-01", "--to", "2026-03",
    )  # fmt: skip
    sales = table[table["measure"] == "net_sales"]
    for month, rows in sales.groupby("period"):
        pence = sum(round(v * 100) for v in rows["profiler"])
        assert pence == round(engine.value("net_sales", "All customers", str(month)) * 100), month


def test_udfs_called_as_python(engine, record, small, demo_car_dir, monkeypatch) -> None:
    monkeypatch.setenv("PROFILER_CAR", str(demo_car_dir))
    got = {
        key: profiler_udfs.CP_METRIC(key[0], key[1], key[2])
        for key in record
        if engine.timing(key[0]) != "as_of_d"
    }
    # A cell on too few customers shows the snapshots' mark, never its number.
    marked = {key for key, value in got.items() if value == f"n<{engine.cohorts.min_size}"}
    assert marked == small & set(got)
    check(engine, record, {k: v for k, v in got.items() if k not in marked}, "CP_METRIC")
    # A cell has no room for a label: a metric known at D only is refused for a period.
    said = profiler_udfs.CP_METRIC("uk_share", "Buyers", "2025")
    assert said.startswith("#ERROR:") and f"as of {engine.as_of:%Y-%m-%d} only" in said
    assert profiler_udfs.CP_METRIC("uk_share", "Buyers", "asof") == engine.value(
        "uk_share", "Buyers"
    )


@pytest.fixture(scope="module")
def book(demo_workbook: Path) -> Path:
    return demo_workbook


def sheet_cells(path: Path, sheet: str) -> list[list]:
    return [list(r) for r in load_workbook(path, read_only=True)[sheet].iter_rows(values_only=True)]


def compare_sheet(
    engine, rows: list[list], cohorts: list[str], base: str
) -> dict[tuple[str, str], object]:
    """The Compare sheet's table: (metric, cohort) -> the cell (a metric label per row, a column
    per cohort, then the base)."""
    labels = {m.label: m.name for m in engine.catalog.metrics.values()}
    start = next(i for i, r in enumerate(rows) if r and r[0] == "Metric")
    header = rows[start]
    got = {}
    for row in rows[start + 1 :]:
        if not row or row[0] not in labels:  # the table ends (its note follows)
            break
        for cohort in cohorts:
            got[(labels[row[0]], cohort)] = row[header.index(cohort)]
        got[(labels[row[0]], base)] = row[header.index(f"{base} (base)")]
    return got


def test_workbook_and_snapshot_cells(engine, book, tmp_path) -> None:
    """Every number of the Compare sheet (its own cohorts and period) and of its snapshot (the
    cells not suppressed) is the figure of record."""
    inputs = default_inputs(engine, load_layout())
    cohorts = [inputs[f"CompareCohort{i}"] for i in range(1, 7) if inputs.get(f"CompareCohort{i}")]
    base, period = inputs["CompareBase"], inputs["ComparePeriod"]
    got = compare_sheet(engine, sheet_cells(book, "Compare"), cohorts, base)
    metrics = sorted({m for m, _ in got})
    want = engine.values(metrics, [*cohorts, base], period).set_index(["metric", "cohort"])["value"]
    record = {(m, c, period): want[(m, c)] for m, c in got}
    checked = check(engine, record, {(m, c, period): v for (m, c), v in got.items()}, "workbook")
    assert checked == 5 * len(metrics) and len(metrics) >= 8
    shot = tmp_path / "snapshot.xlsx"
    snapshot(book, shot, car=engine.car_dir)
    shown = {
        (m, c, period): v
        for (m, c), v in compare_sheet(engine, sheet_cells(shot, "Compare"), cohorts, base).items()
        if isinstance(v, (int, float))
    }
    assert len(shown) > checked / 2
    check(engine, record, shown, "snapshot")


@pytest.fixture(scope="module")
def sql_inputs(engine, demo_source, demo_car_dir):
    car = open_generation(demo_car_dir).read_car()
    cohorts = CohortSet(car)
    conditions = {name: cohort_condition(cohorts, name) for name in COHORTS}
    return car_table(cohorts, engine.catalog), conditions, FactsShape.of(demo_source)


def sql_grid(sql, engine, demo_source, sql_inputs) -> dict[tuple[str, str, str], float]:
    """The grid's flow metrics for each period and its states as of D, compiled to SQL."""
    car, conditions, shape = sql_inputs
    sql.register_source(demo_source)
    sql.register(CAR_TABLE, car)
    got = {}
    for period in PERIODS:
        table = metric_table(
            sql,
            METRICS,
            period,
            conditions,
            catalog=engine.catalog,
            shape=shape,
            as_of=engine.as_of,
        )
        for row in table.to_dict("records"):
            for m in METRICS:
                got[(m, row["cohort"], period)] = row[m]
    return got


def test_duckdb(engine, record, demo_source, sql_inputs) -> None:
    with DuckDBEngine(threads=2) as sql:
        got = sql_grid(sql, engine, demo_source, sql_inputs)
    assert check(engine, record, got, "DuckDB") == len(METRICS) * len(COHORTS) * len(PERIODS)


def test_spark(engine, record, demo_source, sql_inputs, spark_engine) -> None:
    got = sql_grid(spark_engine, engine, demo_source, sql_inputs)
    assert check(engine, record, got, "Spark") == len(METRICS) * len(COHORTS) * len(PERIODS)


def test_state_metrics_on_the_sql_engines_are_refused_for_a_period(
    engine, sql_inputs, demo_source
) -> None:
    """The SQL engines know states at D only: asked for a period they refuse, never mislabel."""
    from profiler.errors import ProfilerError

    car, conditions, shape = sql_inputs
    with DuckDBEngine(threads=2) as sql:
        sql.register_source(demo_source)
        sql.register(CAR_TABLE, car)
        with pytest.raises(ProfilerError, match="as of"):
            metric_table(
                sql,
                ["retention_rate"],
                "2025",
                conditions,
                catalog=engine.catalog,
                shape=shape,
                as_of=engine.as_of,
            )
        at_d = metric_table(
            sql, STATE, "asof", conditions, catalog=engine.catalog, shape=shape, as_of=engine.as_of
        )
    want = engine.values(STATE, COHORTS, "asof")
    for row in want.itertuples():
        value = at_d.set_index("cohort").loc[row.cohort, row.metric]
        assert same(row.metric, engine, row.value, value), (row.metric, row.cohort)
    assert np.isfinite(at_d[STATE].to_numpy(dtype=float)).all()
