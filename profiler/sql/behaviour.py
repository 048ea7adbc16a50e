"""Behaviour in SQL: the same columns as profiler/families/behaviour.py.

One query: the CAR's population joined to three per-customer aggregates,

- of the kept orders (``lifecycle.purchase_orders``): orders, distinct purchase days and months;
- of the distinct purchase days: the gaps between consecutive days (count, sum, sum of squares);
- of the kept lines: units, lines, spend, spend per channel, Q4 and sale-period spend, and the
  distinct channels, categories and sub-categories.

Inter-purchase time is computed as the pandas engine computes it, not with STDDEV_SAMP: mean =
sum / n and sd = sqrt(max((sum of squares - n * mean^2) / (n - 1), 0)), from whole-day gaps
whose sums are exact in double, so both engines give the same bits.  Spend shares divide sums of
GBP amounts, which an engine adds in its own order: they agree to about 1e-15 relative, and the
preferred channel (the channel with the most spend, first listed on ties) could only differ on a
tie that one engine's rounding breaks.  Breadth counts distinct non-missing values; a line's
category and sub-category are never missing (the contract's default fills them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlglot import exp

from ..families.behaviour import CHANNELS
from ..features import slug
from .customers import per_customer, run_per_customer
from .engines import SqlEngine
from .facts import as_double, case, col, day_of, days_from, number, paren, ratio, text, window
from .lifecycle import FACTS, PURCHASES, with_purchases


def _text(name: str) -> exp.Cast:
    """A text (or dictionary-encoded) column as VARCHAR, to compare with text literals."""
    return exp.cast(col(name), "VARCHAR")


def _zero_if_null(node: exp.Expression) -> exp.Expression:
    """0 for customers without rows in an aggregate (counts of nothing)."""
    return exp.func("COALESCE", node, number(0))


def _in_sale_period(time: exp.Expression, periods: list[list[int]]) -> exp.Expression:
    """True for times within any [month, day, month, day] range (ranges may wrap the year)."""
    md = exp.Add(
        this=exp.Mul(this=exp.Month(this=time), expression=number(100)),
        expression=exp.Day(this=time.copy()),
    )
    tests = []
    for m1, d1, m2, d2 in periods:
        lo, hi = m1 * 100 + d1, m2 * 100 + d2
        after = exp.GTE(this=md.copy(), expression=number(lo))
        before = exp.LTE(this=md.copy(), expression=number(hi))
        tests.append(exp.and_(after, before) if lo <= hi else exp.or_(after, before))
    return exp.or_(*tests) if tests else exp.false()


def _line_sums(sale_periods: list[list[int]]) -> exp.Select:
    """Per customer, over the kept lines on or before D (from ``FACTS``)."""
    net = col("net_gbp")
    channel = _text("channel")

    def spend_where(condition: exp.Expression) -> exp.Expression:
        return exp.func("SUM", case(condition, net.copy(), number(0)))

    return (
        exp.select(
            col("customer_id"),
            exp.func("SUM", as_double(col("quantity"))).as_("units"),
            as_double(exp.Count(this=exp.Star())).as_("lines"),
            exp.func("SUM", net.copy()).as_("spend"),
            *(
                spend_where(exp.EQ(this=channel.copy(), expression=text(c))).as_(f"spend_{i}")
                for i, c in enumerate(CHANNELS)
            ),
            spend_where(exp.GTE(this=exp.Month(this=col("ordered_at")), expression=number(10))).as_(
                "q4_spend"
            ),
            spend_where(_in_sale_period(col("ordered_at"), sale_periods)).as_("sale_spend"),
            exp.Count(
                this=exp.Distinct(
                    expressions=[
                        case(
                            exp.In(this=channel.copy(), expressions=[text(c) for c in CHANNELS]),
                            channel.copy(),
                        )
                    ]
                )
            ).as_("channels"),
            exp.Count(this=exp.Distinct(expressions=[_text("category")])).as_("categories"),
            exp.Count(this=exp.Distinct(expressions=[_text("sub_category")])).as_("sub_categories"),
        )
        .from_(exp.to_table(FACTS))
        .where(col("kept"))
        .group_by(col("customer_id"))
    )


def _order_counts() -> exp.Select:
    """Per customer, over the kept orders: orders, distinct purchase days and months."""
    return (
        exp.select(
            col("customer_id"),
            as_double(exp.Count(this=exp.Star())).as_("orders"),
            as_double(exp.Count(this=exp.Distinct(expressions=[day_of(col("ordered_at"))]))).as_(
                "purchase_days"
            ),
            as_double(
                exp.Count(
                    this=exp.Distinct(
                        expressions=[
                            exp.TimestampTrunc(this=col("ordered_at"), unit=exp.var("MONTH"))
                        ]
                    )
                )
            ).as_("active_months"),
        )
        .from_(exp.to_table(PURCHASES))
        .group_by(col("customer_id"))
    )


def _gap_sums() -> exp.Select:
    """Per customer, over the days between consecutive distinct purchase days: their number,
    sum and sum of squares (as doubles; whole days, so every sum is exact)."""
    days = (
        exp.select(col("customer_id"), day_of(col("ordered_at")).as_("purchase_day"))
        .distinct()
        .from_(exp.to_table(PURCHASES))
    )
    gaps = exp.select(
        col("customer_id"),
        as_double(
            days_from(
                window(
                    exp.Lag(this=col("purchase_day")), [col("customer_id")], [col("purchase_day")]
                ),
                col("purchase_day"),
            )
        ).as_("gap"),
    ).from_(days.subquery("days"))
    return (
        exp.select(
            col("customer_id"),
            as_double(exp.Count(this=col("gap"))).as_("n"),
            exp.func("SUM", col("gap")).as_("total"),
            exp.func("SUM", exp.Mul(this=col("gap"), expression=col("gap"))).as_("squares"),
        )
        .from_(gaps.subquery("gaps"))
        .where(exp.Not(this=exp.Is(this=col("gap"), expression=exp.null())))
        .group_by(col("customer_id"))
    )


def behaviour_query(ctx: Any) -> exp.Select:
    """customer_id and the behaviour columns, one row per CAR customer."""

    def g(name: str) -> exp.Column:  # the kept lines' sums
        return col(name, "g")

    def o(name: str) -> exp.Column:  # the kept orders' counts
        return col(name, "o")

    def d(name: str) -> exp.Column:  # the gaps between purchase days
        return col(name, "d")

    mean = ratio(d("total"), d("n"))
    variance = exp.Div(
        this=exp.paren(
            exp.Sub(
                this=d("squares"),
                expression=exp.Mul(
                    this=d("n"),
                    expression=exp.paren(exp.Mul(this=paren(mean), expression=paren(mean.copy()))),
                ),
            )
        ),
        expression=exp.paren(exp.Sub(this=d("n"), expression=number(1))),
    )
    sd = case(
        exp.GTE(this=d("n"), expression=number(2)),
        exp.Sqrt(this=exp.func("GREATEST", variance, number(0.0))),
    )
    spends = [g(f"spend_{i}") for i in range(len(CHANNELS))]
    most = exp.func("GREATEST", *(s.copy() for s in spends))
    preferred = exp.Case()
    for s, c in zip(spends, CHANNELS, strict=True):
        preferred = preferred.when(exp.EQ(this=s.copy(), expression=most.copy()), text(c))
    channels = as_double(_zero_if_null(g("channels")))
    columns = [
        mean.copy().as_("ipt_mean_days"),
        sd.as_("ipt_sd_days"),
        _zero_if_null(o("purchase_days")).as_("purchase_days_ltd"),
        _zero_if_null(o("active_months")).as_("active_months_ltd"),
        ratio(o("orders"), o("active_months")).as_("orders_per_active_month"),
        ratio(g("units"), o("orders")).as_("basket_units_mean"),
        ratio(g("lines"), o("orders")).as_("basket_lines_mean"),
        as_double(_zero_if_null(g("categories"))).as_("category_breadth"),
        as_double(_zero_if_null(g("sub_categories"))).as_("sub_category_breadth"),
        channels.as_("channels_used"),
        exp.GTE(this=channels.copy(), expression=number(2)).as_("omnichannel_flag"),
        case(exp.GT(this=most, expression=number(0)), preferred).as_("preferred_channel"),
        ratio(g("q4_spend"), g("spend")).as_("q4_share"),
        ratio(g("sale_spend"), g("spend")).as_("sale_share"),
        *(
            ratio(s.copy(), g("spend")).as_(f"share_ch_{slug(c)}_ltd")
            for s, c in zip(spends, CHANNELS, strict=True)
        ),
    ]
    lines = _line_sums(ctx.spec["interests"]["sale_periods"])
    query = per_customer(lines, columns, ctx.source.has("customers"), ctx.as_of)
    for relation, alias in ((_order_counts(), "o"), (_gap_sums(), "d")):
        query = query.join(
            relation.subquery(alias),
            on=exp.EQ(this=col("customer_id", "who"), expression=col("customer_id", alias)),
            join_type="LEFT",
        )
    return with_purchases(query, ctx)


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    """The behaviour family's columns, computed by a SQL engine, in the CAR's customer order.

    Reads only D, the sale periods, the population and the source shape from ``ctx`` (no
    earlier family's columns).  The engine must hold the accepted source tables.
    """
    table = run_per_customer(engine, behaviour_query(ctx), ctx, "the behaviour columns")
    out: dict[str, Any] = {}
    for name in table.column_names[1:]:
        values = table.column(name)
        if name == "preferred_channel":
            out[name] = pd.Categorical(
                pd.Series(values.to_pylist(), dtype="str"), categories=CHANNELS
            )
        elif name == "omnichannel_flag":
            out[name] = values.to_numpy(zero_copy_only=False).astype(bool)
        else:
            out[name] = values.to_numpy(zero_copy_only=False).astype(np.float64)
    return out
