"""The subject-access file as a workbook: one sheet per section of profiler/subject_access.py.

Every text cell is stored as text (``data_type`` "s"): a value from the data that starts like a
formula (``=HYPERLINK(...)``) is shown as the customer's data, never run.  Written complete or
not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from profiler.outputs import replacing
from profiler.subject_access import SECTIONS, TITLES, SubjectAccess, _plain

WIDTH = 60  # widest column, in characters


def write_xlsx(report: SubjectAccess, out: str | Path) -> Path:
    """``report`` as ``out`` (.xlsx), one sheet per section, values only."""
    book = Workbook()
    book.remove(book.active)
    for name in SECTIONS:
        _sheet(book, TITLES[name], report.sections[name])
    target = Path(out)
    with replacing(target) as tmp:
        book.save(tmp)
    return target


def _sheet(book: Workbook, title: str, frame: pd.DataFrame) -> None:
    sheet = book.create_sheet(title)
    columns = [str(c) for c in frame.columns]
    if not columns:
        _put(sheet.cell(row=1, column=1), "none")
        return
    for j, name in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=j)
        _put(cell, name)
        cell.font = Font(bold=True)
    for i, record in enumerate(frame.itertuples(index=False), start=2):
        for j, value in enumerate(record, start=1):
            _put(sheet.cell(row=i, column=j), _plain(value))
    if not len(frame):
        _put(sheet.cell(row=2, column=1), "none")
    for j, name in enumerate(columns, start=1):
        longest = max([len(name), *(len(str(v)) for v in frame.iloc[:, j - 1].head(200))])
        sheet.column_dimensions[sheet.cell(row=1, column=j).column_letter].width = min(
            WIDTH, longest + 2
        )
    sheet.freeze_panes = "A2"


def _put(cell: Any, value: Any) -> None:
    """A value in a cell; text always as text, never a formula."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
