"""Writing the .xlsm: XlsxWriter plus the workbook's VBA project, with text always kept as text.

The VBA project is compiled from our macros and xlwings' own module (workbook/vba.py), with a
document module for the workbook and for each sheet: sheets get the code names Sheet1, Sheet2,
... in the order they are added, and the project is made when the file is written.

Only writing primitives live here; what goes on which sheet is the builder's business.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
import xlsxwriter.exceptions

from profiler.cells import CONF_SHEET
from profiler.errors import ProfilerError
from profiler.outputs import naming

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
    "average": "#,##0.00",  # a ratio of counts: units per order, orders per customer
    "lines": "#,##0",
    "interactions": "#,##0",
    "purchases": "#,##0",
    "responses": "#,##0",
    "categories": "#,##0",
    "years": "0.0",
}
DEFAULT_NUMBER_FORMAT = "#,##0.00"
DATE_FORMAT = "yyyy-mm-dd"
TABLE_STYLE = "Table Style Light 9"
MIN_WIDTH, MAX_WIDTH = 8.0, 60.0


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

    def __init__(self, path: str | Path, *, vba: bool = True) -> None:
        self.path = Path(path)
        self.vba = vba  # False: a plain .xlsx (a snapshot)
        self.workbook = xlsxwriter.Workbook(
            str(self.path),
            {"strings_to_formulas": False, "strings_to_urls": False, "nan_inf_to_errors": True},
        )
        if vba:
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
        """A worksheet with the next code name (Sheet1, Sheet2, ...)."""
        ws = self.workbook.add_worksheet(name)
        self._sheets += 1
        if self.vba:
            ws.set_vba_name(f"Sheet{self._sheets}")
        if hidden:
            ws.hide()
        return ws

    def add_xlwings_conf(self, settings: Mapping[str, str]) -> Any:
        """The hidden ``xlwings.conf`` sheet: xlwings' keys in column A from
        A1 down without a blank row (its VBA stops at the first blank), then any extra keys;
        values as text in column B.  ``UDF Modules`` must be given, or UDFs cannot import."""
        merged = {key: CONF_DEFAULTS.get(key, "") for key in CONF_KEYS}
        merged.update({str(k): "" if v is None else str(v) for k, v in settings.items()})
        if not merged["UDF Modules"].strip():
            raise ProfilerError("xlwings.conf needs 'UDF Modules' (the Python module of the UDFs).")
        if any(not key.strip() for key in merged):
            raise ProfilerError("xlwings.conf keys cannot be blank: xlwings stops reading there.")
        ws = self.add_sheet(CONF_SHEET, hidden=True)
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

    def add_list_validation(
        self, ws: Any, cell_range: str, source_ref: str, *, title: str = "", accepts: str = ""
    ) -> None:
        """A drop-down of the values in ``source_ref`` (a range or name, e.g. ``=List_x``), with
        an input message saying what the cell accepts.  A value not in the list gets a warning
        the user may accept (other periods and cohort intersections are valid): the refresh
        checks it and names the cell if it is wrong."""
        source = source_ref if source_ref.startswith("=") else f"={source_ref}"
        options: dict[str, Any] = {"validate": "list", "source": source, "ignore_blank": True}
        if accepts:
            # Excel caps the titles at 32 characters and the messages at 255.
            options |= {
                "input_title": title[:32],
                "input_message": f"Choose from the list, or type {accepts}."[:255],
                "error_title": f"{title}: not in the list"[:32],
                "error_message": (f"Expected {accepts}. Keep it anyway? The refresh checks it.")[
                    :255
                ],
                "error_type": "warning",
            }
        ws.data_validation(cell_range, options)

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
        value_format: str | None = None,
    ) -> Any:
        """A line (never smoothed), column or bar chart of ``series`` (name -> values ref); the
        value axis in ``value_format`` (thousands separators, the currency); a bar chart lists
        its categories top-down in the table's order."""
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
        value_axis = {"num_format": value_format} if value_format else {}
        if kind == "bar":  # the value axis is horizontal; categories read from the top
            chart.set_x_axis(value_axis)
            chart.set_y_axis({"reverse": True, "crossing": "max"})  # value axis stays below
        else:
            chart.set_y_axis(value_axis)
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
        from workbook.vba import project_bytes

        if self.vba:
            self.workbook.add_vba_project(io.BytesIO(project_bytes(self._sheets)), is_stream=True)
        try:
            self.workbook.close()
        except xlsxwriter.exceptions.FileCreateError as err:
            cause = err.args[0] if err.args else None
            if isinstance(cause, OSError):
                raise naming(cause, self.path) from None
            raise ProfilerError(f"{self.path}: cannot write the workbook ({cause}).") from None
