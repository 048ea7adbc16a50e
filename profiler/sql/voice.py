"""Voice of the customer in SQL: the same columns as profiler/families/voice.py.

One query: the customers of the CAR joined to their survey sums (answers before D + 1 day), their
latest NPS answer and their interactions' effort scores.  Means are integer sums over counts,
so they equal the pandas engine's to the bit.

The latest answer is the one with the greatest time; among answers with the same time the pandas
engine takes the later row of the file.  The engine knows the file order only if the source's
row number (``loading.ROW``) was registered with the table; without it, tied answers are told
apart by the higher score.  The demo and test sources have no such ties.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlglot import exp

from ..contract import SURVEY_CHANNELS
from ..families.voice import NPS_CLASSES
from ..features import slug
from ..loading import ROW
from .customers import run_per_customer
from .engines import SqlEngine
from .facts import col, number, ratio, text
from .side_tables import (
    CODES,
    Side,
    codes,
    columns_of,
    count_of,
    count_where,
    days_to_d,
    floats,
    known_at,
    per_customer_sides,
    side,
)


def _survey_sums(as_of: pd.Timestamp) -> exp.Select:
    """Per customer: NPS and CSAT counts and sums, overall and by rated channel, and the last
    answer's time."""
    nps, csat = col("nps"), col("csat")
    has_csat = exp.Not(this=exp.Is(this=csat.copy(), expression=exp.null()))
    by_channel = []
    for c in SURVEY_CHANNELS:
        on = exp.and_(
            has_csat.copy(), exp.EQ(this=exp.cast(col("channel"), "VARCHAR"), expression=text(c))
        )
        by_channel += [
            count_where(on).as_(f"csat_{slug(c)}_n"),
            exp.func("SUM", exp.Case().when(on.copy(), csat.copy())).as_(f"csat_{slug(c)}_sum"),
        ]
    return (
        exp.select(
            col("customer_id"),
            exp.func("COUNT", nps).as_("nps_n"),
            exp.func("SUM", nps.copy()).as_("nps_sum"),
            exp.func("COUNT", csat.copy()).as_("csat_n"),
            exp.func("SUM", csat.copy()).as_("csat_sum"),
            exp.func("COUNT", exp.Star()).as_("surveys_n"),
            exp.func("MAX", col("at")).as_("last_at"),
            *by_channel,
        )
        .from_("surveys")
        .where(known_at("at", as_of))
        .group_by(col("customer_id"))
    )


def _latest_nps(as_of: pd.Timestamp, tie: str) -> exp.Select:
    """Per customer: the NPS answer with the greatest time (ties: the greater ``tie``)."""
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col("customer_id")],
        order=exp.Order(
            expressions=[
                exp.Ordered(this=col("at"), desc=True),
                exp.Ordered(this=col(tie), desc=True),
            ]
        ),
    )
    answers = (
        exp.select(col("customer_id"), col("nps"), rank.as_("pick"))
        .from_("surveys")
        .where(
            exp.and_(
                known_at("at", as_of), exp.Not(this=exp.Is(this=col("nps"), expression=exp.null()))
            )
        )
    )
    return (
        exp.select(col("customer_id"), col("nps"))
        .from_(answers.subquery("answers"))
        .where(exp.EQ(this=col("pick"), expression=number(1)))
    )


def _effort_sums(as_of: pd.Timestamp) -> exp.Select:
    score = col("effort_score")
    return (
        exp.select(
            col("customer_id"),
            exp.func("COUNT", score).as_("effort_n"),
            exp.func("SUM", score.copy()).as_("effort_sum"),
        )
        .from_("interactions")
        .where(known_at("at", as_of))
        .group_by(col("customer_id"))
    )


def compute(engine: SqlEngine, ctx: Any) -> dict[str, Any]:
    """The voice family's columns, computed by a SQL engine, in the CAR's customer order."""
    columns: list[exp.Expression] = []
    sides: list[Side] = []
    if ctx.source.has("surveys"):
        tie = ROW if ROW in columns_of(engine, "surveys").names else "nps"
        sides += [
            side(engine, ctx, "surveys", _survey_sums(ctx.as_of), "s", CODES),
            side(engine, ctx, "surveys", _latest_nps(ctx.as_of, tie), "l", CODES),
        ]
        latest = exp.cast(col("nps", "l"), "DOUBLE")
        nps_class = exp.Case()
        for code, floor in enumerate((9, 7, 0)):
            nps_class = nps_class.when(
                exp.GTE(this=latest.copy(), expression=number(floor)), number(code)
            )
        columns += [
            latest.as_("nps_latest"),
            ratio(col("nps_sum", "s"), col("nps_n", "s")).as_("nps_mean"),
            count_of(col("nps_n", "s")).as_("nps_count"),
            nps_class.else_(number(len(NPS_CLASSES) - 1)).as_("nps_class"),
            ratio(col("csat_sum", "s"), col("csat_n", "s")).as_("csat_mean"),
            count_of(col("csat_n", "s")).as_("csat_count"),
            count_of(col("surveys_n", "s")).as_("surveys_count"),
            days_to_d(col("last_at", "s"), ctx.as_of).as_("days_since_last_survey"),
        ]
        for c in SURVEY_CHANNELS:
            name = f"csat_{slug(c)}"
            columns += [
                ratio(col(f"{name}_sum", "s"), col(f"{name}_n", "s")).as_(f"{name}_mean"),
                count_of(col(f"{name}_n", "s")).as_(f"{name}_count"),
            ]
    if ctx.source.has("interactions"):
        sides.append(side(engine, ctx, "interactions", _effort_sums(ctx.as_of), "e", CODES))
        columns += [
            ratio(col("effort_sum", "e"), col("effort_n", "e")).as_("effort_score_mean"),
            count_of(col("effort_n", "e")).as_("effort_score_count"),
        ]
    if not sides:
        return {}
    table = run_per_customer(engine, per_customer_sides(ctx, columns, sides), ctx, "voice")
    out: dict[str, Any] = {}
    for node in columns:
        name = node.alias
        if name == "nps_class":
            out[name] = pd.Categorical.from_codes(codes(table, name), categories=NPS_CLASSES)
        else:
            out[name] = floats(table, name)
    return out
