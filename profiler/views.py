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

from . import indices, ranking, targets
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


NOT_PROFILED = "Buyers not profiled"  # templates/cohorts.yaml: buyers who objected to profiling


def segments_adding_up(engine: QueryEngine) -> list[str]:
    """The strategy segments and, when some buyers objected to profiling (they are in no
    segment), the cohort of those buyers: rows that add up to the buyers."""
    segments = default_cohorts(engine)[1:]
    if segments and NOT_PROFILED in engine.cohorts.definitions:
        if engine.cohorts.size(NOT_PROFILED):
            segments.append(NOT_PROFILED)
    return segments


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
    cohorts = cohorts or [engine.cohorts.base, *segments_adding_up(engine)]
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
    return _label(engine, targets.attach(engine, out))  # against target, where one is set


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
    return _label(engine, targets.attach(engine, out))  # against target, where one is set


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
        # What a tile says beside its number: the period its value covers, and which way is good.
        record["value_period"] = f"as of {engine.as_of:%Y-%m-%d}" if state else span.label
        record["better"] = indices.polarity(engine.metric(name))
        records.append(record)
    out = pd.DataFrame(records)
    out = targets.attach(engine, out, period_column="value_period", cohort=base)
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


def migration(
    engine: QueryEngine,
    axis: str,
    start: Any,
    end: Any = None,
    *,
    data: Any = None,
) -> Any:
    """Segment migration on ``axis`` (strategy, lifecycle or value_tier) from ``start`` to
    ``end`` (default: the CAR's date): a ``migration.Migration`` (customers and their net spend
    in the 12 months to ``end``, rows at ``start``, columns at ``end``, small cells flagged).

    Membership at the CAR's date is its own column; at an earlier date it is computed by the
    CAR's families from the sources in ``data`` cut at that date (``migration.membership_at``)."""
    from . import migration as mig
    from .periods import day_option

    axis = mig.check_axis(axis)
    days = []
    for flag, value in (("--from", start), ("--to", end)):
        if value is None or str(value).strip() in ("", "asof"):
            days.append(engine.as_of)
            continue
        if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "year"):
            days.append(pd.Timestamp(value).normalize())
            continue
        days.append(day_option(flag, str(value).strip(), iso_only=True).normalize())
    first, last = days
    if last > engine.as_of:
        raise ProfilerError(
            f"--to {last:%Y-%m-%d} is after the CAR's date {engine.as_of:%Y-%m-%d}; "
            "build a later CAR or choose an earlier day."
        )
    if first >= last:
        raise ProfilerError(f"--from {first:%Y-%m-%d} must be before --to {last:%Y-%m-%d}.")

    def at(day: pd.Timestamp) -> Any:
        if day == engine.as_of:
            wanted = ["customer_id", mig.AXES[axis], mig.SPEND_COLUMN]
            if engine.generation is None and not set(wanted) <= set(engine.car.columns):
                from . import store  # an engine made in memory over a CAR folder

                if engine.car_dir is None:
                    raise ProfilerError(f"The CAR has no column '{wanted[1]}' loaded.")
                car = store.read_car(engine.car_dir, columns=wanted)
            else:
                car = engine.ensure_columns(wanted)
            return mig.membership_of_car(car, day, axis)
        if data is None:
            raise ProfilerError(
                f"Segments at {day:%Y-%m-%d} are computed from the source tables as of that "
                f"day: give the data folder the CAR was built from (--data DIR)."
            )
        return mig.membership_from(data, day, axis)

    before, after = at(first), at(last)
    if first < engine.as_of == last:  # a past day beside the CAR's own column
        mig.check_definitions(_definition_hash(engine, mig.AXES[axis]), before)
    return mig.migration_matrix(before, after, min_size=engine.cohorts.min_size)


def _definition_hash(engine: QueryEngine, column: str) -> str:
    """The definition hash of a CAR column, from the CAR folder's dictionary ("" if unknown)."""
    from . import store

    if engine.car_dir is None:
        return ""
    generation = engine.generation or store.open_generation(engine.car_dir)
    dictionary = generation.read_csv(store.DICTIONARY, dtype=str, keep_default_na=False)
    found = dictionary.loc[dictionary["column"] == column, "definition_hash"]
    return str(found.iloc[0]) if len(found) else ""


