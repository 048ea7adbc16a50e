"""What each sheet of the profiler shows: blocks of numbers computed by the engine.

The layout (templates/workbook.yaml) says which sheets exist, their input cells and which views
they hold; this module turns a sheet's inputs into ``Block``s (tables with units, small-cell
flags and optional charts) by calling the engine's views.  The writer (workbook/builder.py) and a
live Excel book (workbook/book.py) both place these blocks the same way, so the numbers are the
same whichever path refreshed them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from profiler import indices, periods, targets, views, yaml_lines
from profiler.customer import UnknownCustomer, customer_profile
from profiler.errors import LeftOut, ProfilerError, clip
from profiler.features import TEMPLATES
from profiler.periods import parse_period
from profiler.query import QueryEngine
from profiler.retention import retention_triangle

DEFAULT_LAYOUT = TEMPLATES / "workbook.yaml"
INDEX_NOTE = (
    "Index: 100 = the base. Totals per customer of the cohort; shares and rates as their ratio, "
    "their difference in points; scores (NPS) by difference only. Green is better and red worse "
    "by each metric's polarity (docs/metrics.md)."
)


@dataclass
class Block:
    """One table on a sheet.

    ``units`` gives a column's unit (GBP, %, customers, index, ...); with ``row_units`` the
    numeric columns listed take each row's unit instead (a table of mixed metrics).
    ``customers`` holds, for the cells that were computed on customers, how many (same shape as
    ``frame``, NaN where it does not apply): cells under the minimum cohort size are marked, and
    a snapshot suppresses the ones under its own minimum.
    """

    key: str
    title: str
    frame: pd.DataFrame
    units: dict[str, str] = field(default_factory=dict)
    row_units: list[str] | None = None
    row_unit_columns: list[str] = field(default_factory=list)
    customers: pd.DataFrame | None = None
    heatmap: list[str] = field(default_factory=list)  # columns under a colour scale
    # Columns whose rows each have their own unit, different from ``row_units`` (a difference
    # in points beside a share): column -> one unit per row.
    column_row_units: dict[str, list[str]] = field(default_factory=dict)
    # Columns coloured by the verdict in another column of the row (column -> verdict column):
    # green where it says "better", red where "worse", by the metric's polarity, not its sign.
    verdicts: dict[str, str] = field(default_factory=dict)
    hidden: list[str] = field(default_factory=list)  # columns kept on the sheet but not shown
    charts: list[dict[str, Any]] = field(default_factory=list)  # {"type", "title", "x", "series"}
    tiles: dict[str, Any] | None = None  # {"value": column, "change": column}: KPI tiles beside
    note: str = ""
    tall_rows: bool = False  # rows made tall enough to show their wrapped texts whole


@dataclass
class Check:
    """A built-in check shown as PASS/BREAK: the sum of cells equals a total."""

    title: str
    block: str
    column: str
    parts: list[int]  # row positions within the block summed
    total: int  # row position of the total
    tolerance: float = 0.5
    # Decided on the computed numbers, for a copy whose numbers may be hidden (a snapshot).
    outcome: bool | None = None

    def passed(self, block: Block) -> bool:
        if self.outcome is not None:
            return self.outcome
        values = block.frame[self.column].astype(float)
        return abs(values.iloc[self.parts].sum() - values.iloc[self.total]) <= self.tolerance


@dataclass
class SheetContent:
    name: str
    blocks: list[Block]
    checks: list[Check] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # every metric shown, for Definitions


def load_layout(path: str | Path | None = None) -> dict[str, Any]:
    """The workbook layout YAML (default: templates/workbook.yaml)."""
    path = Path(path) if path else DEFAULT_LAYOUT
    try:
        layout = yaml_lines.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ProfilerError(f"{path}: cannot read the workbook layout ({err}).") from None
    if not isinstance(layout, dict) or not isinstance(layout.get("sheets"), list):
        raise ProfilerError(f"{path}: expected a mapping with a 'sheets' list.")
    return layout


def default_inputs(engine: QueryEngine, layout: dict[str, Any]) -> dict[str, str]:
    """Each input's default; ``{r12}``, ``{month}``, ``{quarter}``, ``{year}`` are filled in from
    the last complete month before the CAR's date."""
    last = periods.last_complete_month(engine.as_of)
    fill = {
        "{r12}": f"r12:{last:%Y-%m}",
        "{month}": f"{last:%Y-%m}",
        "{quarter}": views.last_complete_quarter(engine).label,
        "{year}": f"{last.year}",
        "{last_year_r12}": f"r12:{last - pd.DateOffset(months=12):%Y-%m}",
        "{d}": f"{engine.as_of:%Y-%m-%d}",
        "{d_1y}": f"{engine.as_of - pd.DateOffset(years=1):%Y-%m-%d}",
    }
    out = {}
    spare = _cohorts_by_size(engine)  # a generator: sizes computed only if a default is missing
    for sheet in layout["sheets"]:
        taken = {str(item.get("default", "")) for item in sheet.get("inputs") or []}
        for item in sheet.get("inputs") or []:
            value = str(item.get("default", ""))
            if item.get("list") == "cohorts" and value and value not in engine.cohorts.definitions:
                # A cohort this data does not have (a small retailer, a missing table): the
                # largest strategy segment (or other cohort) not already on the sheet.
                value = next((c for c in spare if c not in taken), "")
                taken.add(value)
            out[item["name"]] = fill.get(value, value)
    return out


