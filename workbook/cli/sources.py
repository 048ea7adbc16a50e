"""``profiler generate``, ``validate`` and ``demo``: the source tables, made up or checked
against the data contract, and the main job end to end on the demo retailer."""

from __future__ import annotations

import time
from pathlib import Path

import click

from workbook.cli.options import as_of_option, raw_file_option, read_options
from workbook.cli.output import display_format, print_table, progress

DEFAULT_DEMO_CUSTOMERS = 20_000


def demo_retailer_options(command):  # noqa: ANN001, ANN201 (a click command)
    """--customers and --seed: which demo retailer ``generate`` and ``demo`` make."""
    command = click.option("--seed", type=int, default=42, show_default=True, help="random seed")(
        command
    )
    return click.option(
        "--customers",
        type=int,
        default=DEFAULT_DEMO_CUSTOMERS,
        show_default=True,
        help="number of customers",
    )(command)


def _demo_headlines(car_dir: Path) -> None:
    """A few catalog metrics as of the CAR date, from the query engine every view reads (so
    ``profiler summary`` shows the same figures), and the reconciliation the build stored for
    the workbook's Reconciliation sheet (the same cells, not a second computation)."""
    import profiler
    from profiler import store, views

    engine = profiler.open(car_dir)
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
    print_table(
        table[["period", "metric", "value"]],
        formats={"value": [display_format(engine.metric(m)) for m in table["metric"]]},
    )
    checks = store.read_source_checks(engine.car_dir, engine.meta or {})
    recon = checks.get("reconciliation")
    if recon is None:
        print(f"Reconciliation: {checks.get('reconciliation_note', 'not stored by this build')}")
        return
    failures = int((recon["status"] == "fail").sum())
    verdict = "every cell reconciles" if not failures else f"{failures} cells do not reconcile"
    periods = list(dict.fromkeys(recon["period"]))
    print(
        f"Reconciliation {periods[0]} to {periods[-1]} as of {engine.as_of:%Y-%m-%d}: {len(recon):,} cells, {verdict} ({engine.catalog.stamp})"
    )


def _demo_workbook(car: Path, data: Path, path: Path) -> Path:
    """The strategy segments on the command line, then the Excel profiler."""
    import profiler
    import workbook as excel_profiler
    from profiler import views
    from profiler.periods import last_complete_month

    engine = profiler.open(car)
    period = f"r12:{last_complete_month(engine.as_of):%Y-%m}"
    table = views.summary(
        engine, period, metrics=["customers", "net_sales", "spend_per_customer", "clv_12m_mean"]
    )
    metrics = ["customers", "net_sales", "spend_per_customer", "clv_12m_mean"]
    order = list(dict.fromkeys(table["cohort"]))[:10]
    wide = table.pivot(index="cohort", columns="metric", values="value").loc[order, metrics]
    small = table.pivot(index="cohort", columns="metric", values="small").loc[order, metrics]
    print(f"Strategy segments ({period}; 'profiler summary --car {car}' shows more):")
    print_table(
        wide.reset_index(),
        formats={m: display_format(engine.metric(m)) for m in metrics},
        flags={m: small[m].astype(bool).tolist() for m in metrics},
        min_size=engine.cohorts.min_size,
    )
    print("Writing the Excel profiler")
    built = excel_profiler.write(engine, path, data)
    print(
        f"Workbook {built} ({built.stat().st_size / 1e6:.1f} MB): open it in Excel or LibreOffice; refresh with 'profiler refresh {built}'"
    )
    return built


