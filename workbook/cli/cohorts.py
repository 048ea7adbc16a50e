"""Cohort views on the command line: cohorts, summary, deep-dive, compare, retention, dashboard.

Every command reads a CAR folder written by ``profiler build`` (``--car DIR``, default
$PROFILER_CAR) and prints an aligned table, or CSV with ``--csv``.  Tables show each value in
its metric's format (``output.display_format``) and mark values on fewer customers than
the cohort spec's ``min_cohort_size`` with ``*``; CSV carries the values as computed, with the
``small`` flag as a column.  A period outside the data (after the CAR's date, or before its
first month of activity) prints ``no data in PERIOD`` and exits 0 (with ``--csv`` that line
goes to stderr and the CSV is printed as computed).
"""

from __future__ import annotations

import sys

import click

from workbook.cli.options import (
    PERIOD,
    Name,
    by_option,
    car_option,
    from_to_options,
    insight_area,
    output_options,
    period_option,
    split,
)
from workbook.cli.output import (
    COUNT,
    INDEX,
    MONEY,
    SMALL_FLAG,
    Display,
    change_format,
    display_format,
    print_csv,
    print_table,
    small_footnote,
)
from workbook.cli.targets import dashboard_columns, print_against_target

membership_option = click.option(
    "--membership",
    type=Name(["d", "period-end"], "membership"),
    default="d",
    help="cohort members as of the CAR's date (d, the default: the same customers in every "
    "period) or at each period's end (period-end: cohorts of lifecycle stage and orders)",
)


def _engine(car: str | None):  # noqa: ANN202 (a QueryEngine)
    from profiler.query import QueryEngine

    return QueryEngine.open(car)


def _cohort_names(engine, text: str | None) -> list[str] | None:  # noqa: ANN001
    """Comma-separated cohort names as defined, from any letter case."""
    names = split(text)
    return None if names is None else [engine.cohorts.canonical(n) for n in names]


def _metric_names(engine, text: str | None) -> list[str] | None:  # noqa: ANN001
    names = split(text)
    return None if names is None else [engine.catalog.get(n).name for n in names]


def _no_data(engine, csv: bool, *periods) -> bool:
    """Say ``no data in PERIOD`` for the first period outside the data; True if one was.

    On stdout in place of the table, or on stderr when stdout is CSV (printed as computed)."""
    from profiler import views

    for period in periods:
        span = engine.period(period)
        if not views.has_data(engine, span):
            print(f"no data in {span.label}", file=sys.stderr if csv else sys.stdout)
            return True
    return False


def _answered(engine, frame, csv: bool, *periods) -> bool:
    """Whether the command is done before its table: a period outside the data said so (in
    place of the table), or ``--csv`` printed the frame as computed (and its notes)."""
    if _no_data(engine, csv, *periods) and not csv:
        return True
    if csv:
        print_csv(frame)
        _notes(frame.attrs.get("notes", []), csv)
        return True
    return False


# A KPI's polarity (``better`` in the catalog) in the dashboard's "better" column.
BETTER_WORDS = {"higher": "higher", "lower": "lower", "neutral": ""}


def _verdict_words(verdicts) -> list[str]:
    """better / worse for the business (the metric's polarity), as the sheets say it."""
    words = {"good": "better", "bad": "worse"}
    return [words.get(str(v), "") for v in verdicts]


def _displays(engine, metrics) -> list[Display]:
    """One display format per row, from each row's catalog metric."""
    return [display_format(engine.metric(m)) for m in metrics]


def _footer(frame, csv: bool) -> None:
    """The notes, then the catalog and CAR date the table was computed with."""
    _notes(frame.attrs.get("notes", []), csv)
    if "catalog" in frame.attrs:
        print(f"\n{frame.attrs['catalog']}; CAR as of {frame.attrs.get('as_of', '?')}")


def _notes(notes: list[str], csv: bool) -> None:
    """What this CAR cannot show (a table or column was not provided), one line each: after
    the table, or on stderr when stdout is CSV for a machine."""
    if not notes:
        return
    if csv:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return
    print()
    for note in notes:
        print(note)


@click.group(
    "cohorts",
    short_help="list the cohorts of templates/cohorts.yaml, or show one",
    epilog="""\b
Example:
  profiler cohorts list --group "Strategy segments"
  profiler cohorts show "Store loyalists"
""",
)
def cohorts() -> None:
    """Cohorts are defined in templates/cohorts.yaml over CAR columns."""