def _cohorts_by_size(engine: QueryEngine) -> Iterator[str]:
    """Strategy segments, then the other cohorts but the base, each largest first."""
    defs = [d for d in engine.cohorts.definitions.values() if d.name != engine.cohorts.base]
    segments = [d.name for d in defs if d.group == "Strategy segments"]
    others = [d.name for d in defs if d.group != "Strategy segments"]
    yield from sorted(segments, key=lambda c: -engine.cohorts.size(c))
    yield from sorted(others, key=lambda c: -engine.cohorts.size(c))


def period_choices(engine: QueryEngine) -> list[str]:
    """Periods offered in the dropdowns: recent months, quarters, years, ytd, r12 and asof."""
    last = periods.last_complete_month(engine.as_of)
    months = [f"{last - pd.DateOffset(months=i):%Y-%m}" for i in range(24)]
    quarters = list(
        dict.fromkeys(
            f"{m.year}-Q{(m.month - 1) // 3 + 1}"
            for m in (last - pd.DateOffset(months=3 * i) for i in range(8))
        )
    )
    years = [str(last.year - i) for i in range(4)]
    rolling = [
        f"r12:{last:%Y-%m}",
        f"r12:{last - pd.DateOffset(months=12):%Y-%m}",
        f"ytd:{last:%Y-%m}",
    ]
    return ["asof", *rolling, *years, *quarters, *months]


def sheet_content(
    engine: QueryEngine,
    sheet: dict[str, Any],
    inputs: dict[str, str],
    extras: dict[str, Any] | None = None,
) -> SheetContent:
    """The blocks of one sheet for the given input values."""
    kind = sheet.get("view", "")
    builder = _VIEWS.get(kind)
    if builder is None:
        return SheetContent(sheet["name"], [])
    return builder(engine, sheet, inputs, extras or {})


BETTER, WORSE = "better", "worse"
# The Compare sheet's "Cohort members" choices and what they mean to the engine.
MEMBERSHIPS = {"as of D": "d", "at each period's end": "period-end"}


def verdict_words(verdicts: Any) -> list[str]:
    """The sheet's words for ``indices.verdict`` (good / bad / neutral)."""
    words = {"good": BETTER, "bad": WORSE}
    return [words.get(str(v), "") for v in verdicts]


def _members(engine: QueryEngine, membership: str) -> str:
    """What a view's subtitle says of its cohorts' members."""
    if membership == "d":
        return f" (members as of {engine.as_of:%Y-%m-%d})"
    return " (members at each period's end)"


# Units that count things: a total of them is whole, a ratio of them (units per order, orders
# per customer) is an average with decimals.
COUNT_UNITS = {
    "units",
    "orders",
    "lines",
    "interactions",
    "purchases",
    "responses",
    "customers",
    "categories",
}


def shown_unit(engine: QueryEngine, name: str) -> str:
    """The unit a cell's number format follows: a ratio of counts is an ``average``."""
    m = engine.metric(name)
    return "average" if m.numerator and m.unit in COUNT_UNITS else m.unit


def difference_units(engine: QueryEngine, metrics: Any) -> list[str]:
    """The unit of each metric's difference against a base (``indices.difference``): points
    for shares and scores, per customer for totals, the metric's own unit otherwise."""
    out = []
    for name in metrics:
        m = engine.metric(name)
        kind = indices.comparison(m, engine.catalog)
        if kind == "share":
            out.append("pp")
        elif kind == "score":
            out.append("points")
        elif kind == "total":
            out.append("GBP per customer" if m.unit == "GBP" else "per customer")
        else:
            out.append(shown_unit(engine, name))
    return out


def _get(inputs: dict[str, str], name: str) -> str:
    value = inputs.get(name)
    if value is None or str(value).strip() == "":
        raise ProfilerError(f"Input '{name}' is empty: choose a value in its dropdown.")
    return str(value).strip()


def _check_period(text: str) -> str:
    if text != "asof":
        parse_period(text)
    return text


