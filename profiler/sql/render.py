"""One catalog metric as one SQL query for a retailer's own warehouse (``profiler metrics sql``).

``render_metric`` compiles a metric for one cohort and period (``profiler/sql/metrics.py``: the
trees the DuckDB and Spark engines run, equal to the query engine's figures) and prints it in a
dialect (duckdb, spark, snowflake, bigquery) with sqlglot, behind a header comment that says
what it reads, which definition it is (version and hash), and for whom and when.

The query reads the data contract's tables under their own names (``order_lines``,
``products``, ``surveys``, ``interactions``: each in the form ``profiler validate`` accepts them,
every column present, defaults filled) and the CAR as ``car`` (the ``car.parquet`` of a build):
cohort membership is a condition over its columns, as of its date.  It returns one row and one
column, named as the metric; NULL where the metric has no value.

A ratio, rate or derived metric is composed in the same query from its leaves, as
``profiler/compose.py`` composes it: a division by zero (or by a missing value) is NULL
(compose's NaN), the arithmetic the same double operations in the same order.

Refused, in one line saying why, never printed wrong:

- a metric of customer state (it reads the CAR) for a period: the query engine takes a state at
  the period's end from the order history; the ``car`` table knows it at the CAR's date only
  (period ``asof``, read as of that date);
- a cohort whose condition reads a column ``car.parquet`` does not hold (personas are fitted
  when profiler reads the CAR, not stored);
- anything sqlglot cannot write in the dialect (``unsupported_level=RAISE``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pandas as pd
from sqlglot import ErrorLevel, exp
from sqlglot.errors import UnsupportedError

from .. import expressions
from ..catalog import SOURCES, Catalog, Metric, definition_text, did_you_mean
from ..cohorts import CohortSet
from ..compose import is_leaf, leaves
from ..contract import TABLES
from ..errors import ProfilerError, clip
from ..periods import Period, asof_period, parse_period
from .expr import literal
from .facts import FactsShape, col, order_facts
from .metrics import CAR_TABLE, _check_period, _columns, cohort_condition, compile_leaves

__all__ = [
    "DIALECTS",
    "RenderedMetric",
    "check_dialect",
    "lapsed_days",
    "render_metric",
    "tables_read",
]

DIALECTS = ("duckdb", "spark", "snowflake", "bigquery")
LEAVES = "leaves"  # the subquery holding a composed metric's leaves
# Snowflake's reserved words (docs.snowflake.com, "Reserved & limited keywords"): a name among
# them stays quoted, in capitals, which is how Snowflake stores an unquoted name.
_SNOWFLAKE_RESERVED = frozenset(
    """ACCOUNT ALL ALTER AND ANY AS ASC BETWEEN BY CASE CAST CHECK COLUMN CONNECT CONNECTION
    CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER
    DATABASE DELETE DESC DISTINCT DROP ELSE EXISTS FALSE FOLLOWING FOR FROM FULL GRANT GROUP
    GSCLUSTER HAVING ILIKE IN INCREMENT INNER INSERT INTERSECT INTO IS ISSUE JOIN LATERAL LEFT
    LIKE LOCALTIME LOCALTIMESTAMP MINUS NATURAL NOT NULL OF ON OR ORDER ORGANIZATION QUALIFY
    REGEXP REVOKE RIGHT RLIKE ROW ROWS SAMPLE SCHEMA SELECT SET SOME START TABLE TABLESAMPLE
    THEN TO TRIGGER TRUE TRY_CAST UNION UNIQUE UPDATE USING VALUES VIEW WHEN WHENEVER WHERE
    WITH""".split()
)
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class RenderedMetric:
    """The printed query: its text (header comment included), its tree, and what it reads."""

    name: str
    dialect: str
    sql: str
    query: exp.Select
    tables: dict[str, list[str]]  # input table -> the columns the query reads of it


def render_metric(
    name: str,
    catalog: Catalog,
    cohorts: CohortSet,
    cohort: str,
    period: str | Period,
    dialect: str,
    *,
    car_as_of: pd.Timestamp,
    car_columns: list[str] | None = None,
    as_of: pd.Timestamp | None = None,
    shape: FactsShape | None = None,
    lapsed_days: int = 545,
) -> RenderedMetric:
    """The metric for the cohort and period as one query in ``dialect``.

    ``car_as_of`` is the CAR's date (the ``car`` table's); ``car_columns`` the columns its
    ``car.parquet`` holds (None: every column of ``cohorts.car``).  ``as_of`` is the day the
    sources are read as of (None: as the tables stand when the query runs).  ``shape`` says
    which optional tables and columns the sources have (default: products, and order lines
    with ``unit_price``).  Raises ``ProfilerError`` (one line) for what cannot be rendered."""
    check_dialect(dialect)
    m = catalog.get(name)
    car_day = pd.Timestamp(car_as_of).normalize()
    day = pd.Timestamp(as_of).normalize() if as_of is not None else None
    span = _span(period, day)
    _check_period(m, span)
    if catalog.reads_state(name):
        _check_state(m, span, day, car_day)
    condition = cohort_condition(cohorts, cohort)
    stored = set(car_columns if car_columns is not None else cohorts.car.columns)
    missing = sorted({c.name for c in condition.find_all(exp.Column)} - stored)
    if missing:
        raise ProfilerError(
            f"Cohort '{clip(cohort)}' reads {', '.join(missing)}, which car.parquet does not hold"
            + (" (profiler fits personas as it reads the CAR)" if "persona" in missing else "")
            + ": no query over the car table selects its customers."
        )
    shape = shape or FactsShape(has_products=True, has_unit_price=True, product_id_as_text=False)
    parts = leaves(catalog, [name])
    if not parts:  # a derived metric of numbers only
        query = exp.select(_composed(catalog, name).as_(name, quoted=True))
    else:
        query = compile_leaves(parts, catalog, span, condition, shape, lapsed_days, day)
    if parts and not is_leaf(m):  # WITH ... SELECT composed FROM (SELECT leaves) AS leaves
        ctes = query.args.get("with_")
        query.set("with_", None)
        value = _composed(catalog, name)
        query = exp.select(value.as_(name, quoted=True)).from_(query.subquery(LEAVES))
        if ctes is not None:
            query.set("with_", ctes)
    tables = tables_read([catalog.get(p) for p in parts], shape, day, condition)
    _check_booleans(catalog, parts, cohorts, dialect)
    printed = _for_dialect(query, dialect)
    try:
        body = printed.sql(dialect=dialect, pretty=True, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as err:
        first = str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else "unsupported"
        raise ProfilerError(
            f"Metric '{name}' cannot be written in {dialect} SQL: {first}."
        ) from None
    head = _header(catalog, m, parts, cohorts, cohort, span, day, car_day, dialect, tables, shape)
    return RenderedMetric(name, dialect, "\n".join([*head, body + ";"]), query, tables)


def check_dialect(dialect: str) -> str:
    """The dialect, if one of ``DIALECTS``; else one line with the nearest."""
    if dialect not in DIALECTS:
        raise ProfilerError(
            f"Unknown SQL dialect '{clip(dialect)}'; expected one of {', '.join(DIALECTS)}."
            + did_you_mean(dialect, DIALECTS)
        )
    return dialect


def lapsed_days(meta: dict) -> int:
    """The days after an order that a customer turns lapsed, as the CAR was built with (its
    metadata; the feature spec's for builds whose metadata has none, as the query engine)."""
    from ..features import load_feature_spec

    thresholds = meta.get("lifecycle") or load_feature_spec()["lifecycle"]
    return int(thresholds["lapsed_days"])


def tables_read(
    metrics: list[Metric],
    shape: FactsShape,
    as_of: pd.Timestamp | None,
    condition: exp.Expression,
) -> dict[str, list[str]]:
    """The input tables the leaves' query reads and, for each, the columns it reads (a
    contract table's in the contract's order; the ``car`` table's: the CAR metrics' columns,
    then the cohort's)."""
    out: dict[str, dict[str, None]] = {}

    def add(table: str, names: list[str]) -> None:
        found = out.setdefault(table, {})
        for n in names:
            found[n] = None

    sources = list(dict.fromkeys(m.source or "" for m in metrics))
    if "order_lines" in sources:
        for table, names in _facts_read(shape, as_of is not None).items():
            add(table, names)
    for source in sources:
        if source == "order_lines":
            continue
        own = [m for m in metrics if m.source == source]
        names = _columns(source, own)
        dated = SOURCES.get(source)
        if as_of is not None and dated:
            names.append(dated)
        add(CAR_TABLE if source == "customers" else source, names)
    if metrics:  # the cohort's members (a derived metric of numbers only reads nothing)
        add(CAR_TABLE, ["customer_id", *(c.name for c in condition.find_all(exp.Column))])
    return {table: _in_contract_order(table, list(names)) for table, names in out.items()}


def _in_contract_order(table: str, names: list[str]) -> list[str]:
    """A contract table's columns in the contract's order (others as found)."""
    if table not in TABLES:
        return names
    order = {n: i for i, n in enumerate(TABLES[table].column_names)}
    return sorted(names, key=lambda n: order.get(n, len(order)))


@functools.lru_cache(maxsize=8)
def _facts_read(shape: FactsShape, dated: bool) -> dict[str, list[str]]:
    """The columns of order_lines (``l``) and products (``p``) the order facts read."""
    out: dict[str, dict[str, None]] = {}
    facts = order_facts(shape, pd.Timestamp("2000-01-01") if dated else None)
    for c in facts.find_all(exp.Column):
        if c.table in ("l", "p"):
            out.setdefault("order_lines" if c.table == "l" else "products", {})[c.name] = None
    return {table: list(names) for table, names in out.items()}


# ---------------------------------------------------------------------------------------------


def _span(period: str | Period, day: pd.Timestamp | None) -> Period:
    if isinstance(period, Period):
        return period
    if str(period).strip() == "asof":
        if day is None:
            raise ProfilerError(
                "Period asof needs a day: give --as-of YYYY-MM-DD (or leave it out: the CAR's date)."
            )
        return asof_period(day)
    return parse_period(period)


def _check_state(m: Metric, span: Period, day: pd.Timestamp | None, car_day: pd.Timestamp) -> None:
    what = "is a customer state" if m.source == "customers" else "is computed from a customer state"
    if span.kind != "asof":
        raise ProfilerError(
            f"Metric '{m.name}' {what}, which the car table holds as of the CAR's date "
            f"({car_day:%Y-%m-%d}) only: no query over it gives the state in {span.label}; "
            "ask for --period asof."
        )
    asked = min(span.end - pd.Timedelta(days=1), day) if day is not None else span.end
    if day != car_day or asked != car_day:
        raise ProfilerError(
            f"Metric '{m.name}' {what}, which the car table holds as of the CAR's date "
            f"({car_day:%Y-%m-%d}) only, not {asked:%Y-%m-%d}: ask for --period asof without "
            "--as-of."
        )


def _composed(catalog: Catalog, name: str) -> exp.Expression:
    """The metric from its leaves (columns of ``leaves``), as ``compose.compose`` computes it."""
    m = catalog.get(name)
    if is_leaf(m):
        return col(name, LEAVES)
    if m.aggregation in ("ratio", "rate"):
        num = _composed(catalog, m.numerator or "")
        den = _composed(catalog, (m.denominator or m.base) or "")
        return _divide(num, den)
    return _arithmetic(catalog, m.tree("expression"), m)


def _arithmetic(catalog: Catalog, node: expressions.Node, m: Metric) -> exp.Expression:
    """A derived metric's expression (``expressions.evaluate_number``): numbers as doubles,
    names as the metrics they name, ``x / 0`` NULL."""
    if isinstance(node, expressions.Number):
        return literal(float(node.value))
    if isinstance(node, expressions.Name):
        return _composed(catalog, node.name)
    if isinstance(node, expressions.Unary) and node.op == "-":
        return exp.Neg(this=_paren(_arithmetic(catalog, node.operand, m)))
    if isinstance(node, expressions.Binary) and node.op in expressions.ARITHMETIC:
        left = _arithmetic(catalog, node.left, m)
        right = _arithmetic(catalog, node.right, m)
        if node.op == "/":
            return _divide(left, right)
        kind = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}[node.op]
        return kind(this=_paren(left), expression=_paren(right))
    raise ProfilerError(
        f"Metric '{m.name}': its expression '{m.expression}' is not arithmetic over metrics."
    )


