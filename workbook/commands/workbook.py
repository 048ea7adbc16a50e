"""``profiler workbook`` builds the Excel profiler from a CAR; ``profiler refresh`` refreshes one
headless (a scheduled refresh), replacing the file only when the new one is complete;
``profiler snapshot`` copies one as values.  Each holds an exclusive lock on its workbook
(``profiler/locks.py``): a second one waits ``--wait`` seconds, then says who holds it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from workbook.cli_output import add_wait_option
from workbook.commands.cohorts import CAR_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "workbook",
        help="build the Excel profiler (.xlsm) from a CAR",
        description="Write Customer_Profiler.xlsm (and its Python module for the buttons) from a CAR folder: every sheet holds real numbers, so it is useful before Python is connected.",
    )
    p.add_argument("--car", help=CAR_HELP)
    p.add_argument("--out", required=True, help="workbook to write (.xlsm)")
    p.add_argument(
        "--data",
        help="source data folder: adds the ledger reconciliation and the CLV holdout check",
    )
    add_wait_option(p, "the same file")
    p.set_defaults(func=run_workbook)

    p = sub.add_parser(
        "refresh",
        help="refresh a profiler workbook headless (no Excel)",
        description="Recompute every sheet of WORKBOOK from its input cells and the CAR; the file is replaced only when the refresh is complete.",
    )
    p.add_argument("workbook", help="the .xlsm to refresh")
    p.add_argument(
        "--car",
        help="CAR folder (default: the workbook's PROFILER_CAR setting, then $PROFILER_CAR)",
    )
    p.add_argument(
        "--data",
        help="source data folder for the reconciliation (default: the workbook's PROFILER_DATA setting)",
    )
    p.add_argument("--sheet", help="refresh only this sheet")
    add_wait_option(p, "the same file")
    p.set_defaults(func=run_refresh)

    p = sub.add_parser(
        "snapshot",
        help="a values-only copy of a profiler workbook that is safe to email",
        description="Write FILE.xlsx: the views as values (same formats and charts), no macros, formulas, links or the sender's paths; cells on fewer than K customers suppressed, with complementary cells; optionally encrypted.",
    )
    p.add_argument("workbook", help="the profiler .xlsm")
    p.add_argument("--out", required=True, help="snapshot to write (.xlsx)")
    p.add_argument(
        "--password",
        help="encrypt the file (Office agile encryption): it opens only with this password",
    )
    p.add_argument(
        "--min-cohort-size",
        type=int,
        default=10,
        help="suppress cells computed on fewer customers (default 10)",
    )
    p.add_argument(
        "--include-customers",
        metavar="COHORT",
        help="add a sheet of this cohort's consented customers (customer_id and --fields only)",
    )
    p.add_argument("--fields", help="comma-separated CAR columns for --include-customers")
    p.add_argument(
        "--channel",
        default="email",
        choices=["email", "sms", "phone", "post"],
        help="consent channel for --include-customers",
    )
    p.add_argument(
        "--car", help="CAR folder for --include-customers (default: the workbook's PROFILER_CAR)"
    )
    p.add_argument("--force", action="store_true", help="replace FILE.xlsx if it exists")
    add_wait_option(p, "the workbook")
    p.set_defaults(func=run_snapshot)


def run_workbook(args: argparse.Namespace) -> int:
    from profiler.locks import exclusive
    from profiler.query import QueryEngine
    from workbook.builder import build_workbook

    started = time.perf_counter()
    engine = QueryEngine.open(args.car)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with exclusive(args.out, wait=args.wait):
        path = build_workbook(engine, args.out, data_dir=args.data)
    print(
        f"Workbook {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s; open it in Excel, or refresh headless with 'profiler refresh {path}'"
    )
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    from profiler.locks import exclusive
    from profiler.outputs import stage
    from profiler.query import QueryEngine
    from workbook.book import FileBook, folder_setting
    from workbook.macros import extras_for, refresh_all, refresh_sheet

    started = time.perf_counter()
    book = FileBook(args.workbook)
    with exclusive(args.workbook, wait=args.wait):  # read inputs and write: one refresh at a time
        stage("refresh:locked")
        car = args.car or folder_setting(book, "PROFILER_CAR")
        data = args.data or folder_setting(book, "PROFILER_DATA")
        engine = QueryEngine.open(car)
        extras = extras_for(engine, data)
        if args.sheet:
            done = refresh_sheet(book, engine, args.sheet, extras=extras)
        else:
            done = refresh_all(book, engine, extras=extras)
    print(
        f"Refreshed {len(done)} sheets of {Path(args.workbook)} in {time.perf_counter() - started:.1f} s (CAR as of {engine.as_of:%Y-%m-%d})"
    )
    return 0


def run_snapshot(args: argparse.Namespace) -> int:
    from profiler.locks import exclusive
    from workbook.commands.cohorts import _split
    from workbook.snapshot import snapshot

    # The workbook copied is locked: a snapshot waits for a refresh of it to finish, so it
    # shows the refreshed numbers (the snapshot file itself is written under a unique name).
    with exclusive(args.workbook, wait=args.wait):
        report = snapshot(
            args.workbook,
            args.out,
            password=args.password,
            min_cohort_size=args.min_cohort_size,
            force=args.force,
            include_customers=args.include_customers,
            fields=_split(args.fields),
            channel=args.channel,
            car=args.car,
        )
    extra = f"; {report.customers:,} consented customers included" if args.include_customers else ""
    print(
        f"Snapshot {report.path} ({report.size / 1e3:,.0f} KB, {len(report.sheets)} sheets{', encrypted' if report.encrypted else ''}): "
        f"{report.suppressed} cells under {args.min_cohort_size} customers suppressed, {report.complementary} complementary, {report.scrubbed} texts removed{extra}"
    )
    return 0