@cohorts.command(
    "list",
    short_help="every cohort with its group and size",
    epilog="""\b
Example:
  profiler cohorts list --group "strategy segments" --car demo_output/car""",
)
@click.option("--group", help="only this group (e.g. 'Strategy segments'), in any letter case")
@car_option
@output_options()
def list_(group: str | None, car: str | None, csv: bool) -> int:
    """Every cohort with its group, size and definition."""
    import pandas as pd

    engine = _engine(car)
    cohorts = engine.cohorts
    wanted = None if group is None else set(cohorts.group_names(group))  # any letter case
    rows = [
        {
            "cohort": d.name,
            "group": d.group,
            "customers": cohorts.size(d.name),
            "small": cohorts.size(d.name) < cohorts.min_size,
            "definition": d.definition,
        }
        for d in cohorts.definitions.values()
        if wanted is None or d.name in wanted
    ]
    frame = pd.DataFrame(rows)
    if csv:
        print_csv(frame)
        _notes(_list_notes(engine), csv)
        return 0
    print_table(
        frame.drop(columns="small"),
        formats={"customers": COUNT},
        flags={"customers": frame["small"]},
        min_size=cohorts.min_size,
    )
    _notes(_list_notes(engine), csv)
    print(f"\n{len(frame)} cohorts.")
    return 0


def _list_notes(engine) -> list[str]:
    from profiler import availability

    mode = availability.segment_mode(engine)
    notes = [f"Strategy segments: {mode}."] if mode else []
    return [*notes, *engine.cohorts.left_out_notes()]


@cohorts.command(
    "show",
    short_help="one cohort's definition, size and profile",
    epilog="""\b
Example:
  profiler cohorts show "store loyalists"
""",
)
@click.argument("name")
@car_option
def show(name: str, car: str | None) -> int:
    """One cohort's definition and size; a persona's distinguishing columns. NAME is a cohort
    name, in any letter case."""
    engine = _engine(car)
    cohorts = engine.cohorts
    name = cohorts.canonical(name)
    size = cohorts.size(name)
    d = cohorts.definitions.get(name)
    small = size < cohorts.min_size
    print(
        f"{name}: {size:,}{SMALL_FLAG if small else ''} customers ({size / max(engine.n, 1):.1%} of the CAR)"
    )
    if d is not None:
        print(f"  group:      {d.group}")
        if d.description:
            print(f"  about:      {d.description}")
        print(f"  definition: {d.definition}")
        if d.by == "persona" and cohorts.personas is not None:
            print(f"  stands out: {cohorts.personas.describe(name)}")
    if small:
        print(small_footnote(cohorts.min_size))
    return 0


@click.command(
    "summary",
    short_help="cohorts x headline KPIs for a period",
    epilog="""\b
Example:
  profiler summary --period r12:2026-06
  profiler summary --group "Lifecycle stages" --period 2025 --csv
  profiler summary --rank-by gross_margin --period 2025   (the most profitable segments)""",
)
@click.option(
    "--cohorts",
    "cohort_list",
    help="comma-separated cohort names (default: the base and the strategy segments)",
)
@click.option("--group", help="all cohorts of this group instead of --cohorts")
@click.option(
    "--rank-by",
    help="order the cohorts by this metric, highest first (gross_margin: most profitable)",
)
@car_option
@period_option()
@output_options()
@membership_option
@by_option()
def summary(
    cohort_list: str | None,
    group: str | None,
    car: str | None,
    period: str,
    csv: bool,
    membership: str,
    by: str | None = None,
    rank_by: str | None = None,
) -> int:
    """Cohorts x the headline KPIs of templates/cohorts.yaml (views.summary); with --by, each
    KPI that declares the dimension split by its values (views.breakdown)."""
    from profiler import views

    engine = _engine(car)
    names = engine.cohorts.group_names(group) if group else _cohort_names(engine, cohort_list)
    if by:
        from workbook.cli import breakdown

        frame = views.breakdown(engine, by, names or [engine.cohorts.base], None, period)
        if _answered(engine, frame, csv, period):
            return 0
        breakdown.print_summary(engine, frame)
        _footer(frame, csv)
        return 0
    frame = views.summary(engine, period, names, membership=membership, rank_by=rank_by)
    if _answered(engine, frame, csv, period):
        return 0
    rows, metrics = list(dict.fromkeys(frame["cohort"])), list(dict.fromkeys(frame["metric"]))
    wide = frame.pivot(index="cohort", columns="metric", values="value").loc[rows, metrics]
    small = frame.pivot(index="cohort", columns="metric", values="small").loc[rows, metrics]
    print_table(
        wide.reset_index(),
        formats=dict(zip(metrics, _displays(engine, metrics), strict=True)),
        flags={m: small[m].astype(bool).tolist() for m in metrics},
        min_size=engine.cohorts.min_size,
    )
    print_against_target(engine, frame)
    _notes(frame.attrs.get("notes", []), csv)
    print(
        f"\n{frame.attrs['catalog']}; CAR as of {frame.attrs['as_of']}; period {engine.period(period).label}"
    )
    return 0


