"""``profiler workbook`` builds the Excel profiler from a CAR; ``profiler refresh`` refreshes one
headless (a scheduled refresh), replacing the file only when the new one is complete;
``profiler snapshot`` copies one as values.  Each holds an exclusive lock on its workbook
(``profiler/locks.py``): a second one waits ``--wait`` seconds, then says who holds it."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click

from workbook.cli.options import CHANNELS, Name, car_option, exclusive, split, wait_option


@click.command(
    "workbook",
    short_help="build the Excel profiler (.xlsm) from a CAR",
    epilog="""\b
Example:
  profiler workbook --car car/ --out Customer_Profiler.xlsm --data data/""",
)
@car_option
@click.option("--out", required=True, metavar="FILE", help="file to write (.xlsm)")
@click.option(
    "--data",
    metavar="DIR",
    help="source data folder: adds the ledger reconciliation and the CLV holdout check",
)
@wait_option("the same file")
def workbook(car: str | None, out: str, data: str | None, wait: float) -> int:
    """Write Customer_Profiler.xlsm (and its Python module for the buttons) from a CAR folder:
    every sheet holds real numbers, so it is useful before Python is connected."""
    import profiler
    import workbook as excel_profiler
    from profiler.locks import exclusive as locked

    started = time.perf_counter()
    engine = profiler.open(car)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with locked(out, wait=wait):
        path = excel_profiler.write(engine, out, data)
    print(
        f"Workbook {path} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s; open it in Excel, or refresh headless with 'profiler refresh {path}'"
    )
    return 0


@click.command(
    "refresh",
    short_help="refresh a profiler workbook headless (no Excel)",
    epilog="""\b
Example:
  profiler refresh Customer_Profiler.xlsm
  profiler refresh Customer_Profiler.xlsm --sheet compare --car car/""",
)
@click.argument("book_path", metavar="WORKBOOK")
@car_option(help="CAR folder (default: the workbook's PROFILER_CAR setting, then $PROFILER_CAR)")
@click.option(
    "--data",
    metavar="DIR",
    help="source data folder for the reconciliation (default: the workbook's PROFILER_DATA setting)",
)
@click.option("--sheet", help="refresh only this sheet (its name in any letter case)")
@wait_option("the same file")
def refresh(
    book_path: str, car: str | None, data: str | None, sheet: str | None, wait: float
) -> int:
    """Recompute every sheet of WORKBOOK (the .xlsm to refresh) from its input cells and the
    CAR; the file is replaced only when the refresh is complete."""
    from profiler.locks import exclusive as locked
    from profiler.outputs import stage
    from profiler.query import QueryEngine
    from workbook.book import FileBook, folder_setting
    from workbook.macros import extras_for, refresh_all, refresh_sheet

    started = time.perf_counter()
    book = FileBook(book_path)
    with locked(book_path, wait=wait):  # read inputs and write: one refresh at a time
        stage("refresh:locked")
        car = car or folder_setting(book, "PROFILER_CAR")
        data = data or folder_setting(book, "PROFILER_DATA")
        engine = QueryEngine.open(car)
        extras = extras_for(engine, data)
        if sheet:
            done = refresh_sheet(book, engine, sheet, extras=extras)
        else:
            done = refresh_all(book, engine, extras=extras)
    print(
        f"Refreshed {len(done)} sheets of {Path(book_path)} in {time.perf_counter() - started:.1f} s (CAR as of {engine.as_of:%Y-%m-%d})"
    )
    return 0


@click.command(
    "snapshot",
    short_help="a values-only copy of a profiler workbook that is safe to email",
    epilog="""\b
