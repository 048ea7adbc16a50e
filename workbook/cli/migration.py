"""``profiler migration``: customers moving between segments from one date to another."""

from __future__ import annotations

import json as _json
import sys

import click

from workbook.cli.options import DAY, Name, car_option, output_options, read_options
from workbook.cli.output import COUNT, MONEY, print_csv, print_table


@click.command(
    "migration",
    short_help="customers moving between segments from one date to another",
    epilog="""\b
Example:
  profiler migration --axis strategy --from 2024-12-31 --data data/
  profiler migration --axis lifecycle --from 2024-12-31 --to 2025-06-30 --data data/ --csv""",
)
@click.option(
    "--axis",
    type=Name(["strategy", "lifecycle", "value_tier"], "axis"),
    required=True,
    help="strategy segments, lifecycle stages or value tiers",
)
@click.option("--from", "start", type=DAY, required=True, help="the earlier date (rows)")
@click.option("--to", "end", type=DAY, help="the later date (columns; default: the CAR's date)")
@car_option
@click.option(
    "--data",
    metavar="DIR",
    help="folder with the source tables the CAR was built from: segments at a date before the "
    "CAR's are computed from them as of that date",
)
@read_options
@output_options(csv=True, json=True)
def migration(
    axis: str,
    start: object,
    end: object,
    car: str | None,
    data: str | None,
    csv: bool,
    json: bool,
) -> int:
    """The migration matrix: customers by segment at --from (rows) and at --to (columns),
    stayers on the diagonal, with their net spend in the 12 months to --to. Customers acquired
    after --from are the "not a customer yet" row; cells with fewer customers than the cohort
    spec's min_cohort_size are flagged."""
    from profiler import views
    from profiler.query import QueryEngine

    engine = QueryEngine.open(car)
    result = views.migration(engine, axis, start, end, data=data)
    if json:
        print(
            _json.dumps(
                {
                    "axis": result.axis,
                    "from": f"{result.start:%Y-%m-%d}",
                    "to": f"{result.end:%Y-%m-%d}",
                    "spend": result.spend_label,
                    "min_cohort_size": result.min_size,
                    "notes": result.notes,
                    "cells": result.tidy().to_dict(orient="records"),
                }
            )
        )
        return 0
    if csv:
        print_csv(result.tidy())
        return 0
    for frame, title, display in (
        (result.customers, "Customers", COUNT),
        (result.spend, result.spend_label, MONEY),
    ):
        shown = frame.copy()
        shown.columns = [str(c) for c in shown.columns]
        shown.insert(0, f"{result.start:%Y-%m-%d} \\ {result.end:%Y-%m-%d}", shown.index)
        print(f"{title}: {result.title}")
        print_table(
            shown.reset_index(drop=True),
            formats={c: display for c in shown.columns[1:]},
            flags={c: result.small[c].to_numpy() for c in result.small.columns},
            min_size=result.min_size,
        )
        print()
    for note in result.notes:
        print(f"Note: {note}", file=sys.stderr)
    return 0
