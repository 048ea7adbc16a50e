"""Interests in SQL: the same columns as profiler/families/interests.py.

One query over the kept lines on or before D (``facts.car_facts``), each carrying the index of
its category, price point and collection among the slice's levels (``families.sales.levels``;
NULL when the value is not a level, as the pandas engine's code -1):

- per customer (``g``): lifetime spend, spend per category and per price point, spend on gift
  categories in gifting months, spend on new products, kept lines and multi-unit kept lines;
- over the whole base (``base``, one row): spend and spend per category, for the affinity index
  ``(customer's share / base share) x 100``;
- per customer and slice (``best_<slice>``): the level with the most spend, the first listed on
  ties (``ROW_NUMBER`` ordered by spend descending, then level index), only when that spend is
  positive (``argmax_label``: missing when no level has spend above 0).

Semantics kept from the pandas family:

- a share with an empty base (no spend, or none above 0) is NULL, read back as NaN;
- a line counts as gifting when its category is both a gift category and one of the category
  levels, and its order month (calendar month of ``ordered_at``) is a gifting month;
- newness compares times, not calendar days: ``launch <= ordered_at <= launch + newness_days``
  days exactly (a line at launch + 90 days 00:00:00 is new, one second later is not); a line
  whose product has no launch date (none in the master, or no product master) is not new.  In
  Spark ``timestamp + INTERVAL 'n' DAY`` is added in the session time zone, which agrees with
  the pandas engine's exact 24-hour days because profiler/sql/spark.py runs the session in UTC
  (DuckDB's engine sets UTC too).

Every column is float64 (or categorical); none is rounded to float32.  The spend shares divide
sums of GBP amounts that an engine adds in its own order: a customer's few lines usually sum to
the same bits, the whole base's spend (the affinity index's denominator) does not, so they agree
with the pandas engine to about 1e-15 relative rather than to the bit; a favourite level could
only differ on an exact tie between sums of three or more lines that one engine's rounding
breaks.  The multi-unit share divides counts and is exact.  Reads only D, the interests spec,
the levels, the population and the source shape from ``ctx`` (no earlier family's columns: the
base affinity is computed here from the facts).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlglot import exp

from ..families.sales import levels
from ..features import slug
from .customers import per_customer, run_per_customer
from .engines import SqlEngine
from .facts import FactsShape, as_double, car_facts, case, col, number, paren, ratio, text

FACTS = "car_facts"  # common table expressions: the order facts as of D,
LINES = "interest_lines"  # and their kept lines with what the interests need
BASE_TABLE = "interests_base"  # the base's sums, when computed ahead (``register_base``)
SLICES = ("category", "price_point", "collection")
FAVOURITES = {
    "category": "favourite_category",
    "price_point": "preferred_price_point",
    "collection": "favourite_collection",
}


def _div(num: exp.Expression, den: exp.Expression) -> exp.Div:
    return exp.Div(this=paren(num), expression=paren(den))


def _level_index(slice_name: str, names: list[str]) -> exp.Expression:
    """The index of the line's value among the slice's levels, NULL when not among them."""
    if not names:
        return exp.cast(exp.null(), "INT")
    index = exp.Case(this=exp.cast(col(slice_name), "VARCHAR"))
    for i, name in enumerate(names):
        index = index.when(text(name), number(i))
    return index


def _spend_where(condition: exp.Expression) -> exp.Expression:
    """SUM of the kept lines' spend where ``condition`` holds (0 elsewhere)."""
    return exp.func("SUM", case(condition, col("net"), number(0)))


