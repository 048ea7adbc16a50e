"""Cohort views on the command line: cohorts, summary, profile, compare, retention, dashboard.

Every command reads a CAR folder written by ``profiler build`` (``--car DIR``, default
$PROFILER_CAR) and prints an aligned table, or CSV with ``--csv``.  Tables show each value in
its metric's format (``cli_output.display_format``) and mark values on fewer customers than
the cohort spec's ``min_cohort_size`` with ``*``; CSV carries the values as computed, with the
``small`` flag as a column.  A period outside the data (after the CAR's date, or before its
first month of activity) prints ``no data in PERIOD`` and exits 0 (with ``--csv`` that line
goes to stderr and the CSV is printed as computed).
"""

from __future__ import annotations

import argparse
import sys

from workbook.cli_output import (
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

CAR_HELP = "CAR folder written by 'profiler build' (default: $PROFILER_CAR)"


def _common(p: argparse.ArgumentParser, *, period: bool = True) -> None:
    p.add_argument("--car", help=CAR_HELP)
    if period:
        p.add_argument(
            "--period",
            default="asof",
            help="YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM, r12:YYYY-MM or asof (default: asof, all data to the CAR's date)",
        )
    p.add_argument("--csv", action="store_true", help="print CSV")


def _membership(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--membership",
        choices=["d", "period-end"],
        default="d",
        help="cohort members as of the CAR's date (d, the default: the same customers in every "
        "period) or at each period's end (period-end: cohorts of lifecycle stage and orders)",
    )


def _split(text: str | None) -> list[str] | None:
    """'a,b , c' -> ['a', 'b', 'c']; cohort names may hold spaces but not commas."""
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cohorts",
        help="list the cohorts of templates/cohorts.yaml, or show one",
        description="Cohorts are defined in templates/cohorts.yaml over CAR columns.",
    )
    csub = p.add_subparsers(dest="cohorts_command", metavar="COMMAND")
    csub.required = True
    c = csub.add_parser(
        "list",
        help="every cohort with its group and size",
        description="Every cohort with its group, size and definition.",
    )
    c.add_argument("--group", help="only this group (e.g. 'Strategy segments')")
    _common(c, period=False)
    c.set_defaults(func=run_list)
    c = csub.add_parser(
        "show",
        help="one cohort's definition, size and profile",
        description="One cohort's definition and size; a persona's distinguishing columns.",
    )
    c.add_argument("name")
    c.add_argument("--car", help=CAR_HELP)
    c.set_defaults(func=run_show)

    p = sub.add_parser(
        "summary",
        help="cohorts x headline KPIs for a period",
        description="Cohorts x the headline KPIs of templates/cohorts.yaml (views.summary).",
    )
    p.add_argument(
        "--cohorts",
        help="comma-separated cohort names (default: the base and the strategy segments)",
    )
    p.add_argument("--group", help="all cohorts of this group instead of --cohorts")
    _common(p)
    _membership(p)
    p.set_defaults(func=run_summary)

    p = sub.add_parser(
        "profile",
        help="deep dive: one cohort across the insight areas vs the base",
        description="One cohort across the catalog's insight areas against the base (index and difference by what each metric measures: docs/metrics.md).",
    )
    p.add_argument("cohort")
    p.add_argument("--base", help="benchmark cohort (default: the spec's base, All customers)")
    p.add_argument("--area", help="only this area")
    _common(p)
    _membership(p)
    p.set_defaults(func=run_profile)

    p = sub.add_parser(
        "compare",
        help="up to 8 cohorts side by side against a base",
        description="Up to 8 cohorts against a base cohort, for a period and optionally a comparison period.",
    )
    p.add_argument(
        "--cohorts",
        required=True,
        help="comma-separated cohort names ('A & B' is the intersection)",
    )
    p.add_argument("--metrics", help="comma-separated metric names (default: views.compare)")
    p.add_argument("--vs", help="comparison period (e.g. the same period last year)")
    p.add_argument("--base", help="benchmark cohort (default: All customers)")
    _common(p)
    _membership(p)
    p.set_defaults(func=run_compare)

    p = sub.add_parser(
        "retention",
        help="acquisition cohorts x periods since acquisition",
        description="Retention triangle: acquisition cohorts (period of the first kept order) x periods since; incomplete periods are left empty.",
    )
    p.add_argument("--grain", choices=["month", "quarter"], default="month")
    p.add_argument("--measure", choices=["active", "revenue", "cumulative_spend"], default="active")
    p.add_argument(
        "--mode",
        choices=["in", "in_or_after"],
        default="in",
        help="active 'in' the period, or 'in or after' it",
    )
    p.add_argument("--start", help="first acquisition cohort shown (YYYY-MM or YYYY-Qn)")
    p.add_argument("--end", help="last acquisition cohort shown")
    p.add_argument("--by", help="break down by this CAR column (e.g. region)")
    p.add_argument("--cohort", help="only customers of this cohort")
    _common(p, period=False)
    p.set_defaults(func=run_retention)

    p = sub.add_parser(
        "dashboard",
        help="executive KPIs: period vs prior period and last year",
        description="Spend, orders, acquisition, churn, reactivation, debt and bad debt in a period against the prior period and last year.",
    )
    _common(p)
    p.set_defaults(func=run_dashboard, period=None)
    for action in p._actions:
        if action.dest == "period":
            action.help = "a month, quarter, year, ytd: or r12: period (default: the last quarter complete at the CAR's date)"


