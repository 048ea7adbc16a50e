"""``profiler metrics``: list, show, check, release and diff the metric catalog, and print a
metric as SQL for the retailer's own warehouse."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import click

from workbook.cli.options import (
    as_of_option,
    car_option,
    insight_area,
    output_options,
    period_option,
)
from workbook.cli.output import print_csv, print_table

CATALOG_HELP = "catalog folder or YAML file (default: templates/metrics)"
LOCK_HELP = "the lock file (default: catalog.lock in the catalog folder, or FILE.lock)"
catalog_option = click.option("--catalog", metavar="PATH", help=CATALOG_HELP)
lock_option = click.option("--lock", metavar="FILE", help=LOCK_HELP)


@click.group(
    "metrics",
    short_help="list, show, check, release and diff the metric catalog; print a metric as SQL",
    epilog="""\b
Example:
  profiler metrics list --area Sales
  profiler metrics show aov
  profiler metrics check""",
)
def metrics() -> None:
    """The metric catalog: one agreed definition of every metric (templates/metrics/)."""


@metrics.command(
    "list",
    short_help="one line per metric",
    epilog="""\b
Example:
  profiler metrics list --area sales --csv""",
)
@catalog_option
@click.option("--area", help="only this insight area, in any letter case")
@output_options()
def list_(catalog: str | None, area: str | None, csv: bool) -> int:
    """One line per metric."""
    import pandas as pd

    from profiler.catalog import load_catalog

    catalog = load_catalog(catalog)
    area = insight_area(catalog, area)
    rows = [
        {
            "name": m.name,
            "label": m.label,
            "area": m.area,
            "owner": m.owner,
            "aggregation": m.aggregation,
            "unit": m.unit,
            "status": m.status,
            "priority": m.priority,
            "version": m.version,
        }
        for m in catalog.metrics.values()
        if not area or m.area == area
    ]
    frame = pd.DataFrame(rows)
    if csv:
        print_csv(frame)
    else:
        print(f"{catalog.stamp}: {len(frame)} metrics")
        print_table(frame)
    return 0


@metrics.command(
    "show",
    short_help="one metric in full",
    epilog="""\b
Example:
  profiler metrics show AOV""",
)
@click.argument("name")
@catalog_option
def show(name: str, catalog: str | None) -> int:
    """One metric in full; NAME in any letter case."""
    from profiler.catalog import load_catalog

    catalog = load_catalog(catalog)
    m = catalog.get(name)
    print(f"{m.label} ({m.name})")
    print(textwrap.fill(m.description, 96))
    print()
    print(f"  expression   {expression_text(m)}")
    fields = [
        ("owner", m.owner),
        ("area", m.area),
        ("unit", f"{m.unit} (Excel format {m.format})"),
        ("periods", ", ".join(m.periods)),
        ("dimensions", ", ".join(m.dimensions) or "-"),
        ("additive", "yes" if m.additive else "no: recomputed from its parts, never summed"),
        ("priority", m.priority),
        ("status", m.status),
        ("version", f"{m.version}: {m.changelog}"),
        ("hash", m.hash),
        ("defined at", m.where()),
        ("catalog", catalog.stamp),
    ]
    for label, value in fields:
        print(f"  {label:<12} {value}")
    return 0


def expression_text(m) -> str:
    """The definition as one readable line (``catalog.definition_text``)."""
    from profiler.catalog import definition_text

    return definition_text(m)


@metrics.command(
    "sql",
    short_help="print a metric for a cohort and period as one SQL query for your warehouse",
    epilog="""\b