def _kept_lines(ctx: Any, level_names: dict[str, list[str]]) -> exp.Select:
    """The kept lines on or before D (from ``FACTS``): customer, spend, level indices, gift and
    newness flags, and whether the line has more than one unit."""
    g = ctx.spec["interests"]
    gifts = [c for c in level_names["category"] if c in g["gift_categories"]]
    ordered_at = col("ordered_at")
    gift = (
        exp.and_(
            exp.In(this=exp.cast(col("category"), "VARCHAR"), expressions=[text(c) for c in gifts]),
            exp.In(
                this=exp.Month(this=ordered_at.copy()),
                expressions=[number(int(m)) for m in g["gifting_months"]],
            ),
        )
        if gifts and g["gifting_months"]
        else exp.false()
    )
    launch = col("launch_date")
    fresh = exp.and_(
        exp.not_(exp.Is(this=launch, expression=exp.null())),
        exp.GTE(this=ordered_at.copy(), expression=launch.copy()),
        exp.LTE(
            this=ordered_at.copy(),
            expression=exp.Add(
                this=launch.copy(),
                expression=exp.Interval(
                    this=text(str(int(g["newness_days"]))), unit=exp.var("DAY")
                ),
            ),
        ),
    )
    return (
        exp.select(
            col("customer_id"),
            col("net_gbp").as_("net"),
            *(_level_index(s, level_names[s]).as_(f"{s}_index") for s in SLICES),
            exp.func("COALESCE", gift, exp.false()).as_("gift"),
            exp.func("COALESCE", fresh, exp.false()).as_("fresh"),
            exp.func(
                "COALESCE", exp.GT(this=col("quantity"), expression=number(1)), exp.false()
            ).as_("multi"),
        )
        .from_(exp.to_table(FACTS))
        .where(col("kept"))
    )


def _level_spend(slice_name: str, count: int) -> list[exp.Expression]:
    """SUM of spend per level of a slice: ``<slice>_<i>`` for i < count."""
    index = col(f"{slice_name}_index")
    return [
        _spend_where(exp.EQ(this=index.copy(), expression=number(i))).as_(f"{slice_name}_{i}")
        for i in range(count)
    ]


def _customer_sums(level_names: dict[str, list[str]]) -> exp.Select:
    """Per customer, over the kept lines (customers without one are absent)."""
    return (
        exp.select(
            col("customer_id"),
            exp.func("SUM", col("net")).as_("spend"),
            *_level_spend("category", len(level_names["category"])),
            *_level_spend("price_point", len(level_names["price_point"])),
            _spend_where(col("gift")).as_("gift_spend"),
            _spend_where(col("fresh")).as_("new_spend"),
            as_double(exp.Count(this=exp.Star())).as_("lines"),
            as_double(exp.func("SUM", case(col("multi"), number(1), number(0)))).as_("multi_lines"),
        )
        .from_(exp.to_table(LINES))
        .group_by(col("customer_id"))
    )


def _base_sums(categories: list[str]) -> exp.Select:
    """One row: the whole base's spend, and its spend per category."""
    return exp.select(
        exp.func("SUM", col("net")).as_("spend"),
        *_level_spend("category", len(categories)),
    ).from_(exp.to_table(LINES))


def register_base(engine: SqlEngine, ctx: Any) -> None:
    """Compute the whole base's sums once and register them as ``BASE_TABLE``, which the
    interests query then reads: a build that sees one customer range at a time still divides by
    the whole base (profiler/sql/ranged.py)."""
    level_names = {s: levels(ctx, s) for s in SLICES}
    query = (
        _base_sums(level_names["category"])
        .with_(FACTS, as_=car_facts(FactsShape.of(ctx.source), ctx.as_of))
        .with_(LINES, as_=_kept_lines(ctx, level_names))
    )
    engine.register(BASE_TABLE, engine.run(query))
    ctx.cache[BASE_TABLE] = True


def _favourite(slice_name: str) -> exp.Select:
    """Per customer, the index of the level with the most spend (the lowest index on ties), for
    customers whose most is above 0."""
    index = col(f"{slice_name}_index")
    spend = (
        exp.select(
            col("customer_id"), index.copy().as_("level"), exp.func("SUM", col("net")).as_("v")
        )
        .from_(exp.to_table(LINES))
        .where(exp.not_(exp.Is(this=index.copy(), expression=exp.null())))
        .group_by(col("customer_id"), index.copy())
    )
    ranked = (
        exp.select(
            col("customer_id"),
            col("level"),
            exp.Window(
                this=exp.RowNumber(),
                partition_by=[col("customer_id")],
                order=exp.Order(
                    expressions=[
                        exp.Ordered(this=col("v"), desc=True),
                        exp.Ordered(this=col("level"), nulls_first=False),
                    ]
                ),
            ).as_("position"),
        )
        .from_(spend.subquery("spend"))
        .where(exp.GT(this=col("v"), expression=number(0)))
    )
    return (
        exp.select(col("customer_id"), col("level"))
        .from_(ranked.subquery("ranked"))
        .where(exp.EQ(this=col("position"), expression=number(1)))
    )


