"""The views every sheet and CLI command shows, as tidy DataFrames from the query engine.

- ``summary``: cohorts x headline KPIs for a period;
- ``deep_dive``: one cohort across the catalog's insight areas, indexed against the base;
- ``compare``: up to 8 cohorts side by side against a base, for a period and a comparison period;
- ``dashboard``: the executive KPIs in a period against the prior period and last year.

Metric lists come from the ``views`` section of templates/cohorts.yaml.  Metrics of customer
state are measured as of the CAR's date whatever the period (their ``period`` column says so).
Every value carries the customers it was computed on and a ``small`` flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import indices, ranking
from .activity import month_number
from .errors import LeftOut, ProfilerError, clip
from .periods import Period, parse_period
from .query import QueryEngine

MAX_COMPARED = 8
AREAS = (
    "sales",
    "product",
    "lifecycle",
    "engagement",
    "preferences",
    "interests",
    "demographics",
    "potential",
)


def view_metrics(engine: QueryEngine, view: str) -> list[Any]:
    """The metrics (or dashboard rows) a view shows, from the cohort spec."""
    views = engine.cohorts.spec.get("views") or {}
    if view not in views:
        raise ProfilerError(f"{engine.cohorts.path}: no 'views.{view}' list.")
    return list(views[view])


def measured(
    engine: QueryEngine,
    metrics: list[str],
    cohorts: list[str],
    span: Period,
    membership: str = "d",
) -> pd.DataFrame:
    """Values for the period; metrics known only at D, at D (labelled "as of D").  Cohort
    members are taken at D, or at the period's end (``membership``: QueryEngine.values).

    Metrics this CAR cannot compute (a source table or column was not provided) are left out;
    ``attrs["notes"]`` says which and why, with the cohorts left out of the definitions."""
    metrics, left_out = engine.available_metrics(list(dict.fromkeys(metrics)))
    if not metrics:
        reasons = "; ".join(f"{name}: {why}" for name, why in left_out.items())
        raise LeftOut(f"No metric to show: {reasons}.")
    in_period = [m for m in metrics if engine.supports(m, span)]
    as_of = [m for m in metrics if m not in in_period]
    frames = [engine.values(in_period, cohorts, span, membership=membership)] if in_period else []
    if as_of:
        frames.append(engine.values(as_of, cohorts, "asof"))
    out = pd.concat(frames, ignore_index=True)
    order = {m: i for i, m in enumerate(metrics)}
    out = out.sort_values(["metric"], key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )
    out.attrs.update(frames[0].attrs)
    out.attrs["notes"] = left_out_line(engine, list(left_out))
    return out


def left_out_line(engine: QueryEngine, metrics: list[str]) -> list[str]:
    """At most one line for a view: the metrics (or KPIs) and cohorts this CAR cannot
    provide."""
    cohorts = list(engine.cohorts.left_out)
    if not metrics and not cohorts:
        return []
    parts = []
    if metrics:
        parts.append(f"metrics {', '.join(metrics)}")
    if cohorts:
        parts.append(f"cohorts {', '.join(cohorts)}")
    return [
        f"Left out (a source table or column was not provided): {'; '.join(parts)}. "
        "'profiler cohorts list' and 'profiler metrics show NAME' say what each needs."
    ]


def default_cohorts(engine: QueryEngine) -> list[str]:
    """The base and the strategy segments (the base alone when no segment could be formed)."""
    segments = [
        d.name for d in engine.cohorts.definitions.values() if d.group == "Strategy segments"
    ]
    return [engine.cohorts.base, *segments]


def last_complete_quarter(engine: QueryEngine) -> Period:
    """The latest calendar quarter that ended by the CAR's date: the dashboard's default."""
    day = engine.as_of
    quarter = parse_period(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
    return quarter if engine.complete(quarter) else quarter.previous()


def has_data(engine: QueryEngine, span: Period) -> bool:
    """Whether the period overlaps the data: it starts by the CAR's date and ends in or after
    the first month of activity.  The CAR snapshot (``asof``) always has data; without an
    activity table only the CAR's date bounds it."""
    if span.kind == "asof":
        return True
    if span.start > engine.as_of:
        return False
    activity = engine.activity
    if activity is None or not len(activity):
        return True
    first = int(activity.month[0])  # sorted by month: the first month of activity
    return month_number(span.end - pd.Timedelta(days=1)) >= first


def summary(
    engine: QueryEngine,
    period: str | Period | None = None,
    cohorts: list[str] | None = None,
    metrics: list[str] | None = None,
    membership: str = "d",
    rank_by: str | None = None,
) -> pd.DataFrame:
    """Cohorts x headline KPIs (long: cohort, metric, period, value, customers, small).
    ``rank_by``: a metric (added first when not a headline KPI) the cohorts are ordered by,
    highest first (profiler/ranking.py: gross_margin gives the most profitable segments)."""
    span = engine.period(period)
    cohorts = cohorts or default_cohorts(engine)
    metrics = metrics or view_metrics(engine, "summary")
    if rank_by:
        rank_by = engine.metric(rank_by).name
        metrics = [rank_by, *(m for m in metrics if m != rank_by)]
    out = measured(engine, metrics, cohorts, span, membership)
    out["cohort"] = pd.Categorical(out["cohort"], categories=list(dict.fromkeys(cohorts)))
    out = out.sort_values(["cohort"], kind="stable").reset_index(drop=True)
    out["cohort"] = out["cohort"].astype(str)
    if rank_by:
        out = ranking.ranked(out, rank_by, engine.left_out_metric(rank_by))
    return _label(engine, out)


