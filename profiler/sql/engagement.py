"""Engagement in SQL: the same columns as profiler/families/engagement.py.

Two queries: the topics of the interactions known at D (every visible row's topic, whoever it
belongs to, as the pandas family lists them), then one row per CAR customer with the counts by
period, channel, type and topic, the days since the last interaction and the engagement score.

The score follows templates/features.yaml component by component, in the pandas engine's
floating-point order: each component scaled to 0-1 (capped ones as min(value, cap) / cap), the
weighted terms added in the YAML's order, then ``np.round(100 x score, 1)``, which is
round-half-to-even of 1000 x score, divided by 10.  SQL's ROUND rounds halves away from zero
(and Spark's works in decimals), so the even rounding is spelt out with FLOOR.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlglot import exp

from ..contract import INTERACTION_CHANNELS, INTERACTION_TYPES, OPT_IN_CHANNELS
from ..families.engagement import PERIODS
from ..features import slug
from .customers import run_per_customer
from .engines import SqlEngine
from .facts import col, number, paren, text
from .side_tables import (
    CODES,
    count_of,
    count_where,
    days_to_d,
    double,
    float32s,
    floats,
    in_period,
    known_at,
    per_customer_sides,
    side,
    texts,
)

SCORE = "engagement_score"


def topics(engine: SqlEngine, as_of: pd.Timestamp) -> list[str]:
    """Distinct topics of the interactions known at D, sorted as Python sorts text."""
    topic = exp.cast(col("topic"), "VARCHAR")
    query = (
        exp.select(topic.as_("topic"))
        .distinct()
        .from_("interactions")
        .where(
            exp.and_(
                known_at("at", as_of),
                exp.Not(this=exp.Is(this=topic.copy(), expression=exp.null())),
            )
        )
    )
    return sorted(str(t) for t in texts(engine.run(query), "topic"))


def _splits(topic_labels: list[str]) -> list[tuple[str, list[str], str, tuple[str, ...]]]:
    """(column, labels, prefix, periods) of the split counts, in the pandas family's order."""
    return [
        ("channel", list(INTERACTION_CHANNELS), "ch", PERIODS),
        ("type", list(INTERACTION_TYPES), "type", PERIODS),
        ("topic", topic_labels, "topic", ("ltd",)),
    ]


def _interaction_counts(ctx: Any, topic_labels: list[str]) -> tuple[exp.Select, list[str]]:
    """Per customer: the counts of every interaction column and the last interaction's days to
    D; and the names of the split (float32) columns."""
    at = col("at")
    counts = [
        count_where(in_period(at, ctx.spec, ctx.as_of, p)).as_(f"interactions_{p}") for p in PERIODS
    ]
    # Labels with the same slug make one column, the last one's (as the pandas family's dict).
    splits: dict[str, exp.Expression] = {}
    for column, labels, prefix, periods in _splits(topic_labels):
        value = exp.cast(col(column), "VARCHAR")
        for p in periods:
            for label in labels:
                name = f"interactions_{prefix}_{slug(label)}_{p}"
                on = exp.and_(
                    in_period(at.copy(), ctx.spec, ctx.as_of, p),
                    exp.EQ(this=value.copy(), expression=text(label)),
                )
                splits[name] = count_where(on).as_(name)
    query = (
        exp.select(
            col("customer_id"),
            *counts,
            *splits.values(),
            days_to_d(exp.func("MAX", at.copy()), ctx.as_of).as_("days_since_last_interaction"),
        )
        .from_("interactions")
        .where(known_at("at", ctx.as_of))
        .group_by(col("customer_id"))
    )
    return query, list(splits)


def _answered_l12m(ctx: Any) -> exp.Select:
    """Customers who answered a survey in the last 12 months to D."""
    return (
        exp.select(col("customer_id"))
        .distinct()
        .from_("surveys")
        .where(
            exp.and_(known_at("at", ctx.as_of), in_period(col("at"), ctx.spec, ctx.as_of, "l12m"))
        )
    )


def _opted_in(ctx: Any) -> exp.Select:
    """Customers whose consent record known at D (or undated) opts in to any channel."""
    any_opt = exp.or_(
        *(exp.func("COALESCE", col(f"opt_in_{c}"), exp.false()) for c in OPT_IN_CHANNELS)
    )
    return (
        exp.select(col("customer_id"))
        .distinct()
        .from_("preferences")
        .where(
            exp.and_(known_at("consent_updated_at", ctx.as_of, keep_undated=True), paren(any_opt))
        )
    )


