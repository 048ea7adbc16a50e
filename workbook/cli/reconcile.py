"""``profiler reconcile``: the catalog's net sales and returns tied to Finance's ledger."""

from __future__ import annotations

import argparse
import json
import sys

from workbook.cli_output import MONEY, add_read_options, print_csv, print_table, progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconcile",
        help="tie net sales and returns to the ledger, month x channel x category",
        description=(
            "Tie the catalog's net sales and returns to the ledger by month x channel (x category "
            "where the ledger has it), explaining differences with the known reconciling items "
            "(returns timing, late cancellations, FX, manual journals). Exit 0 when every "
            "unexplained residual is within tolerance, 1 otherwise."
        ),
    )
    p.add_argument("--data", required=True, help="folder with the source tables, ledger included")
    add_read_options(p)
    p.add_argument("--period", help="a month, quarter or year: YYYY-MM, YYYY-Qn or YYYY")
    p.add_argument("--from", dest="first", help="first month, YYYY-MM")
    p.add_argument("--to", dest="last", help="last month, YYYY-MM")
    p.add_argument(
        "--as-of",
        help="YYYY-MM-DD: reconcile what was known at the end of this day, the view a CAR built "
        "as of it shows (default: the CAR's date with --car, else the last day of the data)",
    )
    p.add_argument(
        "--car",
        help="a CAR folder: reconcile as of its date, so the figures are those its views show",
    )
    p.add_argument(
        "--tolerance-pct",
        type=float,
        default=0.1,
        help="largest unexplained residual, as %% of the ledger figure (default %(default)s)",
    )
    p.add_argument("--catalog", help="metric catalog (default: templates/metrics)")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true", help="print every cell as CSV")
    output.add_argument("--json", action="store_true", help="print every cell as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from profiler.catalog import load_catalog
    from profiler.errors import UsageError
    from profiler.facts import data_end
    from profiler.loading import load_sources
    from profiler.reconcile import COLUMNS, parse_months, reconcile

    if args.tolerance_pct < 0:
        raise UsageError("--tolerance-pct must be 0 or more.")
    months = parse_months(args.period, args.first, args.last)
    as_of = _as_of(args.as_of, args.car)
    catalog = load_catalog(args.catalog)
    source = load_sources(args.data, progress=progress)
    day = as_of if as_of is not None else data_end(source)
    if months and all(m.start > day for m in months):  # wholly after the as-of date
        _output(pd.DataFrame(columns=COLUMNS), catalog.stamp, day, args)
        _no_data(args, months)
        return 0
    result = reconcile(source, catalog, months, args.tolerance_pct, as_of)
    machine = args.csv or args.json
    if machine or result.table.empty:
        _output(result.table, result.catalog, result.as_of, args)
    if result.table.empty and months:  # before the ledger and the order lines begin
        _no_data(args, months)
        return 0
    if not machine:
        _print_summary(result)
    return 0 if result.passed else 1


def _output(table, catalog: str, as_of, args: argparse.Namespace) -> None:  # noqa: ANN001
    """Every cell as CSV or JSON (nothing for the human summary)."""
    if args.csv:
        print_csv(table)
    elif args.json:
        records = json.loads(table.to_json(orient="records"))
        print(
            json.dumps(
                {
                    "catalog": catalog,
                    "as_of": f"{as_of:%Y-%m-%d}",
                    "tolerance_pct": args.tolerance_pct,
                    "cells": records,
                }
            )
        )


def _no_data(args: argparse.Namespace, months) -> None:  # noqa: ANN001
    """``no data in PERIOD``: on stdout, or on stderr when stdout is CSV or JSON."""
    from profiler.periods import parse_period

    label = (
        parse_period(args.period).label
        if args.period
        else (months[0].label if len(months) == 1 else f"{months[0].label} to {months[-1].label}")
    )
    print(f"no data in {label}", file=sys.stderr if args.csv or args.json else sys.stdout)


def _as_of(text: str | None, car: str | None):  # noqa: ANN202 (a Timestamp or None)
    """The day to reconcile as of: --as-of, else the CAR's date, else None (the data's end)."""
    from profiler.errors import UsageError

    if text is not None and car is not None:
        raise UsageError("Give either --as-of or --car (whose date is the as-of date), not both.")
    if text is not None:
        from profiler.periods import day_option

        return day_option("--as-of", text).normalize()
    if car is not None:
        from profiler.query import car_as_of

        return car_as_of(car)
    return None


def _print_summary(result) -> None:
    from profiler.reconcile import MONEY as MONEY_COLUMNS

    table = result.table
    first, last = table["period"].min(), table["period"].max()
    print(
        f"Reconciliation {first} to {last} as of {result.as_of:%Y-%m-%d} ({result.catalog}), tolerance {result.tolerance_pct}% of the ledger"
    )
    by_month = (
        table.groupby(["period", "measure"], sort=True)[
            [
                "profiler",
                "ledger",
                "difference",
                "returns_timing",
                "late_cancellations",
                "fx",
                "journals",
                "residual",
            ]
        ]
        .sum()
        .reset_index()
    )
    print_table(by_month, formats={c: MONEY for c in by_month.columns if c in MONEY_COLUMNS})
    failures = result.failures
    cells = len(table)
    if failures.empty:
        print(f"All {cells:,} cells reconcile: every difference is explained within tolerance.")
        return
    print(f"{len(failures):,} of {cells:,} cells do not reconcile:", file=sys.stderr)
    for row in failures.itertuples(index=False):
        pct = (
            ""
            if row.residual_pct != row.residual_pct
            else f" ({row.residual_pct:+.2f}% of the ledger)"
        )
        print(
            f"  FAIL {row.period} {row.channel} / {row.category} {row.measure}: profiler {row.profiler:,.2f}, "
            f"ledger {row.ledger:,.2f}, unexplained {row.residual:,.2f}{pct}",
            file=sys.stderr,
        )
