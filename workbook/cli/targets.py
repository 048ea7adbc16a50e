"""Actuals against targets on the terminal: the columns ``profiler dashboard`` adds, and the
"Against target" table ``profiler summary`` and ``profiler compare`` print below theirs.

The numbers come from ``profiler/targets.py`` (through the views); this module only formats
them, and prints nothing where no value has a target (a CAR built without a targets table).
"""

from __future__ import annotations

from typing import Any

from workbook.cli.output import PERCENT, Display, display_format, print_table

VERDICT_WORDS = {"good": "better", "bad": "worse"}


def variance_format(unit: str, shown: Display) -> Display:
    """A variance in its unit of difference: pp for shares, points for scores, else the
    metric's own format, signed."""
    if unit == "pp":
        return Display("pp", 1)
    if unit == "points":
        return Display("points", 1)
    return Display(shown.kind if shown.kind in ("money", "count") else "number", shown.decimals)


def verdict_words(verdicts: Any) -> list[str]:
    """better / worse than the target, by the metric's polarity."""
    return [VERDICT_WORDS.get(str(v), "") for v in verdicts]


def dashboard_columns(engine: Any, frame: Any, table: Any, formats: dict, headers: dict) -> None:
    """Target, variance, % of target and the verdict as columns of the dashboard's table (in
    place), when any KPI has a target."""
    from profiler.targets import has_targets

    if not has_targets(frame):
        return
    shown = [display_format(engine.metric(m)) for m in frame["metric"]]
    table["target"] = frame["target"].to_numpy()
    table["variance"] = [
        v if t == t else float("nan")
        for v, t in zip(frame["variance"], frame["target"], strict=True)
    ]
    table["pct_of_target"] = frame["pct_of_target"].to_numpy()
    table["vs_target"] = verdict_words(frame["verdict_vs_target"])
    formats["target"] = shown
    formats["variance"] = [
        variance_format(u, s) for u, s in zip(frame["variance_unit"], shown, strict=True)
    ]
    formats["pct_of_target"] = PERCENT
    headers.update({"pct_of_target": "% of target", "vs_target": ""})


def print_against_target(engine: Any, frame: Any) -> None:
    """Below summary and compare: one row per value that has a target (cohort, metric, period,
    value, target, variance, % of target, better or worse, owner); nothing when none has."""
    import pandas as pd

    from profiler.targets import has_targets

    if not has_targets(frame):
        return
    rows = frame[frame["target"].notna()].reset_index(drop=True)
    shown = [display_format(engine.metric(m)) for m in rows["metric"]]
    table = pd.DataFrame(
        {
            "cohort": rows["cohort"],
            "metric": rows["metric"],
            "period": rows["period"],
            "value": rows["value"],
            "target": rows["target"],
            "variance": rows["variance"],
            "pct_of_target": rows["pct_of_target"],
            "vs_target": verdict_words(rows["verdict_vs_target"]),
            "owner": rows["target_owner"],
        }
    )
    print("\nAgainst target:")
    print_table(
        table,
        formats={
            "value": shown,
            "target": shown,
            "variance": [
                variance_format(u, s) for u, s in zip(rows["variance_unit"], shown, strict=True)
            ],
            "pct_of_target": PERCENT,
        },
        flags={"value": rows["small"].astype(bool).tolist()},
        min_size=engine.cohorts.min_size,
        headers={"pct_of_target": "% of target", "vs_target": ""},
    )


def check_targets_file(
    catalog: Any, targets_file: str | None, data: str | None, car: str | None
) -> int:
    """``profiler metrics check --targets FILE | --data DIR``: every problem of the targets
    table, one line each on stdout; the number of problems (0 when none, or no table)."""
    from pathlib import Path

    from profiler.errors import ContractError
    from profiler.targets import check_targets

    if targets_file is None and data is None:
        return 0
    if targets_file is not None:
        path = Path(targets_file)
        if not path.is_file():
            raise ContractError(f"{path}: no such targets file.")
    else:
        from profiler.loading import find_source_file, source_folder

        found = find_source_file(source_folder(data), "targets")
        if found is None:
            print(f"Note: {data}: no targets table (targets.csv or targets.parquet) to check.")
            return 0
        path = found
    cohorts = None
    if car:
        from profiler.query import QueryEngine

        cohorts = QueryEngine.open(car, catalog=catalog).cohorts
    lines = check_targets(path, catalog, cohorts=cohorts)
    for line in lines:
        print(line)
    if not lines:
        checked = "" if cohorts is not None else " (cohorts not checked: give --car DIR)"
        print(f"{path.name}: targets checked, no problems{checked}.")
    return len(lines)
