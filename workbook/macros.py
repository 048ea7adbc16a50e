"""The workbook's macros, written once against the small ``Book`` interface (workbook/book.py).

The same functions run in Excel (a live xlwings Book: the buttons call ``main()`` of the
workbook's Python module, which dispatches here) and headless (``profiler refresh``, a file on
disk).  A refresh computes every sheet before anything is written, so a mistake in an input cell
stops it with a message and leaves the book as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler import names
from profiler.errors import LeftOut, ProfilerError
from profiler.query import QueryEngine
from workbook.book_protocol import Book
from workbook.content import SheetContent, default_inputs, load_layout, sheet_content
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
    contents, inputs = contents_of(book, engine, layout, extras or {}, only=sheet)
    book.write(contents, inputs, engine, layout, extras or {})
    return [c.name for c in contents]


def run_reconciliation(
    book: Book,
    engine: QueryEngine,
    data_dir: str | Path,
    *,
    months: int = 12,
    layout: dict[str, Any] | None = None,
) -> Any:
    """Tie the last ``months`` months of net sales and returns to the ledger in ``data_dir`` and
    show the result on the Reconciliation sheet."""
    extras = reconciliation_extras(engine, data_dir, months)
    if "reconciliation" not in extras:
        raise LeftOut(extras["reconciliation_note"])
    refresh_sheet(book, engine, "Reconciliation", layout=layout, extras=extras)
    return extras["reconciliation"]


def reconciliation_extras(
    engine: QueryEngine, data_dir: str | Path, months: int = 12
) -> dict[str, Any]:
    """The reconciliation table of the last ``months`` complete months, for the sheet."""
    import pandas as pd

    from profiler.loading import load_sources
    from profiler.periods import months_between
    from profiler.reconcile import reconcile
    from workbook.content import last_complete_month

    source = load_sources(data_dir)
    if not source.has("ledger"):  # optional: the sheet says what would bring it
        return {
            "source": source,
            "reconciliation_note": f"{data_dir}: no ledger table, so no reconciliation (add ledger.csv or ledger.parquet: docs/data-contract.md).",
        }
    last = last_complete_month(engine)
    span = months_between(f"{last - pd.DateOffset(months=months - 1):%Y-%m}", f"{last:%Y-%m}")
    # As of the CAR's date: the reconciliation explains the figures the other sheets show.
    table = reconcile(source, engine.catalog, span, as_of=engine.as_of).table
    return {"reconciliation": table, "source": source}


def holdout_extras(engine: QueryEngine, source: Any, weeks: int = 52) -> dict[str, Any]:
    """Predicted vs actual purchases in the last year when the model is fitted on the years
    before: the CLV model's calibration check for the Potential Value sheet."""
    import pandas as pd

    from profiler.clv import clv_validation_table, fit_clv, summary_from_transactions
    from profiler.facts import order_facts

    facts = order_facts(source, engine.as_of)  # the lines as the CAR saw them at its date
    kept = facts[facts["status"] == "completed"]
    calibration_end = engine.as_of - pd.Timedelta(weeks=weeks)
    summary = summary_from_transactions(
        kept,
        customer_id_col="customer_id",
        datetime_col="ordered_at",
        monetary_value_col="net_gbp",
        calibration_end=calibration_end,
        observation_end=engine.as_of,
    )
    table = clv_validation_table(fit_clv(summary))
    shown = pd.DataFrame(
        {
            "Purchases in calibration": table["calibration_frequency"].astype(str),
            "Customers": table["customers"].to_numpy(),
            "Predicted": table["predicted"].to_numpy(dtype=float),
            "Actual": table["actual"].to_numpy(dtype=float),
        }
    )
    return {"holdout": shown}


def extras_for(engine: QueryEngine, data_dir: str | Path | None) -> dict[str, Any]:
    """What the source data adds to the workbook (reconciliation, CLV holdout), if given."""
    if not data_dir:
        return {}
    extras = reconciliation_extras(engine, data_dir)
    try:
        extras.update(holdout_extras(engine, extras["source"]))
    except ProfilerError as err:
        extras["holdout_error"] = str(err)
    extras["data_dir"] = str(Path(data_dir).resolve())
    return extras
