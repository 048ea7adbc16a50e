Attribute VB_Name = "Profiler"
' The Customer Profiler's macros: one per action, each bound to a button of the workbook.
'
' Each calls a function of the installed profiler package (workbook.excel) through xlwings'
' RunPython, so the workbook may be renamed or saved anywhere: nothing here depends on its
' file name.  Python, the profiler and the interpreter set on the xlwings.conf sheet are
' needed; docs/excel-guide.md says how to set them up.
Option Explicit

' Recompute every sheet from its inputs (and the reconciliation, when the data folder is set).
Public Sub RefreshAll()
    RunPython "import workbook.excel; workbook.excel.refresh_all()"
End Sub

' Recompute the sheet whose button was pressed.
Public Sub RefreshThisSheet()
    RunPython "import workbook.excel; workbook.excel.refresh_this_sheet()"
End Sub

' Tie the catalog's net sales and returns to the ledger in the data folder (PROFILER_DATA).
Public Sub RunReconciliation()
    RunPython "import workbook.excel; workbook.excel.run_reconciliation()"
End Sub

' Save a values-only copy beside the workbook that is safe to email (small cells suppressed).
Public Sub TakeSnapshot()
    RunPython "import workbook.excel; workbook.excel.take_snapshot()"
End Sub