Example:
  profiler metrics sql aov --cohort Buyers --period 2025-Q2 \\
      --dialect snowflake --car out/car""",
)
@click.argument("name")
@click.option(
    "--cohort", help="a cohort of templates/cohorts.yaml (default: the base, All customers)"
)
@period_option(
    required=True, help="YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM, r12:YYYY-MM or asof (the CAR's date)"
)
@click.option(
    "--dialect", required=True, help="duckdb, spark, snowflake or bigquery (sqlglot's names)"
)
@as_of_option(
    words=["latest"],
    help="read the sources as of this day (default: the CAR's date, so the query gives "
    "profiler's figure); 'latest': as the tables stand when the query runs",
)
@car_option
@catalog_option
@click.option(
    "--no-products",
    is_flag=True,
    help="the warehouse has no products table (product attributes take the contract's defaults)",
)
@click.option(
    "--no-unit-price",
    is_flag=True,
    help="order_lines has no unit_price (a line's gross value is net_amount / (1 - discount))",
)
@click.option(
    "--no-unit-cost",
    is_flag=True,
    help="products has no unit_cost (margin metrics then need --line-cost)",
)
@click.option(
    "--line-cost",
    is_flag=True,
    help="order_lines has a cost column (the line's cost of goods; it comes before unit_cost)",
)
def sql(
    name: str,
    cohort: str | None,
    period: str,
    dialect: str,
    as_of,  # noqa: ANN001 (a Timestamp, 'latest' or None)
    car: str | None,
    catalog: str | None,
    no_products: bool,
    no_unit_price: bool,
    no_unit_cost: bool = False,
    line_cost: bool = False,
) -> int:
    """Print the catalog metric NAME for a cohort and period as one SQL query in a dialect, to
    run in the retailer's own warehouse: it reads the data contract's tables under their own
    names (order_lines, products, surveys, interactions) and the CAR (car.parquet) as car, and
    returns one row, the metric. A header comment says which tables and columns it reads, the
    definition's version and hash, the cohort and the period. Metrics that cannot be written
    honestly (a customer state for a period, a persona cohort) are refused with the reason. See
    docs/metrics.md.
    """
    from profiler.catalog import load_catalog
    from profiler.query import QueryEngine
    from profiler.sql.facts import FactsShape
    from profiler.sql.metrics import uses_cost
    from profiler.sql.render import check_dialect, lapsed_days, render_metric

    # What can be told wrong without the CAR is told before it is read.
    loaded = load_catalog(catalog)
    name = loaded.get(name).name
    dialect = check_dialect(dialect.strip().lower())
    engine = QueryEngine.open(car, catalog=loaded)
    day = None if as_of == "latest" else (as_of if as_of is not None else engine.as_of)
    # The cost columns only for a metric that reads them (profiler/margin.py), so no other
    # query reads products.unit_cost or order_lines.cost.
    costs = uses_cost(loaded, name)
    shape = FactsShape(
        has_products=not no_products,
        has_unit_price=not no_unit_price,
        product_id_as_text=False,
        has_unit_cost=costs and not no_unit_cost,
        has_line_cost=costs and line_cost,
    )
    rendered = render_metric(
        name,
        engine.catalog,
        engine.cohorts,
        engine.cohorts.canonical(cohort) if cohort else engine.cohorts.base,
        period,
        dialect,
        car_as_of=engine.as_of,
        car_columns=engine.known_columns,
        as_of=day,
        shape=shape,
        lapsed_days=lapsed_days(engine.meta),
    )
    print(rendered.sql)
    return 0


@metrics.command(
    "check",
    short_help="validate the catalog and compare it with its lock; exit 1 on any problem",
    epilog="""\b
