"""Writing the .xlsm: XlsxWriter plus the xlwings VBA project, with text always kept as text.

The VBA project is taken unchanged from the installed xlwings package's standalone quickstart
workbook (its ``xl/vbaProject.bin``): ``RunPython`` and "Import Functions" then work on a
Windows machine with Python and this package.  Sheet code names must match the project's
document modules (ThisWorkbook, Sheet1 for the first sheet, Sheet2 for ``xlwings.conf``).

Only writing primitives live here; what goes on which sheet is the builder's business.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import re
import struct
import zipfile
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
import xlsxwriter.exceptions

from profiler.errors import ProfilerError
from profiler.outputs import naming

CONF_SHEET = "xlwings.conf"
# The keys xlwings' VBA reads from the settings sheet, in the template's order.
CONF_KEYS = (
    "Interpreter_Win",
    "Interpreter_Mac",
    "PYTHONPATH",
    "Conda Path",
    "Conda Env",
    "UDF Modules",
    "Debug UDFs",
    "Use UDF Server",
    "Show Console",
)
CONF_DEFAULTS = {"Debug UDFs": "False", "Use UDF Server": "False", "Show Console": "False"}

# Number formats by catalog unit; anything else gets two decimals.
NUMBER_FORMATS = {
    "GBP": "£#,##0",
    "%": "0.0%",
    "share": "0.0%",
    "rate": "0.0%",
    "count": "#,##0",
    "customers": "#,##0",
    "orders": "#,##0",
    "days": "#,##0",
    "score": "0.0",
    "index": "0",
    "units": "#,##0",
    # differences against a base (profiler/indices.py): points, signed
    "pp": '+0.0" pp";-0.0" pp";0.0" pp"',
    "points": "+0.0;-0.0;0.0",
    "GBP per customer": "£#,##0.00",
    "per customer": "#,##0.00",
}
DEFAULT_NUMBER_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
TABLE_STYLE = "Table Style Light 9"
MIN_WIDTH, MAX_WIDTH = 8.0, 60.0


def _find_template() -> Path | None:
    # find_spec locates a top-level package without importing it (xlwings is slow to import).
    spec = importlib.util.find_spec("xlwings")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "quickstart_standalone.xlsm"


XLWINGS_TEMPLATE: Path | None = _find_template()


def xlwings_template() -> Path:
    """The template path, or a one-line error saying how to get it."""
    if XLWINGS_TEMPLATE is None or not XLWINGS_TEMPLATE.exists():
        raise ProfilerError(
            "xlwings' quickstart_standalone.xlsm is missing: pip install -e . installs the "
            "pinned xlwings."
        )
    return XLWINGS_TEMPLATE


@cache
def vba_project_bytes() -> bytes:
    """``xl/vbaProject.bin`` of the xlwings template, read once."""
    with zipfile.ZipFile(xlwings_template()) as z:
        return z.read("xl/vbaProject.bin")


def vba_modules(vba: bytes) -> dict[str, str]:
    """Source text of every module of a VBA project (MS-OVBA: the ``dir`` stream names each
    module's stream and where its compressed source starts)."""
    try:
        import olefile
    except ImportError:  # pragma: no cover - msoffcrypto-tool installs it
        raise ProfilerError("olefile is missing: pip install -e . installs it.") from None

    with olefile.OleFileIO(vba) as ole:
        directory = decompress(ole.openstream("VBA/dir").read())
        out = {}
        for name, offset in _module_offsets(directory):
            stream = ole.openstream(f"VBA/{name}").read()
            out[name] = decompress(stream[offset:]).decode("latin-1")
    return out


def xlwings_vba_version(vba: bytes) -> str:
    """The XLWINGS_VERSION constant of the project's xlwings module: it must equal the
    installed package's version or RunPython refuses to run."""
    source = vba_modules(vba).get("xlwings", "")
    match = re.search(r'XLWINGS_VERSION\s*(?:As\s+String\s*)?=\s*"([^"]+)"', source)
    if not match:
        raise ProfilerError("The VBA project has no xlwings module with XLWINGS_VERSION.")
    return match.group(1)


def _module_offsets(directory: bytes) -> list[tuple[str, int]]:
    """(stream name, source offset) of each module from the decompressed ``dir`` stream."""
    modules, name, pos = [], None, 0
    while pos + 6 <= len(directory):
        record, size = struct.unpack_from("<HI", directory, pos)
        pos += 6
        if record == 0x0009:  # PROJECTVERSION: its size field says 4 but 6 bytes follow
            pos += 6
            continue
        data = directory[pos : pos + size]
        pos += size
        if record == 0x001A:  # MODULESTREAMNAME
            name = data.decode("latin-1")
        elif record == 0x0031 and name is not None:  # MODULEOFFSET
            modules.append((name, struct.unpack("<I", data)[0]))
            name = None
    return modules


def decompress(data: bytes) -> bytes:
    """MS-OVBA 2.4.1 decompression of a compressed container."""
    if not data or data[0] != 1:
        raise ProfilerError("Not a compressed VBA container.")
    out = bytearray()
    pos = 1
    while pos < len(data):
        header = struct.unpack_from("<H", data, pos)[0]
        end = min(pos + (header & 0x0FFF) + 3, len(data))
        pos += 2
        if not header & 0x8000:  # a raw chunk
            out += data[pos : pos + 4096]
            pos += 4096
            continue
        start = len(out)
        while pos < end:
            flags = data[pos]
            pos += 1
            for bit in range(8):
                if pos >= end:
                    break
                if not (flags >> bit) & 1:
                    out.append(data[pos])
                    pos += 1
                    continue
                token = struct.unpack_from("<H", data, pos)[0]
                pos += 2
                bits = max((len(out) - start - 1).bit_length(), 4)
                length = (token & (0xFFFF >> bits)) + 3
                offset = (token >> (16 - bits)) + 1
                for _ in range(length):
                    out.append(out[-offset])
    return bytes(out)


def number_format_code(unit: str | None, fmt: str | None = None) -> str:
    """The Excel number format for a catalog unit; an explicit format wins."""
    return fmt or NUMBER_FORMATS.get(unit or "", DEFAULT_NUMBER_FORMAT)


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return isinstance(value, float | np.floating) and not np.isfinite(value)


def _display_width(value: Any) -> int:
    """Roughly how many characters a cell shows, for column widths."""
    if _is_missing(value):
        return 0
    if isinstance(value, bool | np.bool_):
        return 5
    if isinstance(value, int | float | np.integer | np.floating | Decimal):
        return len(f"{float(value):,.2f}") + 1
    if isinstance(value, dt.date | np.datetime64):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


class XlsmWriter:
    """An XlsxWriter workbook with the xlwings VBA project and consistent, safe cell writing.

    Use as a context manager: the file is written on a clean exit only, so an error while
    building never leaves a half-made workbook behind.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.workbook = xlsxwriter.Workbook(
            str(self.path),
            {"strings_to_formulas": False, "strings_to_urls": False, "nan_inf_to_errors": True},
        )
        self.workbook.add_vba_project(io.BytesIO(vba_project_bytes()), is_stream=True)
        self.workbook.set_vba_name("ThisWorkbook")
        self._formats: dict[tuple[tuple[str, Any], ...], Any] = {}
        self._sheets = 0
        self._date = self.fmt(num_format=DATE_FORMAT)

    def __enter__(self) -> XlsmWriter:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.workbook.fileclosed = True  # nothing is written: the original error matters

    # Sheets ---------------------------------------------------------------------------------

    def add_sheet(self, name: str, *, hidden: bool = False) -> Any:
        """A worksheet; the first gets code name Sheet1, later ones Sheet3, Sheet4, ...
        (Sheet2 is the VBA module of ``xlwings.conf``)."""
        ws = self.workbook.add_worksheet(name)
        self._sheets += 1
        ws.set_vba_name("Sheet1" if self._sheets == 1 else f"Sheet{self._sheets + 1}")
        if hidden:
            ws.hide()
        return ws

    def add_xlwings_conf(self, settings: Mapping[str, str]) -> Any:
        """The ``xlwings.conf`` sheet (code name Sheet2): xlwings' keys in column A from
        A1 down without a blank row (its VBA stops at the first blank), then any extra keys;
        values as text in column B.  ``UDF Modules`` must be given, or UDFs cannot import."""
        merged = {key: CONF_DEFAULTS.get(key, "") for key in CONF_KEYS}
        merged.update({str(k): "" if v is None else str(v) for k, v in settings.items()})
        if not merged["UDF Modules"].strip():
            raise ProfilerError("xlwings.conf needs 'UDF Modules' (the Python module of the UDFs).")
        if any(not key.strip() for key in merged):
            raise ProfilerError("xlwings.conf keys cannot be blank: xlwings stops reading there.")
        ws = self.workbook.add_worksheet(CONF_SHEET)
        ws.set_vba_name("Sheet2")
        for row, (key, value) in enumerate(merged.items()):
            ws.write_string(row, 0, key)
            ws.write_string(row, 1, value)
        ws.set_column(0, 0, 18)
        ws.set_column(1, 1, 60)
        return ws

    # Formats ---------------------------------------------------------------------------------

    def fmt(self, **props: Any) -> Any:
        """A cached Format: the same properties give the same object (Excel caps styles)."""
        key = tuple(sorted(props.items()))
        if key not in self._formats:
            self._formats[key] = self.workbook.add_format(props)
        return self._formats[key]

    def number_format(self, unit: str | None, fmt: str | None = None, **props: Any) -> Any:
        """The Format for a catalog unit (GBP, %, count, ...), extra properties merged in."""
        return self.fmt(**props, num_format=number_format_code(unit, fmt))

    # Cells -----------------------------------------------------------------------------------

    def write_value(self, ws: Any, row: int, col: int, value: Any, fmt: Any = None) -> None:
        """Numbers as numbers (missing as blank), dates as dates, anything else as text: a
        value starting with '=', '+', '-' or '@' is never taken for a formula."""
        if _is_missing(value):
            ws.write_blank(row, col, None, fmt)
        elif isinstance(value, bool | np.bool_):
            ws.write_boolean(row, col, bool(value), fmt)
        elif isinstance(value, int | float | np.integer | np.floating | Decimal):
            ws.write_number(row, col, float(value), fmt)
        elif isinstance(value, dt.datetime | np.datetime64):  # pd.Timestamp is a datetime
            stamp = pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
            ws.write_datetime(row, col, stamp, fmt or self._date)
        elif isinstance(value, dt.date):
            ws.write_datetime(row, col, value, fmt or self._date)
        else:
            ws.write_string(row, col, str(value), fmt)

    def write_table(
        self,
        ws: Any,
        first_row: int,
        first_col: int,
        df: pd.DataFrame,
        *,
        name: str,
        formats: Mapping[Any, Any] | None = None,
        header_fmt: Any = None,
        autofit: bool = True,
    ) -> tuple[int, int]:
        """An Excel table of ``df`` (index ignored) whose cells go through write_value, so text
        stays text; returns its (last_row, last_col).  ``formats`` maps column -> Format."""
        formats = formats or {}
        headers = [str(c) for c in df.columns]
        if not headers:
            raise ProfilerError(f"Table {name} has no columns.")
        last_col = first_col + len(headers) - 1
        last_row = first_row + max(len(df), 1)  # Excel tables need one data row
        columns = [{"header": h} for h in headers]
        if header_fmt is not None:
            for column in columns:
                column["header_format"] = header_fmt
        status = ws.add_table(
            first_row,
            first_col,
            last_row,
            last_col,
            {"name": name, "columns": columns, "style": TABLE_STYLE},
        )
        if status not in (None, 0):
            raise ProfilerError(f"Table {name} cannot be added (XlsxWriter code {status}).")
        for j, column in enumerate(df.columns):
            fmt = formats.get(column)
            for i, value in enumerate(df.iloc[:, j].tolist()):
                self.write_value(ws, first_row + 1 + i, first_col + j, value, fmt)
            if autofit:
                shown = max((_display_width(v) for v in df.iloc[:, j].tolist()), default=0)
                width = max(shown, len(headers[j]) + 3)  # + room for the filter button
                ws.set_column(
                    first_col + j, first_col + j, min(max(width + 1, MIN_WIDTH), MAX_WIDTH)
                )
        return last_row, last_col

    def write_formula(
        self, ws: Any, row: int, col: int, formula: str, value: Any, fmt: Any = None
    ) -> None:
        """A native formula with its cached result, shown by programs that do not recalculate."""
        if isinstance(value, np.generic):
            value = value.item()
        ws.write_formula(row, col, formula, fmt, value)

    # Names, validation, conditional formats ---------------------------------------------------

    def add_name(self, name: str, ref: str) -> None:
        """A workbook-level defined name, e.g. ``add_name("Cohort", "='Overview'!$B$4")``."""
        self.workbook.define_name(name, ref if ref.startswith("=") else f"={ref}")

    def add_list_validation(self, ws: Any, cell_range: str, source_ref: str) -> None:
        """A drop-down of the values in ``source_ref`` (a range or name, e.g. ``=List_x``)."""
        source = source_ref if source_ref.startswith("=") else f"={source_ref}"
        ws.data_validation(cell_range, {"validate": "list", "source": source, "ignore_blank": True})

    def add_color_scale(self, ws: Any, cell_range: str) -> None:
        """Red (low) - yellow - green (high), Excel's own 3-colour scale."""
        ws.conditional_format(
            cell_range,
            {
                "type": "3_color_scale",
                "min_color": "#F8696B",
                "mid_color": "#FFEB84",
                "max_color": "#63BE7B",
            },
        )

    def add_verdict_colours(
        self, ws: Any, cell_range: str, first_verdict: str, words: tuple[str, str]
    ) -> None:
        """Green where the row's verdict cell (``first_verdict``: the range's first row, the
        column absolute) says ``words[0]`` (better), red where ``words[1]`` (worse): a rule on
        the sheet, so the colours follow the values whichever way the sheet is refreshed."""
        better, worse = words
        for word, fill, font in ((better, "#C6EFCE", "#006100"), (worse, "#FFC7CE", "#9C0006")):
            ws.conditional_format(
                cell_range,
                {
                    "type": "formula",
                    "criteria": f'={first_verdict}="{word}"',
                    "format": self.fmt(bg_color=fill, font_color=font),
                },
            )

    # Charts ----------------------------------------------------------------------------------

    def add_chart(
        self,
        kind: str,
        ws: Any,
        at: str,
        *,
        title: str,
        categories: str | list[Any],
        series: Mapping[str, str | list[Any]],
        size: tuple[int, int] = (620, 320),
    ) -> Any:
        """A line (never smoothed), column or bar chart of ``series`` (name -> values ref)."""
        if not series:
            raise ProfilerError(f"Chart {title!r} has no series.")
        chart = self.workbook.add_chart({"type": kind})
        for series_name, values in series.items():
            options: dict[str, Any] = {
                "name": series_name,
                "categories": categories,
                "values": values,
            }
            if kind == "line":
                options["smooth"] = False
                options["marker"] = {"type": "none"}
            chart.add_series(options)
        chart.set_title({"name": title, "name_font": {"size": 11}})
        chart.set_legend({"position": "bottom" if len(series) > 1 else "none"})
        chart.set_size({"width": size[0], "height": size[1]})
        ws.insert_chart(at, chart)
        return chart

    # Protection and writing ------------------------------------------------------------------

    def protect(self, ws: Any) -> None:
        """Protect without a password: only cells formatted ``locked=False`` (the inputs) are
        editable, so a user cannot overwrite numbers by accident but can unprotect at will."""
        ws.protect(
            "", {"format_columns": True, "select_locked_cells": True, "select_unlocked_cells": True}
        )

    def close(self) -> None:
        """Write the file.  A file that cannot be written raises its ``OSError`` (which the
        command line prints as one line, ``profiler/outputs.py``)."""
        try:
            self.workbook.close()
        except xlsxwriter.exceptions.FileCreateError as err:
            cause = err.args[0] if err.args else None
            if isinstance(cause, OSError):
                raise naming(cause, self.path) from None
            raise ProfilerError(f"{self.path}: cannot write the workbook ({cause}).") from None
