"""DuckDB and Spark run the same sqlglot trees and return the same Arrow tables.

Every comparison builds one tree, runs it on both engines and requires the same column names,
the same Arrow types and the same values (sums of doubles within 1e-12 relative, since an engine
adds in its own order).  Where the engines differ by nature the tree says what it means:

- integer aggregates and day counts are cast to BIGINT: DuckDB's SUM of integers is HUGEINT (an
  Arrow decimal128(38, 0)) and its DATE_DIFF is BIGINT, Spark's are BIGINT and INT;
- a timestamp output is cast to TIMESTAMP: DuckDB keeps a nanosecond column in nanoseconds,
  Spark has microseconds only;
- ORDER BY says nothing about NULLs in the tree: sqlglot renders NULLS LAST for Spark (whose
  default is NULLS FIRST), DuckDB's default.

Spark tests share the session's ``spark_engine`` (tests/conftest.py) and are marked ``spark``.
"""

from __future__ import annotations

import os
import sys

import pandas as pd
import pyarrow as pa
import pytest
from sqlglot import exp

from profiler.sql import spark as spark_module
from profiler.sql.engines import DuckDBEngine, SqlEngineError, frame_to_arrow, open_engine
from profiler.sql.spark import (
    SparkEngine,
    SparkUnavailable,
    from_spark_arrow,
    parse_java_version,
    require_java,
    require_pyspark,
    to_spark_arrow,
)

col = exp.column
ORDERS = pd.DataFrame(
    {
        "order_id": ["O1", "O2", "O3", "O4", "O5", "O6", "O7", "O8", "O9"],
        "customer_id": pd.Categorical(["1", "1", "1", "2", "2", "2", "3", "4", "4"]),
        "ordered_at": pd.to_datetime(
            [
                "2024-01-31 10:00:00",
                "2024-02-03 23:59:59",
                "2024-02-04 00:00:01",
                "2023-12-31 23:00:00",
                "2024-01-01 00:00:00",
                "2024-06-15 12:00:00",
                "2024-03-15 15:00:00",
                "2024-12-31 23:59:59.5",
                "2024-12-31 23:59:59.5",
            ],
            format="ISO8601",
        ).astype("datetime64[ns]"),
        "channel": pd.Categorical(
            ["store", "web", "web", "app", "store", None, "store", "web", "store"]
        ),
        "product_id": ["P1", "P2", "P2", "P1", "P3", "P1", "P1", "P2", "P1"],
        "quantity": [1, 2, 1, 1, 3, 1, 1, 4, 1],
        "amount": [1200.10, 240.20, float("nan"), 100.30, 0.10, 50.05, 1500.00, 19.99, 5.01],
    }
)
PRODUCTS = pd.DataFrame(
    {
        "product_id": ["P1", "P2", "P3"],
        "category": pd.Categorical(["leather goods", "fragrance", "fragrance"]),
    }
)


def timestamp(text: str) -> exp.Cast:
    """A TIMESTAMP literal, as profiler/sql/facts.py writes one."""
    return exp.cast(exp.Literal.string(text), "TIMESTAMP")


def window(func: exp.Expression, by: str, *order: str) -> exp.Window:
    """func OVER (PARTITION BY by ORDER BY order...), NULL placement left to sqlglot."""
    return exp.Window(
        this=func,
        partition_by=[col(by)],
        order=exp.Order(expressions=[exp.Ordered(this=col(o)) for o in order]),
    )


def register(engine) -> None:
    engine.register("orders", frame_to_arrow(ORDERS))
    engine.register("products", frame_to_arrow(PRODUCTS))


@pytest.fixture(scope="module")
def duck():
    """DuckDB holding the orders and products."""
    with DuckDBEngine(threads=1) as engine:
        register(engine)
        yield engine


@pytest.fixture(scope="module")
def engines(duck, spark_engine):
    """DuckDB and the shared Spark engine, both holding the orders and products."""
    register(spark_engine)
    return duck, spark_engine


