"""``profiler metrics``: list, show, check, release and diff the metric catalog, and print a
metric as SQL for the retailer's own warehouse."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
from pathlib import Path

from workbook.cli_output import print_csv, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics",
        help="list, show, check, release and diff the metric catalog; print a metric as SQL",
        description="The metric catalog: one agreed definition of every metric (templates/metrics/).",
    )
    msub = p.add_subparsers(dest="metrics_command", metavar="COMMAND")
    msub.required = True
    catalog_help = "catalog folder or YAML file (default: templates/metrics)"
    lock_help = "the lock file (default: catalog.lock in the catalog folder, or FILE.lock)"

    c = msub.add_parser("list", help="one line per metric", description="One line per metric.")
    c.add_argument("--catalog", help=catalog_help)
    c.add_argument("--area", help="only this insight area")
    c.add_argument("--csv", action="store_true", help="print CSV")
    c.set_defaults(func=run_list)

    c = msub.add_parser("show", help="one metric in full", description="One metric in full.")
    c.add_argument("name")
    c.add_argument("--catalog", help=catalog_help)
    c.set_defaults(func=run_show)

    c = msub.add_parser(
        "check",
        help="validate the catalog and compare it with its lock; exit 1 on any problem",
        description=(
            "Validate the catalog and print every problem as file:line: message; then compare "
            "it with its lock (catalog.lock): a metric whose definition changed while its "
            "version did not is an error, a raised version not yet released a warning, a metric "
            "not in the lock a note. Example: profiler metrics check"
        ),
    )
    c.add_argument("--catalog", help=catalog_help)
    c.add_argument("--car", help="a built CAR folder, to check the CAR columns metrics read")
    c.add_argument("--lock", help=lock_help)
    c.set_defaults(func=run_check)

    c = msub.add_parser(
        "release",
        help="record every metric's version and definition in the lock (catalog.lock)",
        description=(
            "Write the lock: the catalog version and each metric's version, definition hash "
            "and defining fields. Refused while a definition changed without a new version, "
            "or a metric re-versioned or removed under an already released catalog version. "
            "Example: profiler metrics release"
        ),
    )
    c.add_argument("--catalog", help=catalog_help)
    c.add_argument("--lock", help=lock_help)
    c.set_defaults(func=run_release)

    c = msub.add_parser(
        "diff",
        help="metrics added, removed and changed since the lock, or between two catalogs",
        description=(
            "Metrics added, removed and changed (with the changed fields) from OLD to NEW; "
            "without OLD and NEW, from the lock (the last release) to the catalog, with the "
            "released and current definitions side by side. Example: profiler metrics diff"
        ),
    )
    c.add_argument("old", nargs="?", help="the catalog Finance signed off (folder or YAML file)")
    c.add_argument("new", nargs="?", help="the proposed catalog (folder or YAML file)")
    c.add_argument("--catalog", help=f"without OLD NEW: the {catalog_help}")
    c.add_argument("--lock", help=f"without OLD NEW: {lock_help}")
    c.add_argument("--csv", action="store_true", help="print CSV")
    c.set_defaults(func=run_diff)

    c = msub.add_parser(
        "sql",
        help="print a metric for a cohort and period as one SQL query for your warehouse",
        description=(
            "Print the catalog metric NAME for a cohort and period as one SQL query in a "
            "dialect, to run in the retailer's own warehouse: it reads the data contract's "
            "tables under their own names (order_lines, products, surveys, interactions) and "
            "the CAR (car.parquet) as car, and returns one row, the metric. A header comment "
            "says which tables and columns it reads, the definition's version and hash, the "
            "cohort and the period. Metrics that cannot be written honestly (a customer state "
            "for a period, a persona cohort) are refused with the reason. See docs/metrics.md. "
            "Example: profiler metrics sql aov --cohort Buyers --period 2025-Q2 "
            "--dialect snowflake --car out/car"
        ),
    )
    c.add_argument("name", help="a catalog metric (profiler metrics list)")
    c.add_argument(
        "--cohort", help="a cohort of templates/cohorts.yaml (default: the base, All customers)"
    )
    c.add_argument(
        "--period",
        required=True,
        help="YYYY-MM, YYYY-Qn, YYYY, ytd:YYYY-MM, r12:YYYY-MM or asof (the CAR's date)",
    )
    c.add_argument(
        "--dialect", required=True, help="duckdb, spark, snowflake or bigquery (sqlglot's names)"
    )
    c.add_argument(
        "--as-of",
        help="YYYY-MM-DD: read the sources as of this day (default: the CAR's date, so the query "
        "gives profiler's figure); 'latest': as the tables stand when the query runs",
    )
    c.add_argument("--car", help="CAR folder written by 'profiler build' (default: $PROFILER_CAR)")
    c.add_argument("--catalog", help=catalog_help)
    c.add_argument(
        "--no-products",
        action="store_true",
        help="the warehouse has no products table (product attributes take the contract's defaults)",
    )
    c.add_argument(
        "--no-unit-price",
        action="store_true",
        help="order_lines has no unit_price (a line's gross value is net_amount / (1 - discount))",
    )
    c.set_defaults(func=run_sql)


def run_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from profiler.catalog import load_catalog

    catalog = load_catalog(args.catalog)
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
        if not args.area or m.area == args.area
    ]
    frame = pd.DataFrame(rows)
    if args.csv:
        print_csv(frame)
    else:
        print(f"{catalog.stamp}: {len(frame)} metrics")
        print_table(frame)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from profiler.catalog import load_catalog

    catalog = load_catalog(args.catalog)
    m = catalog.get(args.name)
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


def run_sql(args: argparse.Namespace) -> int:
    from profiler.catalog import load_catalog
    from profiler.periods import day_option, parse_period
    from profiler.query import QueryEngine
    from profiler.sql.facts import FactsShape
    from profiler.sql.render import check_dialect, lapsed_days, render_metric

    # What can be told wrong without the CAR is told before it is read.
    catalog = load_catalog(args.catalog)
    catalog.get(args.name)
    dialect = check_dialect(args.dialect.strip().lower())
    if args.period.strip() != "asof":
        parse_period(args.period)
    latest = args.as_of is not None and args.as_of.strip().lower() == "latest"
    given = args.as_of is not None and not latest
    day = day_option("--as-of", args.as_of, iso_only=True) if given else None
    engine = QueryEngine.open(args.car, catalog=catalog)
    as_of = None if latest else (day if day is not None else engine.as_of)
    shape = FactsShape(
        has_products=not args.no_products,
        has_unit_price=not args.no_unit_price,
        product_id_as_text=False,
    )
    rendered = render_metric(
        args.name,
        engine.catalog,
        engine.cohorts,
        args.cohort or engine.cohorts.base,
        args.period,
        dialect,
        car_as_of=engine.as_of,
        car_columns=engine.known_columns,
        as_of=as_of,
        shape=shape,
        lapsed_days=lapsed_days(engine.meta),
    )
    print(rendered.sql)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from profiler.catalog import load_catalog, validate
    from profiler.catalog_lock import check_lock, lock_path, read_lock

    catalog = load_catalog(args.catalog)
    car_columns = None
    if args.car:
        from profiler import store

        car_columns = store.open_generation(args.car).car_columns()
    problems = validate(catalog, car_columns)
    for problem in problems:
        print(problem)
    path = Path(args.lock) if args.lock else lock_path(args.catalog)
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
    if problems or drift:
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


def run_release(args: argparse.Namespace) -> int:
    from profiler.catalog import load_catalog, validate
    from profiler.catalog_lock import check_lock, diff_lock, lock_path, read_lock, write_lock

    catalog = load_catalog(args.catalog)
    problems = validate(catalog)
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"Error: {len(problems)} problem(s) in the catalog: nothing released.", file=sys.stderr
        )
        return 1
    path = Path(args.lock) if args.lock else lock_path(args.catalog)
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


def run_diff(args: argparse.Namespace) -> int:
    import pandas as pd

    from profiler.catalog import diff, load_catalog
    from profiler.errors import UsageError

    if (args.old is None) != (args.new is None):
        raise UsageError(
            "give both OLD and NEW catalogs, or neither to compare the catalog with its lock."
        )
    if args.old is None:
        return _diff_lock(args)
    if args.catalog or args.lock:
        raise UsageError("--catalog and --lock are for a diff against the lock, without OLD NEW.")
    old, new = load_catalog(args.old), load_catalog(args.new)
    rows = diff(old, new)
    frame = pd.DataFrame(
        rows, columns=["metric", "change", "fields", "details", "old_hash", "new_hash"]
    )
    frame["details"] = frame["details"].map(" | ".join)
    if args.csv:
        print_csv(frame)
        return 0
    print(f"From {old.stamp} to {new.stamp}:")
    if frame.empty:
        print("no metric added, removed or changed.")
        return 0
    for row in rows:
        print(f"  {row['change']:<8} {row['metric']}")
        for detail in row["details"]:
            print(f"             {detail}")
        before, after = old.metrics.get(row["metric"]), new.metrics.get(row["metric"])
        if before and after and before.definition_hash != after.definition_hash:
            print(f"             old: {expression_text(before)}")
            print(f"             new: {expression_text(after)}")
    counts = frame["change"].value_counts()
    print(", ".join(f"{counts.get(k, 0)} {k}" for k in ("added", "removed", "changed")))
    return 0


def _diff_lock(args: argparse.Namespace) -> int:
    """From the last release (the lock) to the catalog: what the next release records."""
    import pandas as pd

    from profiler.catalog import load_catalog
    from profiler.catalog_lock import diff_lock, lock_path, read_lock
    from profiler.errors import UsageError

    catalog = load_catalog(args.catalog)
    path = Path(args.lock) if args.lock else lock_path(args.catalog)
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
    frame = pd.DataFrame(rows, columns=columns)
    frame["details"] = frame["details"].map(" | ".join)
    if args.csv:
        print_csv(frame)
        return 0
    print(f"From {path} (metric catalog {lock.catalog_version}, released) to {catalog.stamp}:")
    if frame.empty:
        print("no metric added, removed, changed or re-versioned since the release.")
        return 0
    for row in rows:
        print(f"  {row['change']:<8} {row['metric']} ({row['where']})")
        for detail in row["details"]:
            print(f"             {detail}")
        if row["change"] == "changed":
            print(f"             released: {row['old_definition']}")
            print(f"             now:      {row['new_definition']}")
    counts = frame["change"].value_counts()
    kinds = ("added", "removed", "changed")
    summary = [f"{counts.get(k, 0)} {k}" for k in kinds]
    print(", ".join([*summary, f"{counts.get('version', 0)} re-versioned"]))
    return 0