def _engine(args: argparse.Namespace):
    from profiler.query import QueryEngine

    return QueryEngine.open(args.car)


def _no_data(engine, args: argparse.Namespace, *periods) -> bool:
    """Say ``no data in PERIOD`` for the first period outside the data; True if one was.

    On stdout in place of the table, or on stderr when stdout is CSV (printed as computed)."""
    from profiler import views

    for period in periods:
        span = engine.period(period)
        if not views.has_data(engine, span):
            print(f"no data in {span.label}", file=sys.stderr if args.csv else sys.stdout)
            return True
    return False


def _answered(engine, frame, args: argparse.Namespace, *periods) -> bool:
    """Whether the command is done before its table: a period outside the data said so (in
    place of the table), or ``--csv`` printed the frame as computed (and its notes)."""
    if _no_data(engine, args, *periods) and not args.csv:
        return True
    if args.csv:
        print_csv(frame)
        _notes(frame.attrs.get("notes", []), args)
        return True
    return False


def _verdict_words(verdicts) -> list[str]:
    """better / worse for the business (the metric's polarity), as the sheets say it."""
    words = {"good": "better", "bad": "worse"}
    return [words.get(str(v), "") for v in verdicts]


def _displays(engine, metrics) -> list[Display]:
    """One display format per row, from each row's catalog metric."""
    return [display_format(engine.metric(m)) for m in metrics]


def _footer(frame, args: argparse.Namespace) -> None:
    """The notes, then the catalog and CAR date the table was computed with."""
    _notes(frame.attrs.get("notes", []), args)
    if "catalog" in frame.attrs:
        print(f"\n{frame.attrs['catalog']}; CAR as of {frame.attrs.get('as_of', '?')}")


def _notes(notes: list[str], args: argparse.Namespace) -> None:
    """What this CAR cannot show (a table or column was not provided), one line each: after
    the table, or on stderr when stdout is CSV for a machine."""
    if not notes:
        return
    if args.csv:
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        return
    print()
    for note in notes:
        print(note)


def run_list(args: argparse.Namespace) -> int:
    import pandas as pd

    engine = _engine(args)
    cohorts = engine.cohorts
    rows = [
        {
            "cohort": d.name,
            "group": d.group,
            "customers": cohorts.size(d.name),
            "small": cohorts.size(d.name) < cohorts.min_size,
            "definition": d.definition,
        }
        for d in cohorts.definitions.values()
        if args.group is None or d.group == args.group
    ]
    if args.group is not None and not rows:
        cohorts.group_names(args.group)  # raises with a suggestion
    frame = pd.DataFrame(rows)
    if args.csv:
        print_csv(frame)
        _notes(_list_notes(engine), args)
        return 0
    print_table(
        frame.drop(columns="small"),
        formats={"customers": COUNT},
        flags={"customers": frame["small"]},
        min_size=cohorts.min_size,
    )
    _notes(_list_notes(engine), args)
    print(f"\n{len(frame)} cohorts.")
    return 0


def _list_notes(engine) -> list[str]:
    from profiler import availability

    mode = availability.segment_mode(engine)
    notes = [f"Strategy segments: {mode}."] if mode else []
    return [*notes, *engine.cohorts.left_out_notes()]