def run_both(engines, query: exp.Expression, *, approx: tuple[str, ...] = ()) -> list[dict]:
    """The rows both engines return for ``query``, required to be the same."""
    duck, spark = engines
    expected, got = duck.run(query), spark.run(query)
    assert got.schema.names == expected.schema.names
    assert got.schema.types == expected.schema.types, spark.render(query)
    rows, wanted = got.to_pylist(), expected.to_pylist()
    for name in approx:  # sums of doubles: each engine adds in its own order
        assert [r[name] for r in rows] == pytest.approx([r[name] for r in wanted], rel=1e-12)
        for row in rows + wanted:
            row.pop(name)
    assert rows == wanted
    return got.to_pylist()


@pytest.mark.spark
def test_sums_of_doubles(engines):
    query = (
        exp.select(
            col("customer_id"),
            exp.func("SUM", col("amount")).as_("net"),
            exp.func("AVG", col("amount")).as_("mean"),
        )
        .from_("orders")
        .group_by(col("customer_id"))
        .order_by(col("customer_id"))
    )
    rows = run_both(engines, query, approx=("net", "mean"))
    assert [r["net"] for r in rows] == pytest.approx([1440.30, 150.45, 1500.00, 25.00])


@pytest.mark.spark
def test_count_distinct_ignores_nulls(engines):
    query = (
        exp.select(
            col("customer_id"),
            exp.Count(this=exp.Distinct(expressions=[col("channel")])).as_("channels"),
            exp.Count(this=exp.Distinct(expressions=[col("product_id")])).as_("products"),
            exp.Count(this=exp.Star()).as_("lines"),
            exp.Count(this=col("amount")).as_("priced"),
        )
        .from_("orders")
        .group_by(col("customer_id"))
        .order_by(col("customer_id"))
    )
    assert run_both(engines, query) == [
        {"customer_id": "1", "channels": 2, "products": 2, "lines": 3, "priced": 2},
        {"customer_id": "2", "channels": 2, "products": 2, "lines": 3, "priced": 3},
        {"customer_id": "3", "channels": 1, "products": 1, "lines": 1, "priced": 1},
        {"customer_id": "4", "channels": 2, "products": 2, "lines": 2, "priced": 2},
    ]


@pytest.mark.spark
def test_case_when_with_nulls(engines):
    band = (
        exp.Case()
        .when(
            exp.GTE(this=col("amount"), expression=exp.Literal.number(1000)),
            exp.Literal.string("high"),
        )
        .when(
            exp.LT(this=col("amount"), expression=exp.Literal.number(100)),
            exp.Literal.string("low"),
        )
    )
    web = (
        exp.Case()
        .when(
            exp.EQ(this=col("channel"), expression=exp.Literal.string("web")), exp.Literal.number(1)
        )
        .else_(exp.Literal.number(0))
    )
    query = (
        exp.select(
            col("order_id"),
            band.as_("band"),
            web.as_("is_web"),
            exp.func("COALESCE", col("channel"), exp.Literal.string("unknown")).as_("channel"),
        )
        .from_("orders")
        .order_by(col("order_id"))
    )
    rows = run_both(engines, query)
    assert [r["band"] for r in rows] == [
        "high",
        None,
        None,
        None,
        "low",
        "low",
        "high",
        "low",
        "low",
    ]
    assert [r["is_web"] for r in rows] == [0, 1, 1, 0, 0, 0, 0, 1, 0]
    assert rows[5]["channel"] == "unknown"


@pytest.mark.spark
def test_timestamp_compared_with_a_literal(engines):
    query = (
        exp.select(
            col("order_id"),
            exp.GTE(this=col("ordered_at"), expression=timestamp("2024-01-01 00:00:00")).as_(
                "in_2024"
            ),
            exp.cast(col("ordered_at"), "TIMESTAMP").as_("at"),
        )
        .from_("orders")
        .where(exp.LT(this=col("ordered_at"), expression=timestamp("2024-02-01 00:00:00")))
        .order_by(col("order_id"))
    )
    duck, spark = engines
    assert spark.run(query).schema.field("at").type == pa.timestamp("us")  # naive, no UTC
    assert run_both(engines, query) == [
        {"order_id": "O1", "in_2024": True, "at": pd.Timestamp("2024-01-31 10:00:00")},
        {"order_id": "O4", "in_2024": False, "at": pd.Timestamp("2023-12-31 23:00:00")},
        {"order_id": "O5", "in_2024": True, "at": pd.Timestamp("2024-01-01 00:00:00")},
    ]


