"""The workbook's input cells: where each is, what it accepts, and reading what Excel left in it.

Input cells are formatted as Text so Excel keeps ``2025`` and ``2026-06`` as typed, but a value
pasted or typed before that format, or a file edited elsewhere, can still hold a number or a
date.  ``input_text`` turns those back into the period the user meant; ``check_inputs`` checks
every value before anything is computed and names the sheet and cell of a wrong one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pandas as pd

from profiler.errors import ProfilerError
from profiler.periods import parse_period
from profiler.query import QueryEngine
from workbook.layout import INPUT_ROW

# What each list accepts, as said in the cell's input message and in errors.
ACCEPTS = {
    "periods": "a period: YYYY, YYYY-Qn, YYYY-MM, ytd:YYYY-MM, r12:YYYY-MM or asof",
    "cohorts": "a cohort from the dropdown, or two joined with ' & ' (customers in both)",
    "grains": "month or quarter",
    "measures": "active, revenue or cumulative_spend",
    "modes": "in (active in the period) or in_or_after (active then or later)",
    "memberships": "as of D (members at the CAR's date) or at each period's end",
    "migration_axes": "strategy, lifecycle or value_tier",
    "migration_days": "a day, YYYY-MM-DD, on or before the CAR's date",
    "dimensions": "a dimension from the dropdown (channel, category, ...), or empty for none",
}


def input_lists(engine: QueryEngine) -> dict[str, list[str]]:
    """The dropdowns' choices (the hidden Lists sheet), by list name."""
    from profiler.breakdown import all_dimensions
    from workbook.content import MEMBERSHIPS, period_choices

    return {
        "cohorts": engine.cohorts.names,
        "periods": period_choices(engine),
        "grains": ["month", "quarter"],
        "measures": ["active", "revenue", "cumulative_spend"],
        "modes": ["in", "in_or_after"],
        "memberships": list(MEMBERSHIPS),
        "migration_axes": ["strategy", "lifecycle", "value_tier"],
        "migration_days": migration_days(engine),
        "dimensions": all_dimensions(engine.catalog),
    }


def migration_days(engine: QueryEngine) -> list[str]:
    """The Migration sheet's suggested days: the CAR's date, a year before it, and the last
    twelve quarter ends before it (any other day on or before it may be typed)."""
    import pandas as pd

    d = engine.as_of
    ends = pd.date_range(end=d - pd.Timedelta(days=1), periods=12, freq="QE")[::-1]
    days = [d, d - pd.DateOffset(years=1), *ends]
    return list(dict.fromkeys(f"{day:%Y-%m-%d}" for day in days))


def input_cells(layout: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Each input's name -> (sheet, cell, its layout entry)."""
    out = {}
    for sheet in layout["sheets"]:
        for i, item in enumerate(sheet.get("inputs") or []):
            out[item["name"]] = (sheet["name"], f"B{INPUT_ROW + i + 1}", item)
    return out


def input_text(value: Any) -> str:
    """What a user meant by an input cell's value: a whole number is a year (``2025.0`` ->
    ``2025``), a date a month (``2026-06-01`` -> ``2026-06``, as Excel turns a typed
    ``2026-06`` into the first of that month), text as typed, empty as ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, dt.datetime | dt.date):
        return f"{value:%Y-%m}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def check_inputs(engine: QueryEngine, layout: dict[str, Any], inputs: dict[str, str]) -> None:
    """One line naming the sheet, cell and what was expected, for the first wrong input."""
    lists = input_lists(engine)
    for name, (sheet, cell, item) in input_cells(layout).items():
        value = inputs.get(name, "")
        kind = item.get("list")
        where = f"{sheet}!{cell} ({item.get('label', name)})"
        if value == "":
            if item.get("default", "") == "":
                continue  # an optional input (e.g. a fifth cohort)
            raise ProfilerError(f"{where} is empty; expected {ACCEPTS.get(kind, 'a value')}.")
        if kind == "periods":
            if value != "asof":
                try:
                    parse_period(value)
                except ProfilerError as err:
                    raise ProfilerError(f"{where}: {err} Expected {ACCEPTS[kind]}.") from None
        elif kind == "cohorts":
            try:
                engine.cohorts.mask(value)
            except ProfilerError as err:
                raise ProfilerError(f"{where}: {err} Expected {ACCEPTS[kind]}.") from None
        elif kind == "migration_days":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) or pd.isna(
                pd.to_datetime(value, errors="coerce")
            ):
                raise ProfilerError(f"{where}: '{value}' is not {ACCEPTS[kind]}.")
        elif kind in lists and value not in lists[kind]:
            raise ProfilerError(
                f"{where}: '{value}' is not one of {ACCEPTS.get(kind, lists[kind])}."
            )
