"""The two implementations of the small book interface the macros are written against
(``Book``, workbook/book_protocol.py).

- ``FileBook``: a workbook file, no Excel.  Reading inputs opens it with openpyxl; writing
  rebuilds the whole file from the layout with XlsxWriter into a temporary file beside it and
  swaps it in only when complete, so charts and formats are never lost and a failed refresh
  leaves the previous workbook intact.
- ``LiveBook``: an open Excel workbook through xlwings.  Writing rebuilds each refreshed sheet
  below its inputs where the builder puts things (same placement, units and small-cell rules).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from profiler import cells
from profiler.errors import ProfilerError
from profiler.outputs import replacing
from profiler.query import QueryEngine
from workbook.book_protocol import Book
from workbook.builder import write_workbook
from workbook.content import Block, SheetContent, sheet_content
from workbook.layout import (
    CHART_ROWS,
    LISTS_SHEET,
    SMALL_CELLS,
    USER_ROW,
    cell_unit,
    checks_row,
    heatmap_area,
    is_number,
    placements,
    safe_text,
    small_cells,
    table_name,
)
from workbook.xlsm import CONF_SHEET, number_format_code

SMALL_FILL = (217, 217, 217)  # the builder's grey for cells on too few customers
# The builder's chart types (XlsxWriter) as xlwings names them.
LIVE_CHART_TYPES = {"line": "line", "bar": "bar_clustered", "column": "column_clustered"}


def folder_setting(book: Book, key: str) -> Path | None:
    """A folder named on the settings sheet (PROFILER_CAR, PROFILER_DATA): relative to the
    workbook's folder unless absolute; None when blank (``cells.setting_folder``)."""
    return cells.setting_folder(book.settings(), book.path(), key)


class FileBook:
    """A workbook file on disk (headless refresh)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._loaded: Any = None
        if not self._path.exists():
            raise ProfilerError(f"{path}: no such workbook.")

    def path(self) -> Path:
        return self._path

    def _open(self) -> Any:
        """The file's cells, read once per refresh (inputs and settings come from one read)."""
        from openpyxl import load_workbook

        if self._loaded is not None:
            return self._loaded
        try:
            self._loaded = load_workbook(
                self._path, read_only=False, data_only=True, keep_vba=False
            )
            return self._loaded
        except Exception as err:  # openpyxl raises many types for a file that is not a workbook
            raise ProfilerError(
                f"{self._path}: not a workbook openpyxl can read ({err})."
            ) from None

    def read_inputs(self) -> dict[str, Any]:
        """The value of every named input cell."""
        book = self._open()
        out: dict[str, Any] = {}
        for name, defined in book.defined_names.items():
            for sheet, cell in defined.destinations:
                if sheet in book.sheetnames and ":" not in cell:  # inputs are single cells
                    # as stored: a number or date Excel made of a typed period is read back
                    # by workbook/inputs.py's input_text
                    out[name] = book[sheet][cell.replace("$", "")].value
        return out

    def settings(self) -> dict[str, str]:
        """Keys and values of the xlwings.conf sheet (PROFILER_CAR, PROFILER_DATA, ...)."""
        book = self._open()
        if CONF_SHEET not in book.sheetnames:
            return {}
        out = {}
        for key, value in book[CONF_SHEET].iter_rows(min_col=1, max_col=2, values_only=True):
            if key is None:
                break
            out[str(key)] = "" if value is None else str(value)
        return out

    def write(
        self,
        contents: list[SheetContent],
        inputs: dict[str, Any],
        engine: QueryEngine,
        layout: dict[str, Any],
        extras: dict[str, Any],
    ) -> None:
        """Rebuild the file with these sheets (the others recomputed with the same inputs)."""
        done = {c.name: c for c in contents}
        every = [
            done.get(s["name"]) or sheet_content(engine, s, inputs, extras)
            for s in layout["sheets"]
        ]
        settings = self.settings()
        user_cells = self._user_cells(layout)
        with replacing(self._path) as tmp:  # a unique name: refreshes never share it
            write_workbook(
                tmp, engine, layout, inputs, every, settings=settings, user_cells=user_cells
            )
        self._loaded = None  # the file changed

    def _user_cells(self, layout: dict[str, Any]) -> dict[tuple[int, int], Any]:
        """The user's own cells (formulas as written) on the formulas sheet, to keep them."""
        from openpyxl import load_workbook

        names = [s["name"] for s in layout["sheets"] if s.get("view") == "formulas"]
        book = load_workbook(self._path, read_only=True, data_only=False, keep_vba=False)
        try:
            if not names or names[0] not in book.sheetnames:
                return {}
            out = {}
            for row in book[names[0]].iter_rows(min_row=USER_ROW + 1):
                for cell in row:
                    if cell.value is not None:
                        out[(cell.row - 1, cell.column - 1)] = cell.value
            return out
        finally:
            book.close()