@click.command(
    "deep-dive",
    short_help="one cohort across the insight areas vs the base",
    epilog="""\b
Example:
  profiler deep-dive "Crown jewels" --period 2025""",
)
@click.argument("cohort")
@click.option("--base", help="benchmark cohort (default: the spec's base, All customers)")
@click.option("--area", help="only this insight area")
@car_option
@period_option()
@output_options()
@membership_option
@by_option(extra="; all: every insight area's breakdowns")
def deep_dive(
    cohort: str,
    base: str | None,
    area: str | None,
    car: str | None,
    period: str,
    csv: bool,
    membership: str,
    by: str | None = None,
) -> int:
    """COHORT across the catalog's insight areas against the base (index and difference by
    what each metric measures: docs/metrics.md). The workbook's Deep Dive sheet.  With --by,
    the areas' metrics split by a dimension (--by all: each area's own breakdowns)."""
    from profiler import views

    engine = _engine(car)
    if by:
        from workbook.cli import breakdown

        frame = views.deep_dive_breakdowns(
            engine,
            engine.cohorts.canonical(cohort),
            period,
            None if base is None else engine.cohorts.canonical(base),
            [insight_area(engine.catalog, area)] if area else None,
            None if by.strip().casefold() == breakdown.ALL else by,
        )
        if _answered(engine, frame, csv, period):
            return 0
        breakdown.print_deep_dive(engine, frame)
        _footer(frame, csv)
        return 0
    frame = views.deep_dive(
        engine,
        engine.cohorts.canonical(cohort),
        period,
        None if base is None else engine.cohorts.canonical(base),
        [insight_area(engine.catalog, area)] if area else None,
        membership=membership,
    )
    if _answered(engine, frame, csv, period):
        return 0
    shown = _displays(engine, frame["metric"])
    table = frame[["area", "metric", "period", "value", "base_value", "index", "customers"]]
    table.insert(6, "vs base", _verdict_words(frame["verdict"]))
    print_table(
        table,
        formats={"value": shown, "base_value": shown, "index": INDEX, "customers": COUNT},
        flags={"value": frame["small"]},
        min_size=engine.cohorts.min_size,
    )
    _footer(frame, csv)
    return 0


@click.command(
    "compare",
    short_help="up to 8 cohorts side by side against a base",
    epilog="""\b
Example:
  profiler compare --cohorts "Crown jewels,Region: Europe" \\
      --metrics net_sales,aov --period 2025 --vs 2024""",
)
@click.option(
    "--cohorts",
    "cohort_list",
    required=True,
    help="comma-separated cohort names ('A & B' is the intersection)",
)
@click.option("--metrics", help="comma-separated metric names (default: views.compare)")
@click.option(
    "--vs",
    type=PERIOD,
    help="comparison period (e.g. the same period last year), in --period's grammar",
)
@click.option("--base", help="benchmark cohort (default: All customers)")
@car_option
@period_option()
@output_options()
@membership_option
@by_option()
def compare(
    cohort_list: str,
    metrics: str | None,
    vs: str | None,
    base: str | None,
    car: str | None,
    period: str,
    csv: bool,
    membership: str,
    by: str | None = None,
) -> int:
    """Up to 8 cohorts against a base cohort, for a period and optionally a comparison period;
    with --by, each metric split by a dimension, the cohorts and the base side by side."""
    from profiler import views

    engine = _engine(car)
    if by:
        from workbook.cli import breakdown

        names = _cohort_names(engine, cohort_list) or []
        base_name = engine.cohorts.canonical(base) if base else engine.cohorts.base
        shown = list(dict.fromkeys([*names, base_name]))
        if len(names) > views.MAX_COMPARED:
            raise click.UsageError(f"At most {views.MAX_COMPARED} cohorts can be compared.")
        frame = views.breakdown(
            engine,
            by,
            shown,
            _metric_names(engine, metrics) or views.view_metrics(engine, "compare"),
            period,
            vs,
        )
        if _answered(engine, frame, csv, *([period, vs] if vs else [period])):
            return 0
        breakdown.print_compare(engine, frame, shown, vs is not None)
        _footer(frame, csv)
        return 0
    frame = views.compare(
        engine,
        _cohort_names(engine, cohort_list) or [],
        _metric_names(engine, metrics),
        period,
        vs,
        None if base is None else engine.cohorts.canonical(base),
        membership=membership,
    )
    periods = [period, vs] if vs else [period]
    if _answered(engine, frame, csv, *periods):
        return 0
    _print_side_by_side(engine, frame, engine.period(vs).label if vs else None)
    print_against_target(engine, frame)
    _footer(frame, csv)
    return 0


