"""What the workbook's buttons run in Excel: ``main()`` refreshes the sheet it was called from.

The xlwings VBA in the workbook runs ``import Customer_Profiler; Customer_Profiler.main()``;
``profiler workbook`` writes that module beside the workbook and it imports this function.
Errors are shown to the user in Excel's status bar and a message box, not as a traceback.
"""

from __future__ import annotations


def main() -> None:
    import xlwings as xw

    from profiler.cells import engine_for
    from profiler.errors import ProfilerError
    from workbook.book import LiveBook
    from workbook.macros import extras_for, refresh_all, refresh_sheet

    book = xw.Book.caller()
    live = LiveBook(book)
    settings = live.settings()
    try:
        engine = engine_for(settings.get("PROFILER_CAR") or None)
        sheet = book.sheets.active.name
        if sheet == "Reconciliation":
            refresh_sheet(
                live, engine, sheet, extras=extras_for(engine, settings.get("PROFILER_DATA"))
            )
        elif sheet == "About":
            refresh_all(live, engine)
        else:
            refresh_sheet(live, engine, sheet)
        book.app.status_bar = f"Refreshed {sheet} (CAR as of {engine.as_of:%Y-%m-%d})"
    except ProfilerError as err:
        book.app.alert(str(err), title="Customer Profiler")
