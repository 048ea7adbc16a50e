"""How commands talk to the terminal: progress on stderr, aligned tables and CSV on stdout; and
the options every writer shares."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from profiler.safecsv import write_csv

RAW_CSV = False  # set from --raw by the command line: CSV exactly as computed, for machines


def add_wait_option(p: argparse.ArgumentParser, target: str) -> None:
    """``--wait SECONDS``: how long a writer waits for another one writing ``target``."""
    p.add_argument(
        "--wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help=f"when another command is writing {target}, wait this long for it before giving up, then say who holds it (default %(default)s)",
    )


def progress(message: str) -> None:
    """One progress line on stderr, so stdout stays clean for tables and CSV."""
    print(f"  … {message}", file=sys.stderr, flush=True)


def print_table(frame: pd.DataFrame, *, floatfmt: str = "{:,.2f}") -> None:
    """Print a DataFrame as an aligned plain-text table."""
    shown = frame.copy()
    for col in shown.columns:
        if shown[col].dtype.kind == "f":
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else floatfmt.format(v))
        elif shown[col].dtype.kind in "iu":
            shown[col] = shown[col].map("{:,}".format)
    print(shown.to_string(index=False))


def print_csv(frame: pd.DataFrame) -> None:
    """Write a DataFrame as CSV to stdout: no cell runs as a formula when the output is opened
    in a spreadsheet, unless the command was given ``--raw``."""
    write_csv(frame, sys.stdout, raw=RAW_CSV)
