"""``profiler metrics sql``: a catalog metric printed as one SQL query gives the figure of record.

The printed DuckDB query is run with duckdb against the demo sources and the demo CAR, each
registered under the name the header prints and with only the columns the header says it reads;
its one number must equal the query engine's (``QueryEngine.values``, the figure every view
shows): money to the penny, counts exactly, rates and ratios to 1e-12 relative.  Every dialect's
rendering must parse back with sqlglot, and read back into DuckDB give the same number; what
cannot be written honestly is refused in one line.  The Spark rendering runs on Spark too
(marked ``spark``: deselect with ``-m "not spark"``).
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot

from profiler.catalog import Catalog, Metric
from profiler.errors import ProfilerError
from profiler.query import QueryEngine
from profiler.sql.engines import frame_to_arrow
from profiler.sql.render import DIALECTS, lapsed_days, render_metric
from profiler.store import open_generation
from workbook.cli import main

# (metric, cohort): a sum in money, a count, a distinct count, a ratio, a derived metric with a
# division (surveys), and a cohort filter (a column of the CAR, and a filter expression).
GRID = [
    ("net_sales", "Region: Europe"),
    ("kept_lines", "Buyers"),
    ("orders", "Region: Europe"),
    ("aov", "All customers"),
    ("aov", "Lifecycle: prospect"),  # no orders: a division by zero, no value
    ("return_rate", "Buyers"),
    ("nps", "All customers"),
]
PERIODS = ["2025", "2026-Q1", "2026-03"]
# Rates of the catalog are of customer states: known at the CAR's date only.
AT_D = [
    ("repeat_rate", "All customers"),
    ("active_share", "Region: Europe"),
    ("age_median", "Buyers"),
]


@pytest.fixture(scope="module")
def engine(demo_car_dir: Path) -> QueryEngine:
    return QueryEngine.open(demo_car_dir)


@pytest.fixture(scope="module")
def tables(demo_source, demo_car_dir: Path) -> dict[str, pa.Table]:
    """What the warehouse holds: the accepted source tables and the CAR as written."""
    out = {name: frame_to_arrow(frame) for name, frame in demo_source.tables.items()}
    out["car"] = pa.Table.from_pandas(open_generation(demo_car_dir).read_car())
    return out


def same(engine: QueryEngine, metric: str, want: float, got: float | None) -> bool:
    """Equal to the penny (money), exactly (counts), or to 1e-12 relative; no value both."""
    if got is None or math.isnan(want):
        return got is None and math.isnan(want)
    m = engine.catalog.get(metric)
    if m.unit == "GBP":
        return round(want * 100) == round(got * 100)
    if m.aggregation in ("count", "count_distinct"):
        return want == got
    return math.isclose(want, got, rel_tol=1e-12, abs_tol=1e-12)


def header_tables(sql: str) -> dict[str, list[str]]:
    """The tables and columns the header says the query reads."""
    lines = sql.splitlines()
    start = lines.index("-- reads:")
    out = {}
    for line in lines[start + 1 :]:
        if not line.startswith("--   "):
            break
        table, _, columns = line[5:].partition(": ")
        out[table] = columns.split(", ")
    return out


_DUCK: list[duckdb.DuckDBPyConnection] = []  # one connection for the module's queries


def run(sql: str, tables: dict[str, pa.Table], reads: dict[str, list[str]] | None = None):
    """The query's one value, on DuckDB holding only what the header names (or ``reads``)."""
    if not _DUCK:
        _DUCK.append(duckdb.connect(config={"threads": 1}))
        _DUCK[0].execute("SET TimeZone = 'UTC'")
    con = _DUCK[0]
    for name in tables:  # nothing left from the last query
        con.unregister(name)
    for name, columns in (reads or header_tables(sql)).items():
        con.register(name, tables[name].select(columns))
    rows = con.sql(sql).fetchall()
    assert len(rows) == 1 and len(rows[0]) == 1
    return rows[0][0]


def printed(engine: QueryEngine, metric: str, cohort: str, period: str, dialect: str) -> str:
    return render_metric(
        metric,
        engine.catalog,
        engine.cohorts,
        cohort,
        period,
        dialect,
        car_as_of=engine.as_of,
        car_columns=engine.known_columns,
        as_of=engine.as_of,
        lapsed_days=lapsed_days(engine.meta),
    ).sql


def test_duckdb_rendering_is_the_figure_of_record(engine, tables) -> None:
    checked = 0
    for period in PERIODS:
        want = engine.values(sorted({m for m, _ in GRID}), sorted({c for _, c in GRID}), period)
        want = want.set_index(["metric", "cohort"])["value"]
        for metric, cohort in GRID:
            got = run(printed(engine, metric, cohort, period, "duckdb"), tables)
            assert same(engine, metric, float(want[(metric, cohort)]), got), (
                metric,
                cohort,
                period,
                want[(metric, cohort)],
                got,
            )
            checked += 1
    assert checked == len(GRID) * len(PERIODS)
    # The grid is not vacuous: odd pence, and the division by zero.
    sales = engine.value("net_sales", "Region: Europe", "2026-Q1")
    assert sales > 0 and round(sales * 100) % 100
    assert math.isnan(engine.value("aov", "Lifecycle: prospect", "2025"))


