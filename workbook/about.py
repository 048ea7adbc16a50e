"""What the workbook says about itself: the About sheet, the My formulas sheet, each sheet's
stamp line and buttons.

Texts and worked examples only, computed from the engine; workbook/builder.py places and formats
them.  Kept apart from the writer so that a change of wording, of a fact on the About sheet or of
a function's example is made here, without reading cell-writing code, and so the snapshot and
the live book can reuse the same words.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from profiler import availability, cells
from profiler.query import QueryEngine

TITLE = "Customer Profiler"
UDF_MODULE = "udfs.profiler_udfs"  # the Python module of the Excel functions (xlwings.conf)
SMALL_MARK = (
    "Cells on fewer than {k} customers are shaded grey and italic; snapshots suppress them."
)

# Buttons (macro of templates/vba/Profiler.bas, caption): on every view sheet, on the
# Reconciliation sheet besides, and on the About sheet.
SHEET_BUTTONS = [("RefreshThisSheet", "Refresh this sheet")]
RECONCILIATION_BUTTONS = [("RunReconciliation", "Run reconciliation")]
ABOUT_BUTTONS = [
    ("RefreshAll", "Refresh all sheets"),
    ("RunReconciliation", "Run reconciliation"),
    ("TakeSnapshot", "Take snapshot"),
]


def build_stamp(engine: QueryEngine) -> str:
    """The line under each sheet's title: data as of, catalog, when built, the small-cell rule."""
    return (
        f"Data as of {engine.as_of:%Y-%m-%d} · {engine.stamp} · built "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · "
        + SMALL_MARK.format(k=engine.cohorts.min_size)
    )


def about_facts(
    engine: QueryEngine, layout: dict[str, Any], settings: dict[str, str]
) -> list[tuple[str, str]]:
    """The About sheet's (topic, text) rows: what the workbook is, its data, how to use and
    refresh it, its functions, settings, checks, protection and snapshots, and what was left
    out for want of a source table."""
    facts = [
        (
            "What it is",
            "One trusted view of the customer base: the agreed metric catalog served for any cohort and period from the Customer Analytic Record (CAR).",
        ),
        ("Data as of", f"{engine.as_of:%Y-%m-%d} ({engine.n:,} customers)"),
        ("Metric catalog", engine.stamp),
        (
            "CAR folder",
            settings.get("PROFILER_CAR") or "(not set: $PROFILER_CAR is used)",
        ),
        ("Small cells", SMALL_MARK.format(k=engine.cohorts.min_size)),
        (
            "How to use",
            "Choose values in the yellow input cells of each sheet (each says what it accepts), then refresh. Sheets: "
            + ", ".join(s["name"] for s in layout["sheets"][1:])
            + ".",
        ),
        (
            "Refresh in Excel",
            "Press a sheet's 'Refresh this sheet' button, or 'Refresh all sheets' above. The buttons run the installed profiler (xlwings RunPython), whatever the file is called. Set-up and messages: docs/excel-guide.md.",
        ),
        (
            "Refresh without Excel",
            "profiler refresh Customer_Profiler.xlsm [--car DIR] (a scheduled refresh; the file is replaced only when complete).",
        ),
        (
            "Excel functions",
            "=CP_METRIC(metric, cohort, period), CP_COMPARE, CP_DEEP_DIVE, CP_RETENTION, CP_DASHBOARD, CP_DEFINITION, CP_METRICS, CP_COHORTS, CP_CLV, CP_MIGRATION, CP_CUSTOMER(id), CP_CAMPAIGN(name, figure), CP_BREAKDOWN: run xlwings 'Import Functions' once (module "
            + UDF_MODULE
            + "). Worked examples and room for your own: the My formulas sheet.",
        ),
        (
            "Configuration",
            "The hidden xlwings.conf sheet (right-click a tab > Unhide): PROFILER_CAR (the CAR folder) and PROFILER_DATA (source data: a snapshot looks for customers' names in it; the reconciliation and CLV holdout come from the CAR folder), relative to this workbook's folder unless absolute; the environment variables of the same names are used when the sheet has none. PROFILER_PERSONAL_DATA: yes shows a customer's name, e-mail and phone on the Customer sheet where consent allows (default no). Interpreter_Win: full path to python.exe.",
        ),
        (
            "Checks",
            "PASS/BREAK cells recompute in Excel: e.g. the strategy segments' net sales add up to the buyers' total.",
        ),
        (
            "Protection",
            "Every sheet is protected without a password (Review > Unprotect Sheet); only the yellow inputs are editable.",
        ),
        (
            "Snapshots",
            "The 'Take snapshot' button, or profiler snapshot Customer_Profiler.xlsm --out FILE.xlsx: values only, no personal data, small cells suppressed; the Customer sheet is left out.",
        ),
    ]
    rights = (engine.generation.meta if engine.generation is not None else {}).get(
        "data_rights"
    ) or {}
    if rights.get("retention_cutoff"):
        facts.append(
            (
                "Retention period",
                f"Order lines before {rights['retention_cutoff']} are left out: the data's "
                f"retention period is {rights['retention_years']} years.",
            )
        )
    missing = availability.left_out(engine)
    facts.append(
        (
            "Left out",
            "; ".join(f"{what}: {why}" for what, why in missing)
            if missing
            else "Nothing: every table of the data contract was provided.",
        )
    )
    return facts


