"""``profiler subject-access ID --out FILE``: everything held about one customer, for them."""

from __future__ import annotations

from pathlib import Path

import click

from workbook.cli.options import car_option


@click.command(
    "subject-access",
    short_help="everything held about one customer, as a file to send them (JSON or .xlsx)",
    epilog="""\b
Example:
  profiler subject-access 1042 --out 1042.xlsx --car car/ --data data/
  profiler subject-access 1042 --out 1042.json""",
)
@click.argument("customer_id")
@click.option("--out", required=True, metavar="FILE", help="file to write: .json or .xlsx")
@car_option
@click.option(
    "--data",
    metavar="DIR",
    help="the source data folder the CAR was built from (default: $PROFILER_DATA)",
)
def subject_access(customer_id: str, out: str, car: str | None, data: str | None) -> int:
    """Write CUSTOMER_ID's subject-access file: their rows of every source table (personal data
    included: the file is for them), every CAR column with its definition, their cohorts,
    audiences and campaigns, their consent and whether they objected to profiling."""
    from profiler.errors import ProfilerError
    from profiler.subject_access import subject_access as gather
    from profiler.subject_access import write_json

    suffix = Path(out).suffix.lower()
    if suffix not in (".json", ".xlsx"):
        raise ProfilerError(f"--out {out}: expected a file ending .json or .xlsx.")
    report = gather(customer_id, car, data)
    if suffix == ".json":
        path = write_json(report, out)
    else:
        from workbook.subject_access import write_xlsx

        path = write_xlsx(report, out)
    counts = ", ".join(f"{len(rows)} {name}" for name, rows in report.source.items())
    print(
        f"Subject access for customer {report.customer_id}: {path} "
        f"(source rows: {counts or 'none'}; {len(report.sections['cohorts'])} cohorts; "
        f"{len(report.sections['audiences'])} audiences). Personal data: send it only to the "
        "customer."
    )
    return 0
