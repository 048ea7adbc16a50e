"""Writing the .xlsm: XlsxWriter plus the xlwings VBA project, with text always kept as text.

The VBA project is taken unchanged from the installed xlwings package's standalone quickstart
workbook (its ``xl/vbaProject.bin``): ``RunPython`` and "Import Functions" then work on a
Windows machine with Python and this package.  Sheet code names must match the project's
document modules (ThisWorkbook, Sheet1 for the first sheet, Sheet2 for ``xlwings.conf``).
"""

from __future__ import annotations

import importlib.util
import io
import re
import struct
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
import xlsxwriter.exceptions

from profiler.errors import ProfilerError

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


def xlwings_template() -> Path:
    """The installed xlwings package's standalone quickstart workbook."""
    spec = importlib.util.find_spec("xlwings")
    if spec is None or spec.origin is None:
        raise ProfilerError(
            "xlwings is not installed: pip install -e . installs the pinned version."
        )
    return Path(spec.origin).parent / "quickstart_standalone.xlsm"


@cache
def vba_project_bytes() -> bytes:
    """``xl/vbaProject.bin`` of the xlwings template."""
    with zipfile.ZipFile(xlwings_template()) as z:
        return z.read("xl/vbaProject.bin")


def vba_modules(vba: bytes) -> dict[str, str]:
    """Source text of every module of a VBA project (MS-OVBA: the ``dir`` stream names each
    module's stream and where its compressed source starts)."""
    import olefile

    ole = olefile.OleFileIO(vba)
    directory = decompress(ole.openstream("VBA/dir").read())
    out = {}
    for name, offset in _module_offsets(directory):
        stream = ole.openstream(f"VBA/{name}").read()
        out[name] = decompress(stream[offset:]).decode("latin-1")
    return out


def xlwings_vba_version(vba: bytes) -> str:
    """The XLWINGS_VERSION constant of the project's xlwings module."""
    source = vba_modules(vba).get("xlwings", "")
    match = re.search(r'XLWINGS_VERSION\s*(?:As\s+String\s*)?=\s*"([^"]+)"', source)
    if not match:
        raise ProfilerError("The VBA project has no xlwings module with XLWINGS_VERSION.")
    return match.group(1)


def _module_offsets(directory: bytes) -> list[tuple[str, int]]:
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
        if not header & 0x8000:
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


class XlsmWriter:
    """An XlsxWriter workbook with the xlwings VBA project and consistent, safe cell writing."""

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
        self._date = self.fmt(num_format="yyyy-mm-dd")

    def __enter__(self) -> XlsmWriter:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            try:
                self.workbook.close()
            except Exception:  # the original error matters, not the half-written file
                pass

    def add_sheet(self, name: str, *, hidden: bool = False) -> Any:
        """A worksheet; the first gets code name Sheet1, later ones Sheet3, Sheet4, ..."""
        ws = self.workbook.add_worksheet(name)
        self._sheets += 1
        ws.set_vba_name("Sheet1" if self._sheets == 1 else f"Sheet{self._sheets + 1}")
        if hidden:
            ws.hide()
        return ws

    def add_xlwings_conf(self, settings: dict[str, str]) -> Any:
        """The ``xlwings.conf`` sheet (code name Sheet2): xlwings' keys in column A from A1 down
        without a blank row, then ours; values as text in column B."""
        ws = self.workbook.add_worksheet("xlwings.conf")
        ws.set_vba_name("Sheet2")
        defaults = {key: "" for key in CONF_KEYS}
        defaults.update({"Debug UDFs": "False", "Use UDF Server": "False", "Show Console": "False"})
        merged = {**defaults, **settings}
        for row, (key, value) in enumerate(merged.items()):
            ws.write_string(row, 0, str(key))
            ws.write_string(row, 1, str(value))
        ws.set_column(0, 0, 18)
        ws.set_column(1, 1, 60)
        return ws

    def fmt(self, **props: Any) -> Any:
        key = tuple(sorted(props.items()))
        if key not in self._formats:
            self._formats[key] = self.workbook.add_format(props)
        return self._formats[key]

    def write_value(self, ws: Any, row: int, col: int, value: Any, fmt: Any = None) -> None:
        """Numbers as numbers (missing as blank), dates as dates, anything else as text: a
        value starting with '=', '+', '-' or '@' is never taken for a formula."""
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            ws.write_blank(row, col, None, fmt)
        elif isinstance(value, (bool, np.bool_)):
            ws.write_boolean(row, col, bool(value), fmt)
        elif isinstance(value, (int, float, np.integer, np.floating)):
            number = float(value)
            if np.isfinite(number):
                ws.write_number(row, col, number, fmt)
            else:
                ws.write_blank(row, col, None, fmt)
        elif isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "isoformat"):
            stamp = pd.Timestamp(value)
            if stamp is pd.NaT:
                ws.write_blank(row, col, None, fmt)
            else:
                ws.write_datetime(
                    row, col, stamp.to_pydatetime().replace(tzinfo=None), fmt or self._date
                )
        else:
            ws.write_string(row, col, str(value), fmt)

    def write_formula(
        self, ws: Any, row: int, col: int, formula: str, value: Any, fmt: Any = None
    ) -> None:
        """A native formula with its cached result, shown by programs that do not recalculate."""
        ws.write_formula(row, col, formula, fmt, value)

    def add_name(self, name: str, ref: str) -> None:
        self.workbook.define_name(name, ref)

    def add_list_validation(self, ws: Any, cell: str, source: str) -> None:
        ws.data_validation(cell, {"validate": "list", "source": source, "ignore_blank": True})

    def add_color_scale(self, ws: Any, cells: str) -> None:
        ws.conditional_format(
            cells,
            {
                "type": "3_color_scale",
                "min_color": "#F8696B",
                "mid_color": "#FFEB84",
                "max_color": "#63BE7B",
            },
        )

    def protect(self, ws: Any) -> None:
        """Protect without a password: only cells formatted unlocked (the inputs) are editable."""
        ws.protect(
            "", {"format_columns": True, "select_locked_cells": True, "select_unlocked_cells": True}
        )

    def close(self) -> None:
        try:
            self.workbook.close()
        except OSError as err:
            raise ProfilerError(
                f"{self.path}: cannot write the workbook ({err.strerror or err})."
            ) from None
