"""``profiler build``: the Customer Analytic Record from a folder of source tables."""

from __future__ import annotations

import time
from pathlib import Path

import click

from workbook.cli.options import (
    Name,
    as_of_option,
    raw_file_option,
    read_options,
    wait_option,
)
from workbook.cli.output import family_progress, progress


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


ENGINES = ("auto", "in-memory", "out-of-core", "spark", "pandas", "duckdb")


@click.command(
    "build",
    short_help="build the Customer Analytic Record (CAR) and its data dictionary",
    epilog="""\b
Example:
  profiler build --data data/ --out car/ --as-of 2025-12-31
  profiler build --data data/ --out car/ --engine out-of-core
  profiler build --rollback --out car/""",
)
@click.option(
    "--data",
    metavar="DIR",
    help="folder with the source tables (required unless --rollback)",
)
@read_options
@click.option(
    "--out", required=True, metavar="DIR", help="CAR folder to write (created if missing)"
)
@click.option(
    "--rollback",
    is_flag=True,
    help="make the previous generation of OUT current again (no build)",
)
@click.option(
    "--keep",
    type=int,
    default=2,
    metavar="N",
    help="generations to keep, the new one included (default 2: the new one and the one --rollback returns to)",
)
@wait_option("OUT")
@raw_file_option("quarantine.csv")
@as_of_option(
    help="only data on or before this day is used (default: the day after the last order line)"
)
@click.option(
    "--features",
    metavar="FILE",
    help="feature definitions YAML (default: templates/features.yaml)",
)
@click.option(
    "--engine",
    type=Name(ENGINES, "engine"),
    default="auto",
    help="how the CAR is built, always by the same family code with the same result: in-memory (every table in this process), out-of-core (order lines validated in batches to disk, then the CAR built and written one customer bucket at a time in worker processes) or spark (the customer buckets built on a Spark cluster's executors); auto (default) picks in-memory while the order lines fit this machine's memory, else out-of-core. pandas and duckdb are the former names of in-memory and out-of-core (see docs/engines.md)",
)
@click.option(
    "--spark-master",
    metavar="URL",
    help="Spark master URL for --engine spark (default: $PROFILER_SPARK_MASTER or local[2]), e.g. spark://host:7077 or yarn",
)
def build(
    data: str | None,
    out: str,
    rollback: bool,
    keep: int,
    wait: float,
    raw: bool,
    as_of,  # noqa: ANN001 (a Timestamp or None)
    features: str | None,
    engine: str,
    spark_master: str | None,
) -> int:
    """Build the CAR from the source tables in --data.

    Load and validate the sources in --data, build one row per customer as of a date, and write
    a new generation of the CAR folder OUT: the CAR (car.parquet), its dictionary, the activity
    table (customer x month metric parts, for periods and retention), the quarantine and the
    metadata. The new generation becomes current in one step once complete, so readers see the
    previous build or the new one, never a mix; the last --keep generations are kept (see
    docs/store.md).
    """
    from profiler import store

    if rollback:
        generation = store.rollback(Path(out), wait=wait)
        print(
            f"Rolled back {out}: current is now {generation.name} (CAR as of {generation.meta.get('as_of')}, built {generation.meta.get('built_at')})"
        )
        return 0
    if not data:
        raise click.UsageError("build needs --data DIR (or --rollback).")
    build_and_write(
        Path(data),
        Path(out),
        None if as_of is None else f"{as_of:%Y-%m-%d}",
        features,
        engine,
        spark_master,
        wait=wait,
        keep=keep,
        raw=raw,
    )
    return 0