def _divide(num: exp.Expression, den: exp.Expression) -> exp.Expression:
    """num / den; NULL where den is 0 or missing (``expressions.divide``'s NaN)."""
    zero = exp.EQ(this=_paren(den), expression=exp.Literal.number(0))
    ratio = exp.Div(this=_paren(num.copy()), expression=_paren(den.copy()))
    return exp.Case().when(zero, exp.cast(exp.null(), "DOUBLE")).else_(ratio)


# What each dialect's rendering is, for the header.
_DIALECT_NOTES = {
    "duckdb": "the rendering profiler's tests run against the query engine's figures",
    "spark": "the tree profiler's Spark engine runs (tests/test_one_number.py)",
    "snowflake": "sqlglot's translation, not run by profiler's tests; names unquoted (Snowflake "
    "reads them in capitals)",
    "bigquery": "sqlglot's translation, not run by profiler's tests; tables from the default "
    "dataset; timestamps as TIMESTAMP (UTC)",
}
_FACT_BOOLEANS = {"kept", "first_purchase"}


def _check_booleans(catalog: Catalog, parts: list[str], cohorts: CohortSet, dialect: str) -> None:
    """Sums and means of true/false count them as 0/1 through a cast to DOUBLE, which Snowflake
    and BigQuery refuse."""
    if dialect in ("duckdb", "spark"):
        return
    for name in parts:
        m = catalog.get(name)
        if m.aggregation not in ("sum", "mean", "median", "percentile") or not m.column:
            continue
        if m.source == "customers" and m.column in cohorts.car.columns:
            boolean = pd.api.types.is_bool_dtype(cohorts.car[m.column])
        else:
            boolean = m.source == "order_lines" and m.column in _FACT_BOOLEANS
        if boolean:
            raise ProfilerError(
                f"Metric '{name}' takes the {m.aggregation} of true/false values ({m.column}) "
                f"as 0/1 through a cast to DOUBLE, which {dialect} refuses: no {dialect} SQL."
            )


