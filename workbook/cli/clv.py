"""``profiler clv``: BG/NBD + Gamma-Gamma on any transaction file."""

from __future__ import annotations

import argparse
import json
import sys

from workbook.cli_output import print_csv, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "clv",
        help="fit and validate the CLV models on a transaction file",
        description="Customer lifetime value models (BG/NBD and Gamma-Gamma) on any CSV or Parquet transaction file.",
    )
    clv_sub = p.add_subparsers(dest="clv_command", metavar="COMMAND")
    clv_sub.required = True
    for name, helptext in (
        ("fit", "fit both models and print the parameters"),
        ("validate", "compare predicted and actual repeat purchases in a holdout"),
    ):
        c = clv_sub.add_parser(name, help=helptext, description=helptext.capitalize() + ".")
        c.add_argument("file", help="CSV or Parquet file with one row per transaction")
        c.add_argument("--customer-col", required=True, help="customer id column")
        c.add_argument("--date-col", required=True, help="transaction date column")
        c.add_argument("--amount-col", required=True, help="transaction amount column")
        c.add_argument(
            "--calibration-end",
            required=True,
            help="YYYY-MM-DD: last day of the calibration period",
        )
        c.add_argument(
            "--time-unit",
            choices=["D", "W", "M"],
            default="W",
            help="time unit of the models (default %(default)s: weeks)",
        )
        if name == "fit":
            c.add_argument("--json", action="store_true", help="print the estimates as JSON")
            c.set_defaults(func=run_fit)
        else:
            c.add_argument(
                "--holdout-end", required=True, help="YYYY-MM-DD: last day of the holdout period"
            )
            c.add_argument("--csv", action="store_true", help="print the table as CSV")
            c.set_defaults(func=run_validate)


def _summary(args: argparse.Namespace, observation_end: str | None = None):

    from profiler.clv import read_transactions, summary_from_transactions
    from profiler.periods import day_option

    for flag, value in (
        ("--calibration-end", args.calibration_end),
        ("--holdout-end", observation_end),
    ):
        if value is not None:
            day_option(flag, value, iso_only=True)
    transactions = read_transactions(args.file, args.customer_col, args.date_col, args.amount_col)
    skipped = transactions.attrs.get("unreadable_rows", 0)
    if skipped:
        print(
            f"Note: {skipped:,} rows without a readable date or amount were left out.",
            file=sys.stderr,
        )
    return summary_from_transactions(
        transactions,
        calibration_end=args.calibration_end,
        observation_end=observation_end,
        time_unit=args.time_unit,
    )


def run_fit(args: argparse.Namespace) -> int:
    from profiler.clv import fit_clv

    fit = fit_clv(_summary(args), args.time_unit)
    if args.json:
        print(json.dumps(fit.as_json()))
        return 0
    figures = fit.as_json()
    print(
        f"Customers: {figures['customers']:,} (calibration to {args.calibration_end}, time unit {args.time_unit})"
    )
    print_table(fit.parameter_table(), floatfmt="{:,.4f}")
    print(f"BG/NBD log-likelihood: {figures['bgnbd']['loglik']:,.2f}")
    gg = fit.gamma_gamma
    excluded = (
        f"; {gg.excluded_:,} repeat customers with a non-positive mean value left out"
        if gg.excluded_
        else ""
    )
    print(
        f"Gamma-Gamma log-likelihood: {figures['gamma_gamma']['loglik']:,.2f} on {gg.customers_:,} repeat customers{excluded}"
    )
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from profiler.clv import clv_validation_table, fit_clv

    fit = fit_clv(_summary(args, args.holdout_end), args.time_unit)
    table = clv_validation_table(fit)
    if args.csv:
        print_csv(table)
    else:
        print(
            f"Repeat purchases in the holdout ({args.calibration_end} to {args.holdout_end}), by calibration frequency:"
        )
        print_table(table, floatfmt="{:,.1f}")
    return 0
