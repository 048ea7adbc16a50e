"""A stand-in for an xlwings ``Book`` open in Excel (Excel is not here), loaded from a workbook
file: cells are a dict per sheet, number formats and fills are kept per cell, tables and charts
are recorded, COM calls (``.api``) are accepted and counted, and ``save()`` writes the values
back into the file (with openpyxl) so a snapshot can be taken from what the live book holds."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from openpyxl import load_workbook


class Recorder:
    """Any COM call chain (``x.api.FormatConditions.Delete()``): counted by its last name."""

    def __init__(self, calls: Counter, name: str = "") -> None:
        self._calls, self._name = calls, name

    def __getattr__(self, name: str) -> Recorder:
        return Recorder(self._calls, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Recorder:
        self._calls[self._name] += 1
        return self


class FakeRange:
    def __init__(self, sheet: FakeSheet, first: Any, last: tuple[int, int] | None = None) -> None:
        self.areas = None
        if isinstance(first, str) and ("," in first or ":" in first):  # "B5:B9,D5:D9"
            self.areas, first = first, (0, 0)
        elif isinstance(first, str):  # "A1"
            from openpyxl.utils.cell import coordinate_to_tuple

            first = coordinate_to_tuple(first)
        self.sheet, self.first, self.last = sheet, first, last or first
        self.api = Recorder(sheet.calls)
        self._ndim = None

    @property
    def row(self) -> int:
        return self.first[0]

    @property
    def address(self) -> str:
        from openpyxl.utils.cell import get_column_letter

        (r1, c1), (r2, c2) = self.first, self.last
        return f"${get_column_letter(c1)}${r1}:${get_column_letter(c2)}${r2}"

    def _cells(self):
        (r1, c1), (r2, c2) = self.first, self.last
        return [[(r, c) for c in range(c1, c2 + 1)] for r in range(r1, r2 + 1)]

    def options(self, ndim: int | None = None) -> FakeRange:
        self._ndim = ndim
        return self

    @property
    def value(self) -> Any:
        rows = [[self.sheet.cells.get(k) for k in row] for row in self._cells()]
        if self._ndim == 2:
            return rows
        if len(rows) == 1 and len(rows[0]) == 1:
            return rows[0][0]
        return rows[0] if len(rows) == 1 else rows

    @value.setter
    def value(self, value: Any) -> None:
        rows = value if isinstance(value, list) else [[value]]
        rows = [r if isinstance(r, list) else [r] for r in rows]
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                key = (self.first[0] + i, self.first[1] + j)
                if v is None:
                    self.sheet.cells.pop(key, None)
                else:
                    self.sheet.cells[key] = v

    @property
    def number_format(self) -> str | None:
        return self.sheet.formats.get(self.first)

    @number_format.setter
    def number_format(self, code: str) -> None:
        for row in self._cells():
            for key in row:
                self.sheet.formats[key] = code

    @property
    def color(self) -> Any:
        return self.sheet.fills.get(self.first)

    @color.setter
    def color(self, rgb: Any) -> None:
        for row in self._cells():
            for key in row:
                self.sheet.fills[key] = rgb

    def clear_contents(self) -> None:
        (r1, c1), (r2, c2) = self.first, self.last
        for key in [k for k in self.sheet.cells if r1 <= k[0] <= r2 and c1 <= k[1] <= c2]:
            del self.sheet.cells[key]

    def clear(self) -> None:
        self.clear_contents()
        (r1, c1), (r2, c2) = self.first, self.last
        for store in (self.sheet.formats, self.sheet.fills):
            for key in [k for k in store if r1 <= k[0] <= r2 and c1 <= k[1] <= c2]:
                del store[key]

    def end(self, direction: str) -> FakeRange:
        assert direction == "down"
        r, c = self.first
        while self.sheet.cells.get((r + 1, c)) is not None:
            r += 1
        return FakeRange(self.sheet, (r, c))

    def expand(self, direction: str) -> FakeRange:
        assert direction == "right"
        r, c = self.first
        while self.sheet.cells.get((r, c + 1)) is not None:
            c += 1
        return FakeRange(self.sheet, self.first, (r, c))


class FakeTable:
    def __init__(self, tables: list, source: FakeRange | None, name: str) -> None:
        self.tables, self.source, self.name = tables, source, name
        self.api = self

    def Delete(self) -> None:  # noqa: N802 - the ListObject's COM method
        self.tables.remove(self)


class FakeTables(list):
    def add(self, source: FakeRange, name: str, table_style_name: str = "") -> FakeTable:
        table = FakeTable(self, source, name)
        self.append(table)
        return table


class FakeChart:
    def __init__(self, charts: list, calls: Counter) -> None:
        self.charts, self.chart_type, self.name = charts, None, ""
        self.source = self.categories = None
        self.api = (Recorder(calls), Recorder(calls))  # (ChartObject, Chart), as on Windows

    def set_source_data(self, source: FakeRange, plot_by: str | None = None) -> None:
        self.source = source.areas or source.address

    def set_x_axis_values(self, source: FakeRange) -> None:
        self.categories = source.address

    def delete(self) -> None:
        self.charts.remove(self)


class FakeCharts(list):
    def __init__(self, calls: Counter) -> None:
        super().__init__()
        self.calls = calls

    def add(self, **position: float) -> FakeChart:
        chart = FakeChart(self, self.calls)
        self.append(chart)
        return chart


class FakeSheet:
    def __init__(self, name: str, cells: dict, calls: Counter) -> None:
        self.name, self.cells, self.calls = name, cells, calls
        self.formats: dict = {}
        self.fills: dict = {}
        self.tables = FakeTables()
        self.charts = FakeCharts(calls)
        self.protected = True
        self.api = self

    def Unprotect(self) -> None:  # noqa: N802 - Excel's COM name
        self.protected = False

    def Protect(self, **options: Any) -> None:  # noqa: N802
        self.protected = True

    def range(self, first: Any, last: tuple[int, int] | None = None) -> FakeRange:
        return FakeRange(self, first, last)


class FakeName:
    def __init__(self, name: str, cell: FakeRange) -> None:
        self.name, self.refers_to_range = name, cell


class FakeSheets(dict):
    active: FakeSheet | None = None


class FakeApp:
    """Excel's status bar and message boxes, recorded."""

    def __init__(self) -> None:
        self.status_bar = ""
        self.alerts: list[str] = []

    def alert(self, prompt: str, title: str = "") -> None:
        self.alerts.append(prompt)


