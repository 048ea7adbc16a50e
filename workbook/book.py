"""The small book interface the macros are written against, and its two implementations.

- ``FileBook``: a workbook file, no Excel.  Reading inputs opens it with openpyxl; writing
  rebuilds the whole file from the layout with XlsxWriter into a temporary file beside it and
  swaps it in only when complete, so charts and formats are never lost and a failed refresh
  leaves the previous workbook intact.
- ``LiveBook``: an open Excel workbook through xlwings.  Writing puts the values of each block
  where the builder put them (same placement function); charts redraw from the cells.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from profiler.errors import ProfilerError
from profiler.outputs import replacing
from profiler.query import QueryEngine
from workbook.content import SheetContent, sheet_content
from workbook.layout import placements, safe_text
from workbook.xlsm import CONF_SHEET


class Book(Protocol):
    def read_inputs(self) -> dict[str, Any]: ...

    def settings(self) -> dict[str, str]: ...

    def path(self) -> Path: ...

    def write(
        self,
        contents: list[SheetContent],
        inputs: dict[str, Any],
        engine: QueryEngine,
        layout: dict[str, Any],
        extras: dict[str, Any],
    ) -> None: ...


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
                    value = book[sheet][cell.replace("$", "")].value
                    out[name] = "" if value is None else str(value)
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
        from workbook.builder import write_workbook

        done = {c.name: c for c in contents}
        every = [
            done.get(s["name"]) or sheet_content(engine, s, inputs, extras)
            for s in layout["sheets"]
        ]
        settings = self.settings()
        with replacing(self._path) as tmp:  # a unique name: refreshes never share it
            write_workbook(tmp, engine, layout, inputs, every, settings=settings)
        self._loaded = None  # the file changed


class LiveBook:
    """An open Excel workbook (xlwings ``Book``); used by the buttons' ``main()``."""

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
        try:
            rows = self.book.sheets[CONF_SHEET].range("A1").expand("table").value
        except Exception:
            return {}
        return {str(k): str(v or "") for k, v in rows}

    def write(
        self,
        contents: list[SheetContent],
        inputs: dict[str, Any],
        engine: QueryEngine,
        layout: dict[str, Any],
        extras: dict[str, Any],
    ) -> None:
        specs = {s["name"]: s for s in layout["sheets"]}
        for content in contents:
            sheet = self.book.sheets[content.name]
            sheet.api.Unprotect()
            try:
                first = placements(specs[content.name], content)[0][1] if content.blocks else None
                if first is not None:
                    sheet.range((first + 1, 1), (first + 2000, 80)).clear_contents()
                for block, top in placements(specs[content.name], content):
                    rows = [[block.title], list(block.frame.columns)]
                    rows += [
                        [_cell(v) for v in record] for record in block.frame.itertuples(index=False)
                    ]
                    for offset, row in enumerate(rows):
                        sheet.range((top + 1 + offset, 1)).value = [row]
            finally:
                sheet.api.Protect(DrawingObjects=False, Contents=True, Scenarios=True)
        self.book.save()


def _cell(value: Any) -> Any:
    """A value as Excel should receive it: plain Python, missing as empty, text never a formula."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return safe_text(value)