Example:
  profiler snapshot Customer_Profiler.xlsm --out share.xlsx \\
      --password-file pw.txt --min-cohort-size 10""",
)
@click.argument("workbook")
@click.option("--out", required=True, metavar="FILE", help="file to write (.xlsx)")
@click.option(
    "--password-file",
    metavar="FILE",
    help="encrypt the file (Office agile encryption) with the password in FILE (its first line)",
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="encrypt with the password in environment variable VAR",
)
@click.option(
    "--encrypt",
    is_flag=True,
    help="encrypt with a password typed at a prompt (not echoed)",
)
@click.option(
    "--password",
    help="encrypt with this password (for scripts: other users can see it in the process "
    "list and it stays in the shell history; prefer --password-file or --password-env)",
)
@click.option(
    "--email",
    metavar="TO",
    help="send the snapshot to these addresses (comma-separated); needs --smtp",
)
@click.option("--smtp", metavar="HOST:PORT", help="the mail server for --email")
@click.option("--starttls", is_flag=True, help="upgrade the SMTP connection to TLS")
@click.option("--sender", metavar="ADDR", help="sender address for --email")
@click.option("--subject", help="subject for --email (default: the snapshot's name and date)")
@click.option(
    "--min-cohort-size",
    type=int,
    default=10,
    show_default=True,
    help="suppress cells computed on fewer customers",
)
@click.option(
    "--include-customers",
    metavar="COHORT",
    help="add a sheet of this cohort's consented customers (customer_id and --fields only)",
)
@click.option(
    "--purpose",
    metavar="TEXT",
    help="why the customer list of --include-customers is needed (required with it; logged)",
)
@click.option("--fields", help="comma-separated CAR columns for --include-customers")
@click.option(
    "--channel",
    type=Name(CHANNELS, "channel"),
    default="email",
    show_default=True,
    help="consent channel for --include-customers",
)
@car_option(help="CAR folder for --include-customers (default: the workbook's PROFILER_CAR)")
@click.option("--force", is_flag=True, help="replace FILE.xlsx if it exists")
@wait_option("the workbook")
def snapshot(**options: Any) -> int:
    """Write FILE.xlsx from WORKBOOK (the profiler .xlsm): the views as values (same formats
    and charts), no macros, formulas, links or the sender's paths; cells on fewer than K
    customers suppressed, with complementary cells; optionally encrypted."""
    from profiler.locks import exclusive as locked
    from workbook import mail
    from workbook.snapshot import snapshot as take_snapshot

    args = SimpleNamespace(**options)
    exclusive(
        {
            "--password-file": args.password_file,
            "--password-env": args.password_env,
            "--encrypt": args.encrypt,
            "--password": args.password,
        }
    )
    purpose = _purpose(args)
    password = snapshot_password(args)
    recipients, server = _mail_settings(args)
    # The workbook copied is locked: a snapshot waits for a refresh of it to finish, so it
    # shows the refreshed numbers (the snapshot file itself is written under a unique name).
    with locked(args.workbook, wait=args.wait):
        report = take_snapshot(
            args.workbook,
            args.out,
            password=password,
            min_cohort_size=args.min_cohort_size,
            force=args.force,
            include_customers=args.include_customers,
            fields=split(args.fields),
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
        purpose=purpose,
        cohort=args.include_customers or "",
        customers=report.customers if args.include_customers else None,
    )
    print(f"Logged in {log}")
    return 0


def _purpose(args: SimpleNamespace) -> str:
    """The one-line purpose a customer list needs (logged with it); empty without a list."""
    from profiler.errors import ProfilerError

    text = " ".join(str(args.purpose or "").split())
    if args.include_customers and not text:
        raise ProfilerError(
            f"--include-customers '{args.include_customers}' needs --purpose TEXT: why this "
            "customer list is needed (data protection: personal data only for a stated purpose; "
            "it is written to snapshots.log)."
        )
    if text and not args.include_customers:
        raise ProfilerError(
            "--purpose is for --include-customers; this snapshot has no customer list."
        )
    return text


def snapshot_password(args: SimpleNamespace) -> str | None:
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


def _mail_settings(args: SimpleNamespace) -> tuple[list[str], Any]:
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