@pytest.mark.spark
def test_days_between_dates(engines):
    as_of = exp.cast(exp.Literal.string("2024-12-31"), "DATE")
    days = exp.DateDiff(this=as_of, expression=exp.cast(col("ordered_at"), "DATE"))
    query = (
        exp.select(col("order_id"), exp.cast(days, "BIGINT").as_("days"))
        .from_("orders")
        .order_by(col("order_id"))
    )
    rows = run_both(engines, query)
    assert [r["days"] for r in rows] == [335, 332, 331, 366, 365, 199, 291, 0, 0]


@pytest.mark.spark
def test_lag_over_customer_and_time(engines):
    previous = window(
        exp.Lag(this=exp.cast(col("ordered_at"), "TIMESTAMP")),
        "customer_id",
        "ordered_at",
        "order_id",
    )
    gap = exp.DateDiff(
        this=exp.cast(col("ordered_at"), "DATE"),
        expression=exp.cast(previous.copy(), "DATE"),
    )
    # amount is NULL on O3: the NULL sorts last in both engines (sqlglot says NULLS LAST to Spark).
    cheaper = window(exp.Lag(this=col("amount")), "customer_id", "amount")
    query = (
        exp.select(
            col("order_id"),
            previous.as_("previous"),
            exp.cast(gap, "BIGINT").as_("gap_days"),
            cheaper.as_("next_cheaper"),
        )
        .from_("orders")
        .order_by(col("customer_id"), col("ordered_at"), col("order_id"))
    )
    rows = run_both(engines, query)
    assert [r["gap_days"] for r in rows] == [None, 3, 1, None, 1, 166, None, None, 0]
    assert rows[2] == {
        "order_id": "O3",
        "previous": pd.Timestamp("2024-02-03 23:59:59"),
        "gap_days": 1,
        "next_cheaper": 1200.10,
    }


@pytest.mark.spark
def test_real_casts_are_float32(engines):
    third = exp.Div(this=col("amount"), expression=exp.cast(exp.Literal.number(3), "DOUBLE"))
    query = (
        exp.select(col("order_id"), exp.cast(third, "REAL").as_("third"))
        .from_("orders")
        .order_by(col("order_id"))
    )
    duck, spark = engines
    assert spark.run(query).schema.field("third").type == pa.float32()
    run_both(engines, query)


@pytest.mark.spark
def test_text_equality_on_dictionary_columns(engines):
    leather = exp.EQ(
        this=col("category", table="p"), expression=exp.Literal.string("leather goods")
    )
    in_store = exp.In(
        this=col("channel", table="o"),
        expressions=[exp.Literal.string("store"), exp.Literal.string("app")],
    )
    query = (
        exp.select(
            col("customer_id", table="o"),
            exp.cast(
                exp.func(
                    "SUM",
                    exp.Case().when(leather, exp.Literal.number(1)).else_(exp.Literal.number(0)),
                ),
                "BIGINT",
            ).as_("leather"),
            exp.cast(
                exp.func(
                    "SUM",
                    exp.Case().when(in_store, exp.Literal.number(1)).else_(exp.Literal.number(0)),
                ),
                "BIGINT",
            ).as_("in_store"),
        )
        .from_(exp.to_table("orders").as_("o"))
        .join(
            exp.to_table("products").as_("p"),
            on=exp.EQ(this=col("product_id", table="o"), expression=col("product_id", table="p")),
            join_type="left",
        )
        .where(exp.NEQ(this=col("channel", table="o"), expression=exp.Literal.string("web")))
        .group_by(col("customer_id", table="o"))
        .order_by(col("customer_id", table="o"))
    )
    assert run_both(engines, query) == [
        {"customer_id": "1", "leather": 1, "in_store": 1},
        {"customer_id": "2", "leather": 1, "in_store": 2},
        {"customer_id": "3", "leather": 1, "in_store": 1},
        {"customer_id": "4", "leather": 1, "in_store": 1},
    ]


