"""``profiler clv``: BG/NBD + Gamma-Gamma on any transaction file."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from workbook.cli.options import DAY, Name, output_options
from workbook.cli.output import print_csv, print_table


@click.group(
    "clv",
    short_help="fit and validate the CLV models on a transaction file",
    epilog="""\b
Example:
  profiler clv fit tx.csv --customer-col customer --date-col date \\
      --amount-col amount --calibration-end 1997-09-30""",
)
def clv() -> None:
    """Customer lifetime value models (BG/NBD and Gamma-Gamma) on any CSV or Parquet
    transaction file."""


def _transaction_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The file, its columns, the calibration period and the time unit: both commands."""
    for option in reversed(
        [
            click.argument("file"),
            click.option("--customer-col", required=True, help="customer id column"),
            click.option("--date-col", required=True, help="transaction date column"),
            click.option("--amount-col", required=True, help="transaction amount column"),
            click.option(
                "--calibration-end",
                type=DAY,
                required=True,
                help="last day of the calibration period",
            ),
            click.option(
                "--time-unit",
                type=Name(["D", "W", "M"], "time unit"),
                default="W",
                show_default=True,
                help="time unit of the models (D days, W weeks, M months)",
            ),
        ]
    ):
        f = option(f)
    return f


def _rfm(args: dict[str, Any], observation_end: str | None = None):  # noqa: ANN202
    from profiler.clv import read_transactions, rfm_from_transactions

    transactions = read_transactions(
        args["file"], args["customer_col"], args["date_col"], args["amount_col"]
    )
    skipped = transactions.attrs.get("unreadable_rows", 0)
    if skipped:
        print(
            f"Note: {skipped:,} rows without a readable date or amount were left out.",
            file=sys.stderr,
        )
    return rfm_from_transactions(
        transactions,
        calibration_end=args["calibration_end"],
        observation_end=observation_end,
        time_unit=args["time_unit"],
    )


def _day(value) -> str:  # noqa: ANN001 (a Timestamp)
    return f"{value:%Y-%m-%d}"


@clv.command(
    "fit",
    short_help="fit both models and print the parameters",
    epilog="""\b
Example:
  profiler clv fit tx.csv --customer-col customer --date-col date \\
      --amount-col amount --calibration-end 1997-09-30 --json""",
)
@_transaction_options
@output_options(csv=False, json=True)
def fit(**args: Any) -> int:
    """Fit both models and print the parameters."""
    from profiler.clv import fit_clv

    args["calibration_end"] = _day(args["calibration_end"])
    fitted = fit_clv(_rfm(args), args["time_unit"])
    if args["json"]:
        print(json.dumps(fitted.as_json()))
        return 0
    figures = fitted.as_json()
    print(
        f"Customers: {figures['customers']:,} (calibration to {args['calibration_end']}, time unit {args['time_unit']})"
    )
    print_table(fitted.parameter_table(), floatfmt="{:,.4f}")
    print(f"BG/NBD log-likelihood: {figures['bgnbd']['loglik']:,.2f}")
    gg = fitted.gamma_gamma
    excluded = (
        f"; {gg.excluded_:,} repeat customers with a non-positive mean value left out"
        if gg.excluded_
        else ""
    )
    print(
        f"Gamma-Gamma log-likelihood: {figures['gamma_gamma']['loglik']:,.2f} on {gg.customers_:,} repeat customers{excluded}"
    )
    return 0


@clv.command(
    "validate",
    short_help="compare predicted and actual repeat purchases in a holdout",
    epilog="""\b
Example:
  profiler clv validate tx.csv --customer-col customer --date-col date \\
      --amount-col amount --calibration-end 1997-09-30 --holdout-end 1998-06-30""",
)
@_transaction_options
@click.option("--holdout-end", type=DAY, required=True, help="last day of the holdout period")
@output_options()
def validate(**args: Any) -> int:
    """Compare predicted and actual repeat purchases in a holdout."""
    from profiler.clv import clv_validation_table, fit_clv

    args["calibration_end"] = _day(args["calibration_end"])
    holdout_end = _day(args["holdout_end"])
    fitted = fit_clv(_rfm(args, holdout_end), args["time_unit"])
    table = clv_validation_table(fitted)
    if args["csv"]:
        print_csv(table)
    else:
        print(
            f"Repeat purchases in the holdout ({args['calibration_end']} to {holdout_end}), by calibration frequency:"
        )
        print_table(table, floatfmt="{:,.1f}")
    return 0
