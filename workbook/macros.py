"""The workbook's macros, written once against the small ``Book`` interface (workbook/book.py).

The same functions run in Excel (a live xlwings Book: the buttons call ``main()`` of the
workbook's Python module, which dispatches here) and headless (``profiler refresh``, a file on
disk).  A refresh computes every sheet before anything is written, so a mistake in an input cell
stops it with a message and leaves the book as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from profiler import names, store
from profiler.customer import PERSONAL_SETTING, personal_allowed
from profiler.errors import LeftOut
from profiler.query import QueryEngine
from workbook.book_protocol import Book
from workbook.content import (
    PERSONAL_DATA,
    SheetContent,
    default_inputs,
    load_layout,
    sheet_content,
)
from workbook.inputs import check_inputs, input_text


def contents_of(
    book: Book,
    engine: QueryEngine,
    layout: dict[str, Any],
    extras: dict[str, Any],
    only: str | None = None,
) -> tuple[list[SheetContent], dict[str, Any]]:
    """Every (or one) sheet's content, computed before anything is written, and the inputs."""
    given = {name: input_text(value) for name, value in book.read_inputs().items()}
    inputs = {**default_inputs(engine, layout), **{k: v for k, v in given.items() if v != ""}}
    check_inputs(engine, layout, inputs)
    sheets = layout["sheets"]
    if only is not None:  # a sheet named as the user types it: "compare" is the Compare sheet
        known = [s["name"] for s in sheets]
        hint = f"The profiler's sheets are {', '.join(known)}."
        wanted = names.resolve(only, known, "sheet", hint=hint)
        sheets = [s for s in sheets if s["name"] == wanted]
    return [sheet_content(engine, sheet, inputs, extras) for sheet in sheets], inputs


def refresh_all(
    book: Book,
    engine: QueryEngine,
    *,
    layout: dict[str, Any] | None = None,
    extras: dict[str, Any] | None = None,
) -> list[str]:
    """Recompute every sheet from its inputs and write them all; returns the sheets refreshed."""
    return refresh_sheet(book, engine, None, layout=layout, extras=extras)


def refresh_sheet(
    book: Book,
    engine: QueryEngine,
    sheet: str | None,
    *,
    layout: dict[str, Any] | None = None,
    extras: dict[str, Any] | None = None,
) -> list[str]:
    """Recompute one sheet (the one whose button was pressed), or all with ``sheet=None``."""
    layout = layout or load_layout()
    extras = with_settings(book, extras or {})
    contents, inputs = contents_of(book, engine, layout, extras, only=sheet)
    book.write(contents, inputs, engine, layout, extras)
    return [c.name for c in contents]


def with_settings(book: Book, extras: dict[str, Any]) -> dict[str, Any]:
    """``extras`` with what the workbook's settings allow: personal data on the Customer sheet
    (PROFILER_PERSONAL_DATA = yes on the settings sheet; default no)."""
    return {**extras, PERSONAL_DATA: personal_allowed(book.settings().get(PERSONAL_SETTING))}


def run_reconciliation(
    book: Book,
    engine: QueryEngine,
    data_dir: str | Path | None = None,
    *,
    layout: dict[str, Any] | None = None,
) -> Any:
    """Show the reconciliation of the last 12 complete months to the ledger, computed by
    ``profiler build`` and stored in the CAR folder, on the Reconciliation sheet."""
    extras = extras_for(engine, data_dir)
    if "reconciliation" not in extras:
        raise LeftOut(
            extras.get(
                "reconciliation_note",
                f"{engine.car_dir}: this CAR holds no reconciliation (built before 'profiler "
                "build' stored it); rebuild it with 'profiler build --data DIR'.",
            )
        )
    refresh_sheet(book, engine, "Reconciliation", layout=layout, extras=extras)
    return extras["reconciliation"]


def holdout_shown(table: pd.DataFrame) -> pd.DataFrame:
    """The CLV holdout check (``profiler.clv.holdout_check``) as the Potential Value sheet
    shows it."""
    return pd.DataFrame(
        {
            "Purchases in calibration": table["calibration_frequency"].astype(str),
            "Customers": table["customers"].to_numpy(),
            "Predicted": table["predicted"].to_numpy(dtype=float),
            "Actual": table["actual"].to_numpy(dtype=float),
        }
    )


def extras_for(engine: QueryEngine, data_dir: str | Path | None = None) -> dict[str, Any]:
    """What the source data adds to the workbook (the reconciliation, the CLV holdout): read
    from the CAR folder, where ``profiler build`` stored them; nothing is computed here.  A CAR
    built before they were stored shows the sheets' notes.  ``data_dir`` is the workbook's
    data folder (its PROFILER_DATA setting), kept in the workbook."""
    extras = store.read_source_checks(engine.car_dir, engine.meta or {})
    if "holdout" in extras:
        extras["holdout"] = holdout_shown(extras["holdout"])
    if data_dir:
        extras["data_dir"] = str(Path(data_dir).resolve())
    return extras