def interests_query(ctx: Any, level_names: dict[str, list[str]]) -> exp.Select:
    """customer_id, the affinity and price point share columns (named as the pandas family
    names them), the favourites' level indices (``fav_<slice>``) and the three shares, one row
    per CAR customer, sorted by customer_id."""

    def g(name: str) -> exp.Column:  # the customer's sums
        return col(name, "g")

    def b(name: str) -> exp.Column:  # the base's sums
        return col(name, "base")

    spend = g("spend")
    columns: list[exp.Expression] = []
    for j, c in enumerate(level_names["category"]):
        base_share = ratio(b(f"category_{j}"), b("spend"))
        affinity = case(
            exp.and_(
                exp.GT(this=spend.copy(), expression=number(0)),
                exp.GT(this=exp.paren(base_share), expression=number(0)),
            ),
            exp.Mul(
                this=exp.paren(_div(_div(g(f"category_{j}"), spend.copy()), base_share.copy())),
                expression=number(100),
            ),
        )
        columns.append(affinity.as_(f"affinity_{slug(c)}"))
    for j, p in enumerate(level_names["price_point"]):
        columns.append(ratio(g(f"price_point_{j}"), spend.copy()).as_(f"share_pp_{slug(p)}_ltd"))
    columns += [col("level", f"best_{s}").as_(f"fav_{s}") for s in SLICES]
    columns += [
        ratio(g("gift_spend"), spend.copy()).as_("gifting_share"),
        ratio(g("multi_lines"), g("lines")).as_("multi_unit_share"),
        ratio(g("new_spend"), spend.copy()).as_("newness_share"),
    ]
    query = per_customer(
        _customer_sums(level_names), columns, ctx.source.has("customers"), ctx.as_of
    )
    base = (
        exp.to_table(BASE_TABLE).as_("base")
        if ctx.cache.get(BASE_TABLE)
        else _base_sums(level_names["category"]).subquery("base")
    )
    query = query.join(base, join_type="CROSS")
    for s in SLICES:
        alias = f"best_{s}"
        query = query.join(
            _favourite(s).subquery(alias),
            on=exp.EQ(this=col("customer_id", "who"), expression=col("customer_id", alias)),
            join_type="LEFT",
        )
    facts = car_facts(FactsShape.of(ctx.source), ctx.as_of)
    return query.with_(FACTS, as_=facts).with_(LINES, as_=_kept_lines(ctx, level_names))


def _labels(values: Any, names: list[str], n: int) -> pd.Categorical:
    """Level indices (NULL: missing) as a categorical over the slice's levels."""
    if not names:
        return pd.Categorical([None] * n, categories=names)
    codes = values.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return pd.Categorical.from_codes(codes, categories=names)


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    """The interests family's columns, computed by a SQL engine, in the CAR's customer order.

    Reads only D, the interests spec, the slices' levels, the population and the source shape
    from ``ctx`` (no earlier family's columns).  The engine must hold the accepted source tables.
    """
    level_names = {s: levels(ctx, s) for s in SLICES}
    table = run_per_customer(
        engine, interests_query(ctx, level_names), ctx, "the interests columns"
    )
    out: dict[str, Any] = {}
    for name in table.column_names[1:]:
        if name.startswith("fav_"):
            continue
        out[name] = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
    shares = ("gifting_share", "multi_unit_share", "newness_share")
    ordered = {k: v for k, v in out.items() if k not in shares}
    for s in SLICES:
        ordered[FAVOURITES[s]] = _labels(table.column(f"fav_{s}"), level_names[s], ctx.n)
    ordered.update({k: out[k] for k in shares})
    return ordered