class LiveBook:
    """An open Excel workbook (xlwings ``Book``); used by the buttons' macros (workbook/excel.py).

    A refreshed sheet is rebuilt below its inputs: values, number formats, small-cell shading,
    tables, colour scales and charts are all made again for the new shape (a quarter triangle
    that becomes a month one keeps nothing of the old), and the Lists sheet's record of small
    cells is rewritten, so a snapshot taken next suppresses the right cells.
    """

    def __init__(self, book: Any) -> None:
        self.book = book

    def path(self) -> Path:
        return Path(self.book.fullname)

    def read_inputs(self) -> dict[str, Any]:
        out = {}
        for name in self.book.names:
            try:
                out[name.name] = name.refers_to_range.value
            except Exception:  # a name that is not a single cell: not an input
                continue
        return out

    def settings(self) -> dict[str, str]:
        """Keys and values of the xlwings.conf sheet (``cells.live_settings``)."""
        return cells.live_settings(self.book)

    def write(
        self,
        contents: list[SheetContent],
        inputs: dict[str, Any],
        engine: QueryEngine,
        layout: dict[str, Any],
        extras: dict[str, Any],
    ) -> None:
        specs = {s["name"]: s for s in layout["sheets"]}
        small = []
        for content in contents:
            if not content.blocks:  # About, Definitions, My formulas: written at build
                continue
            spec = specs[content.name]
            sheet = self.book.sheets[content.name]
            sheet.api.Unprotect()
            try:
                _clear_views(sheet, checks_row(spec))
                for block, top in placements(spec, content):
                    _write_live_block(sheet, block, top, engine.cohorts.min_size)
            finally:
                sheet.api.Protect(DrawingObjects=False, Contents=True, Scenarios=True)
            small += small_cells(spec, content)
        self._record_small_cells({c.name for c in contents}, small)
        self.book.save()

    def _record_small_cells(self, refreshed: set[str], small: list[tuple[str, int]]) -> None:
        """Replace the refreshed sheets' entries of the Lists sheet's small-cell record."""
        lists = self.book.sheets[LISTS_SHEET]
        heads = lists.range("A1").expand("right").value
        col = heads.index(SMALL_CELLS) + 1
        last = lists.range((1, col)).end("down").row if lists.range((2, col)).value else 1
        kept = []
        if last > 1:
            for ref, count in lists.range((2, col), (last, col + 1)).options(ndim=2).value:
                if ref and _sheet_of(str(ref)) not in refreshed:
                    kept.append((str(ref), int(count)))
        if last > 1:
            lists.range((2, col), (last, col + 1)).clear_contents()
        rows = [[ref, count] for ref, count in kept + small]
        if rows:
            lists.range((2, col)).value = rows


def _sheet_of(ref: str) -> str:
    """The sheet name of a reference like ``'Deep Dive'!C9``."""
    return ref.rsplit("!", 1)[0].strip("'").replace("''", "'")


def _clear_views(sheet: Any, first_row: int) -> None:
    """Everything below the inputs (0-based ``first_row``): values, formats, tables, colour
    scales and charts, so the new content is drawn on a clean sheet."""
    for table in list(sheet.tables):
        table.api.Delete()  # the ListObject; its cells are cleared below
    for chart in list(sheet.charts):
        chart.delete()
    area = sheet.range((first_row + 1, 1), (first_row + 4000, 80))
    area.api.FormatConditions.Delete()
    area.clear()


def _write_live_block(sheet: Any, block: Block, top: int, min_size: int) -> None:
    """One block as the builder lays it out: title, a table of the values with their units'
    number formats, small cells shaded, colour scales and charts."""
    frame = block.frame.reset_index(drop=True)
    columns = [str(c) for c in frame.columns]
    first = top + 3  # 1-based row of the first data row
    sheet.range((top + 1, 1)).value = block.title
    sheet.range((top + 2, 1)).value = [columns] + [
        [_cell(v) for v in record] for record in frame.itertuples(index=False)
    ]
    if not len(frame):
        return
    last = first + len(frame) - 1
    sheet.tables.add(
        source=sheet.range((top + 2, 1), (last, len(columns))),
        name=table_name(sheet.name, block.key),
        table_style_name="TableStyleLight9",
    )
    for c, name in enumerate(columns, start=1):
        for r in range(len(frame)):
            if is_number(frame.iat[r, c - 1]):
                sheet.range((first + r, c)).number_format = number_format_code(
                    cell_unit(block, r, name)
                )
            count = block.customers.iloc[r][name] if block.customers is not None else None
            if count is not None and count < min_size:
                sheet.range((first + r, c)).color = SMALL_FILL
    area = heatmap_area(block)  # the builder's one scale over the same cells
    if area is not None:
        left, right, rows = area
        sheet.range(
            (first, left + 1), (first + rows - 1, right + 1)
        ).api.FormatConditions.AddColorScale(3)
    left = (len(columns) + 1) * 64.0  # beside the table, as the builder puts it
    for i, spec in enumerate(block.charts):
        chart = sheet.charts.add(
            left=left, top=(first - 1 + i * CHART_ROWS) * 15.0, width=620, height=320
        )
        chart.chart_type = LIVE_CHART_TYPES.get(spec["type"], "line")
        x = columns.index(spec["x"]) + 1
        start = first + (1 if spec.get("skip_first") else 0)
        end = last - (1 if spec.get("skip_last") else 0)
        series = [columns.index(name) + 1 for name in spec["series"]]
        areas = ",".join(sheet.range((start, c), (end, c)).address for c in series)
        chart.set_source_data(sheet.range(areas), plot_by="columns")
        chart.set_x_axis_values(sheet.range((start, x), (end, x)))
        for n, name in enumerate(spec["series"], start=1):
            chart.api[1].SeriesCollection(n).Name = name
        chart.api[1].HasTitle = True
        chart.api[1].ChartTitle.Text = spec.get("title", block.title)


def _cell(value: Any) -> Any:
    """A value as Excel should receive it: plain Python, missing as empty, text never a formula."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return safe_text(value)
