"""``profiler reconcile``: the catalog's net sales and returns tied to Finance's ledger."""

from __future__ import annotations

import argparse
import json
import sys

from workbook.cli_output import print_csv, print_table, progress


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
    from profiler.catalog import load_catalog
    from profiler.errors import UsageError
    from profiler.loading import load_sources
    from profiler.reconcile import parse_months, reconcile

    if args.tolerance_pct < 0:
        raise UsageError("--tolerance-pct must be 0 or more.")
    months = parse_months(args.period, args.first, args.last)
    as_of = _as_of(args.as_of, args.car)
    catalog = load_catalog(args.catalog)
    source = load_sources(args.data, progress=progress)
    result = reconcile(source, catalog, months, args.tolerance_pct, as_of)
    table = result.table
    if args.csv:
        print_csv(table)
    elif args.json:
        records = json.loads(table.to_json(orient="records"))
        print(
            json.dumps(
                {
                    "catalog": result.catalog,
                    "as_of": f"{result.as_of:%Y-%m-%d}",
                    "tolerance_pct": args.tolerance_pct,
                    "cells": records,
                }
            )
        )
    else:
        _print_summary(result)
    return 0 if result.passed else 1


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
    print_table(by_month)
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