MY_FORMULAS_TITLE = "My formulas"


def formulas_intro(engine: QueryEngine) -> str:
    """The line under the My formulas title."""
    return (
        "The profiler's Excel functions. Run xlwings 'Import Functions' once (docs/excel-guide.md); "
        "tables spill into the cells below and to the right. Results on fewer than "
        f"{engine.cohorts.min_size} customers show n<{engine.cohorts.min_size}. This sheet is not "
        "protected: write your own formulas below."
    )


def formula_examples(
    engine: QueryEngine, inputs: dict[str, Any], data: str | None = None
) -> list[tuple[str, str, Any]]:
    """A worked example of each Excel function: (function, formula, what it returns here),
    the result computed by the same call the function makes (profiler/cells.py); ``data`` is
    the workbook's data folder (CP_CAMPAIGN reads the campaigns there)."""
    first = inputs.get("CompareCohort1") or engine.cohorts.base
    second = inputs.get("CompareCohort2") or engine.cohorts.base
    period = inputs.get("ComparePeriod") or "asof"
    quarter = inputs.get("DashboardPeriod") or period
    calls = [
        ("CP_METRIC", ("net_sales", first, period), cells.metric),
        ("CP_COMPARE", ("net_sales,buyers", f"{first},{second}", period), cells.compare),
        ("CP_DEEP_DIVE", (first, "sales", period), cells.deep_dive),
        ("CP_RETENTION", ("quarter", "active"), cells.retention),
        ("CP_DASHBOARD", (quarter,), cells.dashboard),
        ("CP_DEFINITION", ("net_sales",), cells.definition),
        ("CP_METRICS", (), cells.metrics_list),
        ("CP_COHORTS", (), cells.cohorts_list),
        ("CP_CLV", (first,), cells.clv),
        (
            "CP_MIGRATION",
            ("lifecycle", inputs.get("MigrationFrom") or f"{engine.as_of:%Y-%m-%d}"),
            cells.migration,
        ),
        ("CP_BREAKDOWN", ("net_sales", "category", first, period), cells.breakdown),
    ]
    out = []
    for name, args, call in calls:
        formula = "=" + name + "(" + ",".join(f'"{a}"' for a in args) + ")"
        out.append((name, formula, call(*args, car=engine)))  # type: ignore[arg-type]
    campaign = _first_campaign(data)
    out.append(
        (
            "CP_CAMPAIGN",
            f'=CP_CAMPAIGN("{campaign}","uplift")',
            cells.campaign(campaign, "uplift", None, data),
        )
    )
    # One customer's profile: the id typed on the Customer sheet (its named input cell), never
    # a customer chosen here; no personal data in the example.
    chosen = inputs.get("CustomerId") or ""
    out.append(("CP_CUSTOMER", "=CP_CUSTOMER(CustomerId)", cells.customer(chosen, car=engine)))
    return out


def _first_campaign(data: str | None) -> str:
    """The first campaign of the data folder's register, for CP_CAMPAIGN's example."""
    from profiler.campaigns import campaign_list
    from profiler.errors import ProfilerError

    try:
        folder = data or os.environ.get("PROFILER_DATA")
        names = campaign_list(folder)["campaign"] if folder else []
    except (ProfilerError, OSError, ValueError):
        names = []
    return str(names[0]) if len(names) else "Spring reactivation"


FORMULA_ROWS = 8  # rows of a spilled result shown in an example
USER_AREA = "Your own formulas (kept when the workbook is refreshed)"
