"""``profiler workbook`` builds the Excel profiler from a CAR; ``profiler refresh`` refreshes one
headless (a scheduled refresh), replacing the file only when the new one is complete;
``profiler snapshot`` copies one as values.  Each holds an exclusive lock on its workbook
(``profiler/locks.py``): a second one waits ``--wait`` seconds, then says who holds it."""

from __future__ import annotations

import argparse
import os
import socket
import time
from pathlib import Path
from typing import Any

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
    secret = p.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-file",
        metavar="FILE",
        help="encrypt the file (Office agile encryption) with the password in FILE (its first line)",
    )
    secret.add_argument(
        "--password-env",
        metavar="VAR",
        help="encrypt with the password in environment variable VAR",
    )
    secret.add_argument(
        "--encrypt",
        action="store_true",
        help="encrypt with a password typed at a prompt (not echoed)",
    )
    secret.add_argument(
        "--password",
        help="encrypt with this password (for scripts: other users can see it in the process "
        "list and it stays in the shell history; prefer --password-file or --password-env)",
    )
    p.add_argument(
        "--email",
        metavar="TO",
        help="send the snapshot to these addresses (comma-separated); needs --smtp",
    )
    p.add_argument("--smtp", metavar="HOST:PORT", help="the mail server for --email")
    p.add_argument("--starttls", action="store_true", help="upgrade the SMTP connection to TLS")
    p.add_argument("--from", dest="sender", metavar="ADDR", help="sender address for --email")
    p.add_argument("--subject", help="subject for --email (default: the snapshot's name and date)")
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
    from workbook import mail
    from workbook.commands.cohorts import _split
    from workbook.snapshot import snapshot

    password = snapshot_password(args)
    recipients, server = _mail_settings(args)
    # The workbook copied is locked: a snapshot waits for a refresh of it to finish, so it
    # shows the refreshed numbers (the snapshot file itself is written under a unique name).
    with exclusive(args.workbook, wait=args.wait):
        report = snapshot(
            args.workbook,
            args.out,
            password=password,
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
    if recipients:
        sender = args.sender or os.environ.get(mail.USER_ENV) or f"profiler@{socket.getfqdn()}"
        subject = args.subject or f"Customer Profiler snapshot {report.path.name}"
        body = snapshot_body(report, args.min_cohort_size)
        mail.send(mail.message(report.path, recipients, sender, subject, body), server)
        print(f"Sent to {', '.join(recipients)} through {server.host}:{server.port}")
    log = mail.audit(
        Path(args.workbook).resolve().parent,
        report.path,
        recipients,
        args.min_cohort_size,
        report.suppressed,
        report.complementary,
        report.encrypted,
    )
    print(f"Logged in {log}")
    return 0


def snapshot_password(args: argparse.Namespace) -> str | None:
    """The password from a file, an environment variable, a prompt or (warned) the command
    line; None for an unencrypted snapshot.  An empty password is refused."""
    import getpass
    import sys

    from profiler.errors import ProfilerError

    if args.password_file:
        try:
            lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        except OSError as err:
            raise ProfilerError(
                f"{args.password_file}: cannot read the password ({err.strerror})."
            ) from None
        password, where = (lines[0] if lines else ""), args.password_file
    elif args.password_env:
        password, where = os.environ.get(args.password_env, ""), f"${args.password_env}"
    elif args.encrypt:
        if not sys.stdin.isatty():
            raise ProfilerError(
                "--encrypt asks for the password at a prompt; with no terminal use --password-file or --password-env."
            )
        password, where = getpass.getpass("Snapshot password: "), "the prompt"
        if password and getpass.getpass("Again: ") != password:
            raise ProfilerError("The two passwords differ; nothing was written.")
    elif args.password is not None:
        print(
            "Warning: a password on the command line is visible to other users of this machine and stays in the shell history; prefer --password-file or --password-env.",
            file=sys.stderr,
        )
        password, where = args.password, "--password"
    else:
        return None
    if not password.strip():
        raise ProfilerError(
            f"The password from {where} is empty: a snapshot is never encrypted with an empty password; nothing was written."
        )
    return password


def _mail_settings(args: argparse.Namespace) -> tuple[list[str], Any]:
    """Recipients and server, checked before anything is written."""
    from profiler.errors import ProfilerError
    from workbook import mail

    if not args.email:
        if args.smtp:
            raise ProfilerError("--smtp is for --email: say who the snapshot goes to.")
        return [], None
    if not args.smtp:
        raise ProfilerError("--email needs --smtp HOST:PORT, the mail server to send through.")
    return mail.parse_recipients(args.email), mail.parse_server(args.smtp, args.starttls)


def snapshot_body(report: Any, k: int) -> str:
    """The e-mail's text: what the attachment holds (never the password)."""
    lines = [
        "The attached snapshot of the Customer Profiler holds values only: no macros, formulas or personal data.",
        "",
        report.stamp_text,
        f"Cells computed on fewer than {k} customers are suppressed: {report.suppressed} cells, and {report.complementary} more so that totals cannot reveal them.",
    ]
    if report.encrypted:
        lines.append("The file is encrypted; the password is sent separately.")
    return "\n".join(lines) + "\n"