def _print_side_by_side(engine, frame, vs: str | None) -> None:
    """Compare in the terminal: one row per metric, the cohorts side by side (each with its
    change against ``vs`` and its index against the base), the base last."""
    import pandas as pd

    metrics = list(dict.fromkeys(frame["metric"]))
    cohorts = list(dict.fromkeys(frame["cohort"]))
    rows = frame.set_index(["cohort", "metric"])
    first = rows.loc[cohorts[0]].loc[metrics]
    shown = _displays(engine, metrics)
    changes = [change_format(engine.metric(m)) for m in metrics]
    table = pd.DataFrame({"metric": metrics, "period": first["period"].to_numpy()})
    formats: dict = {}
    flags: dict = {}
    headers: dict = {}  # the table's columns are unique; what they are called is not
    groups = [("", 2)]
    for i, cohort in enumerate(cohorts):
        mine = rows.loc[cohort].loc[metrics]
        value = f"value {i}"
        table[value] = mine["value"].to_numpy()
        formats[value], flags[value] = shown, mine["small"].astype(bool).tolist()
        headers[value] = "value"
        columns = [value]
        if vs is not None:  # in each metric's unit of change, as the workbook shows it
            change = f"vs {vs} {i}"
            table[change] = mine["change_vs"].to_numpy()
            formats[change], headers[change] = changes, f"vs {vs}"
            columns.append(change)
        index = f"index {i}"
        table[index] = mine["index_vs_base"].to_numpy()
        formats[index], headers[index] = INDEX, "index"
        verdict = f"verdict {i}"
        table[verdict] = _verdict_words(mine["verdict_vs_base"])
        headers[verdict] = ""
        columns += [index, verdict]
        groups.append((cohort, len(columns)))
    base = str(frame["base"].iloc[0])
    table["base value"] = first["base_value"].to_numpy()
    formats["base value"], headers["base value"] = shown, "value"
    groups.append((base, 1))
    print_table(
        table,
        formats=formats,
        flags=flags,
        min_size=engine.cohorts.min_size,
        groups=groups,
        headers=headers,
    )
    print(f"\nindex: cohort / {base} x 100 (totals per customer; scores have none)")
    if vs is not None:
        only = [m for m in metrics if str(first.loc[m, "vs_period"]).endswith(" only")]
        if only:
            print(f"{', '.join(only)}: {first.loc[only[0], 'vs_period']}, no change across periods")
    if vs:
        print(
            f"vs {vs}: the change from {vs}: points for shares (pp) and scores (pts), "
            f"else as a share of the {vs} value"
        )


