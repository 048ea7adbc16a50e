"""The ``profiler`` command: a thin adapter over the engine.

Every command has ``--help``.  A ``ProfilerError`` or an operating-system error (permission
denied, read-only or full disk, a file where a folder should be, a path too long, a missing
folder) is printed as one line, ``Error: ...``, by ``main`` alone, and the command exits with
status 1; usage mistakes exit with status 2.  Every command that prints CSV (``--csv``) also
takes ``--raw``: CSV exactly as computed, without the quote that keeps spreadsheets from running
cells as formulas (``profiler/safecsv.py``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from profiler import locks, readers
from profiler.errors import ProfilerError, clip
from profiler.memory import keep_freed_memory
from profiler.outputs import describe_os_error
from workbook import cli_output, commands
from workbook.cli_output import display_format
from workbook.cli_output import print_table as _print_table
from workbook.cli_output import progress as _progress

DEFAULT_DEMO_CUSTOMERS = 20_000


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one ``Error:`` line, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"Error: {message} (see '{self.prog} --help')\n")


def _demo_headlines(data: Path, car_dir: Path, as_of) -> None:
    """A few catalog metrics as of the CAR date, from the query engine every view reads (so
    ``profiler summary`` shows the same figures), and the last year's reconciliation as of
    the same date."""
    import pandas as pd

    from profiler import views
    from profiler.loading import load_sources
    from profiler.periods import months_between
    from profiler.query import QueryEngine
    from profiler.reconcile import reconcile

    engine = QueryEngine.open(car_dir)
    names = [
        "customers",
        "buyers",
        "net_sales",
        "aov",
        "active_share",
        "lapsed_share",
        "clv_12m_total",
    ]
    table = views.summary(engine, "asof", cohorts=[engine.cohorts.base], metrics=names)
    _print_table(
        table[["period", "metric", "value"]],
        formats={"value": [display_format(engine.metric(m)) for m in table["metric"]]},
    )
    last = as_of - pd.Timedelta(days=1)
    months = months_between(f"{last - pd.DateOffset(months=11):%Y-%m}", f"{last:%Y-%m}")
    recon = reconcile(load_sources(data), engine.catalog, months, as_of=as_of)
    verdict = (
        "every cell reconciles" if recon.passed else f"{len(recon.failures)} cells do not reconcile"
    )
    print(
        f"Reconciliation {months[0].label} to {months[-1].label} as of {as_of:%Y-%m-%d}: {len(recon.table):,} cells, {verdict} ({engine.catalog.stamp})"
    )


def _demo_workbook(car: Path, data: Path, path: Path) -> Path:
    """The strategy segments on the command line, then the Excel profiler."""
    from profiler import views
    from profiler.query import QueryEngine
    from workbook.builder import build_workbook
    from workbook.content import last_complete_month

    engine = QueryEngine.open(car)
    period = f"r12:{last_complete_month(engine):%Y-%m}"
    table = views.summary(
        engine, period, metrics=["customers", "net_sales", "spend_per_customer", "clv_12m_mean"]
    )
    metrics = ["customers", "net_sales", "spend_per_customer", "clv_12m_mean"]
    order = list(dict.fromkeys(table["cohort"]))[:10]
    wide = table.pivot(index="cohort", columns="metric", values="value").loc[order, metrics]
    small = table.pivot(index="cohort", columns="metric", values="small").loc[order, metrics]
    print(f"Strategy segments ({period}; 'profiler summary --car {car}' shows more):")
    _print_table(
        wide.reset_index(),
        formats={m: display_format(engine.metric(m)) for m in metrics},
        flags={m: small[m].astype(bool).tolist() for m in metrics},
        min_size=engine.cohorts.min_size,
    )
    print("Writing the Excel profiler")
    built = build_workbook(engine, path, data_dir=data)
    print(
        f"Workbook {built} ({built.stat().st_size / 1e6:.1f} MB): open it in Excel or LibreOffice; refresh with 'profiler refresh {built}'"
    )
    return built


# ---------------------------------------------------------------------------------------------
# commands


def cmd_generate(args: argparse.Namespace) -> int:
    from profiler.demo import generate_demo

    report = generate_demo(
        args.customers,
        args.seed,
        args.out,
        file_format=args.format,
        progress=_progress,
        chunk_customers=args.chunk or None,
    )
    total = sum(report.rows.values())
    print(
        f"Wrote {len(report.rows)} tables ({total:,} rows; {report.rows['order_lines']:,} order lines) to {report.out_dir} in {report.seconds:.1f} s"
    )
    return 0


def _validate(data: Path, out: Path, today: str | None, raw: bool = False) -> object:
    """Validate in memory, or, when the order lines outgrow it (as ``profiler build --engine
    auto`` decides), in batches staged to a temporary folder."""
    import tempfile

    from profiler.engine_choice import choose_engine
    from profiler.loading import load_sources
    from profiler.staging import stage_sources
    from profiler.summary import load_counts, write_quarantine

    if choose_engine(data)[0] == "in-memory":
        source = load_sources(data, today=today, progress=_progress)
    else:
        with tempfile.TemporaryDirectory(prefix="profiler-validate-") as stage:
            source = stage_sources(data, stage, today=today, progress=_progress)
    counts = load_counts(source)
    _print_table(counts)
    quarantine_path = write_quarantine(source, out, raw=raw)
    read = int(counts["rows_read"].sum())
    quarantined = int(counts["quarantined"].sum())
    print(
        f"Rows read {read:,} = accepted {read - quarantined:,} + quarantined {quarantined:,}; quarantine written to {quarantine_path}"
    )
    missing = source.missing_tables()
    if missing:
        print(f"Not provided (features that need them are left out): {', '.join(missing)}")
    return source


def cmd_validate(args: argparse.Namespace) -> int:
    if args.suggest_mapping:
        from profiler.mapping import export_headers, suggest

        print(suggest(export_headers(Path(args.data))), end="")
        return 0
    source = _validate(Path(args.data), Path(args.out), args.today, args.raw)
    return 1 if args.strict and len(source.quarantine) else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from profiler.demo import generate_demo
    from workbook.commands.build import build_and_write

    started = time.perf_counter()
    out = Path(args.out)
    data = out / "data"
    print(
        f"Generating a demo retailer with {args.customers:,} customers (seed {args.seed}) in {data}"
    )
    generate_demo(args.customers, args.seed, data, progress=_progress)
    print("Validating the sources and building the Customer Analytic Record")
    result = build_and_write(data, out / "car", None)
    print("Headline metrics from the catalog, and the last 12 months reconciled to the ledger")
    _demo_headlines(data, out / "car", result.as_of)
    workbook = _demo_workbook(out / "car", data, out / "Customer_Profiler.xlsm")
    print(
        f"Done in {time.perf_counter() - started:.1f} s: data in {data}, CAR and dictionary in {out / 'car'}, workbook {workbook}"
    )
    return 0


# ---------------------------------------------------------------------------------------------
# parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="profiler",
        description="Customer Profiler: one trusted view of a retailer's customers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "generate",
        help="write a deterministic synthetic retailer's source tables",
        description="Write the demo retailer's source tables (one file per table). The same --customers, --seed and --chunk give byte-identical files.",
    )
    p.add_argument(
        "--customers",
        type=int,
        default=DEFAULT_DEMO_CUSTOMERS,
        help="number of customers (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default %(default)s)")
    p.add_argument("--out", required=True, help="folder to write the tables to")
    p.add_argument(
        "--format",
        choices=["parquet", "csv"],
        default="parquet",
        help="file format (default %(default)s)",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=1_000_000,
        metavar="CUSTOMERS",
        help="above this many customers, generate them this many at a time and append each chunk to the same files, so memory stays that of one chunk (about 7 GB per 1M customers); the files then depend on --chunk too; 0 builds everything in memory at once (default %(default)s)",
    )
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "validate",
        help="load and validate source tables; quarantine bad rows",
        description="Load every source table in --data, check it against the data contract, print rows read = accepted + quarantined per table and write quarantine.csv to --out.",
    )
    p.add_argument("--data", required=True, help="folder with the source tables (CSV or Parquet)")
    p.add_argument(
        "--out", default="profiler_output", help="folder for quarantine.csv (default %(default)s)"
    )
    p.add_argument(
        "--today", default=None, help="dates after this day are 'in the future' (default: today)"
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when any row was quarantined")
    cli_output.add_read_options(p)
    p.add_argument(
        "--suggest-mapping",
        action="store_true",
        help="print a mapping.yaml proposed from the headers of the CSV files in --data (an export "
        "that names its columns its own way: docs/data-contract.md, 'Mapping')",
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="write quarantine.csv exactly as read (no quote before cells a spreadsheet would run as formulas): for machines, not people",
    )
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "demo",
        help="the main job on built-in demo data",
        description="Generate the demo retailer, validate it, build the Customer Analytic Record and print a summary.",
    )
    p.add_argument(
        "--customers",
        type=int,
        default=DEFAULT_DEMO_CUSTOMERS,
        help="number of customers (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default %(default)s)")
    p.add_argument(
        "--out", default="demo_output", help="folder for the data and outputs (default %(default)s)"
    )
    p.set_defaults(func=cmd_demo)
    for module in sorted(m.name for m in pkgutil.iter_modules(commands.__path__)):
        importlib.import_module(f"{commands.__name__}.{module}").register(sub)
    _add_raw_to_csv_commands(parser)
    return parser


RAW_HELP = "with --csv: cells exactly as computed, for machines (by default a cell a spreadsheet would run as a formula gets a leading single quote)"


def _add_raw_to_csv_commands(parser: argparse.ArgumentParser) -> None:
    """Every command that prints CSV (``--csv``) takes ``--raw`` too, in this one place."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_raw_to_csv_commands(sub)
    options = parser._option_string_actions
    if "--csv" in options and "--raw" not in options:
        parser.add_argument("--raw", action="store_true", help=RAW_HELP)


ERROR_LIMIT = 2_000  # characters of one error line; echoed input is cut to 200 where it is echoed


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    locks.set_command(list(sys.argv[1:] if argv is None else argv))
    keep_freed_memory()
    cli_output.RAW_CSV = bool(getattr(args, "raw", False))
    readers.choose(
        delimiter=getattr(args, "delimiter", None),
        decimal=getattr(args, "decimal", None),
        encoding=getattr(args, "encoding", None),
        date_format=getattr(args, "date_format", None),
        sheet=getattr(args, "xlsx_sheet", None),
    )
    try:
        return int(args.func(args) or 0)
    except ProfilerError as exc:
        print(f"Error: {clip(exc, ERROR_LIMIT)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) has gone: stop quietly, as other command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        # Every command's file-system trouble, in one place: writers leave no partial output
        # (profiler/outputs.py, profiler/store.py), so one line is all that is left to do.
        print(f"Error: {clip(describe_os_error(exc), ERROR_LIMIT)}", file=sys.stderr)
        return 1
    finally:
        cli_output.RAW_CSV = False


if __name__ == "__main__":
    sys.exit(main())