Example:
  profiler metrics check --car demo_output/car""",
)
@catalog_option
@car_option(help="a built CAR folder, to check the CAR columns metrics read")
@lock_option
@click.option(
    "--targets",
    "targets_file",
    metavar="FILE",
    help="a targets table to check: its metrics, periods and cohorts (cohorts in full with --car)",
)
@click.option(
    "--data",
    metavar="DIR",
    help="the data folder whose targets table to check (targets.csv, .parquet, ...)",
)
def check(
    catalog: str | None,
    car: str | None,
    lock: str | None,
    targets_file: str | None,
    data: str | None,
) -> int:
    """Validate the catalog and print every problem as file:line: message; then compare it
    with its lock (catalog.lock): a metric whose definition changed while its version did not
    is an error, a raised version not yet released a warning, a metric not in the lock a note.
    With --targets FILE (or --data DIR), also check a targets table: one line per problem,
    naming the file, row and column.
    """
    from profiler.catalog import load_catalog, validate
    from profiler.catalog_lock import check_lock, lock_path, read_lock
    from workbook.cli.targets import check_targets_file

    catalog_path, catalog = catalog, load_catalog(catalog)
    car_columns = None
    if car:
        from profiler import store

        car_columns = store.open_generation(car).car_columns()
    problems = validate(catalog, car_columns)
    for problem in problems:
        print(problem)
    path = Path(lock) if lock else lock_path(catalog_path)
    lock = read_lock(path)
    findings = check_lock(catalog, lock) if lock else []
    for finding in findings:
        print(finding, file=sys.stderr)
    if lock is None:
        print(
            f"Note: no lock file {path}: nothing released to compare with; "
            "'profiler metrics release' writes it.",
            file=sys.stderr,
        )
    drift = [f for f in findings if f.level == "error"]
    target_problems = check_targets_file(catalog, targets_file, data, car)
    if target_problems:
        print(f"{target_problems} problem(s) in the targets table.", file=sys.stderr)
    if problems or drift or target_problems:
        print(
            f"{len(problems)} problem(s) in the catalog, {len(drift)} against its lock.",
            file=sys.stderr,
        )
        return 1
    checked = "" if car_columns is not None else " (CAR columns not checked: give --car DIR)"
    locked = "" if lock is None else _lock_summary(findings, path)
    print(f"{catalog.stamp}: {len(catalog.metrics)} metrics, no problems{checked}{locked}.")
    return 0


def _lock_summary(findings: list, path: Path) -> str:
    warnings = sum(f.level == "warning" for f in findings)
    notes = sum(f.level == "note" for f in findings)
    if not warnings and not notes:
        return f"; as released in {path}"
    return f"; {warnings} warning(s) and {notes} note(s) against {path}"


@metrics.command(
    "release",
    short_help="record every metric's version and definition in the lock (catalog.lock)",
    epilog="""\b
Example:
  profiler metrics release""",
)
@catalog_option
@lock_option
def release(catalog: str | None, lock: str | None) -> int:
    """Write the lock: the catalog version and each metric's version, definition hash and
    defining fields. Refused while a definition changed without a new version, or a metric
    re-versioned or removed under an already released catalog version.
    """
    from profiler.catalog import load_catalog, validate
    from profiler.catalog_lock import check_lock, diff_lock, lock_path, read_lock, write_lock

    catalog_path, catalog = catalog, load_catalog(catalog)
    problems = validate(catalog)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"Error: {len(problems)} problem(s) in the catalog: nothing released.", file=sys.stderr
        )
        return 1
    path = Path(lock) if lock else lock_path(catalog_path)
    lock = read_lock(path)
    findings = check_lock(catalog, lock) if lock else []
    blocking = [f for f in findings if f.blocks]
    for finding in blocking:
        print(dataclasses.replace(finding, level="error"), file=sys.stderr)
    if blocking:
        print(
            f"{len(blocking)} problem(s): nothing released; {path} is unchanged.", file=sys.stderr
        )
        return 1
    changes = diff_lock(lock, catalog) if lock else []
    write_lock(catalog, path)
    if lock is None:
        print(f"Released {catalog.stamp}: {len(catalog.metrics)} metrics, first lock at {path}.")
        return 0
    print(f"Released {catalog.stamp} to {path} (the lock had {lock.catalog_version}).")
    for row in changes:
        if row["change"] in ("added", "removed"):
            version = row["new_version"] or row["old_version"]
            print(f"  {row['change']:<8} {row['metric']} (version {version})")
        else:
            print(f"  {row['change']:<8} {row['metric']}: {'; '.join(row['details'])}")
    if not changes:
        print("  no metric changed since the last release.")
    return 0


@metrics.command(
    "diff",
    short_help="metrics added, removed and changed since the lock, or between two catalogs",
    epilog="""\b