def _for_dialect(query: exp.Select, dialect: str) -> exp.Select:
    if dialect == "snowflake":
        return _snowflake_names(query)
    if dialect == "bigquery":
        # The contract's timestamps are naive; BigQuery's DATETIME would take them so, but
        # sqlglot writes timestamp arithmetic with the TIMESTAMP functions: TIMESTAMP (UTC,
        # as the DuckDB engine reads them) throughout.
        out = query.copy()
        for node in out.find_all(exp.DataType):
            if node.this == exp.DataType.Type.TIMESTAMP:
                node.set("this", exp.DataType.Type.TIMESTAMPTZ)
        return out
    return query


def _snowflake_names(query: exp.Select) -> exp.Select:
    """The query with its names as Snowflake resolves unquoted names (in capitals): plain
    lower-case names unquoted, so ``order_lines`` finds a table created as ORDER_LINES; a
    reserved word quoted in capitals; any other name (created quoted) kept as written.  A mix
    of quoted and unquoted spellings of one lower-case name would name two columns there."""
    out = query.copy()
    for ident in out.find_all(exp.Identifier):
        name = ident.this
        if not _PLAIN_NAME.fullmatch(name):
            ident.set("quoted", True)
        elif name.upper() in _SNOWFLAKE_RESERVED:
            ident.set("this", name.upper())
            ident.set("quoted", True)
        else:
            ident.set("quoted", False)
    return out


