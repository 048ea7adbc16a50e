"""``profiler audience``: the CRM audience of a cohort for one channel, as CSV."""

from __future__ import annotations

import click

from workbook.cli.options import CHANNELS, Name, car_option, raw_file_option, split
from workbook.cli.output import print_table


@click.command(
    "audience",
    short_help="export a cohort's contactable, consented customers for a CRM campaign",
    epilog="""\b
Example:
  profiler audience "Lapsing high potential" --channel email \\
      --fields clv_12m --order-by clv_12m --out audience.csv""",
)
@click.argument("cohort")
@click.option("--out", required=True, metavar="FILE", help="file to write (.csv)")
@click.option(
    "--channel",
    type=Name(CHANNELS, "channel"),
    default="email",
    show_default=True,
    help="the consent channel",
)
@click.option(
    "--fields", help="comma-separated CAR columns to include (e.g. clv_12m,preferred_channel)"
)
@click.option(
    "--order-by", help="CAR column to order by, highest first (e.g. clv_12m for sales targets)"
)
@click.option("--limit", type=int, metavar="N", help="keep only the first N after ordering")
@car_option
@raw_file_option("the file")
def audience(
    cohort: str,
    out: str,
    channel: str,
    fields: str | None,
    order_by: str | None,
    limit: int | None,
    car: str | None,
    raw: bool,
) -> int:
    """Export COHORT's contactable, consented customers.

    Write customer_id plus chosen CAR fields for the cohort's customers who are contactable and
    opted in to the channel; print who was excluded and why. COHORT is a cohort name (see
    'profiler cohorts list'), in any letter case.
    """
    from profiler.audience import select_audience, write_audience
    from profiler.query import QueryEngine

    engine = QueryEngine.open(car)
    chosen = select_audience(
        engine,
        engine.cohorts.canonical(cohort),
        channel=channel,
        fields=split(fields),
        order_by=order_by,
        limit=limit,
    )
    write_audience(chosen, out, raw=raw)
    print(f"Cohort '{chosen.cohort}': {chosen.cohort_size:,} customers")
    print_table(chosen.excluded.rename(columns={"customers": "excluded"}))
    print(f"Selected {len(chosen.selected):,} customers contactable by {chosen.channel} -> {out}")
    return 0