@click.command(
    "generate",
    short_help="write a deterministic synthetic retailer's source tables",
    epilog="""\b
Example:
  profiler generate --customers 100000 --seed 7 --out data/""",
)
@demo_retailer_options
@click.option(
    "--out",
    required=True,
    metavar="DIR",
    help="folder to write the tables to, one file per table (created if missing)",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["parquet", "csv"], case_sensitive=False),
    default="parquet",
    show_default=True,
    help="file format",
)
@click.option(
    "--chunk",
    type=int,
    default=1_000_000,
    show_default=True,
    metavar="CUSTOMERS",
    help="above this many customers, generate them this many at a time and append each chunk to the same files, so memory stays that of one chunk (about 7 GB per 1M customers); the files then depend on --chunk too; 0 builds everything in memory at once",
)
def generate(customers: int, seed: int, out: str, file_format: str, chunk: int) -> int:
    """Write the demo retailer's source tables (one file per table). The same --customers,
    --seed and --chunk give byte-identical files."""
    from profiler.demo import generate_demo

    report = generate_demo(
        customers,
        seed,
        out,
        file_format=file_format.lower(),
        progress=progress,
        chunk_customers=chunk or None,
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
    from profiler.load_report import load_counts, save_quarantine
    from profiler.loading import load_sources
    from profiler.staging import stage_sources

    if choose_engine(data)[0] == "in-memory":
        source = load_sources(data, today=today, progress=progress)
    else:
        with tempfile.TemporaryDirectory(prefix="profiler-validate-") as stage:
            source = stage_sources(data, stage, today=today, progress=progress)
    counts = load_counts(source)
    print_table(counts)
    quarantine_path = save_quarantine(source, out, raw=raw)
    read = int(counts["rows_read"].sum())
    quarantined = int(counts["quarantined"].sum())
    withheld = int(counts["withheld"].sum())
    print(
        f"Rows read {read:,} = accepted {read - quarantined - withheld:,} + quarantined {quarantined:,} + withheld {withheld:,} (erased customers, retention period); quarantine written to {quarantine_path}"
    )
    missing = source.missing_tables()
    if missing:
        print(f"Not provided (features that need them are left out): {', '.join(missing)}")
    return source


@click.command(
    "validate",
    short_help="load and validate source tables; quarantine bad rows",
    epilog="""\b
Example:
  profiler validate --data data/ --out out/
  profiler validate --data export/ --suggest-mapping > export/mapping.yaml""",
)
@click.option(
    "--data",
    required=True,
    metavar="DIR",
    help="folder with the source tables (CSV, .xlsx or Parquet)",
)
@click.option(
    "--out",
    default="profiler_output",
    show_default=True,
    metavar="DIR",
    help="folder to write quarantine.csv to (created if missing)",
)
@as_of_option(help="dates after this day are 'in the future' (default: today)")
@click.option("--strict", is_flag=True, help="exit 1 when any row was quarantined")
@read_options
@click.option(
    "--suggest-mapping",
    is_flag=True,
    help="print a mapping.yaml proposed from the headers of the CSV files in --data (an export "
    "that names its columns its own way: docs/data-contract.md, 'Mapping')",
)
@raw_file_option("quarantine.csv")
def validate(
    data: str,
    out: str,
    as_of,
    strict: bool,
    suggest_mapping: bool,
    raw: bool,  # noqa: ANN001
) -> int:
    """Load every source table in --data, check it against the data contract, print rows read
    = accepted + quarantined per table and write quarantine.csv to --out."""
    if suggest_mapping:
        from profiler.mapping import export_headers, suggest

        print(suggest(export_headers(Path(data))), end="")
        return 0
    today = None if as_of is None else f"{as_of:%Y-%m-%d}"
    source = _validate(Path(data), Path(out), today, raw)
    return 1 if strict and len(source.quarantine) else 0


@click.command(
    "demo",
    short_help="the main job on built-in demo data",
    epilog="""\b
Example:
  profiler demo --customers 2000 --out demo_output""",
)
@demo_retailer_options
@click.option(
    "--out",
    default="demo_output",
    show_default=True,
    metavar="DIR",
    help="folder to write the data, the CAR and the workbook to (created if missing)",
)
def demo(customers: int, seed: int, out: str) -> int:
    """Generate the demo retailer, validate it, build the Customer Analytic Record, print a
    summary and write the Excel profiler."""
    from profiler.demo import generate_demo
    from workbook.cli.build import build_and_write

    started = time.perf_counter()
    folder = Path(out)
    data = folder / "data"
    print(f"Generating a demo retailer with {customers:,} customers (seed {seed}) in {data}")
    generate_demo(customers, seed, data, progress=progress)
    print("Validating the sources and building the Customer Analytic Record")
    build_and_write(data, folder / "car", None)
    print("Headline metrics from the catalog, and the last 12 months reconciled to the ledger")
    _demo_headlines(folder / "car")
    workbook = _demo_workbook(folder / "car", data, folder / "Customer_Profiler.xlsm")
    print(
        f"Done in {time.perf_counter() - started:.1f} s: data in {data}, CAR and dictionary in {folder / 'car'}, workbook {workbook}"
    )
    return 0