Example:
  profiler metrics diff
  profiler metrics diff signed-off/metrics templates/metrics --csv""",
)
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--catalog", metavar="PATH", help=f"without OLD NEW: the {CATALOG_HELP}")
@click.option("--lock", metavar="FILE", help=f"without OLD NEW: {LOCK_HELP}")
@output_options()
def diff(old: str | None, new: str | None, catalog: str | None, lock: str | None, csv: bool) -> int:
    """Metrics added, removed and changed (with the changed fields) from OLD (the catalog
    Finance signed off) to NEW (the proposed one), folders or YAML files; without OLD and NEW,
    from the lock (the last release) to the catalog, with the released and current definitions
    side by side.
    """

    from profiler.catalog import diff as diff_catalogs
    from profiler.catalog import load_catalog

    if (old is None) != (new is None):
        raise click.UsageError(
            "give both OLD and NEW catalogs, or neither to compare the catalog with its lock."
        )
    if old is None:
        return _diff_lock(catalog, lock, csv)
    if catalog or lock:
        raise click.UsageError(
            "--catalog and --lock are for a diff against the lock, without OLD NEW."
        )
    old, new = load_catalog(old), load_catalog(new)

    def definitions(row: dict) -> list[tuple[str, str]]:
        before, after = old.metrics.get(row["metric"]), new.metrics.get(row["metric"])
        if before and after and before.definition_hash != after.definition_hash:
            return [("old:", expression_text(before)), ("new:", expression_text(after))]
        return []

    return _show_diff(
        diff_catalogs(old, new),
        ["metric", "change", "fields", "details", "old_hash", "new_hash"],
        csv,
        title=f"From {old.stamp} to {new.stamp}:",
        nothing="no metric added, removed or changed.",
        heading=lambda row: row["metric"],
        definitions=definitions,
        re_versioned=False,
    )


def _show_diff(
    rows: list[dict],
    columns: list[str],
    csv: bool,
    *,
    title: str,
    nothing: str,
    heading: Callable[[dict], str],
    definitions: Callable[[dict], list[tuple[str, str]]],
    re_versioned: bool,
) -> int:
    """A catalog diff as CSV, or one line per metric with its details, then the tally."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    frame["details"] = frame["details"].map(" | ".join)
    if csv:
        print_csv(frame)
        return 0
    print(title)
    if frame.empty:
        print(nothing)
        return 0
    for row in rows:
        print(f"  {row['change']:<8} {heading(row)}")
        for detail in row["details"]:
            print(f"             {detail}")
        for label, text in definitions(row):
            print(f"             {label} {text}")
    counts = frame["change"].value_counts()
    tally = [f"{counts.get(k, 0)} {k}" for k in ("added", "removed", "changed")]
    if re_versioned:
        tally.append(f"{counts.get('version', 0)} re-versioned")
    print(", ".join(tally))
    return 0


def _diff_lock(catalog_path: str | None, lock_file: str | None, csv: bool) -> int:
    """From the last release (the lock) to the catalog: what the next release records."""

    from profiler.catalog import load_catalog
    from profiler.catalog_lock import diff_lock, lock_path, read_lock
    from profiler.errors import UsageError

    catalog = load_catalog(catalog_path)
    path = Path(lock_file) if lock_file else lock_path(catalog_path)
    lock = read_lock(path)
    if lock is None:
        raise UsageError(
            f"no lock file {path}: nothing released to compare with; give OLD NEW catalogs, "
            "or run 'profiler metrics release' first."
        )
    rows = diff_lock(lock, catalog)
    for row in rows:
        row["old_definition"] = expression_text(row["old"]) if row["old"] else ""
        row["new_definition"] = expression_text(row["new"]) if row["new"] else ""
    columns = [
        "metric",
        "change",
        "fields",
        "details",
        "old_version",
        "new_version",
        "old_definition",
        "new_definition",
        "old_hash",
        "new_hash",
        "where",
    ]

    def definitions(row: dict) -> list[tuple[str, str]]:
        if row["change"] != "changed":
            return []
        return [("released:", row["old_definition"]), ("now:     ", row["new_definition"])]

    return _show_diff(
        rows,
        columns,
        csv,
        title=f"From {path} (metric catalog {lock.catalog_version}, released) to {catalog.stamp}:",
        nothing="no metric added, removed, changed or re-versioned since the release.",
        heading=lambda row: f"{row['metric']} ({row['where']})",
        definitions=definitions,
        re_versioned=True,
    )