@pytest.mark.spark
def test_integer_sums_cast_to_bigint(engines):
    units = exp.func("SUM", col("quantity"))
    query = (
        exp.select(
            col("customer_id"),
            exp.cast(units, "BIGINT").as_("units"),
            exp.cast(units.copy(), "DOUBLE").as_("units_f"),
        )
        .from_("orders")
        .group_by(col("customer_id"))
        .order_by(col("customer_id"))
    )
    rows = run_both(engines, query)
    assert [(r["units"], r["units_f"]) for r in rows] == [(4, 4.0), (5, 5.0), (1, 1.0), (5, 5.0)]


@pytest.mark.spark
def test_integer_sums_differ_without_a_cast(engines):
    """Why the trees cast: DuckDB sums BIGINT into HUGEINT, Spark into BIGINT."""
    duck, spark = engines
    query = exp.select(exp.func("SUM", col("quantity")).as_("units")).from_("orders")
    assert duck.run(query).schema.field("units").type == pa.decimal128(38, 0)
    assert spark.run(query).schema.field("units").type == pa.int64()


@pytest.mark.spark
def test_division_by_zero_differs_unless_guarded(engines):
    """x / 0 is +inf in DuckDB and NULL in Spark (ANSI off); a CASE on the divisor agrees."""
    duck, spark = engines
    zero = exp.cast(exp.Literal.number(0), "DOUBLE")
    bare = (
        exp.select(exp.Div(this=col("amount"), expression=zero).as_("r"))
        .from_("orders")
        .where(exp.EQ(this=col("order_id"), expression=exp.Literal.string("O1")))
    )
    assert duck.run(bare).to_pylist() == [{"r": float("inf")}]
    assert spark.run(bare).to_pylist() == [{"r": None}]
    guarded = exp.Case().when(
        exp.GT(this=zero.copy(), expression=exp.Literal.number(0)),
        exp.Div(this=col("amount"), expression=zero.copy()),
    )
    query = (
        exp.select(guarded.as_("r"))
        .from_("orders")
        .where(exp.EQ(this=col("order_id"), expression=exp.Literal.string("O1")))
    )
    assert run_both(engines, query) == [{"r": None}]


# A failing query raises SqlEngineError on one line, on either engine.
@pytest.mark.parametrize(
    "engine_name",
    ["duckdb", pytest.param("spark", marks=pytest.mark.spark)],
)
@pytest.mark.parametrize(
    "query",
    [
        exp.select(col("no_such_column")).from_("orders"),
        exp.select(exp.Star()).from_("no_such_table"),
    ],
)
def test_failing_query_raises_one_line(request, engine_name, query):
    engine = request.getfixturevalue("duck" if engine_name == "duckdb" else "engines")
    engine = engine if engine_name == "duckdb" else engine[1]
    with pytest.raises(SqlEngineError) as raised:
        engine.run(query)
    message = str(raised.value)
    assert message.startswith(f"{engine_name}: query failed: ")
    assert "\n" not in message


@pytest.mark.spark
def test_engines_share_spark_but_not_their_tables(engines, spark_engine):
    other = SparkEngine("local[2]")
    other.register("orders", pa.table({"order_id": ["X1"]}))
    count = exp.select(exp.Count(this=exp.Star()).as_("n")).from_("orders")
    assert other.run(count).to_pylist() == [{"n": 1}]
    assert spark_engine.run(count).to_pylist() == [{"n": 9}]
    staged = other._local_dir
    other.close()
    assert staged is not None and not os.path.exists(staged)
    with pytest.raises(SqlEngineError, match="closed"):
        other.run(count)
    assert spark_engine.run(count).to_pylist() == [{"n": 9}]


