"""What this CAR cannot provide, and which table would bring it: one account for every output.

A retailer's data may hold any subset of the contract (only order_lines is required).  What
needs a missing table or column is left out, never an error: CAR families (``car_meta.json``
``left_out``), cohort groups and cohorts (``CohortSet.left_out``), catalog metrics
(``QueryEngine.left_out_metric``), and the strategy segments fall back to value x potential.
This module gathers those decisions into the lines the About sheet and ``profiler cohorts list``
show; the decisions themselves stay where the thing is defined.
"""

from __future__ import annotations

from .query import QueryEngine


def segment_mode(engine: QueryEngine) -> str | None:
    """How the strategy segments were formed, when not the full 27 cells; None otherwise."""
    if "strategy_segment" in engine.known_columns and "engagement_band" not in engine.known_columns:
        return (
            "current value x potential value (9 cells): no engagement data, the interactions "
            "table was not provided"
        )
    return None


def left_out(engine: QueryEngine) -> list[tuple[str, str]]:
    """(what, why) for everything this CAR leaves out: CAR families, the strategy segments'
    fallback, cohorts and metrics of the catalog."""
    out = [
        (f"CAR family {family}", reason.removeprefix("left out: "))
        for family, reason in (engine.meta.get("left_out") or {}).items()
    ]
    mode = segment_mode(engine)
    if mode:
        out.append(("Strategy segments", mode))
    basis = engine.meta.get("current_value_note")
    if basis:
        out.append(("Strategy segments", basis))
    out += [(f"Cohort {name}", reason) for name, reason in engine.cohorts.left_out.items()]
    for name, metric in engine.catalog.metrics.items():
        if metric.status == "retired":
            continue
        reason = engine.left_out_metric(name)
        if reason:
            out.append((f"Metric {name}", reason))
    return out
