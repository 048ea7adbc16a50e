"""Cohort views on the command line: cohorts, summary, profile, compare, retention, dashboard.

Every command reads a CAR folder written by ``profiler build`` (``--car DIR``, default
$PROFILER_CAR) and prints an aligned table, or CSV with ``--csv``.
"""

from __future__ import annotations

import argparse
import sys

from workbook.cli_output import print_csv, print_table

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
    p.set_defaults(func=run_summary)

    p = sub.add_parser(
        "profile",
        help="deep dive: one cohort across the insight areas vs the base",
        description="One cohort across the catalog's insight areas, indexed against the base (index = cohort / base x 100).",
    )
    p.add_argument("cohort")
    p.add_argument("--base", help="benchmark cohort (default: the spec's base, All customers)")
    p.add_argument("--area", help="only this area")
    _common(p)
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


def _show(frame, args: argparse.Namespace, columns: list[str] | None = None) -> None:
    if args.csv:
        print_csv(frame)
        _notes(frame.attrs.get("notes", []), args)
        return
    print_table(frame[columns] if columns else frame)
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
    else:
        print_table(frame)
        _notes(_list_notes(engine), args)
        print(
            f"\n{len(frame)} cohorts; cohorts under {cohorts.min_size} customers are flagged small."
        )
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
    print(f"{args.name}: {size:,} customers ({size / max(engine.n, 1):.1%} of the CAR)")
    if d is not None:
        print(f"  group:      {d.group}")
        if d.description:
            print(f"  about:      {d.description}")
        print(f"  definition: {d.definition}")
        if d.by == "persona" and cohorts.personas is not None:
            print(f"  stands out: {cohorts.personas.describe(args.name)}")
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from profiler import views

    engine = _engine(args)
    cohorts = engine.cohorts.group_names(args.group) if args.group else _split(args.cohorts)
    frame = views.summary(engine, args.period, cohorts)
    if args.csv:
        print_csv(frame)
        _notes(frame.attrs.get("notes", []), args)
        return 0
    wide = frame.pivot(index="cohort", columns="metric", values="value")
    wide = wide.loc[list(dict.fromkeys(frame["cohort"])), list(dict.fromkeys(frame["metric"]))]
    print_table(wide.reset_index())
    _notes(frame.attrs.get("notes", []), args)
    small = sorted(set(frame.loc[frame["small"], "cohort"]))
    if small:
        print(f"\nUnder {engine.cohorts.min_size} customers in some cells: {', '.join(small)}")
    print(
        f"\n{frame.attrs['catalog']}; CAR as of {frame.attrs['as_of']}; period {engine.period(args.period).label}"
    )
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from profiler import views

    engine = _engine(args)
    frame = views.deep_dive(
        engine, args.cohort, args.period, args.base, [args.area] if args.area else None
    )
    _show(
        frame,
        args,
        ["area", "metric", "period", "value", "base_value", "index", "customers", "small"],
    )
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from profiler import views

    engine = _engine(args)
    frame = views.compare(
        engine, _split(args.cohorts) or [], _split(args.metrics), args.period, args.vs, args.base
    )
    shown = ["cohort", "metric", "period", "value"]
    if args.vs:
        shown += ["vs_value", "change_pct"]
    _show(frame, args, [*shown, "index_vs_base", "customers", "small"])
    return 0


def run_retention(args: argparse.Namespace) -> int:
    from profiler.retention import retention_triangle

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
    if args.csv:
        print_csv(frame)
    else:
        print_table(frame, floatfmt="{:,.0f}" if args.measure == "cumulative_spend" else "{:.0%}")
        print(
            f"\nRetention ({args.measure}, {args.mode}) by acquisition {args.grain}; empty cells are periods not complete at {engine.as_of:%Y-%m-%d}."
        )
    return 0


def run_dashboard(args: argparse.Namespace) -> int:
    from profiler import views

    engine = _engine(args)
    frame = views.dashboard(engine, args.period)
    _show(
        frame,
        args,
        ["kpi", "value", "prior", "vs_prior_pct", "last_year", "vs_last_year_pct", "note"],
    )
    return 0
