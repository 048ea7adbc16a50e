"""Catalog metrics in SQL: the leaves of the catalog compiled to sqlglot trees, equal to
MetricEngine's; ratios, rates and derived metrics composed from them by ``profiler/compose.py``.

``compile_metric`` turns a leaf of the catalog (templates/metrics/: a sum, count, mean, median
or percentile) into one SELECT that returns one row, ``value``: the number
``MetricEngine.value(name, period, cohort)`` gives (profiler/metrics.py is the reference).
``compile_metrics`` does the same for many leaves and many cohorts in one query, one row per
cohort, and ``metric_table`` runs it on an engine and composes the metrics asked for from their
leaves, as every engine does (one composition, so engines that agree on leaves agree on all).

What an engine must hold (``SqlEngine.register_source`` registers the source tables):

- ``order_lines`` and ``products``: the order facts (profiler/sql/facts.py) are computed from
  them, then the purchase markers of ``profiler.metrics._facts_with_purchase_markers`` with window
  functions (``purchase_lines``);
- ``surveys``, ``interactions``: as loaded;
- ``car``: the Customer Analytic Record, one row per customer, registered by the caller with
  NaN as NULL (``engine.register("car", pa.Table.from_pandas(car))``).  Cohorts are conditions
  over its columns.  Persona cohorts read a ``persona`` column: when the CAR has none,
  ``CohortSet(car)`` fits the personas and its ``.car`` carries the labels, so register
  ``pa.Table.from_pandas(CohortSet(car).car)``.

Semantics carried over from MetricEngine (the tests compare every metric, cohort and period):

- a row metric aggregates the rows of its source whose date is in the period
  (``start <= date < end``; as of: ``date < end``; metrics of the CAR have no date), that pass
  its filter (profiler/sql/expr.py: a missing answer leaves the row out), and whose customer is
  in the cohort.  With a cohort, rows whose customer is not in the CAR drop out; for everyone
  (no cohort) they stay;
- sum: no rows is 0, rows whose values are all missing is NULL (``sum(min_count=1)``); count and
  count_distinct never NULL; mean, median and percentile NULL without values; booleans count as
  0/1; every value is DOUBLE (DuckDB would sum integers to HUGEINT);
- median and percentile are numpy's to the bit (linear interpolation between the values around
  h = q (n - 1): ``a + (b - a) t``, or ``b - (b - a) (1 - t)`` from t = 0.5; the median is
  ``(a + b) / 2``), computed by ranking the values with window functions.  No sqlglot node renders
  an exact percentile in both dialects: ``PercentileCont`` (DuckDB's QUANTILE_CONT) becomes
  Spark's approximate PERCENTILE_APPROX, and ``Quantile`` (Spark's exact PERCENTILE) becomes
  DuckDB's QUANTILE, which is the discrete quantile;
- ratio, rate and derived metrics are not compiled: ``metric_table`` composes them from the
  leaves' values (``profiler/compose.py``; a zero or missing denominator gives NaN).

The purchase markers rank a customer's kept orders by (ordered_at, order_id) as pandas does, on
the CAR's orders (``car_context.build_context``): the lines of one order_id and one customer,
kept when any line is, whose time is the earliest ordered_at among all their lines as of D, kept
or not (``MIN(ordered_at)`` grouped by order_id and customer_id), whatever order the file lists
them in or their line_ids run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from .. import expressions, margin
from ..catalog import SOURCES, Catalog, Metric, load_catalog
from ..cohorts import INTERSECTION, CohortSet, columns_used
from ..compose import Part, compose, is_leaf, leaves
from ..errors import LeftOut, ProfilerError
from ..facts import pence_column
from ..periods import Period, asof_period, parse_period
from .engines import SqlEngine
from .expr import double, literal, to_mask
from .facts import (
    FactsShape,
    case,
    col,
    number,
    order_facts,
    pounds,
    text,
    timestamp,
    window,
)

__all__ = [
    "CAR_TABLE",
    "purchase_lines",
    "cohort_condition",
    "compile_leaves",
    "compile_metric",
    "compile_metrics",
    "metric_table",
]

CAR_TABLE = "car"
LINES = "metric_lines"  # order facts + kept
ORDER_LINES = "metric_order_lines"  # ... + the purchase markers: the metrics' order_lines
MEMBERS = "metric_cohorts"  # (cohort number, customer_id) for compile_metrics
KEY = "_cohort"
ROW_AGGREGATIONS = ("sum", "count", "count_distinct", "mean", "median", "percentile")
_MICROSECONDS_PER_DAY = 86_400_000_000


# ---------------------------------------------------------------------------------------------
# sources


def purchase_lines(
    shape: FactsShape, lapsed_days: int = 545, as_of: pd.Timestamp | None = None
) -> list[tuple[str, exp.Select]]:
    """The metrics' ``order_lines``, as named CTEs: order facts as of D (``facts.order_facts``;
    None: as the data stands) plus the purchase markers.

    kept: completed as of D; first_purchase: the line is kept and its order is the customer's first kept
    order; days_since_previous_purchase: fractional days since the customer's previous kept
    order (NULL on the first, and on lines not kept); lapses_at: the day the customer turns
    lapsed after this order (its day + ``lapsed_days``) unless the next kept order comes before
    then; days_to_next_purchase: whole days from the order's day to the next kept order's day
    (NULL without one); days_to_as_of: whole days from the order's day to D (None: to the
    last kept order's day).  An order is the lines of one order_id and customer; it is kept when any of its lines
    is, and its ordered_at is its earliest line's, kept or not (as the CAR's
    ``car_context.order_times``).  Orders are ranked by customer, then ordered_at, then order_id.
    """
    kept = exp.func(
        "COALESCE", exp.EQ(this=col("status"), expression=text("completed")), exp.false()
    )
    lines = exp.select(exp.Star(), kept.as_("kept")).from_(
        order_facts(shape, as_of).subquery("facts")
    )

    # One row per kept order (order_id and customer, as the CAR groups lines): kept when any of
    # its lines is, at its earliest line's time among all its lines, kept or not.
    any_kept = exp.GT(
        this=exp.Max(this=case(col("kept"), number(1), number(0))), expression=number(0)
    )
    orders = (
        exp.select(
            col("order_id"), col("customer_id"), exp.Min(this=col("ordered_at")).as_("ordered_at")
        )
        .from_(LINES)
        .group_by(col("order_id"), col("customer_id"))
        .having(any_kept)
    )
    day = exp.TimestampTrunc(this=col("ordered_at"), unit=exp.var("DAY"))
    orders = exp.select(
        col("order_id"), col("customer_id"), col("ordered_at"), day.as_("_day")
    ).from_(orders.subquery("o"))

    # Each order against the customer's previous and next kept orders.
    by_customer = ([col("customer_id")], [col("ordered_at"), col("order_id")])
    last_day: exp.Expression = (
        timestamp(pd.Timestamp(as_of).normalize())
        if as_of is not None
        else exp.Window(this=exp.Max(this=col("_day")))
    )
    ranked = exp.select(
        col("order_id"),
        col("customer_id"),
        col("ordered_at"),
        col("_day"),
        last_day.as_("_last_day"),
        window(exp.RowNumber(), *by_customer, nulls_first=True).as_("_rank"),
        window(exp.Lag(this=col("ordered_at")), *by_customer, nulls_first=True).as_("_previous"),
        window(exp.Lead(this=col("_day")), *by_customer, nulls_first=True).as_("_next_day"),
        exp.TimestampAdd(
            this=col("_day"), expression=number(int(lapsed_days)), unit=exp.var("DAY")
        ).as_("_lapse_day"),
    ).from_(orders.subquery("o"))
    gap = exp.TimestampDiff(
        this=col("ordered_at"), expression=col("_previous"), unit=exp.var("MICROSECOND")
    )
    lapses = exp.or_(
        exp.Is(this=col("_next_day"), expression=exp.null()),
        exp.GTE(this=col("_next_day"), expression=col("_lapse_day")),
    )
    markers = exp.select(
        col("order_id"),
        col("customer_id"),
        exp.EQ(this=col("_rank"), expression=number(1)).as_("first_purchase"),
        exp.Div(this=exp.cast(gap, "DOUBLE"), expression=double(number(_MICROSECONDS_PER_DAY))).as_(
            "days_since_previous_purchase"
        ),
        case(lapses, col("_lapse_day")).as_("lapses_at"),
        _days_between(col("_day"), col("_next_day")).as_("days_to_next_purchase"),
        _days_between(col("_day"), col("_last_day")).as_("days_to_as_of"),
    ).from_(ranked.subquery("r"))

    line_kept = col("kept", "l")
    with_markers = (
        exp.select(
            exp.Column(this=exp.Star(), table=exp.to_identifier("l")),
            exp.func("COALESCE", exp.and_(line_kept, col("first_purchase", "m")), exp.false()).as_(
                "first_purchase"
            ),
            case(line_kept.copy(), col("days_since_previous_purchase", "m")).as_(
                "days_since_previous_purchase"
            ),
            case(line_kept.copy(), col("lapses_at", "m")).as_("lapses_at"),
            case(line_kept.copy(), col("days_to_next_purchase", "m")).as_("days_to_next_purchase"),
            case(line_kept.copy(), col("days_to_as_of", "m")).as_("days_to_as_of"),
        )
        .from_(exp.to_table(LINES).as_("l"))
        .join(
            markers.subquery("m"),
            on=exp.and_(
                exp.EQ(this=col("order_id", "l"), expression=col("order_id", "m")),
                exp.EQ(this=col("customer_id", "l"), expression=col("customer_id", "m")),
            ),
            join_type="LEFT",
        )
    )
    return [(LINES, lines), (ORDER_LINES, with_markers)]


def _days_between(start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """Days from ``start`` to ``end`` (both midnights) as DOUBLE, NULL when either is NULL: the
    same microsecond difference as days_since_previous_purchase, whole for two midnights."""
    gap = exp.TimestampDiff(this=end, expression=start, unit=exp.var("MICROSECOND"))
    return exp.Div(this=exp.cast(gap, "DOUBLE"), expression=double(number(_MICROSECONDS_PER_DAY)))


# ---------------------------------------------------------------------------------------------
# cohorts


def cohort_condition(cohorts: CohortSet, name: str) -> exp.Expression:
    """The cohort as a condition over the ``car`` table's columns (never NULL).

    A filter cohort is its filter (and its parent's condition when it is ``within`` one), a
    ``by`` cohort is ``column == value``, and ``"A & B"`` is both.  Same rows as
    ``cohorts.mask(name)``.
    """
    return _cohort(cohorts, name, ())


def _cohort(cohorts: CohortSet, name: str, seen: tuple[str, ...]) -> exp.Expression:
    if INTERSECTION in name:
        parts = [_cohort(cohorts, p.strip(), seen) for p in name.split(INTERSECTION)]
        return exp.and_(*parts)
    if name not in cohorts.definitions:
        cohorts.mask(name)  # raises the one-line error, with a suggestion
    if name in seen:
        raise ProfilerError(
            f"{cohorts.path}: cohort '{name}' is within itself ({' > '.join(seen)})."
        )
    d = cohorts.definitions[name]
    if d.by is not None:
        equal = exp.EQ(this=col(d.by), expression=literal(d.value))
        return exp.func("COALESCE", equal, exp.false())
    parts = []
    if d.within:
        parts.append(_cohort(cohorts, d.within, (*seen, name)))
    if d.tree is not None:
        parts.append(to_mask(d.tree))
    return exp.and_(*parts) if parts else exp.true()


# ---------------------------------------------------------------------------------------------
# compiling


def compile_metric(
    metric: Metric | str,
    catalog: Catalog,
    period: Period | str,
    cohort_condition: exp.Expression | None = None,
    shape: FactsShape | None = None,
    lapsed_days: int = 545,
    as_of: str | pd.Timestamp | None = None,
) -> exp.Select:
    """One query returning one row, ``value``: the metric for the cohort and period.

    ``period`` is a ``Period`` (``asof_period(day)`` for the CAR's date) or its written form.
    ``cohort_condition`` is a condition over the ``car`` table (``cohort_condition(cohorts,
    name)``), or None for everyone.  ``shape`` (``FactsShape.of(source)``) is needed for metrics
    over order lines.  ``as_of`` is the day the sources are read as of (MetricEngine's): order
    facts as of D, surveys and interactions up to D; None: as the data stands.  A period the
    metric does not support is refused, as MetricEngine does.
    """
    m = catalog.get(metric) if isinstance(metric, str) else metric
    span = _period(period, as_of)
    _check_period(m, span)
    if not is_leaf(m):
        raise ProfilerError(
            f"Metric '{m.name}' is a {m.aggregation}: it is composed from its parts "
            "(profiler/compose.py); run it with metric_table."
        )
    return compile_leaves(
        [m.name], catalog, span, cohort_condition, shape, lapsed_days, as_of, {"value": m}
    )


def compile_leaves(
    names: Iterable[str],
    catalog: Catalog,
    period: Period | str,
    cohort_condition: exp.Expression | None = None,
    shape: FactsShape | None = None,
    lapsed_days: int = 545,
    as_of: str | pd.Timestamp | None = None,
    columns: dict[str, Metric] | None = None,
) -> exp.Select:
    """Many leaves for one cohort in one query: one row, one column per leaf (named as the
    metric, or as ``columns`` names them), the values ``compile_metric`` gives one at a time."""
    span = _period(period, as_of)
    plan = _Plan(catalog, span, shape, lapsed_days, [cohort_condition], False, _day(as_of))
    return plan.query(columns or {name: catalog.get(name) for name in names})


def compile_metrics(
    names: Iterable[str],
    catalog: Catalog,
    period: Period | str,
    cohorts: list[exp.Expression | None],
    shape: FactsShape | None = None,
    lapsed_days: int = 545,
    as_of: str | pd.Timestamp | None = None,
) -> exp.Select:
    """Many metrics for many cohorts in one query: one row per cohort, ``_cohort`` (its position
    in ``cohorts``) then one column per metric.  Each source is read once, its rows repeated
    for every cohort their customer is in."""
    span = _period(period, as_of)
    plan = _Plan(catalog, span, shape, lapsed_days, list(cohorts), True, _day(as_of))
    return plan.query({name: catalog.get(name) for name in names})


def catalog_columns(catalog: Catalog) -> dict[str, set[str]]:
    """The columns each source's metrics read."""
    out: dict[str, set[str]] = {}
    for m in catalog.metrics.values():
        if m.source:
            used = out.setdefault(m.source, {"customer_id"})
            used |= m.columns_read
            used |= {c for c in (pence_column(m.source, m.column), m.date_column) if c}
    return out


def car_table(cohorts: CohortSet, catalog: Catalog) -> pa.Table:
    """The CAR as an engine should hold it (register it as ``car``): the columns the cohorts and
    the catalog read, personas included (``CohortSet.car`` carries them), NaN as NULL."""
    wanted = {"customer_id", "persona"} | columns_used(cohorts.spec)
    wanted |= catalog_columns(catalog).get("customers", set())
    return pa.Table.from_pandas(cohorts.car[[c for c in cohorts.car.columns if c in wanted]])


def metric_table(
    engine: SqlEngine,
    names: list[str],
    period: str | Period,
    cohorts: dict[str, exp.Expression | None] | None = None,
    *,
    catalog: Catalog | None = None,
    shape: FactsShape | None = None,
    lapsed_days: int = 545,
    as_of: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Cohorts x metrics for a period, run on ``engine``: the frame ``MetricEngine.table`` gives
    (cohort, period, one column per metric; the catalog stamp in ``attrs``).

    ``cohorts`` maps labels to conditions over ``car`` (None: everyone, the default).  A period
    is a ``Period`` or its written form; ``"asof"`` needs ``as_of``, the day the sources are
    read as of (as ``MetricEngine(as_of=...)``).
    """
    catalog = catalog or load_catalog()
    span = _period(period, as_of)
    cohorts = cohorts or {"all customers": None}
    for name in names:
        _check_period(catalog.get(name), span)
        if span.kind != "asof" and catalog.reads_state(name):
            raise ProfilerError(
                f"Metric '{name}' is a customer state: in SQL it is known as of the CAR's date "
                "only (period asof); the query engine takes it at any period's end."
            )
    needed = leaves(catalog, list(names))
    query = compile_metrics(
        needed, catalog, span, list(cohorts.values()), shape, lapsed_days, as_of
    )
    result = engine.run(query).to_pandas().set_index(KEY).sort_index()
    labels = list(cohorts)

    def leaf(m: Metric) -> Part:
        return Part(result[m.name].reindex(range(len(labels))).to_numpy(dtype=float))

    memo: dict[str, Part] = {}
    columns: dict[str, Any] = {"cohort": labels, "period": span.label}
    for name in names:
        value = compose(catalog, name, leaf, memo, size=len(labels)).value
        columns[name] = np.asarray(value, dtype=float)
    out = pd.DataFrame(columns)
    out.attrs["catalog"] = catalog.stamp
    return out


def _period(period: str | Period, as_of: str | pd.Timestamp | None) -> Period:
    if isinstance(period, Period):
        return period
    if period == "asof":
        if as_of is None:
            raise ProfilerError("No as-of date: give a period, or as_of.")
        return asof_period(pd.Timestamp(as_of))
    return parse_period(period)


def _day(as_of: str | pd.Timestamp | None) -> pd.Timestamp | None:
    return pd.Timestamp(as_of).normalize() if as_of is not None else None


def _check_period(m: Metric, span: Period) -> None:
    if span.kind not in m.periods:
        raise ProfilerError(
            f"Metric '{m.name}' is not defined for {span.kind} periods; it supports {', '.join(m.periods)}."
        )


@dataclass
class _Leaf:
    """A row metric of the query: where its aggregates are found."""

    metric: Metric
    alias: str  # the subquery holding its aggregates


@dataclass
class _Plan:
    """The pieces of one query: leaves by source and their aggregates."""

    catalog: Catalog
    span: Period
    shape: FactsShape | None
    lapsed_days: int
    cohorts: list[exp.Expression | None]
    grouped: bool
    as_of: pd.Timestamp | None = None  # sources as of the end of this day (None: all rows)
    leaves: dict[str, _Leaf] = field(default_factory=dict)
    sources: dict[str, list[Metric]] = field(default_factory=dict)

    # -- the final select ----------------------------------------------------------------------

    def query(self, outputs: dict[str, Metric]) -> exp.Select:
        values = {label: self.value(m) for label, m in outputs.items()}
        subqueries = [(alias, q) for source in self.sources for alias, q in self.aggregates(source)]
        projections = [v.as_(label, quoted=True) for label, v in values.items()]
        if self.grouped:
            keys = exp.values([(i,) for i in range(len(self.cohorts))], alias="k", columns=[KEY])
            select = exp.select(col(KEY, "k").as_(KEY, quoted=True), *projections).from_(keys)
            for alias, sub in subqueries:
                on = exp.EQ(this=col(KEY, alias), expression=col(KEY, "k"))
                select = select.join(sub.subquery(alias), on=on, join_type="LEFT", copy=False)
        else:
            select = exp.select(*projections)
            for i, (alias, sub) in enumerate(subqueries):
                if i == 0:
                    select = select.from_(sub.subquery(alias), copy=False)
                else:
                    select = select.join(sub.subquery(alias), join_type="CROSS", copy=False)
        for name, cte in self.ctes():  # the trees are this plan's own: built once, not copied
            select = select.with_(name, as_=cte, copy=False)
        return select

    def ctes(self) -> list[tuple[str, exp.Select]]:
        out: list[tuple[str, exp.Select]] = []
        if "order_lines" in self.sources:
            if self.shape is None:
                raise ProfilerError("Metrics over order lines need the sources' FactsShape.")
            if not self.shape.has_cost:  # profiler/margin.py: no cost of goods, no margin
                for m in self.sources["order_lines"]:
                    if m.columns_read & set(margin.COST_COLUMNS):
                        raise LeftOut(f"Metric '{m.name}' is left out: {margin.NOTE}.")
            out += purchase_lines(self.shape, self.lapsed_days, self.as_of)
        if self.grouped and any(c is not None for c in self.cohorts):
            out.append((MEMBERS, self.members()))
        return out

    def members(self) -> exp.Select:
        """(cohort number, customer_id) for every customer of every cohort but everyone.

        One scan of the CAR against the cohort numbers, each row kept where its cohort's
        condition holds (a UNION of one scan per cohort costs DuckDB a bind of the CAR's ~1,300
        columns per cohort: seconds for a hundred cohorts)."""
        numbered = [(i, c) for i, c in enumerate(self.cohorts) if c is not None]
        keys = exp.values([(i,) for i, _ in numbered], alias="k", columns=[KEY])
        which = exp.Case(this=col(KEY, "k"))
        for i, condition in numbered:
            which = which.when(number(i), condition.copy())
        return (
            exp.select(col(KEY, "k").as_(KEY), col("customer_id", "s").as_("customer_id"))
            .from_(exp.to_table(CAR_TABLE).as_("s"))
            .join(keys, join_type="CROSS")
            .where(which)
        )

    # -- values --------------------------------------------------------------------------------

    def value(self, m: Metric) -> exp.Expression:
        """A leaf's value as an expression over the aggregate subqueries."""
        if m.aggregation not in ROW_AGGREGATIONS:
            raise ProfilerError(
                f"Metric '{m.name}': aggregation '{m.aggregation}' cannot be compiled."
            )
        if m.reads_products and self.shape is not None and not self.shape.has_products:
            raise LeftOut(  # as MetricEngine and the query engine leave it out
                f"Metric '{m.name}' reads product attributes: it needs the products table, "
                "which these sources do not have."
            )
        return self.leaf_value(m)

    def leaf_value(self, m: Metric) -> exp.Expression:
        source = m.source or ""
        if m.name not in self.leaves:
            metrics = self.sources.setdefault(source, [])
            metrics.append(m)
            alias = f"q_{m.name}" if m.aggregation in ("median", "percentile") else f"s_{source}"
            self.leaves[m.name] = _Leaf(m, alias)
        alias = self.leaves[m.name].alias
        agg = m.aggregation
        if agg in ("count", "count_distinct"):
            return exp.func("COALESCE", col(m.name, alias), double(number(0)))
        if agg == "sum":
            rows = exp.func("COALESCE", col(f"{m.name}__rows", alias), number(0))
            return case(
                exp.EQ(this=rows, expression=number(0)), double(number(0)), col(m.name, alias)
            )
        if agg == "mean":
            return col(m.name, alias)
        a, b, t = col("_a", alias), col("_b", alias), col("_t", alias)
        if agg == "median":
            return exp.Div(
                this=exp.paren(exp.Add(this=a, expression=b)), expression=double(number(2))
            )
        diff = exp.paren(exp.Sub(this=b.copy(), expression=a.copy()))
        low = exp.Add(this=a.copy(), expression=exp.Mul(this=diff, expression=t))
        high = exp.Sub(
            this=b.copy(),
            expression=exp.Mul(
                this=diff.copy(),
                expression=exp.paren(exp.Sub(this=double(number(1)), expression=t.copy())),
            ),
        )
        return case(exp.GTE(this=t.copy(), expression=double(number(0.5))), high, low)

    # -- aggregates ----------------------------------------------------------------------------

    def aggregates(self, source: str) -> list[tuple[str, exp.Select]]:
        """The subqueries of one source: all its plain aggregates in one, each percentile in
        its own (they rank the values)."""
        plain = [m for m in self.sources[source] if m.aggregation not in ("median", "percentile")]
        out = []
        if plain:
            columns = []
            for m in plain:
                columns += self.aggregate(m)
            select = exp.select(*self.keys(), *columns).from_(
                self.rows(source, plain).subquery("r")
            )
            out.append((f"s_{source}", self.grouping(select)))
        for m in self.sources[source]:
            if m.aggregation in ("median", "percentile"):
                out.append((f"q_{m.name}", self.quantile(m)))
        return out

    def keys(self) -> list[exp.Expression]:
        """The cohort number, when the query is by cohort."""
        return [col(KEY)] if self.grouped else []

    def grouping(self, select: exp.Select) -> exp.Select:
        return select.group_by(col(KEY)) if self.grouped else select

    def aggregate(self, m: Metric) -> list[exp.Expression]:
        when = self.condition(m)

        def only(value: exp.Expression) -> exp.Expression:
            return case(when.copy(), value) if when is not None else value

        agg = m.aggregation
        if agg == "count":
            counted = (
                exp.Count(this=only(number(1))) if when is not None else exp.Count(this=exp.Star())
            )
            return [exp.cast(counted, "DOUBLE").as_(m.name, quoted=True)]
        if agg == "count_distinct":
            distinct = exp.Count(this=exp.Distinct(expressions=[only(col(m.column or ""))]))
            return [exp.cast(distinct, "DOUBLE").as_(m.name, quoted=True)]
        value = _number(col(m.column or ""))
        pence = pence_column(m.source, m.column)
        if agg == "sum":
            rows = (
                exp.Count(this=only(number(1))) if when is not None else exp.Count(this=exp.Star())
            )
            # Money: whole pence summed exactly (as integers), then shown in pounds.
            total = pounds(exp.Sum(this=only(col(pence)))) if pence else exp.Sum(this=only(value))
            return [
                total.as_(m.name, quoted=True),
                rows.as_(f"{m.name}__rows", quoted=True),
            ]
        return [exp.Avg(this=only(value)).as_(m.name, quoted=True)]  # mean

    def quantile(self, m: Metric) -> exp.Select:
        """numpy's percentile (or median) of the metric's values: the two values around the
        virtual index h = q * (n - 1), and the weight t = h - floor(h)."""
        values = exp.select(*self.keys(), _number(col(m.column or "")).as_("_v")).from_(
            self.rows(m.source or "", [m]).subquery("r")
        )
        when = self.condition(m)
        if when is not None:
            values = values.where(when)
        ranked = (
            exp.select(
                *self.keys(),
                col("_v"),
                exp.Sub(
                    this=window(exp.RowNumber(), self.keys(), [col("_v")], nulls_first=True),
                    expression=number(1),
                ).as_("_i"),
                exp.Window(this=exp.Count(this=exp.Star()), partition_by=self.keys()).as_("_n"),
            )
            .from_(values.subquery("v"))
            .where(exp.not_(exp.Is(this=col("_v"), expression=exp.null())))
        )
        q = 0.5 if m.aggregation == "median" else float(m.percentile or 50) / 100
        h = exp.Mul(
            this=double(number(q)),
            expression=exp.cast(exp.Sub(this=col("_n"), expression=number(1)), "DOUBLE"),
        )
        last = exp.Sub(this=col("_n"), expression=number(1))
        low = exp.Floor(this=h.copy())
        if m.aggregation == "median":
            lo, hi = low, exp.Ceil(this=h.copy())
        else:  # numpy: the next value, or the last one once h reaches it
            lo = exp.Least(this=low, expressions=[last])
            hi = exp.Least(
                this=exp.Add(this=low.copy(), expression=number(1)), expressions=[last.copy()]
            )
        positions = exp.select(
            *self.keys(),
            col("_v"),
            col("_i"),
            lo.as_("_lo"),
            hi.as_("_hi"),
            exp.Sub(this=h.copy(), expression=exp.Floor(this=h.copy())).as_("_t"),
        ).from_(ranked.subquery("n"))

        def at(index: str) -> exp.Expression:
            return exp.Max(this=case(exp.EQ(this=col("_i"), expression=col(index)), col("_v")))

        picked = exp.select(
            *self.keys(),
            at("_lo").as_("_a"),
            at("_hi").as_("_b"),
            exp.Max(this=col("_t")).as_("_t"),
        ).from_(positions.subquery("p"))
        return self.grouping(picked)

    def condition(self, m: Metric) -> exp.Expression | None:
        """Which rows of the source the metric takes: in the period, and passing its filter."""
        parts = []
        date = m.date_column
        if date is not None and self.span.kind != "asof":
            parts.append(exp.GTE(this=col(date), expression=timestamp(self.span.start)))
        if date is not None:
            end = self.span.end
            if self.as_of is not None:  # known at the end of D (MetricEngine._rows)
                end = min(end, self.as_of + pd.Timedelta(days=1))
            parts.append(exp.LT(this=col(date), expression=timestamp(end)))
        if m.filter:
            parts.append(to_mask(m.tree("filter")))
        return exp.and_(*parts) if parts else None

    def rows(self, source: str, metrics: list[Metric]) -> exp.Select:
        """The source's rows in scope: the cohort's customers (single cohort), or each row once
        per cohort its customer is in, numbered by ``_cohort`` (many cohorts)."""
        table = {"order_lines": ORDER_LINES, "customers": CAR_TABLE}.get(source, source)
        columns = _columns(source, self.sources.get(source, metrics))
        picked = [col(c, "s").as_(c, quoted=True) for c in columns]
        base: exp.Expression = exp.to_table(table).as_("s")
        date = SOURCES.get(source)
        if self.as_of is not None and date is not None and source != "order_lines":
            known = exp.LT(this=col(date), expression=timestamp(self.as_of + pd.Timedelta(days=1)))
            base = exp.select(exp.Star()).from_(table).where(known).subquery("s")
        if not self.grouped:
            (cohort,) = self.cohorts
            select = exp.select(*picked).from_(base)
            if cohort is None:
                return select
            if source == "customers":
                return select.where(cohort.copy())
            members = exp.select(col("customer_id")).from_(CAR_TABLE).where(cohort.copy())
            return select.where(
                exp.In(this=col("customer_id", "s"), query=exp.Subquery(this=members))
            )
        parts = []
        if any(c is not None for c in self.cohorts):
            on = exp.EQ(this=col("customer_id", "s"), expression=col("customer_id", "m"))
            parts.append(
                exp.select(col(KEY, "m").as_(KEY), *picked)
                .from_(base)
                .join(exp.to_table(MEMBERS).as_("m"), on=on)
            )
        for i, cohort in enumerate(self.cohorts):
            if cohort is None:
                parts.append(
                    exp.select(number(i).as_(KEY), *[p.copy() for p in picked]).from_(base.copy())
                )
        union = parts[0]
        for part in parts[1:]:
            union = exp.union(union, part, distinct=False)
        return exp.select(exp.Star()).from_(union.subquery("u"))


def _columns(source: str, metrics: list[Metric]) -> list[str]:
    """The source columns the metrics read (customer_id first)."""
    out = {"customer_id": None}
    for m in metrics:
        for name in (m.column, pence_column(m.source, m.column), m.date_column):
            if name:
                out[name] = None
        if m.filter:
            for name in sorted(expressions.names(m.tree("filter"))):
                out[name] = None
    return list(out)


def uses_cost(catalog: Catalog, name: str) -> bool:
    """True when the metric reads the order facts' cost columns (profiler/margin.py)."""
    return any(
        catalog.get(leaf).source == "order_lines"
        and catalog.get(leaf).columns_read & set(margin.COST_COLUMNS)
        for leaf in leaves(catalog, [name])
    )


def _number(column: exp.Expression) -> exp.Expression:
    """A column's values as DOUBLE, booleans as 0/1, NaN as missing (as pandas takes it)."""
    return exp.Nullif(this=exp.cast(column, "DOUBLE"), expression=exp.cast(text("NaN"), "DOUBLE"))