def deep_dive(
    engine: QueryEngine,
    cohort: str,
    period: str | Period | None = None,
    base: str | None = None,
    areas: list[str] | None = None,
    membership: str = "d",
) -> pd.DataFrame:
    """One cohort across the insight areas against the base: index = cohort / base x 100."""
    span = engine.period(period)
    base = base or engine.cohorts.base
    chosen = areas or list(AREAS)
    unknown = [a for a in chosen if a not in AREAS]
    if unknown:
        raise ProfilerError(f"Unknown area '{clip(unknown[0])}'; the areas are {', '.join(AREAS)}.")
    metrics = [
        m.name
        for area in chosen
        for m in engine.catalog.metrics.values()
        if m.area == area and m.status != "retired"
    ]
    values = measured(engine, metrics, list(dict.fromkeys([cohort, base])), span, membership)
    metrics = [m for m in metrics if m in set(values["metric"])]
    mine = values[values["cohort"] == cohort].set_index("metric")
    theirs = values[values["cohort"] == base].set_index("metric")
    against = _against(
        engine,
        metrics,
        mine.loc[metrics, "value"].to_numpy(),
        theirs.loc[metrics, "value"].to_numpy(),
        engine.cohorts.size(cohort),
        engine.cohorts.size(base),
    )
    out = pd.DataFrame(
        {
            "area": [engine.metric(m).area for m in metrics],
            "metric": metrics,
            "period": mine.loc[metrics, "period"].to_numpy(),
            "cohort": cohort,
            "value": mine.loc[metrics, "value"].to_numpy(),
            "customers": mine.loc[metrics, "customers"].to_numpy(),
            "base": base,
            "base_value": theirs.loc[metrics, "value"].to_numpy(),
            **against,
            "small": mine.loc[metrics, "small"].to_numpy(),
        }
    )
    out.attrs.update(values.attrs)
    return _label(engine, out)


def compare(
    engine: QueryEngine,
    cohorts: list[str],
    metrics: list[str] | None = None,
    period: str | Period | None = None,
    vs: str | Period | None = None,
    base: str | None = None,
    membership: str = "d",
) -> pd.DataFrame:
    """Up to 8 cohorts against a base cohort, in a period and (optionally) a comparison period.

    Columns: cohort, metric, period, value, customers, small; with ``vs``: vs_period, vs_value,
    change (value - vs_value), change_pct (relative), change_vs (``indices.change``: points for
    shares and scores, relative otherwise) and verdict_vs; then base_value, diff_vs_base,
    index_vs_base and verdict_vs_base (``indices.compare``).
    """
    if not cohorts:
        raise ProfilerError("Name at least one cohort to compare.")
    if len(cohorts) > MAX_COMPARED:
        raise ProfilerError(
            f"At most {MAX_COMPARED} cohorts can be compared at once; got {len(cohorts)}."
        )
    base = base or engine.cohorts.base
    metrics = metrics or view_metrics(engine, "compare")
    span = engine.period(period)
    names = list(dict.fromkeys([*cohorts, base]))
    now = measured(engine, metrics, names, span, membership)
    key = ["cohort", "metric"]
    out = now[now["cohort"].isin(cohorts)].copy()
    metrics = list(dict.fromkeys(now["metric"]))
    if vs is not None:
        before = measured(engine, metrics, names, engine.period(vs), membership)
        merged = out.merge(
            before[[*key, "period", "value"]].rename(
                columns={"period": "vs_period", "value": "vs_value"}
            ),
            on=key,
            how="left",
        )
        state = merged["metric"].map(lambda m: not engine.supports(m, span)).to_numpy(dtype=bool)
        merged.loc[state, ["vs_period", "vs_value"]] = [
            f"as of {engine.as_of:%Y-%m-%d} only",
            np.nan,
        ]
        merged["change"] = merged["value"] - merged["vs_value"]
        merged["change_pct"] = _change_pct(merged["value"], merged["vs_value"])
        # In the metric's comparison unit: points for shares and scores, else relative.
        merged["change_vs"] = [
            float(indices.change(engine.metric(m), v, b))
            for m, v, b in zip(merged["metric"], merged["value"], merged["vs_value"], strict=True)
        ]
        merged["verdict_vs"] = [
            str(indices.verdict(engine.metric(m), d))
            for m, d in zip(merged["metric"], merged["change"], strict=True)
        ]
        out = merged
    base_rows = now[now["cohort"] == base].set_index("metric")["value"]
    out["base"] = base
    out["base_value"] = out["metric"].map(base_rows).to_numpy(dtype=float)
    against = _against(
        engine,
        list(out["metric"]),
        out["value"].to_numpy(dtype=float),
        out["base_value"].to_numpy(dtype=float),
        out["cohort"].map(engine.cohorts.size).to_numpy(dtype=float),
        engine.cohorts.size(base),
    )
    out["diff_vs_base"] = against["difference"]
    out["index_vs_base"] = against["index"]
    out["verdict_vs_base"] = against["verdict"]
    out = out.reset_index(drop=True)
    out.attrs.update(now.attrs)
    return _label(engine, out)


