"""``profiler audience``: the CRM audience of a cohort for one channel, as CSV."""

from __future__ import annotations

import argparse

from workbook.cli_output import print_table
from workbook.commands.cohorts import CAR_HELP, _split


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audience",
        help="export a cohort's contactable, consented customers for a CRM campaign",
        description="Write customer_id plus chosen CAR fields for the cohort's customers who are contactable and opted in to the channel; print who was excluded and why.",
    )
    p.add_argument("cohort", help="cohort name (see 'profiler cohorts list')")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--channel", default="email", choices=["email", "sms", "phone", "post"])
    p.add_argument(
        "--fields", help="comma-separated CAR columns to include (e.g. clv_12m,preferred_channel)"
    )
    p.add_argument(
        "--order-by", help="CAR column to order by, highest first (e.g. clv_12m for sales targets)"
    )
    p.add_argument("--limit", type=int, help="keep only the first N after ordering")
    p.add_argument("--car", help=CAR_HELP)
    p.add_argument(
        "--raw",
        action="store_true",
        help="write cells exactly as in the CAR, for machines (by default a cell a spreadsheet would run as a formula gets a leading single quote)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from profiler.audience import select_audience, write_audience
    from profiler.query import QueryEngine

    engine = QueryEngine.open(args.car)
    audience = select_audience(
        engine,
        args.cohort,
        channel=args.channel,
        fields=_split(args.fields),
        order_by=args.order_by,
        limit=args.limit,
    )
    write_audience(audience, args.out, raw=args.raw)
    print(f"Cohort '{audience.cohort}': {audience.cohort_size:,} customers")
    print_table(audience.excluded.rename(columns={"customers": "excluded"}))
    print(
        f"Selected {len(audience.selected):,} customers contactable by {audience.channel} -> {args.out}"
    )
    return 0
