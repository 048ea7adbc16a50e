"""``profiler build``: the Customer Analytic Record from a folder of source tables."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from workbook.cli_output import progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build",
        help="build the Customer Analytic Record (CAR) and its data dictionary",
        description="Load and validate the sources in --data, build one row per customer as of a date, and write OUT/car.parquet, OUT/car_dictionary.csv, OUT/activity.arrow (customer x month metric parts, for periods and retention) and OUT/quarantine.csv.",
    )
    p.add_argument("--data", required=True, help="folder with the source tables")
    p.add_argument("--out", required=True, help="folder to write the CAR to")
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
        choices=["auto", "pandas", "duckdb", "spark"],
        default="auto",
        help="what computes the CAR: in-process pandas, embedded DuckDB (out of core: order lines validated in batches to disk, the CAR built and written in customer ranges), or Apache Spark SQL, all from the same definitions and with the same result; auto (default) picks pandas while the order lines fit this machine's memory, else duckdb (see docs/engines.md)",
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
) -> object:
    """Load, build and write; print the load counts and the one-line summary. Returns the result
    (its columns released once written: read them back with ``read_car``)."""
    import pandas as pd

    from profiler.activity import build_activity, write_activity
    from profiler.car import build_car, write_car
    from profiler.catalog import load_catalog
    from profiler.engine_choice import choose_engine
    from profiler.errors import UsageError
    from profiler.features import load_feature_spec
    from profiler.loading import load_sources

    if as_of is not None:
        try:
            pd.Timestamp(as_of)
        except ValueError:
            raise UsageError(f"--as-of '{as_of}' is not a date; expected YYYY-MM-DD.") from None
    started = time.perf_counter()
    spec = load_feature_spec(features)
    if engine == "auto":
        engine, why = choose_engine(data)
        print(f"Engine: {engine} ({why}; choose with --engine)")
    if engine == "duckdb":
        result = _build_out_of_core(data, out, as_of, spec)
    else:
        source = load_sources(data, progress=progress)
        _print_counts(source, out)
        if engine == "pandas":
            result = build_car(source, as_of, spec=spec, progress=family_progress)
        else:
            from profiler.sql.engines import open_engine

            _print_engine(engine)
            with open_engine(engine, spark_master=spark_master) as sql:
                result = build_car(source, as_of, spec=spec, progress=family_progress, engine=sql)
        write_car(result, out)
        result.columns.clear()  # persisted: free the CAR's memory before the activity table
        built = time.perf_counter()
        activity = build_activity(source, load_catalog(), result.customer_ids, result.as_of)
        write_activity(activity, result.customer_ids, out)
        print(
            f"Activity: {len(activity):,} customer-months x {len(activity.parts)} metric parts in {time.perf_counter() - built:.1f} s -> {out / 'activity.arrow'}"
        )
    n_columns = result.n_columns
    potential = result.models.get("potential_value")
    if potential and "error" in potential:
        print(f"Note: potential-value columns are empty: {potential['error']}")
    elif potential:
        bg = potential["bgnbd"]
        print(
            f"Potential value: BG/NBD fitted on {potential['customers']:,} buyers (log-likelihood {bg['loglik']:,.1f}), Gamma-Gamma on {potential['gamma_gamma']['customers']:,} repeat buyers"
        )
    left = f"; left out: {', '.join(result.left_out)}" if result.left_out else ""
    print(
        f"CAR as of {result.as_of:%Y-%m-%d}: {len(result.customer_ids):,} customers x {n_columns:,} columns in {time.perf_counter() - started:.1f} s -> {out / 'car.parquet'}{left}"
    )
    return result


def _print_counts(source: object, out: Path) -> None:
    """Rows read = accepted + quarantined, and the quarantine written beside the CAR."""
    from profiler.summary import load_counts, write_quarantine

    counts = load_counts(source)
    read, quarantined = int(counts["rows_read"].sum()), int(counts["quarantined"].sum())
    write_quarantine(source, out)
    print(
        f"Rows read {read:,} = accepted {read - quarantined:,} + quarantined {quarantined:,} (see {out / 'quarantine.csv'})"
    )


def _print_engine(engine: str) -> None:
    from profiler.sql.car_families import PANDAS_FAMILIES, SQL_FAMILIES

    print(
        f"Engine: {engine} computes {', '.join(SQL_FAMILIES)}; "
        f"{' and '.join(PANDAS_FAMILIES)} rank its columns here"
    )


def _build_out_of_core(data: Path, out: Path, as_of: str | None, spec: dict) -> object:
    """DuckDB without holding the order lines or the CAR: lines validated in batches into
    OUT/.staging, the CAR and activity table built and written one customer range at a time."""
    from profiler.catalog import load_catalog
    from profiler.sql.ranged import build_out_of_core

    def loaded(source: object) -> None:
        _print_counts(source, out)
        _print_engine("duckdb")

    result = build_out_of_core(
        data, out, load_catalog(), as_of=as_of, spec=spec, progress=progress, loaded=loaded
    )
    print(f"Activity: written in customer ranges -> {out / 'activity.arrow'}")
    return result


def run(args: argparse.Namespace) -> int:
    build_and_write(
        Path(args.data), Path(args.out), args.as_of, args.features, args.engine, args.spark_master
    )
    return 0
