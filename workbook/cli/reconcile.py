"""``profiler reconcile``: the catalog's net sales and returns tied to Finance's ledger."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

import click

from workbook.cli.options import (
    as_of_option,
    car_option,
    exclusive,
    from_to_options,
    output_options,
    period_option,
    read_options,
)
from workbook.cli.output import MONEY, print_csv, print_table, progress


@click.command(
    "reconcile",
    short_help="tie net sales and returns to the ledger, month x channel x category",
    epilog="""\b
Example:
  profiler reconcile --data data/ --from 2024-01 --to 2024-12
  profiler reconcile --data data/ --period r12:2025-06 --car car/ --json""",
)
@click.option(
    "--data",
    required=True,
    metavar="DIR",
    help="folder with the source tables, ledger included",
)
@read_options
@period_option(
    default=None,
    help="the months of a period: YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM or r12:YYYY-MM",
)
@from_to_options(first="first month, YYYY-MM", last="last month, YYYY-MM")
@as_of_option(
    help="reconcile what was known at the end of this day, the view a CAR built as of it "
    "shows (default: the CAR's date with --car, else the last day of the data)"
)
@car_option(help="a CAR folder: reconcile as of its date, so the figures are those its views show")
@click.option(
    "--tolerance-pct",
    type=click.FloatRange(min=0),
    default=0.1,
    show_default=True,
    help="largest unexplained residual, as % of the ledger figure",
)
@click.option("--catalog", metavar="PATH", help="metric catalog (default: templates/metrics)")
@output_options(json=True)
def reconcile(**options: Any) -> int:
    """Tie the catalog's net sales and returns to the ledger by month x channel (x category
    where the ledger has it), explaining differences with the known reconciling items (returns
    timing, late cancellations, FX, manual journals). Exit 0 when every unexplained residual is
    within tolerance, 1 otherwise.
    """
    import pandas as pd

    from profiler.catalog import load_catalog
    from profiler.facts import data_end
    from profiler.loading import load_sources
    from profiler.reconcile import COLUMNS, parse_months
    from profiler.reconcile import reconcile as tie

    args = SimpleNamespace(**options)
    exclusive({"--period": args.period, "--from/--to": args.first or args.last})
    exclusive({"--as-of": args.as_of, "--car": args.car})
    months = parse_months(args.period, args.first, args.last)
    as_of = _as_of(args.as_of, args.car)
    catalog = load_catalog(args.catalog)
    source = load_sources(args.data, progress=progress)
    day = as_of if as_of is not None else data_end(source)
    if months and all(m.start > day for m in months):  # wholly after the as-of date
        _output(pd.DataFrame(columns=COLUMNS), catalog.stamp, day, args)
        _no_data(args, months)
        return 0
    result = tie(source, catalog, months, args.tolerance_pct, as_of)
    machine = args.csv or args.json
    if machine or result.table.empty:
        _output(result.table, result.catalog, result.as_of, args)
    if result.table.empty and months:  # before the ledger and the order lines begin
        _no_data(args, months)
        return 0
    if not machine:
        _print_summary(result)
    return 0 if result.passed else 1


def _output(table, catalog: str, as_of, args: SimpleNamespace) -> None:  # noqa: ANN001
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


def _no_data(args: SimpleNamespace, months) -> None:  # noqa: ANN001
    """``no data in PERIOD``: on stdout, or on stderr when stdout is CSV or JSON."""
    from profiler.periods import parse_period

    label = (
        parse_period(args.period).label
        if args.period
        else (months[0].label if len(months) == 1 else f"{months[0].label} to {months[-1].label}")
    )
    print(f"no data in {label}", file=sys.stderr if args.csv or args.json else sys.stdout)


def _as_of(day, car: str | None):  # noqa: ANN001, ANN202 (Timestamps or None)
    """The day to reconcile as of: --as-of, else the CAR's date, else None (the data's end)."""
    if day is not None:
        return day.normalize()
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
