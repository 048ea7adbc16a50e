"""Catalog metrics compiled to SQL equal MetricEngine's, metric for metric and cohort for cohort.

MetricEngine (profiler/metrics.py) is the reference.  On the demo retailer (the conftest's 1,500
customers): every catalog metric x every predefined cohort (plus everyone, and an empty cohort)
x a year, a rolling 12 months and the CAR's as-of date, wherever the metric supports the period.
On the hand-made sources of tests/car_data.py: every golden (metric, period) pair, whose values
were worked out by hand (23:59:59 on the last day, a return booked the month after, ...).

Counts, and medians and percentiles (they pick values), must be equal; sums and means, and what
is computed from them, within 1e-9 relative (the engines add in another order).  NaN equals NaN.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlglot import ErrorLevel, exp

from profiler import expressions
from profiler.car import build_car
from profiler.catalog import Catalog, Metric, load_catalog
from profiler.cohorts import CohortSet
from profiler.compose import is_leaf
from profiler.errors import ProfilerError
from profiler.expressions import ExpressionError, evaluate_mask, parse
from profiler.facts import order_facts, pence_column
from profiler.loading import SourceData, load_sources
from profiler.metrics import MetricEngine, _facts_with_purchase_markers
from profiler.periods import Period, parse_period
from profiler.sql.engines import DuckDBEngine, SqlEngine
from profiler.sql.expr import literal, to_mask, to_sql
from profiler.sql.facts import FactsShape, col
from profiler.sql.metrics import (
    CAR_TABLE,
    ORDER_LINES,
    ROW_AGGREGATIONS,
    car_table,
    catalog_columns,
    cohort_condition,
    compile_metric,
    metric_table,
    purchase_lines,
)
from profiler.store import open_generation
from tests import car_data
from tests.car_checks import assert_same_markers
from tests.conftest import write_table
from tests.test_metric_golden import GOLDEN

EVERYONE = "everyone"  # no cohort: rows of customers outside the CAR count too
EMPTY = "nobody"  # a cohort without customers: counts 0, sums 0, means NaN
INTERSECTION = "Store loyalists & Region: Europe"  # a persona (a column the caller adds) & a region
PERIODS = ["2025", "r12:2026-06", "asof"]
EXACT = ("count", "count_distinct", "median", "percentile")


def measured_in(catalog: Catalog, name: str, span: Period) -> bool:
    """Whether the SQL engines measure the metric in the period: states only as of D (the
    query engine takes them at a period's end: tests/test_state.py)."""
    return span.kind in catalog.get(name).periods and (
        span.kind == "asof" or not catalog.reads_state(name)
    )


# ---------------------------------------------------------------------------------------------
# the reference


class Reference(MetricEngine):
    """MetricEngine, fast enough for ~30,000 values: its frames keep only the columns the
    catalog reads (the CAR has ~1,300), and a value is computed once per metric, period (none for
    undated rows such as the CAR's) and cohort, so ratios share their parts.  The values are
    MetricEngine's own; cohort masks must stay alive while the engine is used (keyed by id)."""

    def __init__(self, *args: Any, columns: dict[str, set[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns = columns
        self.memo: dict[tuple[Any, ...], Any] = {}

    def _build_frame(self, source: str) -> pd.DataFrame:
        frame = super()._build_frame(source)
        return frame[[c for c in frame.columns if c in self.columns[source]]]

    def _value(self, m: Metric, span: Period, cohort: Any, by: list[str] | None) -> Any:
        undated = m.aggregation in ROW_AGGREGATIONS and m.date_column is None
        key = (m.name, None if undated else span, id(cohort), tuple(by or ()))
        if key not in self.memo:
            self.memo[key] = super()._value(m, span, cohort, by)
        return self.memo[key]


@contextlib.contextmanager
def filters_evaluated_once() -> Iterator[None]:
    """While MetricEngine computes values, a filter is evaluated once per source frame rather
    than once per cohort and period (a third of the reference's time on 30,000 values): the
    cached mask is the one ``evaluate_mask`` returned for the same parsed filter and frame."""
    cache: dict[tuple[int, int], tuple[Any, pd.DataFrame, np.ndarray]] = {}
    evaluate = expressions.evaluate_mask

    def cached(node: Any, frame: pd.DataFrame, text: str = "") -> np.ndarray:
        key = (id(node), id(frame))
        if key not in cache:  # the node and frame are kept, so their ids stay theirs
            cache[key] = (node, frame, evaluate(node, frame, text))
        return cache[key][2].copy()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(expressions, "evaluate_mask", cached)
        yield


def exact(catalog: Catalog, m: Metric) -> bool:
    """Whether the metric is computed from counts, picked values and money (whole pence, summed
    exactly) only."""
    if m.aggregation in ROW_AGGREGATIONS:
        return m.aggregation in EXACT or (
            m.aggregation == "sum" and pence_column(m.source, m.column) is not None
        )
    return all(exact(catalog, catalog.get(part)) for part in m.parts)


def mismatch(want: float, got: float, rtol: float) -> bool:
    if math.isnan(want) or math.isnan(got):
        return not (math.isnan(want) and math.isnan(got))
    return abs(got - want) > rtol * abs(want)


def run_value(engine: SqlEngine, tree: exp.Select) -> float:
    result = engine.run(tree)
    assert result.num_rows == 1 and result.column_names == ["value"]
    value = result.column("value")[0].as_py()
    return float("nan") if value is None else float(value)


# ---------------------------------------------------------------------------------------------
# the demo retailer


@dataclass
class Demo:
    source: SourceData
    catalog: Catalog
    shape: FactsShape
    cohorts: CohortSet
    car: pa.Table  # what the engines hold as ``car``
    reference: Reference
    conditions: dict[str, exp.Expression | None]
    masks: dict[str, np.ndarray | None]

    def compare(self, got: pd.DataFrame, names: list[str], span: Period) -> list[str]:
        """Every (cohort, metric) where the SQL value differs from MetricEngine's."""
        out = []
        labels = got["cohort"].tolist()
        with filters_evaluated_once():
            for name in names:
                rtol = 0.0 if exact(self.catalog, self.catalog.get(name)) else 1e-9
                for label, value in zip(labels, got[name].tolist(), strict=True):
                    want = self.reference.value(name, span, self.masks[label])
                    if mismatch(want, value, rtol):
                        out.append(f"{name} [{label}] {span.label}: {want!r} (pandas), {value!r}")
        return out


@pytest.fixture(scope="module")
def demo(demo_source, demo_car_dir) -> Demo:
    catalog = load_catalog()
    generation = open_generation(demo_car_dir)
    car = generation.read_car()
    as_of = generation.meta["as_of"]
    columns = catalog_columns(catalog)
    reference = Reference(
        catalog,
        source=demo_source,
        car=car[[c for c in car.columns if c in columns["customers"]]],
        as_of=as_of,
        columns=columns,
    )
    cohorts = CohortSet(car)
    conditions: dict[str, exp.Expression | None] = {EVERYONE: None, EMPTY: exp.false()}
    masks: dict[str, np.ndarray | None] = {EVERYONE: None, EMPTY: np.zeros(len(car), dtype=bool)}
    for name in [*cohorts.names, INTERSECTION]:
        conditions[name] = cohort_condition(cohorts, name)
        masks[name] = cohorts.mask(name)
    return Demo(
        demo_source,
        catalog,
        FactsShape.of(demo_source),
        cohorts,
        car_table(cohorts, catalog),
        reference,
        conditions,
        masks,
    )


@pytest.fixture(scope="module")
def duckdb_engine(demo: Demo):
    with DuckDBEngine(threads=2) as engine:
        engine.register_source(demo.source)
        engine.register(CAR_TABLE, demo.car)
        yield engine


def test_every_metric_is_compared(demo: Demo) -> None:
    """The periods below reach every metric of the catalog, and the cohorts every group."""
    kinds = {demo.reference.period(p).kind for p in PERIODS}
    assert all(kinds & set(m.periods) for m in demo.catalog.metrics.values())
    assert len(demo.cohorts.names) > 100
    groups = {d.group for d in demo.cohorts.definitions.values()}
    assert {"Personas", "Sub-segments", "Strategy segments", "Base"} <= groups


def one_per_group(demo: Demo) -> dict[str, exp.Expression | None]:
    """Everyone, nobody, the intersection and the first cohort of each group: every kind of
    cohort condition, for the periods (``asof`` compares every cohort; the conditions are the
    same SQL whatever the period, so every cohort in every period adds time, not cover)."""
    firsts: dict[str, str] = {}
    for name, definition in demo.cohorts.definitions.items():
        firsts.setdefault(definition.group, name)
    keep = {EVERYONE, EMPTY, INTERSECTION, *firsts.values()}
    return {k: v for k, v in demo.conditions.items() if k in keep}


@pytest.mark.parametrize("period", PERIODS)
def test_every_metric_and_cohort_equal_on_duckdb(demo: Demo, duckdb_engine, period: str) -> None:
    span = demo.reference.period(period)
    names = [n for n, m in demo.catalog.metrics.items() if measured_in(demo.catalog, n, span)]
    conditions = demo.conditions if span.kind == "asof" else one_per_group(demo)
    got = metric_table(
        duckdb_engine,
        names,
        span,
        conditions,
        catalog=demo.catalog,
        shape=demo.shape,
        as_of=demo.reference.as_of,
    )
    assert list(got["cohort"]) == list(conditions)
    assert got.attrs["catalog"] == demo.catalog.stamp
    assert len(names) * len(conditions) > (8000 if span.kind == "asof" else 1000)
    problems = demo.compare(got, names, span)
    assert not problems, f"{len(problems)} values differ:\n" + "\n".join(problems[:20])


# a filter cohort within another, and an intersection with a persona (a column the caller adds)
@pytest.mark.parametrize(
    ("period", "cohort"),
    [
        ("2025", "Treasured clients in Asia Pacific"),
        ("asof", INTERSECTION),
    ],
)
def test_compile_metric_is_one_tree_per_metric(
    demo: Demo, duckdb_engine, period: str, cohort: str
) -> None:
    span = demo.reference.period(period)
    problems = []
    for name, m in demo.catalog.metrics.items():
        if not measured_in(demo.catalog, name, span) or not is_leaf(m):
            continue  # composites: metric_table composes them (test above)
        tree = compile_metric(
            m, demo.catalog, span, demo.conditions[cohort], demo.shape, as_of=demo.reference.as_of
        )
        assert isinstance(tree, exp.Select)
        got = run_value(duckdb_engine, tree)
        want = demo.reference.value(name, span, demo.masks[cohort])
        if mismatch(want, got, 0.0 if exact(demo.catalog, m) else 1e-9):
            problems.append(f"{name}: MetricEngine {want!r}, SQL {got!r}")
    assert not problems, "\n".join(problems)


def test_cohort_conditions_select_the_cohorts(demo: Demo, duckdb_engine) -> None:
    """Every predefined cohort (filters, within, by groups, personas, intersections) as a
    condition over ``car`` picks the customers ``CohortSet.mask`` picks."""
    names = [*demo.cohorts.names, "Buyers & Region: Europe", "Store loyalists & Lifecycle: active"]
    query = exp.select(
        col("customer_id"),
        *(cohort_condition(demo.cohorts, n).as_(f"c{i}") for i, n in enumerate(names)),
    ).from_(CAR_TABLE)
    result = duckdb_engine.run(query).to_pandas().set_index("customer_id")
    result = result.loc[demo.cohorts.car["customer_id"].to_numpy()]
    for i, name in enumerate(names):
        assert result[f"c{i}"].dtype == bool, name
        assert np.array_equal(result[f"c{i}"].to_numpy(), demo.cohorts.mask(name)), name


@pytest.mark.parametrize(("lapsed_days", "as_of"), [(545, None), (30, None), (545, "2025-03-31")])
def test_purchase_markers_equal_pandas(demo: Demo, duckdb_engine, lapsed_days, as_of) -> None:
    """The markers and the order facts (status as of D, pence) equal pandas's, line by line."""
    day = pd.Timestamp(as_of) if as_of is not None else None
    want = _facts_with_purchase_markers(order_facts(demo.source, as_of), lapsed_days, day)
    markers = ["kept", "first_purchase", "days_since_previous_purchase", "lapses_at"]
    markers += ["days_to_next_purchase", "days_to_as_of"]
    facts = ["status", "returned_at", "net_pence", "gross_pence", "net_gbp", "gross_gbp"]
    query = exp.select(*(col(c) for c in ["order_id", "line_id", *markers, *facts])).from_(
        ORDER_LINES
    )
    for name, cte in purchase_lines(demo.shape, lapsed_days, as_of):
        query = query.with_(name, as_=cte)
    got = duckdb_engine.run(query).to_pandas().set_index(["order_id", "line_id"])
    want = want.set_index(["order_id", "line_id"]).loc[got.index]
    assert len(got) == len(want)
    if as_of is None:
        assert len(got) == len(demo.source.tables["order_lines"])
    else:  # returns after D undone, as pandas does
        assert (got["status"] == "completed").sum() > (
            demo.source.tables["order_lines"]["status"] == "completed"
        ).sum() * len(got) / len(demo.source.tables["order_lines"])
    assert list(got["status"]) == list(want["status"].astype(str))
    assert np.array_equal(
        got["returned_at"].to_numpy(dtype="datetime64[ns]"),
        want["returned_at"].to_numpy(dtype="datetime64[ns]"),
        equal_nan=True,
    )
    for name in ["net_pence", "gross_pence", "net_gbp", "gross_gbp"]:  # to the bit
        assert np.array_equal(got[name].to_numpy(), want[name].to_numpy()), name
    assert want["first_purchase"].sum() > 100 and want["lapses_at"].notna().sum() > 100
    assert want["days_to_next_purchase"].notna().sum() > 100
    assert_same_markers(got, want)


def test_trees_render_in_both_dialects(demo: Demo) -> None:
    """Every metric's tree renders for DuckDB and Spark without anything sqlglot cannot express,
    and percentiles are exact (no PERCENTILE_APPROX, no DuckDB QUANTILE, which is discrete)."""
    span = demo.reference.period("asof")
    for name, m in demo.catalog.metrics.items():
        if not is_leaf(m):
            with pytest.raises(ProfilerError, match="composed from its parts"):
                compile_metric(m, demo.catalog, span, None, demo.shape)
            continue
        tree = compile_metric(
            m, demo.catalog, span, demo.conditions["Buyers"], demo.shape, as_of="2025-06-30"
        )
        for dialect in ("duckdb", "spark"):
            sql = tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
            assert "APPROX" not in sql.upper() and "QUANTILE" not in sql.upper(), name


def test_periods_a_metric_does_not_support_are_refused(demo: Demo) -> None:
    with pytest.raises(ProfilerError, match="'customers' is not defined for year periods"):
        compile_metric("customers", demo.catalog, parse_period("2025"), None, demo.shape)
    with pytest.raises(ProfilerError, match="'customers' is not defined for year periods"):
        demo.reference.value("customers", "2025")


# ---------------------------------------------------------------------------------------------
# the hand-made sources: boundaries worked out by hand


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("golden-sql")
    for name, rows in car_data.TABLES.items():
        write_table(folder, name, rows)
    source = load_sources(folder)
    catalog = load_catalog()
    car = build_car(source, car_data.AS_OF).to_frame()
    car = car[[c for c in car.columns if c in catalog_columns(catalog)["customers"]]]
    reference = MetricEngine(catalog, source=source, car=car, as_of=car_data.AS_OF)
    with DuckDBEngine(threads=1) as engine:
        engine.register_source(source)
        engine.register(CAR_TABLE, pa.Table.from_pandas(car))
        yield reference, engine, FactsShape.of(source)


def test_golden_values_equal_on_duckdb(golden) -> None:
    """Every golden (metric, period) pair, for everyone and for the CAR's customers (c6, created
    after D, drops out with its rows), one query per period."""
    reference, engine, shape = golden
    in_car = np.ones(len(reference.car), dtype=bool)
    cohorts = {EVERYONE: None, "All customers": exp.true()}
    masks = {EVERYONE: None, "All customers": in_car}
    by_period: dict[str, list[str]] = {}
    for name, period, _ in GOLDEN:
        by_period.setdefault(period, []).append(name)
    problems = []
    for period, names in by_period.items():
        span = reference.period(period)
        got = metric_table(
            engine,
            names,
            span,
            cohorts,
            catalog=reference.catalog,
            shape=shape,
            as_of=reference.as_of,
        )
        for name in names:
            for label, value in zip(got["cohort"], got[name], strict=True):
                want = reference.value(name, span, masks[label])
                if mismatch(want, value, 1e-12):
                    problems.append(f"{name} {period} [{label}]: {want!r} (pandas), {value!r}")
    assert len(by_period) > 10
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# the expression language: to_sql against evaluate_mask


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Six rows with a missing value in most columns, text as objects, categories (whose order is
    not alphabetical), pandas strings, nullable integers and booleans, and zeros to divide by."""
    return pd.DataFrame(
        {
            "row_id": range(6),
            "x": [1.5, 0.1, np.nan, -2.0, 0.0, 3.0],
            "n": pd.array([1, None, 3, 4, 0, 2], dtype="Int64"),
            "i": [1, 2, 3, 4, 5, 6],
            "z": [0.0, 2.0, 0.0, 1.0, 0.0, -1.0],
            "s": ["a", None, "b", "a", "", "c"],
            "c": pd.Categorical(
                ["hi", "lo", None, "hi", "mid", "zz"], categories=["zz", "mid", "lo", "hi"]
            ),
            "ns": pd.array(["a", None, "b", "x", "a", None], dtype="string"),
            "b": [True, None, False, True, False, None],
            "bb": [True, False, True, False, True, False],
            "t": pd.to_datetime(
                [
                    "2024-01-01 00:00:00",
                    "2023-12-31 23:59:59",
                    None,
                    "2024-06-01 00:00:00",
                    "2024-01-01 00:00:01",
                    "2025-01-01 00:00:00",
                ]
            ),
        }
    )


EXPRESSIONS = [
    # numbers, with missing values
    "x > 1",
    "x != 1.5",
    "x == 0.1",
    "i + 0.1 == 1.1",
    "n >= 2",
    "n != 1",
    "i < 2.5",
    "x <= n",
    "x is null",
    "x is not null",
    # text: objects, categories (compared alphabetically), pandas strings
    's == "a"',
    's != "a"',
    's < "b"',
    's == ""',
    's in ("a", "c")',
    's not in ("a")',
    "s is null",
    'c == "hi"',
    'c != "hi"',
    'c < "lo"',
    'c in ("hi", "mid")',
    'c not in ("hi")',
    'ns == "a"',
    'ns != "a"',
    # booleans with missing values
    "b",
    "not b",
    "b == true",
    "b != false",
    "b in (true)",
    "b is null",
    "bb and x > 0",
    "bb or b",
    # dates
    't >= date("2024-01-01")',
    't < "2024-01-01"',
    't != date("2024-01-01")',
    't in (date("2024-01-01"), date("2025-01-01"))',
    "t is null",
    # arithmetic in float64: x / 0 is infinite, 0 / 0 and inf - inf are missing
    "x + n > 2",
    "x * 2 - n / 4 >= 1",
    "-x < 0",
    "-(x + 1) >= -2",
    "i / 2 == 0.5",
    "-2 * -3 == 6",
    "x > -2.5",
    "n in (-1, 4)",
    "x / z > 1",
    "x / z < 0",
    "z / z is null",
    "x / z - x / z is null",
    "(x / z) * 0 is null",
    # logic: Kleene's three values
    'x > 1 and s == "a"',
    'x > 1 or s == "a"',
    'not (x > 1 and s == "a")',
    'not (x > 1 or c == "hi")',
    "(x > 1) == true",
    "(x > 1) != (n > 1)",
    "(x > 1) is null",
    "x is null or x > 1",
    "x is not null and not x > 1",
    # literals only
    "1 == 1",
    "1 + 1 == 3",
    "true",
    "false",
]


def masks_query(texts: list[str], table: str) -> exp.Select:
    return (
        exp.select(col("row_id"), *(to_mask(parse(t)).as_(f"m{i}") for i, t in enumerate(texts)))
        .from_(table)
        .order_by(col("row_id"))
    )


def check_masks(engine: SqlEngine, frame: pd.DataFrame, texts: list[str], table: str) -> None:
    got = engine.run(masks_query(texts, table)).to_pandas()
    for i, text in enumerate(texts):
        want = evaluate_mask(parse(text), frame, text)
        assert got[f"m{i}"].dtype == bool, text
        assert got[f"m{i}"].tolist() == want.tolist(), text


@pytest.fixture(scope="module")
def frame_engine(frame: pd.DataFrame):
    with DuckDBEngine(threads=1) as engine:
        engine.register("expression_cases", pa.Table.from_pandas(frame))
        yield engine


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_to_sql_selects_what_evaluate_mask_selects(frame, frame_engine, text: str) -> None:
    """The expression, and its negation (unknown stays unknown under ``not``)."""
    check_masks(frame_engine, frame, [text, f"not ({text})"], "expression_cases")


def test_to_sql_leaves_missing_answers_null(frame_engine) -> None:
    query = (
        exp.select(to_sql(parse("x != 1.5")).as_("v"), to_sql(parse("x + n")).as_("w"))
        .from_("expression_cases")
        .order_by(col("row_id"))
    )
    got = frame_engine.run(query).to_pydict()
    assert got["v"] == [False, True, None, True, True, True]
    assert got["w"] == [2.5, None, None, 2.0, 0.0, 5.0]


def test_to_sql_builds_trees_with_quoted_names() -> None:
    tree = to_sql(parse('`orders count` > 1 and region == "O\'Neil"'))
    assert isinstance(tree, exp.And)
    assert tree.sql("duckdb") == "(\"orders count\" > 1) AND (\"region\" = 'O''Neil')"
    assert tree.sql("spark") == "(`orders count` > 1) AND (`region` = 'O\\'Neil')"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x + 1", "not a condition"),
        ('"text"', "not a condition"),
        ("b < true", "true/false values can only be compared with == or !="),
    ],
)
def test_to_mask_refuses_what_evaluate_mask_refuses(frame, text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate_mask(parse(text), frame, text)
    with pytest.raises(ExpressionError, match=message):
        to_mask(parse(text))


def test_literals() -> None:
    assert literal(np.float64(0.1)).sql() == "CAST('0.1' AS DOUBLE)"
    assert literal(np.int64(3)).sql() == "3"
    assert literal(np.bool_(True)).sql() == "TRUE"
    assert literal(np.datetime64("2024-01-31")).sql() == "CAST('2024-01-31 00:00:00' AS TIMESTAMP)"
    with pytest.raises(TypeError, match="cannot write"):
        literal(object())


# ---------------------------------------------------------------------------------------------
# Spark

SPARK_COHORTS = [
    EVERYONE,
    EMPTY,
    "All customers",
    "Buyers",
    "Treasured clients in Asia Pacific",
    INTERSECTION,
    "Lifecycle: lapsing",
]


@pytest.mark.spark
def test_metrics_equal_on_spark(demo: Demo, frame: pd.DataFrame, request) -> None:
    """Every metric for a handful of cohorts, in one query per period (Spark plans and starts
    jobs slowly, so the metrics and cohorts are batched), and the expression cases."""
    try:
        engine = request.getfixturevalue("spark_engine")
    except pytest.FixtureLookupError:
        pytest.skip("no spark_engine fixture in tests/conftest.py")
    engine.register_source(demo.source)
    engine.register(CAR_TABLE, demo.car)
    engine.register("expression_cases", pa.Table.from_pandas(frame))
    problems = []
    for period in ("2025", "asof"):
        span = demo.reference.period(period)
        names = [n for n, m in demo.catalog.metrics.items() if measured_in(demo.catalog, n, span)]
        cohorts = {label: demo.conditions[label] for label in SPARK_COHORTS}
        got = metric_table(
            engine,
            names,
            span,
            cohorts,
            catalog=demo.catalog,
            shape=demo.shape,
            as_of=demo.reference.as_of,
        )
        problems += demo.compare(got, names, span)
    assert not problems, f"{len(problems)} values differ:\n" + "\n".join(problems[:20])
    check_masks(engine, frame, EXPRESSIONS, "expression_cases")


def test_unknown_engine_is_one_line() -> None:
    from profiler.sql.engines import SqlEngineError, open_engine

    with pytest.raises(SqlEngineError, match="Unknown SQL engine 'oracle'; expected one of"):
        open_engine("oracle")