def _paren(node: exp.Expression) -> exp.Expression:
    """Parentheses around an operand that is itself an operation (sqlglot prints a built tree
    as it stands)."""
    if isinstance(node, exp.Column | exp.Literal | exp.Cast | exp.Paren):
        return node
    return exp.paren(node)


def _header(
    catalog: Catalog,
    m: Metric,
    parts: list[str],
    cohorts: CohortSet,
    cohort: str,
    span: Period,
    day: pd.Timestamp | None,
    car_day: pd.Timestamp,
    dialect: str,
    tables: dict[str, list[str]],
    shape: FactsShape,
) -> list[str]:
    lines = [
        f"{m.label} ({m.name}): {definition_text(m)}",
        f"definition version {m.version}, hash {m.hash}, {m.status}; {catalog.stamp}",
    ]
    if not is_leaf(m):
        composed = [p for p in _tree(catalog, m.name) if p != m.name]
        lines.append("computed from (a division by 0 or by a missing value is NULL):")
        for p in composed:
            part = catalog.get(p)
            lines.append(
                f"  {p} (version {part.version}, hash {part.hash}): {definition_text(part)}"
            )
    lines.append(f"cohort: {cohort}: {_cohort_text(cohorts, cohort)}")
    lines.append(f"  members: the customers of the car table (the CAR as of {car_day:%Y-%m-%d})")
    lines.append(f"period: {span.label}{_period_text(span)}")
    if day is None:
        lines.append("sources: as the tables stand when the query runs")
    else:
        lines.append(
            f"sources: as of {day:%Y-%m-%d} (rows after it are not read; returns after it not yet booked)"
        )
        if span.kind != "asof" and span.end > day + pd.Timedelta(days=1):
            lines.append(f"  the period runs past {day:%Y-%m-%d}: its later days have no rows here")
    if "order_lines" in tables:
        gross = (
            "quantity x unit_price (net_amount where missing)"
            if shape.has_unit_price
            else "net_amount / (1 - discount)"
        )
        lines.append(f"gross value of a line: {gross}; amounts in GBP via fx_to_reporting")
    lines.append("reads:")
    for table, names in tables.items():
        lines.append(f"  {table}: {', '.join(names)}")
    lines.append(f'returns: one row, column "{m.name}" (NULL: no value)')
    lines.append(f"dialect: {dialect}: {_DIALECT_NOTES[dialect]}")
    return [f"-- {line}" for line in lines]


def _tree(catalog: Catalog, name: str) -> list[str]:
    """The metric and every metric it is computed from, each once, parents first."""
    out: dict[str, None] = {}

    def visit(n: str) -> None:
        if n in out:
            return
        out[n] = None
        for part in catalog.get(n).parts:
            visit(part)

    visit(name)
    return list(out)


def _cohort_text(cohorts: CohortSet, name: str) -> str:
    from ..cohorts import INTERSECTION

    if INTERSECTION in name:
        return " and ".join(
            f"({_cohort_text(cohorts, p.strip())})" for p in name.split(INTERSECTION)
        )
    return cohorts.definitions[name].definition


def _period_text(span: Period) -> str:
    if span.kind == "asof":
        return ""
    last = span.end - pd.Timedelta(days=1)
    return f" ({span.start:%Y-%m-%d} to {last:%Y-%m-%d}, by each metric's date column)"