# The three ways a table reaches Spark give the same rows: a local Parquet file (the fixture's
# engine), through the driver (createDataFrame, a cluster without a staging folder) and a shared
# staging folder written by Spark.
@pytest.mark.spark
@pytest.mark.parametrize("how", ["driver", "staging_dir"])
def test_every_staging_gives_the_same_rows(engines, how, tmp_path, monkeypatch):
    duck, spark = engines
    stage = tmp_path / "stage"
    if how == "driver":
        monkeypatch.setattr(spark_module, "is_local", lambda master: False)
        other = SparkEngine()
        assert other._local_dir is None and other._remote_dir is None
    else:
        other = SparkEngine(staging_dir=f"file://{stage}")
    register(other)
    query = (
        exp.select(
            col("order_id"),
            col("customer_id"),
            col("channel"),
            exp.cast(col("ordered_at"), "TIMESTAMP").as_("at"),
            exp.GTE(this=col("ordered_at"), expression=timestamp("2024-01-01 00:00:00")).as_("y24"),
            col("amount"),
            col("quantity"),
        )
        .from_("orders")
        .order_by(col("order_id"))
    )
    assert other.run(query).equals(spark.run(query))
    other.close()
    assert not stage.exists() or list(stage.iterdir()) == []


@pytest.mark.spark
def test_open_engine_and_another_master(spark_engine):
    with open_engine("spark", spark_master="local[2]") as engine:
        assert isinstance(engine, SparkEngine)
    with pytest.raises(SqlEngineError, match="already running .* 'local\\[2\\]'"):
        SparkEngine("spark://nowhere:7077")


@pytest.mark.spark
def test_nothing_on_stdout(engines, capfd):
    duck, spark = engines
    spark.register("tiny", pa.table({"x": [1, 2]}))
    spark.run(exp.select(exp.func("MAX", col("x")).as_("m")).from_("tiny"))
    assert capfd.readouterr().out == ""


# What reaches Spark, and what comes back (no Spark needed).
def test_tables_are_staged_with_plain_types():
    table = frame_to_arrow(ORDERS).append_column("u", pa.array([1] * 9, pa.uint32()))
    table = table.append_column("none", pa.nulls(9))
    staged = to_spark_arrow(table)
    assert staged.schema.field("customer_id").type in (pa.string(), pa.large_string())
    assert staged.schema.field("channel").type in (pa.string(), pa.large_string())
    assert staged.schema.field("ordered_at").type == pa.timestamp("us", tz="UTC")
    assert staged.schema.field("u").type == pa.int64()
    assert staged.schema.field("none").type == pa.string()
    assert staged.column("channel").to_pylist() == [
        "store",
        "web",
        "web",
        "app",
        "store",
        None,
        "store",
        "web",
        "store",
    ]
    # Naive wall-clock time is kept as the same UTC instant.
    first = staged.column("ordered_at")[7].as_py()
    assert first.replace(tzinfo=None) == pd.Timestamp("2024-12-31 23:59:59.5")


def test_results_come_back_naive():
    result = pa.table(
        {
            "at": pa.array([pd.Timestamp("2024-01-01 12:30")], pa.timestamp("us", tz="UTC")),
            "s": pa.array(["a"], pa.large_string()),
        }
    )
    back = from_spark_arrow(result)
    assert back.schema.types == [pa.timestamp("us"), pa.string()]
    assert back.to_pylist() == [{"at": pd.Timestamp("2024-01-01 12:30"), "s": "a"}]


# java -version output, old and new numbering.
@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("no version here", None),
    ],
)
def test_parse_java_version(output, major):
    assert parse_java_version(output) == major


# Missing or old Java and missing pyspark: one line saying what to install.
def test_missing_java_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(
        SparkUnavailable, match="Java 17 or newer.*apt-get install openjdk-17-jre-headless"
    ):
        require_java("4.0.0")


def test_old_java_says_what_to_install(tmp_path, monkeypatch):
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(SparkUnavailable) as raised:
        require_java("4.0.0")
    assert "is Java 11" in str(raised.value) and "openjdk-17-jre-headless" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_pyspark_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(SparkUnavailable, match=r"pip install 'customer-profiler\[spark\]'"):
        require_pyspark()
