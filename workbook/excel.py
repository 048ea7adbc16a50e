"""What the workbook's macros run in Excel: one function per button.

The VBA macros (``templates/vba/Profiler.bas``) call these through xlwings' ``RunPython`` with
this module's fixed path, so the workbook's file name does not matter.  Each reads the workbook's
settings (the CAR folder, the data folder), does its work through ``workbook.macros`` and says
what it did in the status bar; a problem is shown as one message box, never a traceback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

TITLE = "Customer Profiler"


def refresh_all() -> None:
    """Every sheet, with the reconciliation and CLV holdout when the data folder is set."""
    _run(lambda live, engine, data: _refresh(live, engine, data, None))


def refresh_this_sheet() -> None:
    """The sheet whose button was pressed (all sheets from the About sheet)."""

    def work(live: Any, engine: Any, data: str | None) -> str:
        sheet = live.book.sheets.active.name
        return _refresh(live, engine, data, None if sheet == "About" else sheet)

    _run(work)


def run_reconciliation() -> None:
    """Show the catalog's net sales and returns tied to the ledger (by 'profiler build')."""
    from workbook.macros import run_reconciliation as reconcile

    def work(live: Any, engine: Any, data: str | None) -> str:
        reconcile(live, engine, data)  # computed by 'profiler build', read from the CAR
        return "Reconciled to the ledger"

    _run(work)


def take_snapshot() -> None:
    """A values-only copy beside the workbook, safe to email (small cells suppressed)."""
    from workbook.snapshot import snapshot

    def work(live: Any, engine: Any, data: str | None) -> str:
        live.book.save()  # the snapshot reads the inputs the user chose from the file
        path = live.path()
        out = path.with_name(f"{path.stem} snapshot {dt.date.today():%Y-%m-%d}.xlsx")
        snapshot(path, out, force=True)
        live.book.app.alert(f"Snapshot saved as {out}", title=TITLE)
        return f"Snapshot {out.name}"

    _run(work)


def _refresh(live: Any, engine: Any, data: str | None, sheet: str | None) -> str:
    from workbook.content import load_layout
    from workbook.macros import extras_for, refresh_sheet

    layout = load_layout()
    # What the sources add (reconciliation, CLV holdout) is read from the CAR folder: cheap.
    extras = extras_for(engine, data)
    done = refresh_sheet(live, engine, sheet, layout=layout, extras=extras)
    what = done[0] if len(done) == 1 else f"{len(done)} sheets"
    return f"Refreshed {what} (CAR as of {engine.as_of:%Y-%m-%d})"


def _run(work: Callable[[Any, Any, str | None], str]) -> None:
    """Open the calling workbook's engine and run ``work``; one message on a problem."""
    import xlwings as xw

    from profiler.cells import engine_for
    from profiler.errors import ProfilerError
    from workbook.book import LiveBook, folder_setting

    book = xw.Book.caller()
    live = LiveBook(book)
    try:
        car = folder_setting(live, "PROFILER_CAR")
        data = folder_setting(live, "PROFILER_DATA")
        engine = engine_for(str(car) if car else None)
        book.app.status_bar = work(live, engine, str(data) if data else None)
    except ProfilerError as err:
        book.app.alert(str(err), title=TITLE)
    except OSError as err:  # a folder or file the workbook points at cannot be read or written
        book.app.alert(
            f"{getattr(err, 'filename', '') or ''} {err.strerror or err}".strip(), title=TITLE
        )
