"""The Definitions and Cohort definitions sheets' content: every metric shown and every cohort.

Unlike the other sheets (workbook/content.py), these are made when the workbook is written,
from what the other sheets ended up showing, so the definitions list exactly the metrics a reader
sees; the builder and the snapshot both call them.
"""

from __future__ import annotations

import pandas as pd

from profiler.query import QueryEngine
from workbook.content import Block, SheetContent


def definitions_content(engine: QueryEngine, shown: list[str]) -> SheetContent:
    """The Definitions sheet: every metric shown, and every cohort with its size."""
    names = [m for m in dict.fromkeys(shown) if m in engine.catalog.metrics]
    rows = []
    for name in names:
        m = engine.metric(name)
        rows.append(
            [
                m.label,
                name,
                m.description,
                m.area,
                m.unit,
                m.owner,
                m.status,
                m.approved_by,  # who signed the definition off, and when (YYYY-MM-DD, as text)
                m.approved_on,
                m.version,
                m.hash,
            ]
        )
    metrics = pd.DataFrame(
        rows,
        columns=[
            "Label",
            "Metric",
            "Description",
            "Area",
            "Unit",
            "Owner",
            "Status",
            "Approved by",
            "Approved on",
            "Version",
            "Hash",
        ],
    )
    return SheetContent(
        "Definitions",
        [
            Block(
                "metric_definitions",
                f"Every metric shown in this workbook ({engine.stamp})",
                metrics,
                units={"Version": "count"},
            )
        ],
    )


def cohort_definitions_content(engine: QueryEngine, name: str) -> SheetContent:
    """Every cohort with its definition and size (its own sheet: each long table of the
    definitions prints with its header on every page)."""
    cohorts = engine.cohorts
    crow = []
    for d in cohorts.definitions.values():
        crow.append(
            [
                d.name,
                d.group,
                d.by or "",
                "" if d.value is None else str(d.value),
                d.definition,
                cohorts.size(d.name),
            ]
        )
    cohort_frame = pd.DataFrame(
        crow, columns=["Cohort", "Group", "Column", "Value", "Definition", "Customers"]
    )
    # A size is a count of customers: under the minimum it is shaded, and a snapshot hides it.
    sizes = pd.DataFrame({"Customers": cohort_frame["Customers"].astype(float)}).reindex(
        columns=cohort_frame.columns
    )
    return SheetContent(
        name,
        [
            Block(
                "cohort_definitions",
                "Cohorts (templates/cohorts.yaml), membership as of the CAR's date",
                cohort_frame,
                units={"Customers": "customers"},
                customers=sizes,
            ),
        ],
    )