class FakeBook:
    """An xlwings Book stand-in loaded from a workbook file's values."""

    def __init__(self, path: Path) -> None:
        self.app = FakeApp()
        wb = load_workbook(path, data_only=True)
        self.fullname = str(path)
        self.calls: Counter = Counter()
        self.sheets = FakeSheets()
        for ws in wb.worksheets:
            cells = {
                (c.row, c.column): c.value
                for row in ws.iter_rows()
                for c in row
                if c.value is not None
            }
            self.sheets[ws.title] = FakeSheet(ws.title, cells, self.calls)
            for table in ws.tables.values():
                self.sheets[ws.title].tables.append(
                    FakeTable(self.sheets[ws.title].tables, None, table.name)
                )
        self.names = []
        for name, defined in wb.defined_names.items():
            for sheet, ref in defined.destinations:
                if ":" not in ref:
                    cell = wb[sheet][ref.replace("$", "")]
                    self.names.append(
                        FakeName(name, FakeRange(self.sheets[sheet], (cell.row, cell.column)))
                    )
        self.saved = 0

    def save(self) -> None:
        """Write every sheet's values into the file, as Excel's save would."""
        self.saved += 1
        wb = load_workbook(self.fullname, keep_vba=True)
        for ws in wb.worksheets:
            cells = self.sheets[ws.title].cells
            for row in ws.iter_rows():
                for c in row:
                    if (c.row, c.column) not in cells and c.value is not None:
                        c.value = None
            for (r, col), value in cells.items():
                ws.cell(r, col).value = value
            self._save_tables(ws, self.sheets[ws.title].tables)
        wb.save(self.fullname)

    @staticmethod
    def _save_tables(ws: Any, tables: list[FakeTable]) -> None:
        """The sheet's tables as the live book left them (a refresh deletes and re-adds them)."""
        from openpyxl.utils.cell import get_column_letter
        from openpyxl.worksheet.table import Table

        names = {t.name for t in tables}
        for name in [n for n in ws.tables if n not in names]:
            del ws.tables[name]
        for table in tables:
            if table.source is None:  # loaded with the file and left alone
                continue
            (r1, c1), (r2, c2) = table.source.first, table.source.last
            ref = f"{get_column_letter(c1)}{r1}:{get_column_letter(c2)}{r2}"
            if table.name in ws.tables:
                del ws.tables[table.name]
            ws.add_table(Table(displayName=table.name, ref=ref))