def _counts(frame: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    """Customer counts aligned with ``frame`` (NaN for columns without one)."""
    out = pd.DataFrame(np.nan, index=frame.index, columns=frame.columns)
    for column in counts.columns:
        if column in out.columns:
            out[column] = counts[column].to_numpy(dtype=float)
    return out


def _summary(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    period = _check_period(_get(inputs, "SummaryPeriod"))
    segments = views.segments_adding_up(engine)  # none when they could not be formed
    cohorts = [engine.cohorts.base, "Buyers", *segments]
    table = views.summary(engine, period, cohorts)
    metrics = list(dict.fromkeys(table["metric"]))
    wide = table.pivot(index="cohort", columns="metric", values="value").loc[cohorts, metrics]
    counts = table.pivot(index="cohort", columns="metric", values="customers").loc[cohorts, metrics]
    labels = {m: engine.metric(m).label for m in metrics}
    frame = wide.reset_index().rename(columns={"cohort": "Cohort", **labels})
    flags = counts.reset_index(drop=True).rename(columns=labels)
    block = Block(
        "summary",
        f"Headline KPIs by strategy segment, {engine.period(period).label}{_members(engine, 'd')}",
        frame,
        units={labels[m]: shown_unit(engine, m) for m in metrics},
        customers=_counts(frame, flags),
        note="Customers and retention are as of the CAR's date; the other KPIs cover the period.",
    )
    checks = (
        [
            Check(
                "Strategy segments add up to buyers (net sales)",
                "summary",
                labels["net_sales"],
                list(range(2, 2 + len(segments))),
                1,
            )
        ]
        if segments and "net_sales" in labels
        else []  # nothing to add up
    )
    blocks = [block, *target_blocks(engine, table, "summary_targets")]  # where a KPI has one
    return SheetContent(sheet["name"], blocks, checks, metrics)


def _deep_dive(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    cohort = _get(inputs, "DeepDiveCohort")
    period = _check_period(_get(inputs, "DeepDivePeriod"))
    dive = views.deep_dive(engine, cohort, period)
    frame = pd.DataFrame(
        {
            "Area": dive["area"].str.title(),
            "Metric": dive["label"],
            "Period": dive["period"],
            cohort: dive["value"],
            dive["base"].iloc[0]: dive["base_value"],
            "Index": dive["index"],
            "Difference": dive["difference"],
            "vs base": verdict_words(dive["verdict"]),
            "Customers": dive["customers"],
        }
    )
    counts = _counts(frame, pd.DataFrame({cohort: dive["customers"].to_numpy(dtype=float)}))
    block = Block(
        "deep_dive",
        f"{cohort} against {dive['base'].iloc[0]}{_members(engine, 'd')}",
        frame,
        units={"Index": "index", "Customers": "customers"},
        row_units=[shown_unit(engine, m) for m in dive["metric"]],
        row_unit_columns=[cohort, dive["base"].iloc[0]],
        column_row_units={"Difference": difference_units(engine, dive["metric"])},
        customers=counts,
        verdicts={"Index": "vs base", "Difference": "vs base"},
        note=INDEX_NOTE,
    )
    by = str(inputs.get("DeepDiveBreakdown") or "").strip() or None
    try:
        blocks = [block, *_deep_dive_breakdown(engine, cohort, period, by)]
    except LeftOut as err:  # no breakdown this CAR can give: the sheet says why
        block.note = f"{block.note} Breakdowns: {err}"
        blocks = [block]
    return SheetContent(sheet["name"], blocks, [], dive["metric"].tolist())


def _compare(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    cohorts = [
        inputs[n].strip()
        for n in (f"CompareCohort{i}" for i in range(1, 7))
        if str(inputs.get(n) or "").strip()
    ]
    if not cohorts:
        raise ProfilerError("Choose at least one cohort in the Compare sheet's Cohort cells.")
    base = _get(inputs, "CompareBase")
    period = _check_period(_get(inputs, "ComparePeriod"))
    vs = str(inputs.get("CompareVsPeriod") or "").strip() or None
    chosen = str(inputs.get("CompareMembership") or "").strip() or "as of D"
    if chosen not in MEMBERSHIPS:
        raise ProfilerError(
            f"Compare's Cohort members cell says '{clip(chosen)}'; choose {' or '.join(MEMBERSHIPS)}."
        )
    table = views.compare(
        engine,
        cohorts,
        None,
        period,
        _check_period(vs) if vs else None,
        base,
        membership=MEMBERSHIPS[chosen],
    )
    metrics = list(dict.fromkeys(table["metric"]))
    frame = pd.DataFrame({"Metric": [engine.metric(m).label for m in metrics]})
    counts = pd.DataFrame(index=range(len(metrics)))
    value_cols = []
    for c in cohorts:
        rows = table[table["cohort"] == c].set_index("metric").loc[metrics]
        frame[c] = rows["value"].to_numpy()
        counts[c] = rows["customers"].to_numpy(dtype=float)
        value_cols.append(c)
    base_rows = table.drop_duplicates("metric").set_index("metric").loc[metrics]
    frame[f"{base} (base)"] = base_rows["base_value"].to_numpy()
    value_cols.append(f"{base} (base)")
    units = {}
    verdicts = {}
    column_units: dict[str, list[str]] = {}
    change_units = [indices.change_unit(engine.metric(m)) for m in metrics]
    for c in cohorts:
        rows = table[table["cohort"] == c].set_index("metric").loc[metrics]
        frame[f"Index {c}"] = rows["index_vs_base"].to_numpy()
        frame[f"{c} vs base"] = verdict_words(rows["verdict_vs_base"])
        units[f"Index {c}"] = "index"
        verdicts[f"Index {c}"] = f"{c} vs base"
        if vs:
            frame[f"Change {c}"] = rows["change_vs"].to_numpy()
            column_units[f"Change {c}"] = change_units
            frame[f"{c} vs {vs}"] = [
                str(p) if str(p).endswith(" only") else w
                for p, w in zip(rows["vs_period"], verdict_words(rows["verdict_vs"]), strict=True)
            ]
            units[f"Change {c}"] = "%"
            verdicts[f"Change {c}"] = f"{c} vs {vs}"
    block = Block(
        "compare",
        f"{', '.join(cohorts)} against {base}, {engine.period(period).label}"
        + (f" vs {engine.period(vs).label}" if vs else "")
        + _members(engine, MEMBERSHIPS[chosen]),
        frame,
        units=units,
        row_units=[shown_unit(engine, m) for m in metrics],
        row_unit_columns=value_cols,
        customers=_counts(frame, counts),
        column_row_units=column_units,
        verdicts=verdicts,
        hidden=list(verdicts.values()),  # the colours say it; the columns hold the rules' words
        note=INDEX_NOTE,
    )
    blocks = [block, *target_blocks(engine, table, "compare_targets")]  # where a value has one
    by = str(inputs.get("CompareBreakdown") or "").strip()
    if by:
        blocks.append(_compare_breakdown(engine, [*cohorts, base], metrics, period, by))
    return SheetContent(sheet["name"], blocks, [], metrics)


def _retention(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    grain = _get(inputs, "RetentionGrain")
    measure = _get(inputs, "RetentionMeasure")
    mode = str(inputs.get("RetentionMode") or "in")
    triangle = retention_triangle(
        engine, grain=grain, measure=measure, mode=mode, max_cohorts=36 if grain == "month" else 12
    )
    frame = triangle.rename(columns={"acquisition": "Acquired", "customers": "Customers"})
    periods = [c for c in frame.columns if c not in ("Acquired", "Customers")]
    frame.columns = ["Acquired", "Customers", *[f"+{c}" for c in periods]]
    unit = "GBP" if measure == "cumulative_spend" else "%"
    sizes = frame["Customers"].to_numpy(dtype=float)
    counts = pd.DataFrame(
        {c: sizes for c in frame.columns if c != "Acquired"}
    )  # a row's cells: its cohort
    block = Block(
        "retention",
        f"Retention by acquisition {grain}: {measure.replace('_', ' ')} ({mode.replace('_', ' ')}); empty = period not complete",
        frame,
        units={"Customers": "customers", **{f"+{c}": unit for c in periods}},
        customers=_counts(frame, counts),
        heatmap=[f"+{c}" for c in periods],
    )
    return SheetContent(sheet["name"], [block], [], ["active_customers", "net_sales"])


# The words for a metric's polarity (``better`` in the catalog) on the sheets.
POLARITY_WORDS = {"higher": "higher is better", "lower": "lower is better", "neutral": "neutral"}
TILE_NOTE = (
    "Tiles: ↑ after a KPI = higher is better, ↓ = lower is better; the change is green when "
    "better and red when worse. Beside each KPI, the period its number covers."
)


def _dashboard(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    period = _check_period(_get(inputs, "DashboardPeriod"))
    board = views.dashboard(engine, period)
    kpis = pd.DataFrame(
        {
            "KPI": board["kpi"],
            "This period": board["value"],
            "Prior period": board["prior"],
            "vs prior": board["vs_prior"],
            "Last year": board["last_year"],
            "vs last year": board["vs_last_year"],
            "Trend vs prior": verdict_words(board["vs_prior_verdict"]),
            "Trend vs last year": verdict_words(board["vs_last_year_verdict"]),
            "Note": board["note"],
            "Period": board["value_period"],
            "Better": [POLARITY_WORDS[b] for b in board["better"]],
        }
    )
    against = targets.has_targets(board)
    if against:  # actual against target, where a KPI has one
        kpis["Target"] = board["target"].to_numpy()
        kpis["Variance"] = board["variance"].to_numpy()
        kpis["% of target"] = board["pct_of_target"].to_numpy()
        kpis["vs target"] = verdict_words(board["verdict_vs_target"])
    tiles = Block(
        "kpis",
        f"Executive KPIs, {engine.period(period).label} (prior {board['prior_period'].iloc[0]}, last year {board['last_year_period'].iloc[0]})",
        kpis,
        row_units=board["unit"].tolist(),
        column_row_units={
            "vs prior": board["change_unit"].tolist(),
            "vs last year": board["change_unit"].tolist(),
            **({"Variance": variance_units(engine, board)} if against else {}),
        },
        units={"% of target": "%"} if against else {},
        row_unit_columns=["This period", "Prior period", "Last year", "Target"],
        tiles={
            "value": "This period",
            "change": "vs prior",
            "verdict": "Trend vs prior",
            "across": 4,
            "period": "Period",
            "polarity": "Better",
        },
        verdicts={
            "vs prior": "Trend vs prior",
            "vs last year": "Trend vs last year",
            **({"Variance": "vs target", "% of target": "vs target"} if against else {}),
        },
        customers=_counts(
            kpis,
            pd.DataFrame(
                # the variance and % of target would reveal a hidden value: the same count
                dict.fromkeys(
                    ["This period", "Variance", "% of target"],
                    board["customers"].to_numpy(dtype=float),
                )
            ),
        ),
        note=TILE_NOTE,
    )
    last = periods.last_complete_month(engine.as_of)
    months = [f"{last - pd.DateOffset(months=i):%Y-%m}" for i in range(23, -1, -1)]
    trend_metrics = ["net_sales", "new_customers", "lapsed_customers"]
    series = engine.monthly(trend_metrics, months[0], months[-1])
    trend = pd.DataFrame(
        {
            "Month": series["month"],
            "Net sales": series["net_sales"],
            "New customers": series["new_customers"],
            "Customers lapsed": series["lapsed_customers"],
        }
    )
    spend = Block(
        "trend",
        "Monthly trend (last 24 complete months)",
        trend,
        units={"Net sales": "GBP", "New customers": "customers", "Customers lapsed": "customers"},
        charts=[
            {
                "type": "line",
                "title": "Net sales by month (GBP)",
                "x": "Month",
                "series": ["Net sales"],
            },
            {
                "type": "column",
                "title": "Acquisition vs churn (customers)",
                "x": "Month",
                "series": ["New customers", "Customers lapsed"],
            },
        ],
    )
    segments = views.default_cohorts(engine)[1:]  # none when they could not be formed
    sizes = pd.DataFrame(
        {"Segment": segments, "Customers": [engine.cohorts.size(s) for s in segments]}
    )
    sizes = sizes.sort_values("Customers", ascending=False, kind="stable").reset_index(drop=True)
    seg = Block(
        "segments",
        "Strategy segment sizes",
        sizes,
        units={"Customers": "customers"},
        customers=_counts(sizes, pd.DataFrame({"Customers": sizes["Customers"]})),
        charts=[
            {
                "type": "bar",
                "title": "Customers by strategy segment",
                "x": "Segment",
                "series": ["Customers"],
            }
        ],
    )
    return SheetContent(sheet["name"], [tiles, spend, seg], [], [*board["metric"], *trend_metrics])


def _potential(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    segments = views.default_cohorts(engine)[1:]  # none when they could not be formed
    names = ["customers", "clv_12m_total", "clv_12m_mean", "clv_12m_p90", "p_alive_mean"]
    table = engine.values(names, [engine.cohorts.base, *segments], "asof")
    mean = table[table["metric"] == "clv_12m_mean"].set_index("cohort")["value"]
    segments = sorted(segments, key=lambda c: -mean.get(c, 0.0))  # largest first, as charted
    wide = table.pivot(index="cohort", columns="metric", values="value").loc[
        [engine.cohorts.base, *segments], names
    ]
    counts = table.pivot(index="cohort", columns="metric", values="customers").loc[
        [engine.cohorts.base, *segments], names
    ]
    labels = {m: engine.metric(m).label for m in names}
    frame = wide.reset_index().rename(columns={"cohort": "Segment", **labels})
    block = Block(
        "clv",
        f"12-month customer lifetime value by strategy segment, as of {engine.as_of:%Y-%m-%d}",
        frame,
        units={labels[m]: shown_unit(engine, m) for m in names},
        customers=_counts(frame, counts.reset_index(drop=True).rename(columns=labels)),
        charts=[
            {
                "type": "bar",
                "title": "Mean 12-month CLV by segment (GBP)",
                "x": "Segment",
                "series": [labels["clv_12m_mean"]],
                "skip_first": True,
            }
        ],
    )
    blocks = [block]
    holdout = extras.get("holdout")
    if holdout is not None:
        blocks.append(
            Block(
                "holdout",
                "Model check: predicted vs actual repeat purchases in the holdout year, by purchases in calibration",
                holdout,
                units={"Predicted": "count", "Actual": "count", "Customers": "customers"},
                charts=[
                    {
                        "type": "column",
                        "title": "Holdout: predicted vs actual purchases",
                        "x": "Purchases in calibration",
                        "series": ["Predicted", "Actual"],
                        "skip_last": True,
                    }
                ],
            )
        )
    else:
        blocks.append(
            Block(
                "holdout",
                "Model check",
                pd.DataFrame(
                    {
                        "Note": [
                            "Not available: the holdout check of the CLV model needs the source data, and this workbook has no data folder (PROFILER_DATA)."
                        ]
                    }
                ),
            )
        )
    return SheetContent(sheet["name"], blocks, [], names)


def _reconciliation(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    recon = extras.get("reconciliation")
    if recon is None:
        note = pd.DataFrame(
            {
                "Note": [
                    extras.get(
                        "reconciliation_note",
                        "Not available: the reconciliation needs the finance ledger, and this workbook has no data folder (PROFILER_DATA).",
                    )
                ]
            }
        )
        return SheetContent(
            sheet["name"], [Block("reconciliation", "Reconciliation to the ledger", note)]
        )
    frame = recon.rename(columns=lambda c: c.replace("_", " ").capitalize())
    money = [
        c
        for c in frame.columns
        if c.lower()
        in (
            "profiler",
            "ledger",
            "difference",
            "returns timing",
            "late cancellations",
            "fx",
            "journals",
            "explained",
            "residual",
        )
    ]
    block = Block(
        "reconciliation",
        f"Detail: by month x channel x category ({len(frame):,} cells; {int((recon['status'] == 'fail').sum())} outside tolerance)",
        frame,
        units={**{c: "GBP" for c in money}, "Residual pct": "%"},
    )
    summary = monthly_reconciliation(recon)
    head = Block(
        "reconciliation_months",
        "Net sales and returns tied to the ledger, by month (totals last)",
        summary,
        units={
            c: "GBP"
            for c in summary.columns
            if c not in ("Month", "Measure", "Cells outside tolerance")
        }
        | {"Cells outside tolerance": "count"},
    )
    return SheetContent(sheet["name"], [head, block], [], ["net_sales", "returns_booked"])


# The reconciliation's money columns in the order a reader follows them: ledger, catalog, the
# items that explain the difference, what is left.
RECONCILING = {
    "ledger": "Ledger",
    "profiler": "Catalog",
    "difference": "Difference",
    "returns_timing": "Returns timing",
    "late_cancellations": "Late cancellations",
    "fx": "FX",
    "journals": "Journals",
    "residual": "Residual",
}


def monthly_reconciliation(recon: pd.DataFrame) -> pd.DataFrame:
    """The detail summed by month and measure, in whole pence (the sum of the detail's
    figures, not a second computation), with a total row per measure."""
    money = [c for c in RECONCILING if c in recon.columns]
    pence = recon[["period", "measure"]].copy()
    for column in money:
        pence[column] = (recon[column].astype(float) * 100).round().astype("int64")
    pence["fails"] = (recon["status"] == "fail").astype("int64")
    months = pence.groupby(["period", "measure"], sort=True)[[*money, "fails"]].sum().reset_index()
    totals = months.groupby("measure", sort=False)[[*money, "fails"]].sum().reset_index()
    totals.insert(0, "period", "Total")
    table = pd.concat([months, totals], ignore_index=True)
    out = pd.DataFrame(
        {"Month": table["period"].astype(str), "Measure": table["measure"].str.replace("_", " ")}
    )
    for column in money:
        out[RECONCILING[column]] = table[column].to_numpy() / 100
    out["Cells outside tolerance"] = table["fails"].to_numpy()
    return out


def _migration(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    axis = _get(inputs, "MigrationAxis")
    start, end = _get(inputs, "MigrationFrom"), _get(inputs, "MigrationTo")
    try:
        result = views.migration(engine, axis, start, end, data=extras.get("data_dir"))
    except ProfilerError as err:
        if extras.get("data_dir"):
            raise
        note = (
            f"Not available: {err} This workbook has no data folder (PROFILER_DATA on the "
            "xlwings.conf sheet): segments before the CAR's date are computed from the source "
            "tables as of that date."
        )
        block = Block("migration", "Migration", pd.DataFrame({"Note": [note]}))
        return SheetContent(sheet["name"], [block], [], [])
    corner = f"{result.start:%Y-%m-%d} \\ {result.end:%Y-%m-%d}"
    blocks = []
    # Cells of nobody are no one's: only 1 .. min size - 1 customers are marked small.
    counts = result.customers.reset_index(drop=True).astype(float).replace(0.0, np.nan)
    counts.columns = [str(c) for c in counts.columns]
    for key, frame, title, unit in (
        ("migration", result.customers, f"Customers. {result.title}", "customers"),
        ("migration_spend", result.spend, f"{result.spend_label}. {result.title}", "GBP"),
    ):
        shown = frame.reset_index(drop=True)
        shown.columns = [str(c) for c in shown.columns]
        shown.insert(0, corner, [str(i) for i in frame.index])
        blocks.append(
            Block(
                key,
                title,
                shown,
                units={c: unit for c in shown.columns[1:]},
                customers=_counts(shown, counts),
                note=" ".join(result.notes),
            )
        )
    return SheetContent(sheet["name"], blocks, [], [])


CAMPAIGN_WINDOW = "CampaignWindow"  # the Campaigns sheet's input: the response window in days


def _campaigns(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    """Every campaign of the data folder's register measured against its control group
    (``views.campaigns``); a note without a data folder or without campaigns."""
    from profiler.campaigns import parse_window

    title = "Campaigns: the treated customers against a random control group"
    data = extras.get("data_dir")
    if not data:
        note = (
            "Not available: this workbook has no data folder (PROFILER_DATA on the xlwings.conf "
            "sheet). Campaigns are measured from the data folder's campaigns.csv and order lines."
        )
        return SheetContent(
            sheet["name"], [Block("campaigns", title, pd.DataFrame({"Note": [note]}))]
        )
    days = parse_window(inputs.get(CAMPAIGN_WINDOW) or 30)
    rows = views.campaigns(data, days)
    if rows.empty:
        note = (
            "No campaigns in the data folder yet: record one with 'profiler campaign add' after "
            "sending to an audience written with 'profiler audience --control' (docs/campaigns.md)."
        )
        return SheetContent(
            sheet["name"], [Block("campaigns", title, pd.DataFrame({"Note": [note]}))]
        )
    frame = pd.DataFrame(
        {
            "Campaign": rows["campaign"],
            "Channel": rows["channel"],
            "Sent": rows["sent_at"],
            "Orders from": rows["window_from"],
            "Orders to": rows["window_to"],
            "Window": rows["status"],
            "Treated": rows["treated_customers"],
            "Control": rows["control_customers"],
            "Treated response": rows["treated_response_rate"],
            "Control response": rows["control_response_rate"],
            "Uplift": rows["uplift"] * 100,
            "Uplift low": rows["uplift_low"] * 100,
            "Uplift high": rows["uplift_high"] * 100,
            "Treated spend per customer": rows["treated_spend_per_customer"],
            "Control spend per customer": rows["control_spend_per_customer"],
            "Spend uplift": rows["spend_uplift"],
            "Incremental revenue": rows["incremental_revenue"],
            "Revenue low": rows["incremental_revenue_low"],
            "Revenue high": rows["incremental_revenue_high"],
            "Cost": rows["cost"],
            "ROI": rows["roi"],
            "Notes": rows["notes"],
        }
    )
    units = dict.fromkeys(["Treated", "Control"], "customers")
    units |= dict.fromkeys(["Treated response", "Control response", "ROI"], "%")
    units |= dict.fromkeys(["Uplift", "Uplift low", "Uplift high"], "pp")
    money = ["Treated spend per customer", "Control spend per customer", "Spend uplift"]
    units |= dict.fromkeys(money, "GBP per customer")
    units |= dict.fromkeys(["Incremental revenue", "Revenue low", "Revenue high", "Cost"], "GBP")
    smallest = np.minimum(rows["treated_customers"], rows["control_customers"]).astype(float)
    computed = [c for c in units if c not in ("Treated", "Control", "Cost")]
    counts = pd.DataFrame(dict.fromkeys(computed, smallest.to_numpy()))
    note = (
        f"Orders on days sent <= day < sent + {days} days; spend is net sales (kept lines: "
        "returned and cancelled lines are not sales). Uplift = treated - control response rate "
        "(pp, 95% Wald interval); spend uplift per customer with Welch's 95% interval; "
        "incremental revenue = spend uplift x treated customers; ROI = (incremental revenue - "
        "cost) / cost. Groups under 30 customers are flagged in Notes (docs/campaigns.md)."
    )
    block = Block(
        "campaigns",
        f"{title} ({days}-day window)",
        frame,
        units=units,
        customers=_counts(frame, counts),
        note=note,
    )
    return SheetContent(sheet["name"], [block])


CUSTOMER_VIEW = "customer"  # the live workbook's Customer sheet: never in a snapshot
CUSTOMER_INPUT = "CustomerId"
PERSONAL_DATA = "personal_data"  # extras: the workbook's settings allow personal data


def _customer(
    engine: QueryEngine, sheet: dict[str, Any], inputs: dict[str, str], extras: dict[str, Any]
) -> SheetContent:
    """One customer's profile (``profiler.customer``); a note when no id or an unknown one is
    typed, so a refresh of every sheet is never stopped by this one."""
    wanted = str(inputs.get(CUSTOMER_INPUT) or "").strip()
    title = "Customer profile"
    if not wanted:
        note = "Type a customer id in the yellow cell, then press Refresh this sheet."
        return SheetContent(
            sheet["name"], [Block("customer", title, pd.DataFrame({"Note": [note]}))]
        )
    personal = bool(extras.get(PERSONAL_DATA))
    try:
        profile = customer_profile(engine, wanted, personal=personal)
    except UnknownCustomer as err:
        return SheetContent(
            sheet["name"], [Block("customer", title, pd.DataFrame({"Note": [str(err)]}))]
        )
    frame = profile.sheet_table()
    notes = list(profile.notes)
    if not personal:
        notes.append(
            "Name, e-mail and phone are not shown: set PROFILER_PERSONAL_DATA to yes on the "
            "xlwings.conf sheet to show them for customers whose consent allows contact."
        )
    notes.append("Live workbook only: a snapshot leaves this sheet out.")
    block = Block(
        "customer",
        f"Customer {profile.customer_id}, as of {profile.as_of:%Y-%m-%d}",
        frame,
        row_units=[u or "" for u in profile.units],
        row_unit_columns=["Value"],
        note=" ".join(notes),
        tall_rows=True,
    )
    return SheetContent(sheet["name"], [block])


_VIEWS = {
    "summary": _summary,
    "deep_dive": _deep_dive,
    "compare": _compare,
    "retention": _retention,
    "dashboard": _dashboard,
    "potential": _potential,
    "reconciliation": _reconciliation,
    "migration": _migration,
    "campaigns": _campaigns,
    CUSTOMER_VIEW: _customer,
}


# ---------------------------------------------------------------------------------------------
# actuals against targets (profiler/targets.py): a block below Summary and Compare


def variance_units(engine: QueryEngine, frame: pd.DataFrame) -> list[str]:
    """Each row's unit of variance against its target: pp for shares, points for scores, the
    metric's shown unit otherwise."""
    return [
        u if u in ("pp", "points") else shown_unit(engine, m)
        for m, u in zip(frame["metric"], frame["variance_unit"], strict=True)
    ]


def target_blocks(engine: QueryEngine, table: pd.DataFrame, key: str) -> list[Block]:
    """The "Against target" block of a view's rows that have a target (none when no row has:
    a CAR built without a targets table shows no such block)."""
    if not targets.has_targets(table):
        return []
    rows = table[table["target"].notna()].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "Cohort": rows["cohort"],
            "Metric": [engine.metric(m).label for m in rows["metric"]],
            "Period": rows["period"],
            "Actual": rows["value"].to_numpy(dtype=float),
            "Target": rows["target"].to_numpy(dtype=float),
            "Variance": rows["variance"].to_numpy(dtype=float),
            "% of target": rows["pct_of_target"].to_numpy(dtype=float),
            "vs target": verdict_words(rows["verdict_vs_target"]),
            "Owner": rows["target_owner"],
        }
    )
    customers = rows["customers"].to_numpy(dtype=float)
    return [
        Block(
            key,
            "Against target (variance = actual - target; green is better by the metric's polarity)",
            frame,
            units={"% of target": "%"},
            row_units=[shown_unit(engine, m) for m in rows["metric"]],
            row_unit_columns=["Actual", "Target"],
            column_row_units={"Variance": variance_units(engine, rows)},
            customers=_counts(
                frame, pd.DataFrame(dict.fromkeys(["Actual", "Variance", "% of target"], customers))
            ),
            verdicts={"Variance": "vs target", "% of target": "vs target"},
        )
    ]


SHARE_NOTE = (
    "Share: of the cohort's total over the dimension's values (sums and counts of rows; of the "
    "cohort's customers for preference topics). Share index: the cohort's share / the base's x 100."
)


def _deep_dive_breakdown(
    engine: QueryEngine, cohort: str, period: str, by: str | None
) -> list[Block]:
    """The Deep Dive's breakdowns: each insight area's own (every category, channel, price
    point, preference topic, interaction channel and topic present in the data), or with the
    Breakdown input the deep-dive metrics split by that dimension (views.deep_dive_breakdowns).
    One block per area, each shorter than the deep dive above it, so a printed page starts
    with a block or under the deep dive's repeated header, never mid-table (with the input
    set, an area's metrics can be many: one block per metric then)."""
    split = views.deep_dive_breakdowns(engine, cohort, period, None, None, by)
    base = str(split["base"].iloc[0])
    heading = f"Breakdowns by {by}" if by else "Each insight area's breakdowns"
    blocks = []
    groups = split.groupby(["area", "metric"] if by else ["area"], sort=False)
    for i, (key, part) in enumerate(groups):
        area = key[0] if isinstance(key, tuple) else key
        what = "; ".join(
            f"{label} by {', '.join(dict.fromkeys(rows['dimension']))}"
            for label, rows in part.groupby("label", sort=False)
        )
        title = f"{area.title()}: {what}"
        if i == 0:
            title = f"{heading}, {cohort} against {base}. {title}"
        blocks.append(_breakdown_block(engine, f"deep_dive_breakdown_{i}", title, part, cohort))
    blocks[-1].note = " ".join([SHARE_NOTE, *split.attrs.get("notes", [])])
    return blocks


def _breakdown_block(
    engine: QueryEngine, key: str, title: str, split: pd.DataFrame, cohort: str
) -> Block:
    base = str(split["base"].iloc[0])
    frame = pd.DataFrame(
        {
            "Area": split["area"].str.title().to_numpy(),
            "Metric": split["label"].to_numpy(),
            "Value of dimension": split["dimension_value"].to_numpy(),
            cohort: split["value"].to_numpy(),  # column D, as the deep dive's values above
            "Share": split["share"].to_numpy(),
            base: split["base_value"].to_numpy(),
            "Base share": split["base_share"].to_numpy(),
            "Share index": split["share_index"].to_numpy(),
            "Customers": split["customers"].to_numpy(),
            "By": split["dimension"].to_numpy(),
            "Period": split["period"].to_numpy(),
        }
    )
    # Every cell computed from a small cell is marked (and suppressed in a snapshot): the
    # cohort's value, share and share index on its customers, the base's on the base's.
    mine, theirs = (split[c].to_numpy(dtype=float) for c in ("customers", "base_customers"))
    counts = pd.DataFrame({cohort: mine, "Share": mine, "Share index": np.minimum(mine, theirs)})
    if base != cohort:
        counts[base], counts["Base share"] = theirs, theirs
    return Block(
        key,
        title,
        frame,
        units={"Share": "%", "Base share": "%", "Share index": "index", "Customers": "customers"},
        row_units=[shown_unit(engine, m) for m in split["metric"]],
        row_unit_columns=[cohort, base],
        customers=_counts(frame, counts),
    )


def _compare_breakdown(
    engine: QueryEngine, cohorts: list[str], metrics: list[str], period: str, by: str
) -> Block:
    """The Compare sheet's metrics split by the Breakdown input: the cohorts (and the base,
    last) side by side per metric and dimension value (views.breakdown)."""
    names = list(dict.fromkeys(cohorts))
    split = views.breakdown(engine, by, names, metrics, period)
    key = ["metric", "dimension_value"]
    first = split[split["cohort"] == names[0]].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "Metric": first["label"],
            "Period": first["period"],
            str(first["dimension"].iloc[0]): first["dimension_value"],
        }
    )
    counts = pd.DataFrame(index=frame.index)
    units: dict[str, str] = {}
    for c in names:
        rows = (
            split[split["cohort"] == c].set_index(key).reindex(pd.MultiIndex.from_frame(first[key]))
        )
        frame[c] = rows["value"].to_numpy()
        frame[f"Share {c}"] = rows["share"].to_numpy()
        counts[c] = rows["customers"].to_numpy(dtype=float)
        counts[f"Share {c}"] = counts[c]  # a small cell's share is marked with its value
        units[f"Share {c}"] = "%"
    return Block(
        "compare_breakdown",
        f"{', '.join(names[:-1])} and {names[-1]} (base) by {by}, {engine.period(period).label}",
        frame,
        units=units,
        row_units=[shown_unit(engine, m) for m in first["metric"]],
        row_unit_columns=names,
        customers=_counts(frame, counts),
        note=" ".join([SHARE_NOTE, *split.attrs.get("notes", [])]),
    )