def _component(name: str, cap: float | None) -> exp.Expression:
    """One component of the score on 0-1, from the per-customer columns (alias ``c``)."""
    if name == "interaction recency":
        days = col("days_since_last_interaction", "c")
        linear = paren(
            exp.Sub(this=double(1), expression=exp.Div(this=days, expression=double(365)))
        )
        clipped = (
            exp.Case()
            .when(exp.LT(this=linear, expression=double(0)), double(0))
            .when(exp.GT(this=linear.copy(), expression=double(1)), double(1))
            .else_(linear.copy())
        )
        # No interaction: np.inf days, which clips to 0.
        value: exp.Expression = (
            exp.Case()
            .when(exp.Is(this=days.copy(), expression=exp.null()), double(0))
            .else_(clipped)
        )
    else:
        source = {
            "interactions l12m": "interactions_l12m",
            "email clicks l12m": f"interactions_type_{slug('email click')}_l12m",
            "events l12m": f"interactions_type_{slug('event attendance')}_l12m",
            "survey answered l12m": "answered_l12m",
            "opted in": "opted_in",
        }
        if name not in source:
            raise KeyError(name)  # as the pandas engine does for a component it does not know
        value = exp.cast(col(source[name], "c"), "DOUBLE")
    if cap is None:
        return value
    capped = (
        exp.Case().when(exp.GT(this=value, expression=double(cap)), double(cap)).else_(value.copy())
    )
    return exp.Div(this=paren(capped), expression=double(cap))


def _round_half_even(y: exp.Expression) -> exp.Expression:
    """rint(y): the nearest whole number, halves to the even one (numpy's rounding)."""
    whole = exp.cast(exp.Floor(this=y), "DOUBLE")
    part = paren(exp.Sub(this=y.copy(), expression=whole.copy()))
    half = double(0.5)
    odd = exp.NEQ(
        this=paren(
            exp.Sub(
                this=whole.copy(),
                expression=exp.Mul(
                    this=double(2),
                    expression=exp.Floor(this=exp.Div(this=whole.copy(), expression=double(2))),
                ),
            )
        ),
        expression=double(0),
    )
    up = exp.Add(this=whole.copy(), expression=double(1))
    return (
        exp.Case()
        .when(exp.GT(this=part, expression=half), up)
        .when(exp.LT(this=part.copy(), expression=half.copy()), whole.copy())
        .when(odd, up.copy())
        .else_(whole.copy())
    )


def _tenths(spec: dict[str, Any]) -> exp.Expression:
    """100 x sum(weight x component) x 10 over the per-customer columns (alias ``c``): the score
    in tenths before rounding, with numpy's operations in numpy's order."""
    total: exp.Expression | None = None
    for component in spec["engagement_score"]["components"]:
        term = exp.Mul(
            this=double(component["weight"]),
            expression=paren(_component(component["name"], component.get("cap"))),
        )
        total = term if total is None else exp.Add(this=total, expression=paren(term))
    if total is None:
        total = double(0)
    return exp.Mul(
        this=paren(exp.Mul(this=double(100), expression=paren(total))), expression=double(10)
    )


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    """The engagement family's columns, computed by a SQL engine, in the CAR's customer order.

    Nothing when the interactions table is missing; the score counts the survey and opt-in
    components as 0 without surveys or preferences.
    """
    if not ctx.source.has("interactions"):
        return {}
    counts, split_names = _interaction_counts(ctx, topics(engine, ctx.as_of))
    totals = [f"interactions_{p}" for p in PERIODS]
    sides = [side(engine, ctx, "interactions", counts, "g", CODES)]
    columns: list[exp.Expression] = [
        count_of(col(name, "g")).as_(name) for name in [*totals, *split_names]
    ]
    columns.append(col("days_since_last_interaction", "g").as_("days_since_last_interaction"))
    for table, rows, alias, flag in (
        ("surveys", _answered_l12m, "s", "answered_l12m"),
        ("preferences", _opted_in, "p", "opted_in"),
    ):
        if ctx.source.has(table):
            sides.append(side(engine, ctx, table, rows(ctx), alias, CODES))
            present = exp.Not(this=exp.Is(this=col("customer_id", alias), expression=exp.null()))
        else:
            present = exp.false()
        columns.append(exp.Case().when(present, number(1)).else_(number(0)).as_(flag))
    names = [node.alias for node in columns]
    per_customer = per_customer_sides(ctx, columns, sides, ordered=False)
    scored = exp.select(
        col("customer_id", "c"), *(col(name, "c") for name in names), _tenths(ctx.spec).as_("y")
    ).from_(per_customer.subquery("c"))
    # np.round(100 x score, 1): rint of the tenths, divided by 10.
    score = exp.Div(this=paren(_round_half_even(col("y", "t"))), expression=double(10))
    query = (
        exp.select(col("customer_id", "t"), *(col(name, "t") for name in names), score.as_(SCORE))
        .from_(scored.subquery("t"))
        .order_by(col("customer_id", "t"))
    )
    table = run_per_customer(engine, query, ctx, "engagement")
    out: dict[str, Any] = {name: floats(table, name) for name in totals}
    for name in split_names:
        out[name] = float32s(table, name)
    out["days_since_last_interaction"] = floats(table, "days_since_last_interaction")
    out[SCORE] = floats(table, SCORE)
    return out
