"""Lifecycle markers in SQL: the same columns as profiler/families/lifecycle.py.

One query.  The kept orders (``purchase_orders``: one row per order with a kept line on or
before D) are numbered per customer by time, then order id, and each carries its age at D in
calendar days and the days since the customer's previous order; one row per customer then holds
the first, second and latest purchase and what the lifecycle stages need, at D and 365 days
before D.

Days are whole calendar days between the timestamps' dates (``days_between`` of the pandas
family): ``DATE_DIFF('DAY', CAST(t AS DATE), D)`` in DuckDB, ``DATEDIFF(D, CAST(t AS DATE))`` in
Spark.  A stage on a reference day R = D - k reads only orders with day <= R, i.e. with age >= k;
"day > R - n" is "age < k + n".  Ties in time do not matter: tied orders share their time and day,
so the first, second and latest times and the gaps between orders are the same in any tie order.

An order's time is the earliest of its visible lines' times, as in profiler/sql/potential.py
(the pandas engine takes its first line's in file order; the two agree whenever an order's lines
share one time, as every demo order does; the loader does not check it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlglot import exp

from ..families.lifecycle import STAGES
from .customers import per_customer, run_per_customer
from .engines import SqlEngine
from .facts import (
    FactsShape,
    as_double,
    as_of_day,
    car_facts,
    case,
    col,
    day_of,
    days_from,
    number,
    paren,
    text,
    window,
)

FACTS = "car_facts"  # common table expressions: the order facts as of D
PURCHASES = "purchases"  # and the kept orders
YEAR_AGO_DAYS = 365  # lifecycle_stage_1y_ago: the stage 365 days before D


def purchase_orders(*extra: exp.Expression) -> exp.Select:
    """One row per order with a kept line on or before D (from ``FACTS``): customer_id,
    order_id, ordered_at, and any ``extra`` aggregates over the order's lines."""
    return (
        exp.select(
            col("customer_id"),
            col("order_id"),
            exp.func("MIN", col("ordered_at")).as_("ordered_at"),
            *extra,
        )
        .from_(exp.to_table(FACTS))
        .group_by(col("customer_id"), col("order_id"))
        .having(exp.func("MAX", exp.cast(col("kept"), "INT")).eq(1))
    )


def with_purchases(query: exp.Select, ctx: Any) -> exp.Select:
    """``query`` with two common table expressions: ``FACTS``, the order facts on or before D
    with their state at D (``facts.car_facts``), and ``PURCHASES``, the kept orders."""
    facts = car_facts(FactsShape.of(ctx.source), ctx.as_of)
    return query.with_(FACTS, as_=facts).with_(PURCHASES, as_=purchase_orders())


def _ordered_purchases(as_of: pd.Timestamp) -> exp.Select:
    """Kept orders with their rank per customer (time, then order id), their age at D in days
    and the days since the customer's previous order (NULL for the first)."""
    by_customer = [col("customer_id")]
    by_time = [col("ordered_at"), col("order_id")]
    aged = exp.select(
        col("customer_id"),
        col("order_id"),
        col("ordered_at"),
        days_from(day_of(col("ordered_at")), as_of_day(as_of)).as_("age"),
    ).from_(exp.to_table(PURCHASES))
    return exp.select(
        col("customer_id"),
        col("ordered_at"),
        col("age"),
        window(exp.RowNumber(), by_customer, by_time).as_("purchase_number"),
        exp.Sub(
            this=window(exp.Lag(this=col("age")), by_customer, by_time), expression=col("age")
        ).as_("gap"),
    ).from_(aged.subquery("aged"))


def _stage_parts(k: int, t: dict[str, int]) -> list[exp.Expression]:
    """Per customer, from the orders known k days before D: the first and latest purchase's age
    (first_k, last_k; NULL without one) and whether one within active_days of that day came
    more than lapsed_days after the previous (back_k)."""
    seen = exp.GTE(this=col("age"), expression=number(k))
    back = exp.and_(
        seen.copy(),
        exp.GT(this=col("gap"), expression=number(t["lapsed_days"])),
        exp.LT(this=col("age"), expression=number(k + t["active_days"])),
    )
    return [
        exp.func("MAX", case(seen.copy(), col("age"))).as_(f"first_{k}"),
        exp.func("MIN", case(seen.copy(), col("age"))).as_(f"last_{k}"),
        exp.func("MAX", case(back, number(1), number(0))).as_(f"back_{k}"),
    ]