def dashboard(engine: QueryEngine, period: str | Period | None = None) -> pd.DataFrame:
    """Executive KPIs for the whole base: period vs prior period and vs the same period last year.

    State metrics (debt, bad debt) exist only as of the CAR's date: their prior and last-year
    cells are empty, and ``note`` says so.
    """
    span = last_complete_quarter(engine) if period is None else engine.period(period)
    if span.kind == "asof":
        raise ProfilerError(
            "The dashboard compares periods: give a month, quarter, year, ytd: or r12: period."
        )
    rows, left_out = [], []
    for row in view_metrics(engine, "dashboard"):
        if engine.left_out_metric(row["metric"]):
            left_out.append(row.get("kpi", row["metric"]))
        else:
            rows.append(row)
    base = engine.cohorts.base
    spans = {"value": span, "prior": span.previous(), "last_year": span.last_year()}
    records = []
    for row in rows:
        name = row["metric"]
        record: dict[str, Any] = {"kpi": row.get("kpi", name), "metric": name, "period": span.label}
        state = not engine.supports(name, span)
        for column, when in spans.items():
            if column != "value" and (state or not has_data(engine, when)):
                record[column] = np.nan  # as of D only, or before the data: no comparison
                continue
            table = engine.values([name], [base], "asof" if state else when)
            record[column] = float(table["value"].iloc[0])
            if column == "value":
                record["customers"] = int(table["customers"].iloc[0])
                record["small"] = bool(table["small"].iloc[0])
        record["prior_period"] = "" if state else spans["prior"].label
        record["last_year_period"] = "" if state else spans["last_year"].label
        record["vs_prior_pct"] = _change_pct(record["value"], record["prior"])
        record["vs_last_year_pct"] = _change_pct(record["value"], record["last_year"])
        for column in ("prior", "last_year"):
            delta = record["value"] - record[column]
            metric = engine.metric(name)
            record[f"vs_{column}_verdict"] = str(indices.verdict(metric, delta))
            # In the metric's unit of change: points for shares and scores, else relative.
            record[f"vs_{column}"] = float(indices.change(metric, record["value"], record[column]))
        record["change_unit"] = indices.change_unit(engine.metric(name))
        record["note"] = (
            f"as of {engine.as_of:%Y-%m-%d} only"
            if state
            else ("" if engine.complete(span) else "period not complete")
        )
        records.append(record)
    out = pd.DataFrame(records)
    out.attrs.update(
        {
            "catalog": engine.catalog.stamp,
            "as_of": f"{engine.as_of:%Y-%m-%d}",
            "notes": left_out_line(engine, left_out),
        }
    )
    return _label(engine, out)


def _label(engine: QueryEngine, frame: pd.DataFrame) -> pd.DataFrame:
    """Add each metric's label and unit next to its name (for sheets and CSV readers)."""
    if "metric" in frame.columns and len(frame):
        at = list(frame.columns).index("metric") + 1
        frame.insert(at, "label", frame["metric"].map(lambda m: engine.metric(m).label))
        frame.insert(at + 1, "unit", frame["metric"].map(lambda m: engine.metric(m).unit))
    return frame


def _against(
    engine: QueryEngine,
    metrics: list[str],
    value: np.ndarray,
    base_value: np.ndarray,
    customers: Any,
    base_customers: Any,
) -> dict[str, np.ndarray]:
    """Index, difference and verdict of each metric's value against the base's
    (``profiler/indices.py``: totals per customer of the cohort, shares in points, scores by
    their difference only); ``customers`` are the cohorts' sizes."""
    size = np.broadcast_to(np.asarray(customers, dtype=float), (len(metrics),))
    base_size = np.broadcast_to(np.asarray(base_customers, dtype=float), (len(metrics),))
    rows = [
        indices.compare(engine.metric(m), v, b, c, bc, engine.catalog)
        for m, v, b, c, bc in zip(metrics, value, base_value, size, base_size, strict=True)
    ]
    return {
        "index": np.array([float(r["index"]) for r in rows]),
        "difference": np.array([float(r["difference"]) for r in rows]),
        "verdict": np.array([str(r["verdict"]) for r in rows], dtype=object),
    }


def _change_pct(now: Any, before: Any) -> Any:
    """(now - before) / |before|, element-wise; NaN where before is 0 or missing."""
    now_, before_ = np.asarray(now, dtype=float), np.asarray(before, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(before_ != 0, (now_ - before_) / np.abs(before_), np.nan)
    return change if change.ndim else float(change)
