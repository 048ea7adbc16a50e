"""``--by DIMENSION`` on summary, deep-dive and compare: the views' breakdowns in the terminal.

The numbers come from ``views.breakdown`` and ``views.deep_dive_breakdowns`` (one engine
function, ``QueryEngine.breakdown``); this module only lays them out: one row per metric and
dimension value, each value in its metric's format, shares as percentages, small cells marked.
"""

from __future__ import annotations

import pandas as pd

from workbook.cli.output import (
    CHANGE,
    COUNT,
    INDEX,
    PERCENT,
    display_format,
    print_table,
)

ALL = "all"  # deep-dive --by all: every insight area's breakdowns


def _displays(engine, metrics) -> list:  # noqa: ANN001
    return [display_format(engine.metric(m)) for m in metrics]


def print_summary(engine, frame: pd.DataFrame) -> None:  # noqa: ANN001
    """Cohorts x metrics x dimension values, long: one row each."""
    shown = _displays(engine, frame["metric"])
    table = frame[["cohort", "metric", "period", "dimension_value", "value", "share", "customers"]]
    print_table(
        table.rename(columns={"dimension_value": frame["dimension"].iloc[0]}),
        formats={"value": shown, "share": PERCENT, "customers": COUNT},
        flags={"value": frame["small"].tolist()},
        min_size=engine.cohorts.min_size,
    )


def print_deep_dive(engine, frame: pd.DataFrame) -> None:  # noqa: ANN001
    """The cohort's value and share per dimension value, beside the base's, with the index of
    the shares."""
    shown = _displays(engine, frame["metric"])
    table = frame[
        [
            "area",
            "metric",
            "dimension",
            "dimension_value",
            "value",
            "share",
            "base_value",
            "base_share",
            "share_index",
            "customers",
        ]
    ].rename(columns={"dimension_value": "value of dimension"})
    print_table(
        table,
        formats={
            "value": shown,
            "base_value": shown,
            "share": PERCENT,
            "base_share": PERCENT,
            "share_index": INDEX,
            "customers": COUNT,
        },
        flags={"value": frame["small"].tolist()},
        min_size=engine.cohorts.min_size,
    )


def print_compare(engine, frame: pd.DataFrame, cohorts: list[str], vs: bool) -> None:  # noqa: ANN001
    """One row per metric and dimension value, the cohorts side by side (value, share, and
    the change against --vs)."""
    key = ["metric", "dimension_value"]
    first = frame[frame["cohort"] == cohorts[0]]
    table = first[[*key, "period"]].reset_index(drop=True)
    shown = _displays(engine, table["metric"])
    formats: dict = {}
    flags: dict = {}
    headers: dict = {"dimension_value": str(frame["dimension"].iloc[0])}
    groups = [("", 3)]
    for i, cohort in enumerate(cohorts):
        mine = (
            frame[frame["cohort"] == cohort]
            .set_index(key)
            .reindex(pd.MultiIndex.from_frame(table[key]))
        )
        value, share = f"value {i}", f"share {i}"
        table[value] = mine["value"].to_numpy()
        table[share] = mine["share"].to_numpy()
        formats[value], formats[share] = shown, PERCENT
        flags[value] = mine["small"].fillna(False).astype(bool).tolist()
        headers[value], headers[share] = "value", "share"
        width = 2
        if vs:
            change = f"change {i}"
            table[change] = mine["change_pct"].to_numpy()
            formats[change] = CHANGE
            headers[change] = "vs %"
            width = 3
        groups.append((cohort, width))
    print_table(
        table,
        formats=formats,
        flags=flags,
        min_size=engine.cohorts.min_size,
        groups=groups,
        headers=headers,
    )