# -- breakdowns (issue 24.1) ----------------------------------------------------------------------

# The deep dive's breakdowns: each insight area's metrics split by every value of the dimensions
# its brief names (every category, channel, price point, preference topic, interaction channel
# and topic present in the data), in area order.
INSIGHT_BREAKDOWNS = (
    ("sales", "net_sales", "channel"),
    ("sales", "net_sales", "country"),
    ("product", "net_sales", "category"),
    ("product", "units", "category"),
    ("product", "net_sales", "department"),
    ("product", "net_sales", "price_point"),
    ("lifecycle", "customers", "lifecycle_stage"),
    ("engagement", "interactions", "channel"),
    ("engagement", "interactions", "topic"),
    ("engagement", "nps", "channel"),
    ("preferences", "customers", "preference_topic"),
    ("preferences", "customers", "preferred_channel"),
    ("preferences", "customers", "preferred_department"),
    ("demographics", "customers", "region"),
    ("demographics", "customers", "wealth_band"),
    ("demographics", "customers", "mosaic_group"),
    ("potential", "customers", "value_tier"),
    ("potential", "customers", "strategy_segment"),
)


def breakdown(
    engine: QueryEngine,
    dimension: str,
    cohorts: list[str] | None = None,
    metrics: list[str] | None = None,
    period: str | Period | None = None,
    vs: str | Period | None = None,
) -> pd.DataFrame:
    """Metrics for cohorts split by one dimension (``QueryEngine.breakdown``): one row per
    cohort x metric x dimension value, with ``share`` (of the cohort's total over the
    dimension's values, for metrics that add up: sums and counts of rows) and, with ``vs``,
    ``vs_value`` and ``change_pct``.

    Metrics that do not declare the dimension, or that this CAR cannot compute, are left out
    with a note (``attrs["notes"]``); none left is one line listing the dimensions they have.
    Default metrics: the summary's."""
    from .breakdown import resolve_dimension

    cohorts = cohorts or [engine.cohorts.base]
    asked = [engine.catalog.get(m).name for m in (metrics or view_metrics(engine, "summary"))]
    available, left_out = engine.available_metrics(list(dict.fromkeys(asked)))
    kept, undeclared, dims = [], [], {}
    for name in available:
        try:
            dims[name] = resolve_dimension(engine, name, dimension)
            kept.append(name)
        except ProfilerError:
            undeclared.append(name)
    if not kept:
        have = sorted({d for m in asked for d in engine.catalog.get(m).dimensions})
        raise ProfilerError(
            f"No metric of {', '.join(asked[:6])}{'...' if len(asked) > 6 else ''} can be broken "
            f"down by '{clip(dimension)}'"
            + (f": their dimensions are {', '.join(have)}." if have else ".")
        )
    frames = [engine.breakdown(kept, dimension, cohort, period) for cohort in cohorts]
    out = pd.concat(frames, ignore_index=True)
    adds = out["metric"].map(lambda m: _adds_up(engine, m, dims[m])).to_numpy(dtype=bool)
    totals = out.groupby(["cohort", "metric"], sort=False)["value"].transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = np.where(adds & (totals != 0), out["value"] / totals, np.nan)
        # Preference topics: the share of the cohort opted in to each (a customer may be in many).
        topics = (out["dimension"] == "preference_topic").to_numpy()
        sizes = out["cohort"].map(engine.cohorts.size).to_numpy(dtype=float)
        out.loc[topics, "share"] = out["value"].to_numpy()[topics] / sizes[topics]
    if vs is not None:
        before = pd.concat(
            [engine.breakdown(kept, dimension, cohort, vs) for cohort in cohorts],
            ignore_index=True,
        )
        key = ["cohort", "metric", "dimension_value"]
        out = out.merge(
            before[[*key, "period", "value"]].rename(
                columns={"period": "vs_period", "value": "vs_value"}
            ),
            on=key,
            how="left",
        )
        out["change_pct"] = _change_pct(out["value"], out["vs_value"])
    notes = left_out_line(engine, list(left_out))
    if undeclared:
        notes.append(
            f"Not broken down by {dims[kept[0]]} (not one of their dimensions): "
            f"{', '.join(undeclared)}."
        )
    out.attrs.update(frames[0].attrs)
    out.attrs["notes"] = notes
    return _label(engine, out)


