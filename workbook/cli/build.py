"""``profiler build``: the Customer Analytic Record from a folder of source tables."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from workbook.cli_output import add_read_options, add_wait_option, progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build",
        help="build the Customer Analytic Record (CAR) and its data dictionary",
        description="Load and validate the sources in --data, build one row per customer as of a date, and write a new generation of the CAR folder OUT: the CAR (car.parquet), its dictionary, the activity table (customer x month metric parts, for periods and retention), the quarantine and the metadata. The new generation becomes current in one step once complete, so readers see the previous build or the new one, never a mix; the last --keep generations are kept (see docs/store.md).",
    )
    p.add_argument("--data", help="folder with the source tables (required unless --rollback)")
    add_read_options(p)
    p.add_argument("--out", required=True, help="CAR folder to write (created if missing)")
    p.add_argument(
        "--rollback",
        action="store_true",
        help="make the previous generation of OUT current again (no build)",
    )
    p.add_argument(
        "--keep",
        type=int,
        default=2,
        metavar="N",
        help="generations to keep, the new one included (default %(default)s: the new one and the one --rollback returns to)",
    )
    add_wait_option(p, "OUT")
    p.add_argument(
        "--raw",
        action="store_true",
        help="write quarantine.csv exactly as read (no quote before cells a spreadsheet would run as formulas): for machines, not people",
    )
    p.add_argument(
        "--as-of",
        default=None,
        help="YYYY-MM-DD; only data on or before this day is used (default: the day after the last order line)",
    )
    p.add_argument(
        "--features",
        default=None,
        help="feature definitions YAML (default: templates/features.yaml)",
    )
    p.add_argument(
        "--engine",
        choices=["auto", "in-memory", "out-of-core", "spark", "pandas", "duckdb"],
        default="auto",
        help="how the CAR is built, always by the same family code with the same result: in-memory (every table in this process), out-of-core (order lines validated in batches to disk, then the CAR built and written one customer bucket at a time in worker processes) or spark (the customer buckets built on a Spark cluster's executors); auto (default) picks in-memory while the order lines fit this machine's memory, else out-of-core. pandas and duckdb are the former names of in-memory and out-of-core (see docs/engines.md)",
    )
    p.add_argument(
        "--spark-master",
        default=None,
        help="Spark master URL for --engine spark (default: $PROFILER_SPARK_MASTER or local[2]), e.g. spark://host:7077 or yarn",
    )
    p.set_defaults(func=run)


def family_progress(family: str, done: int, total: int) -> None:
    """A text progress bar, one line per family."""
    width = 20
    filled = round(width * done / total)
    print(
        f"  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {family}",
        file=sys.stderr,
        flush=True,
    )


def build_and_write(
    data: Path,
    out: Path,
    as_of: str | None,
    features: str | None = None,
    engine: str = "auto",
    spark_master: str | None = None,
    *,
    wait: float = 0,
    keep: int = 2,
    raw: bool = False,
) -> object:
    """Load, build and write a new generation of ``out``; print the load counts and the
    one-line summary. Returns the result (its columns released once written: read them back
    with ``profiler.store.read_car``)."""
    from profiler import store

    with store.building(out, wait=wait, keep=keep) as writer:
        result = _build(writer, data, as_of, features, engine, spark_master, raw)
    _print_summary(result, out)
    return result


def _build(
    writer: object,
    data: Path,
    as_of: str | None,
    features: str | None,
    engine: str,
    spark_master: str | None,
    raw: bool,
) -> object:
    from profiler.activity import build_activity
    from profiler.car import build_car
    from profiler.catalog import load_catalog
    from profiler.engine_choice import choose_engine
    from profiler.features import load_feature_spec
    from profiler.loading import load_sources
    from profiler.outputs import stage
    from profiler.periods import day_option

    if as_of is not None:
        day_option("--as-of", as_of)
    started = time.perf_counter()
    spec = load_feature_spec(features)
    writer.meta["lifecycle"] = dict(spec["lifecycle"])  # state metrics at any date use them
    engine = {"pandas": "in-memory", "duckdb": "out-of-core"}.get(engine, engine)
    if engine == "auto":
        engine, why = choose_engine(data)
        print(f"Engine: {engine} ({why}; choose with --engine)")
    if engine == "out-of-core":
        result = _build_out_of_core(data, writer, as_of, spec, raw)
    elif engine == "spark":
        result = _build_on_spark(data, writer, as_of, spec, spark_master, raw)
    else:
        source = load_sources(data, progress=progress)
        stage("read")
        _print_counts(source, writer, raw)
        result = build_car(source, as_of, spec=spec, progress=family_progress)
        stage("computed")
        writer.write_car(result)
        result.columns.clear()  # persisted: free the CAR's memory before the activity table
        built = time.perf_counter()
        activity = build_activity(source, load_catalog(), result.customer_ids, result.as_of)
        writer.write_activity(activity)
        print(
            f"Activity: {len(activity):,} customer-months x {len(activity.parts)} metric parts in {time.perf_counter() - built:.1f} s"
        )
    result.seconds = time.perf_counter() - started
    return result


def _print_summary(result: object, out: Path) -> None:
    from profiler import store

    n_columns = result.n_columns
    potential = result.models.get("potential_value")
    if potential and "error" in potential:
        print(f"Note: potential-value columns are empty: {potential['error']}")
    elif potential:
        bg, gg = potential["bgnbd"], potential["gamma_gamma"]
        print(
            f"Potential value: BG/NBD fitted on {potential['customers']:,} buyers (log-likelihood {bg['loglik']:,.1f})"
            + (
                f"; spend and CLV columns are empty: {gg['error']}"
                if "error" in gg
                else f", Gamma-Gamma on {gg['customers']:,} repeat buyers"
            )
        )
    left = f"; left out: {', '.join(result.left_out)}" if result.left_out else ""
    current = store.current_name(out)
    print(
        f"CAR as of {result.as_of:%Y-%m-%d}: {len(result.customer_ids):,} customers x {n_columns:,} columns in {result.seconds:.1f} s -> {out} (current: {current}){left}"
    )


def _print_counts(source: object, writer: object, raw: bool) -> None:
    """Rows read = accepted + quarantined, and the quarantine written into the new generation."""
    from profiler import store
    from profiler.summary import load_counts

    counts = load_counts(source)
    read, quarantined = int(counts["rows_read"].sum()), int(counts["quarantined"].sum())
    writer.write_csv(store.QUARANTINE, source.quarantine, raw=raw)
    print(
        f"Rows read {read:,} = accepted {read - quarantined:,} + quarantined {quarantined:,} (see {store.QUARANTINE.name} in the CAR folder)"
    )


def _build_out_of_core(
    data: Path, writer: object, as_of: str | None, spec: dict, raw: bool
) -> object:
    """Without holding the order lines or the CAR: lines validated in batches to a scratch
    folder, the CAR and activity table built and written one customer bucket at a time."""
    from profiler.catalog import load_catalog
    from profiler.outofcore import build_out_of_core
    from profiler.outputs import stage

    def loaded(source: object) -> None:
        stage("read")
        _print_counts(source, writer, raw)

    result = build_out_of_core(
        data, writer, load_catalog(), as_of=as_of, spec=spec, progress=progress, loaded=loaded
    )
    print("Activity: written by customer bucket")
    return result


def _build_on_spark(
    data: Path, writer: object, as_of: str | None, spec: dict, master: str | None, raw: bool
) -> object:
    """The customer buckets built on a Spark cluster's executors (profiler/spark_build.py)."""
    from profiler.catalog import load_catalog
    from profiler.outputs import stage
    from profiler.spark_build import build_on_spark

    def loaded(source: object) -> None:
        stage("read")
        _print_counts(source, writer, raw)

    result = build_on_spark(
        data,
        writer,
        load_catalog(),
        as_of=as_of,
        spec=spec,
        master=master,
        progress=progress,
        loaded=loaded,
    )
    print("Activity: written by customer bucket on Spark")
    return result


def run(args: argparse.Namespace) -> int:
    from profiler import store
    from profiler.errors import UsageError

    if args.rollback:
        generation = store.rollback(Path(args.out), wait=args.wait)
        print(
            f"Rolled back {args.out}: current is now {generation.name} (CAR as of {generation.meta.get('as_of')}, built {generation.meta.get('built_at')})"
        )
        return 0
    if not args.data:
        raise UsageError("build needs --data DIR (or --rollback).")
    build_and_write(
        Path(args.data),
        Path(args.out),
        args.as_of,
        args.features,
        args.engine,
        args.spark_master,
        wait=args.wait,
        keep=args.keep,
        raw=args.raw,
    )
    return 0