@click.command(
    "retention",
    short_help="acquisition cohorts x periods since acquisition",
    epilog="""\b
Example:
  profiler retention --grain quarter --measure active --mode in
  profiler retention --from 2024-01 --to 2024-12 --by region --csv""",
)
@click.option(
    "--grain",
    type=Name(["month", "quarter"], "grain"),
    default="month",
    show_default=True,
    help="acquisition cohorts and periods since by month or by quarter",
)
@click.option(
    "--measure",
    type=Name(["active", "revenue", "cumulative_spend"], "measure"),
    default="active",
    show_default=True,
    help="share of the cohort active, net sales as a share of period 0, or spend so far per customer",
)
@click.option(
    "--mode",
    type=Name(["in", "in_or_after"], "mode"),
    default="in",
    show_default=True,
    help="active 'in' the period, or 'in or after' it",
)
@from_to_options(
    first="first acquisition cohort shown (YYYY-MM, or YYYY-Qn with --grain quarter)",
    last="last acquisition cohort shown",
)
@click.option("--by", help="break down by this CAR column (e.g. region)")
@click.option("--cohort", help="only customers of this cohort")
@car_option
@output_options()
def retention(
    grain: str,
    measure: str,
    mode: str,
    first: str | None,
    last: str | None,
    by: str | None,
    cohort: str | None,
    car: str | None,
    csv: bool,
) -> int:
    """Retention triangle: acquisition cohorts (period of the first kept order) x periods
    since; incomplete periods are left empty."""
    from profiler.retention import WEIGHTED_MEAN, retention_triangle

    engine = _engine(car)
    frame = retention_triangle(
        engine,
        grain=grain,
        measure=measure,
        mode=mode,
        start=first,
        end=last,
        by=by,
        cohort=None if cohort is None else engine.cohorts.canonical(cohort),
    )
    frame.columns = [str(c) for c in frame.columns]
    empty = (frame["acquisition"] == WEIGHTED_MEAN).all()  # no acquisition cohort in range
    if empty:
        said = (
            f"in {first} to {last}"
            if first and last
            else f"from {first}"
            if first
            else f"up to {last}"
            if last
            else "in the CAR"
        )
        print(f"no data {said}", file=sys.stderr if csv else sys.stdout)
    if csv:
        print_csv(frame)
        return 0
    if empty:
        return 0
    periods = [c for c in frame.columns if c.isdigit()]
    cell = MONEY if measure == "cumulative_spend" else Display("percent", 0)
    print_table(
        frame,
        formats={"customers": COUNT, **{p: cell for p in periods}},
        flags={"customers": frame["customers"] < engine.cohorts.min_size},
        min_size=engine.cohorts.min_size,
    )
    print(
        f"\nRetention ({measure}, {mode}) by acquisition {grain}; empty cells are periods not complete at {engine.as_of:%Y-%m-%d}."
    )
    return 0


@click.command(
    "dashboard",
    short_help="executive KPIs: period vs prior period and last year",
    epilog="""\b
Example:
  profiler dashboard --period 2026-Q2""",
)
@car_option
@period_option(
    default=None,
    help="a month, quarter, year, ytd: or r12: period (default: the last quarter complete at the CAR's date)",
)
@output_options()
def dashboard(car: str | None, period: str | None, csv: bool) -> int:
    """Spend, orders, acquisition, churn, reactivation, debt and bad debt in a period against
    the prior period and last year."""
    from profiler import views

    engine = _engine(car)
    span = views.last_complete_quarter(engine) if period is None else engine.period(period)
    frame = views.dashboard(engine, span)
    if _answered(engine, frame, csv, span):
        return 0
    table = frame[["kpi", "value", "prior", "vs_prior", "last_year", "vs_last_year", "note"]].copy()
    table.insert(4, "trend", _verdict_words(frame["vs_prior_verdict"]))
    table["better"] = frame["better"].map(BETTER_WORDS).to_numpy()  # the KPI's polarity
    missing = []
    for then, change in ((span.previous(), "vs_prior"), (span.last_year(), "vs_last_year")):
        if not views.has_data(engine, then):  # 0 there means no data, not a fall to nothing
            column = "prior" if change == "vs_prior" else "last_year"
            table[[column, change]] = float("nan")
            if column == "prior":
                table["trend"] = ""
            missing.append(then.label)
    shown = _displays(engine, frame["metric"])
    changes = [change_format(engine.metric(m)) for m in frame["metric"]]
    formats = {
        "value": shown,
        "prior": shown,
        "last_year": shown,
        "vs_prior": changes,
        "vs_last_year": changes,
    }
    headers = {
        "value": span.label,
        "prior": span.previous().label,
        "vs_prior": "vs prior",
        "trend": "",
        "last_year": span.last_year().label,
        "vs_last_year": "vs last year",
        "better": "better",
    }
    dashboard_columns(engine, frame, table, formats, headers)  # where a KPI has a target
    print_table(
        table,
        formats=formats,
        flags={"value": frame["small"]},
        min_size=engine.cohorts.min_size,
        headers=headers,
    )
    if missing:
        print(f"no data in {' or '.join(missing)}: those columns are empty")
    _footer(frame, csv)
    return 0