def _adds_up(engine: QueryEngine, metric: str, dimension: str) -> bool:
    """Whether a metric's values over a dimension's values add up to the whole: sums and
    counts of rows, or counts of customers by a CAR column (one value per customer)."""
    m = engine.metric(metric)
    if m.source == "customers":
        return m.aggregation in ("count", "sum") and dimension != "preference_topic"
    return m.aggregation == "sum" or m.aggregation == "count"


def deep_dive_breakdowns(
    engine: QueryEngine,
    cohort: str,
    period: str | Period | None = None,
    base: str | None = None,
    areas: list[str] | None = None,
    dimension: str | None = None,
) -> pd.DataFrame:
    """The deep dive's full breakdowns (``INSIGHT_BREAKDOWNS``; with ``dimension``, every
    deep-dive metric that declares it): each metric by every value of its dimension, for the
    cohort and the base: value, share, base value, base share and the share index (cohort
    share / base share x 100).  Breakdowns this CAR cannot give (a table or column not
    provided) are left out with a note."""
    from .breakdown import MISSING, resolve_dimension

    base = base or engine.cohorts.base
    frames, notes = [], []
    plan = list(INSIGHT_BREAKDOWNS)
    if dimension is not None:
        plan = []
        for m in engine.catalog.metrics.values():
            if m.area in (areas or AREAS) and m.status != "retired":
                try:
                    plan.append((m.area, m.name, resolve_dimension(engine, m.name, dimension)))
                except ProfilerError:
                    continue
        if not plan:
            raise ProfilerError(
                f"No deep-dive metric{' of ' + ', '.join(areas) if areas else ''} can be "
                f"broken down by '{clip(dimension)}'."
            )
        plan.sort(key=lambda p: AREAS.index(p[0]))
    for area, metric, dimension in plan:
        if areas and area not in areas:
            continue
        try:
            found = breakdown(
                engine, dimension, list(dict.fromkeys([cohort, base])), [metric], period
            )
        except ProfilerError as err:
            notes.append(f"{area}: {metric} by {dimension} left out: {err}")
            continue
        if set(found["dimension_value"]) <= {MISSING}:  # e.g. no preferences table: all blank
            notes.append(f"{area}: {metric} by {dimension} left out: no customer has a value")
            continue
        mine = found[found["cohort"] == cohort].reset_index(drop=True)
        theirs = found[found["cohort"] == base].set_index("dimension_value")
        mine.insert(0, "area", area)
        mine["base"] = base
        mine["base_value"] = mine["dimension_value"].map(theirs["value"]).to_numpy(dtype=float)
        mine["base_share"] = mine["dimension_value"].map(theirs["share"]).to_numpy(dtype=float)
        mine["base_customers"] = (
            mine["dimension_value"].map(theirs["customers"]).fillna(0).to_numpy(dtype=np.int64)
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            mine["share_index"] = np.where(
                mine["base_share"] > 0, mine["share"] / mine["base_share"] * 100, np.nan
            )
        notes.extend(n for n in found.attrs.get("notes", []) if n not in notes)
        frames.append(mine)
    if not frames:
        raise LeftOut(f"No breakdown to show: {'; '.join(notes)}")
    out = pd.concat(frames, ignore_index=True)
    out.attrs.update(frames[0].attrs)
    out.attrs["notes"] = notes
    return out


def campaigns(data: Any, window_days: int = 30, *, today: Any = None) -> pd.DataFrame:
    """One row per campaign of the data folder's register (``profiler.campaigns``): send day,
    the window's dates and whether the data covers it, customers, response rates, orders and
    spend per customer per group, the uplifts with their 95% intervals, incremental revenue,
    cost and ROI, and notes (small groups, an incomplete window).  Empty without campaigns."""
    from .campaigns import campaign_reports

    rows = [r.row() for r in campaign_reports(data, window_days, today=today)]
    return pd.DataFrame(rows)
