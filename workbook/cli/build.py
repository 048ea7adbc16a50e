"""``profiler build``: the Customer Analytic Record from a folder of source tables."""

from __future__ import annotations

from pathlib import Path

import click

from profiler import engine_choice
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
    """``profiler.build``, saying what it does on the terminal: its report lines on stdout,
    progress on stderr.  Returns the result (its columns released once written)."""
    import profiler

    return profiler.build(
        data,
        out,
        as_of=as_of,
        engine=engine,
        features=features,
        spark_master=spark_master,
        wait=wait,
        keep=keep,
        raw=raw,
        progress=progress,
        family_progress=family_progress,
        report=print,
    )


ENGINES = (*engine_choice.ENGINES, *engine_choice.FORMER_NAMES)


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