def _stage(k: int, t: dict[str, int], alias: str) -> exp.Expression:
    """The stage k days before D, in the precedence of ``families.lifecycle.stage_at``."""
    first, last = col(f"first_{k}", alias), col(f"last_{k}", alias)
    return (
        exp.Case()
        .when(exp.Is(this=first, expression=exp.null()), text("prospect"))
        .when(exp.LT(this=first.copy(), expression=number(k + t["new_days"])), text("new"))
        .when(exp.EQ(this=col(f"back_{k}", alias), expression=number(1)), text("reactivated"))
        .when(exp.LT(this=last, expression=number(k + t["active_days"])), text("active"))
        .when(exp.LT(this=last.copy(), expression=number(k + t["lapsed_days"])), text("lapsing"))
        .else_(text("lapsed"))
    )


def lifecycle_query(ctx: Any) -> exp.Select:
    """customer_id and the lifecycle columns (stages as labels), one row per CAR customer."""
    t = ctx.spec["lifecycle"]
    second = exp.EQ(this=col("purchase_number"), expression=number(2))
    markers = (
        exp.select(
            col("customer_id"),
            exp.func("MIN", col("ordered_at")).as_("first_at"),
            exp.func("MAX", col("ordered_at")).as_("last_at"),
            exp.func("MAX", case(second, col("ordered_at"))).as_("second_at"),
            exp.func("MAX", col("age")).as_("first_age"),
            exp.func("MIN", col("age")).as_("last_age"),
            exp.func("MAX", case(second.copy(), col("age"))).as_("second_age"),
            *_stage_parts(0, t),
            *_stage_parts(YEAR_AGO_DAYS, t),
        )
        .from_(_ordered_purchases(ctx.as_of).subquery("o"))
        .group_by(col("customer_id"))
    )
    first = col("first_at", "g")
    now = _stage(0, t, "g")
    columns = [
        first.as_("first_purchase_at"),
        col("last_at", "g").as_("last_purchase_at"),
        col("second_at", "g").as_("second_purchase_at"),
        as_double(col("first_age", "g")).as_("tenure_days"),
        as_double(col("last_age", "g")).as_("recency_days"),
        as_double(col("second_age", "g")).as_("days_since_second_purchase"),
        exp.TimeToStr(this=first.copy(), format=text("%Y-%m")).as_("acquisition_month"),
        exp.DPipe(
            this=exp.DPipe(
                this=exp.cast(exp.Year(this=first.copy()), "VARCHAR"), expression=text("-Q")
            ),
            expression=exp.cast(exp.Quarter(this=first.copy()), "VARCHAR"),
        ).as_("acquisition_quarter"),
        now.as_("lifecycle_stage"),
        _stage(YEAR_AGO_DAYS, t, "g").as_("lifecycle_stage_1y_ago"),
        exp.EQ(this=paren(now.copy()), expression=text("reactivated")).as_("reactivated_flag"),
    ]
    query = per_customer(markers, columns, ctx.source.has("customers"), ctx.as_of)
    return with_purchases(query, ctx)


def timestamps(column: Any) -> np.ndarray:
    """A timestamp result column as datetime64[ns] (NULL -> NaT)."""
    return column.to_numpy(zero_copy_only=False).astype("datetime64[ns]")


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    """The lifecycle family's columns, computed by a SQL engine, in the CAR's customer order.

    Reads only D, the lifecycle thresholds, the population and the source shape from ``ctx``
    (no earlier family's columns).  The engine must hold the accepted source tables.
    """
    table = run_per_customer(engine, lifecycle_query(ctx), ctx, "the lifecycle markers")

    def days(name: str) -> np.ndarray:
        return table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)

    def text_of(name: str) -> pd.Series:
        return pd.Series(table.column(name).to_pylist(), dtype="str")

    return {
        "first_purchase_at": timestamps(table.column("first_purchase_at")),
        "last_purchase_at": timestamps(table.column("last_purchase_at")),
        "second_purchase_at": timestamps(table.column("second_purchase_at")),
        "tenure_days": days("tenure_days"),
        "recency_days": days("recency_days"),
        "days_since_second_purchase": days("days_since_second_purchase"),
        "acquisition_month": pd.Categorical(text_of("acquisition_month")),
        "acquisition_quarter": pd.Categorical(text_of("acquisition_quarter")),
        "lifecycle_stage": pd.Categorical(text_of("lifecycle_stage"), categories=STAGES),
        "lifecycle_stage_1y_ago": pd.Categorical(
            text_of("lifecycle_stage_1y_ago"), categories=STAGES
        ),
        "reactivated_flag": table.column("reactivated_flag").to_numpy(zero_copy_only=False),
    }
