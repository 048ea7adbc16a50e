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
      --fields clv_12m --order-by clv_12m --out audience.csv
  profiler audience "Lapsing high potential" --channel email --control 10% --seed 7 \\
      --out spring.csv   (spring.csv: treated; spring.control.csv: held out; spring.json)""",
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
@click.option(
    "--control",
    metavar="SHARE",
    help="hold out this share at random as a control group (10% or 0.1), stratified by "
    "strategy segment: FILE.csv gets the treated customers only, FILE.control.csv the control, "
    "FILE.json what the split was (see docs/campaigns.md)",
)
@click.option(
    "--seed",
    type=int,
    metavar="N",
    help="with --control: the random seed (default: a fresh one, printed and recorded)",
)
@click.option(
    "--window",
    default="30d",
    show_default=True,
    metavar="DAYS",
    help="with --control: the response window of the power figure (past response rate = "
    "share who ordered in these days to the CAR's date)",
)
@car_option
@raw_file_option("the file")
def audience(
    cohort: str,
    out: str,
    channel: str,
    fields: str | None,
    order_by: str | None,
    limit: int | None,
    control: str | None,
    seed: int | None,
    window: str,
    car: str | None,
    raw: bool,
) -> int:
    """Export COHORT's contactable, consented customers.

    Write customer_id plus chosen CAR fields for the cohort's customers who are contactable and
    opted in to the channel and have not objected to profiling; print who was excluded and
    why. COHORT is a cohort name (see 'profiler cohorts list'), in any letter case. With
    --control, a random share is held out as a control group to measure the campaign by
    ('profiler campaign add', 'profiler campaign report').
    """
    from profiler.audience import select_audience, split_control, write_audience, write_split
    from profiler.campaigns import parse_share, parse_window
    from profiler.errors import ProfilerError
    from profiler.query import QueryEngine

    share = parse_share(control) if control is not None else None
    days = parse_window(window)
    if share is None and seed is not None:
        raise ProfilerError("--seed goes with --control (the seed of the control split).")

    engine = QueryEngine.open(car)
    chosen = select_audience(
        engine,
        engine.cohorts.canonical(cohort),
        channel=channel,
        fields=split(fields),
        order_by=order_by,
        limit=limit,
    )
    if share is None:
        write_audience(chosen, out, raw=raw, car_dir=engine.car_dir)
        print(f"Cohort '{chosen.cohort}': {chosen.cohort_size:,} customers")
        print_table(chosen.excluded.rename(columns={"customers": "excluded"}))
        print(
            f"Selected {len(chosen.selected):,} customers contactable by {chosen.channel} -> {out}"
        )
        return 0
    halves = split_control(engine, chosen, share, seed, window_days=days)
    treated_file, control_file, sidecar = write_split(halves, out, engine.car_dir, raw=raw)
    print(f"Cohort '{chosen.cohort}': {chosen.cohort_size:,} customers")
    print_table(chosen.excluded.rename(columns={"customers": "excluded"}))
    print(f"Selected {len(chosen.selected):,} customers contactable by {chosen.channel}")
    how = (
        f"stratified by {halves.stratum_column}"
        if halves.stratum_column
        else "not stratified (the CAR has no strategy segment)"
    )
    print(f"Control split {share * 100:g}% at random, seed {halves.seed}, {how}:")
    print_table(halves.counts())
    print(halves.power_line())
    print(f"Treated (to contact) -> {treated_file}")
    print(f"Control (never contact) -> {control_file}")
    print(f"About the split -> {sidecar}")
    return 0