def test_states_at_the_cars_date(engine, tables) -> None:
    want = engine.values([m for m, _ in AT_D], [c for _, c in AT_D], "asof")
    want = want.set_index(["metric", "cohort"])["value"]
    for metric, cohort in AT_D:
        got = run(printed(engine, metric, cohort, "asof", "duckdb"), tables)
        assert same(engine, metric, float(want[(metric, cohort)]), got), (metric, cohort)


def test_the_cli_prints_the_query(engine, tables, demo_car_dir, capsys) -> None:
    args = ["metrics", "sql", "aov", "--cohort", "Region: Europe", "--period", "2026-Q1"]
    assert main([*args, "--dialect", "duckdb", "--car", str(demo_car_dir)]) == 0
    sql = capsys.readouterr().out
    m = engine.catalog.get("aov")
    assert "-- Average order value (aov): net_sales / orders" in sql
    assert f"definition version {m.version}, hash {m.hash}, {m.status}; " in sql
    for part in ("net_sales", "orders"):
        assert f"{part} (version 1, hash {engine.catalog.get(part).hash})" in sql
    assert '-- cohort: Region: Europe: region == "Europe"' in sql
    assert "-- period: 2026-Q1 (2026-01-01 to 2026-03-31" in sql
    assert f"-- sources: as of {engine.as_of:%Y-%m-%d}" in sql
    assert header_tables(sql)["car"] == ["customer_id", "region"]
    assert {"order_lines", "products", "car"} == set(header_tables(sql))
    want = engine.value("aov", "Region: Europe", "2026-Q1")
    assert math.isclose(run(sql, tables), want, rel_tol=1e-12)
    # --as-of latest: no cut-off, the tables as they stand.
    assert (
        main([*args, "--dialect", "duckdb", "--car", str(demo_car_dir), "--as-of", "latest"]) == 0
    )
    latest = capsys.readouterr().out
    assert "-- sources: as the tables stand when the query runs" in latest
    assert "2026-11-23" not in latest.split("-- dialect")[1]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_renders_and_reads_back(engine, tables, dialect) -> None:
    """sqlglot parses each rendering back, and read back into DuckDB it gives the figure."""
    cases = [("aov", "Region: Europe", "2025"), ("nps", "Buyers", "2026-Q1")]
    cases += [("age_median", "Buyers", "asof"), ("repeat_rate", "All customers", "asof")]
    for metric, cohort, period in cases:
        sql = printed(engine, metric, cohort, period, dialect)
        assert f"-- dialect: {dialect}:" in sql
        tree = sqlglot.parse_one(sql, read=dialect)
        assert isinstance(tree, sqlglot.exp.Select)
        assert [s.alias_or_name for s in tree.selects] == [metric]
        # Read back as DuckDB's naive TIMESTAMP (in UTC): what each warehouse's timestamp type
        # holds here (Spark's session-zone TIMESTAMP, BigQuery's UTC TIMESTAMP).
        for node in tree.find_all(sqlglot.exp.DataType):
            if node.this == sqlglot.exp.DataType.Type.TIMESTAMPTZ:
                node.set("this", sqlglot.exp.DataType.Type.TIMESTAMP)
        back = tree.sql(dialect="duckdb")
        got = run(back, tables, header_tables(sql))
        want = engine.value(metric, cohort, period)
        assert same(engine, metric, want, got), (dialect, metric, got, want)


@pytest.mark.spark
def test_the_printed_spark_query_runs_on_spark(engine, tables, spark_engine) -> None:
    """The Spark rendering as printed (header comment included) on Spark gives the figure."""
    # One case (a Spark query takes seconds here): the order facts, the purchase markers, a
    # cohort and a ratio composed in the query.
    for metric, cohort, period in [("aov", "Region: Europe", "2025")]:
        sql = printed(engine, metric, cohort, period, "spark")
        for name, columns in header_tables(sql).items():
            spark_engine.register(name, tables[name].select(columns))
        rows = spark_engine._execute(sql.rstrip(";")).to_pylist()
        assert len(rows) == 1 and list(rows[0]) == [metric]
        want = engine.value(metric, cohort, period)
        assert same(engine, metric, want, rows[0][metric]), (metric, rows[0][metric], want)


def test_snowflake_names_resolve_in_capitals(engine) -> None:
    sql = printed(engine, "net_sales", "Region: Europe", "2025", "snowflake")
    body = sql.split("-- dialect")[1]
    assert '"' not in body.replace('"ORDER"', "")  # every plain name unquoted
    assert "FROM order_lines AS l" in body and "FROM car" in body