def run_show(args: argparse.Namespace) -> int:
    engine = _engine(args)
    cohorts = engine.cohorts
    size = cohorts.size(args.name)
    d = cohorts.definitions.get(args.name)
    small = size < cohorts.min_size
    print(
        f"{args.name}: {size:,}{SMALL_FLAG if small else ''} customers ({size / max(engine.n, 1):.1%} of the CAR)"
    )
    if d is not None:
        print(f"  group:      {d.group}")
        if d.description:
            print(f"  about:      {d.description}")
        print(f"  definition: {d.definition}")
        if d.by == "persona" and cohorts.personas is not None:
            print(f"  stands out: {cohorts.personas.describe(args.name)}")
    if small:
        print(small_footnote(cohorts.min_size))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from profiler import views

    engine = _engine(args)
    cohorts = engine.cohorts.group_names(args.group) if args.group else _split(args.cohorts)
    frame = views.summary(engine, args.period, cohorts, membership=args.membership)
    if _answered(engine, frame, args, args.period):
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
    _notes(frame.attrs.get("notes", []), args)
    print(
        f"\n{frame.attrs['catalog']}; CAR as of {frame.attrs['as_of']}; period {engine.period(args.period).label}"
    )
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from profiler import views

    engine = _engine(args)
    frame = views.deep_dive(
        engine,
        args.cohort,
        args.period,
        args.base,
        [args.area] if args.area else None,
        membership=args.membership,
    )
    if _answered(engine, frame, args, args.period):
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
    _footer(frame, args)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from profiler import views

    engine = _engine(args)
    frame = views.compare(
        engine,
        _split(args.cohorts) or [],
        _split(args.metrics),
        args.period,
        args.vs,
        args.base,
        membership=args.membership,
    )
    periods = [args.period, args.vs] if args.vs else [args.period]
    if _answered(engine, frame, args, *periods):
        return 0
    _print_side_by_side(engine, frame, engine.period(args.vs).label if args.vs else None)
    _footer(frame, args)
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


def run_retention(args: argparse.Namespace) -> int:
    from profiler.retention import WEIGHTED_MEAN, retention_triangle

    engine = _engine(args)
    frame = retention_triangle(
        engine,
        grain=args.grain,
        measure=args.measure,
        mode=args.mode,
        start=args.start,
        end=args.end,
        by=args.by,
        cohort=args.cohort,
    )
    frame.columns = [str(c) for c in frame.columns]
    empty = (frame["acquisition"] == WEIGHTED_MEAN).all()  # no acquisition cohort in range
    if empty:
        said = (
            f"in {args.start} to {args.end}"
            if args.start and args.end
            else f"from {args.start}"
            if args.start
            else f"up to {args.end}"
            if args.end
            else "in the CAR"
        )
        print(f"no data {said}", file=sys.stderr if args.csv else sys.stdout)
    if args.csv:
        print_csv(frame)
        return 0
    if empty:
        return 0
    periods = [c for c in frame.columns if c.isdigit()]
    cell = MONEY if args.measure == "cumulative_spend" else Display("percent", 0)
    print_table(
        frame,
        formats={"customers": COUNT, **{p: cell for p in periods}},
        flags={"customers": frame["customers"] < engine.cohorts.min_size},
        min_size=engine.cohorts.min_size,
    )
    print(
        f"\nRetention ({args.measure}, {args.mode}) by acquisition {args.grain}; empty cells are periods not complete at {engine.as_of:%Y-%m-%d}."
    )
    return 0


def run_dashboard(args: argparse.Namespace) -> int:
    from profiler import views

    engine = _engine(args)
    span = (
        views.last_complete_quarter(engine) if args.period is None else engine.period(args.period)
    )
    frame = views.dashboard(engine, span)
    if _answered(engine, frame, args, span):
        return 0
    table = frame[["kpi", "value", "prior", "vs_prior", "last_year", "vs_last_year", "note"]].copy()
    table.insert(4, "trend", _verdict_words(frame["vs_prior_verdict"]))
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
    print_table(
        table,
        formats={
            "value": shown,
            "prior": shown,
            "last_year": shown,
            "vs_prior": changes,
            "vs_last_year": changes,
        },
        flags={"value": frame["small"]},
        min_size=engine.cohorts.min_size,
        headers={
            "value": span.label,
            "prior": span.previous().label,
            "vs_prior": "vs prior",
            "trend": "",
            "last_year": span.last_year().label,
            "vs_last_year": "vs last year",
        },
    )
    if missing:
        print(f"no data in {' or '.join(missing)}: those columns are empty")
    _footer(frame, args)
    return 0
