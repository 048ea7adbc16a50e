"""``profiler metrics``: list, show, check and diff the metric catalog."""

from __future__ import annotations

import argparse
import sys
import textwrap

from workbook.cli_output import print_csv, print_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics",
        help="list, show, check and diff the metric catalog",
        description="The metric catalog: one agreed definition of every metric (templates/metrics/).",
    )
    msub = p.add_subparsers(dest="metrics_command", metavar="COMMAND")
    msub.required = True
    catalog_help = "catalog folder or YAML file (default: templates/metrics)"

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
        help="validate the catalog; exit 1 on any problem",
        description="Validate the catalog and print every problem as file:line: message.",
    )
    c.add_argument("--catalog", help=catalog_help)
    c.add_argument("--car", help="a built CAR folder, to check the CAR columns metrics read")
    c.set_defaults(func=run_check)

    c = msub.add_parser(
        "diff",
        help="metrics added, removed and changed between two catalogs",
        description="Metrics added, removed and changed (with the changed fields) from OLD to NEW.",
    )
    c.add_argument("old", help="the catalog Finance signed off (folder or YAML file)")
    c.add_argument("new", help="the proposed catalog (folder or YAML file)")
    c.add_argument("--csv", action="store_true", help="print CSV")
    c.set_defaults(func=run_diff)


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
    """The definition as one readable line, e.g. sum(net_gbp) over order_lines where ..."""
    if m.aggregation in ("ratio", "rate"):
        return f"{m.numerator} / {m.denominator or m.base}"
    if m.aggregation == "derived":
        return str(m.expression)
    target = m.column or "*"
    if m.aggregation == "percentile":
        head = f"percentile({target}, {m.percentile})"
    else:
        head = f"{m.aggregation}({target})"
    when = f", dated by {m.date_column}" if m.date_column else ", as of the CAR date"
    where = f" where {m.filter}" if m.filter else ""
    return f"{head} over {m.source}{where}{when}"


def run_check(args: argparse.Namespace) -> int:
    from profiler.catalog import load_catalog, validate

    catalog = load_catalog(args.catalog)
    car_columns = None
    if args.car:
        from profiler import store

        car_columns = store.open_generation(args.car).car_columns()
    problems = validate(catalog, car_columns)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in the catalog.", file=sys.stderr)
        return 1
    checked = "" if car_columns is not None else " (CAR columns not checked: give --car DIR)"
    print(f"{catalog.stamp}: {len(catalog.metrics)} metrics, no problems{checked}.")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    import pandas as pd

    from profiler.catalog import diff, load_catalog

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
    counts = frame["change"].value_counts()
    print(", ".join(f"{counts.get(k, 0)} {k}" for k in ("added", "removed", "changed")))
    return 0