# refused while the command line is read (exit 2), then by the engine (exit 1)
REFUSED = [
    (["aov", "--period", "2025-13", "--dialect", "duckdb"], "Period '2025-13' has month 13", 2),
    (["aov", "--period", "2025", "--dialect", "duckdb", "--as-of", "1/2/2026"], "--as-of '1/2/2026' is not a date", 2),
    (["aovv", "--period", "2025", "--dialect", "duckdb"], "Unknown metric 'aovv'. Did you mean 'aov'?"),
    (["aov", "--period", "2025", "--dialect", "snowflak"], "Did you mean 'snowflake'?"),
    (["aov", "--period", "2025", "--dialect", "duckdb", "--cohort", "Buyer"], "Did you mean 'Buyers'?"),
    (["repeat_rate", "--period", "2025", "--dialect", "spark"], "holds as of the CAR's date"),
    (["uk_share", "--period", "asof", "--dialect", "duckdb", "--as-of", "2026-01-31"], "not 2026-01-31"),
    (["age_median", "--period", "asof:2026-01-31", "--dialect", "duckdb"], "not 2026-01-31"),
    (["net_sales", "--period", "asof", "--dialect", "duckdb", "--as-of", "latest"], "Period asof needs a day"),
    (["aov", "--period", "2025", "--dialect", "bigquery", "--cohort", "Store loyalists"], "reads persona, which car.parquet does not hold"),
    (["units", "--period", "r12:2026-01", "--dialect", "duckdb", "--cohort", "Buyers & Nobody"], "Unknown cohort 'Nobody'"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "said", "status"), [(*r, 1)[:3] for r in REFUSED])
def test_refusals_are_one_line(demo_car_dir, capsys, args, said, status) -> None:
    assert main(["metrics", "sql", *args, "--car", str(demo_car_dir)]) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and said in lines[0], lines


def test_without_products_or_unit_price(engine, tables, demo_car_dir, capsys) -> None:
    """Net sales read neither products nor unit prices: the same figure from order lines alone."""
    args = ["metrics", "sql", "net_sales", "--cohort", "Buyers", "--period", "2025-06"]
    args += ["--dialect", "duckdb", "--car", str(demo_car_dir), "--no-products", "--no-unit-price"]
    assert main(args) == 0
    sql = capsys.readouterr().out
    reads = header_tables(sql)
    assert set(reads) == {"order_lines", "car"} and "unit_price" not in reads["order_lines"]
    assert "net_amount / (1 - discount)" in sql
    want = engine.value("net_sales", "Buyers", "2025-06")
    assert want > 0 and same(engine, "net_sales", want, run(sql, tables))


def test_derived_division_by_zero_is_null(engine, tables) -> None:
    """As compose.py: x / 0 has no value, in a derived metric and in a ratio over it."""
    base = {"aggregation": "derived", "label": "x"}
    catalog = Catalog(
        {
            "quarter": Metric("quarter", expression="100 / 4", **base),
            "nothing": Metric("nothing", expression="quarter / (quarter - 25)", **base),
            "negative": Metric("negative", expression="-quarter * 2 + 1", **base),
        },
        "1.0.0",
    )
    for name, want in [("quarter", 25.0), ("nothing", None), ("negative", -49.0)]:
        sql = render_metric(
            name, catalog, engine.cohorts, "Buyers", "2025", "duckdb",
            car_as_of=engine.as_of, as_of=engine.as_of,
        ).sql  # fmt: skip
        assert header_tables(sql) == {} and run(sql, tables, {}) == want, name


def test_booleans_are_refused_where_the_cast_is(engine) -> None:
    """A mean of true/false is taken as 0/1 through a cast BigQuery and Snowflake refuse."""
    share = Metric(
        "first_order_share", aggregation="mean", source="order_lines", column="first_purchase"
    )
    catalog = Catalog({"first_order_share": share}, "1.0.0")

    def render(dialect: str) -> str:
        return render_metric(
            "first_order_share", catalog, engine.cohorts, "Buyers", "2025", dialect,
            car_as_of=engine.as_of, car_columns=engine.known_columns, as_of=engine.as_of,
        ).sql  # fmt: skip

    assert "AVG(" in render("duckdb") and "AVG(" in render("spark")
    for dialect in ("bigquery", "snowflake"):
        with pytest.raises(ProfilerError, match=f"true/false values .*{dialect} refuses"):
            render(dialect)


def test_help_has_an_example(capsys) -> None:
    assert main(["metrics", "sql", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Example: profiler metrics sql aov" in " ".join(text.split())
    for word in ("--cohort", "--period", "--dialect", "--as-of", "snowflake", "bigquery"):
        assert word in text
