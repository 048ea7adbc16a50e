"""Write the Excel profiler (.xlsm) from the layout and the sheets' computed content.

What to show comes from elsewhere: the view sheets' blocks from workbook/content.py, the
Definitions sheets from workbook/definitions.py, and the About and My formulas sheets, the
stamp line and the buttons from workbook/about.py; where it goes from workbook/layout.py.  This
module only writes cells, formats, validations and charts.

XlsxWriter writes every part (values, number formats, tables, dropdowns, named inputs, colour
scales, charts, protection) and embeds the xlwings VBA project (workbook/xlsm.py), so the file
is complete without Excel and a refresh (a rebuild) never loses a chart or a format.  Every view
holds the numbers as values: a reader without Python sees them.  Text from data is always
written as text.  Modelling conventions: inputs (yellow, unlocked, named) apart from outputs
(locked), built-in checks shown as PASS/BREAK with the formula beside, no password on the
sheet protection.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from profiler.customer import PERSONAL_SETTING
from profiler.errors import ProfilerError
from profiler.outputs import replacing
from profiler.query import QueryEngine
from workbook.about import (
    ABOUT_BUTTONS,
    FORMULA_ROWS,
    MY_FORMULAS_TITLE,
    RECONCILIATION_BUTTONS,
    SHEET_BUTTONS,
    TITLE,
    UDF_MODULE,
    USER_AREA,
    about_facts,
    build_stamp,
    formula_examples,
    formulas_intro,
)
from workbook.content import (
    BETTER,
    WORSE,
    Block,
    SheetContent,
    default_inputs,
    load_layout,
    sheet_content,
)
from workbook.definitions import cohort_definitions_content, definitions_content
from workbook.inputs import ACCEPTS, input_lists
from workbook.layout import (
    CHART_ROWS,
    INPUT_ROW,
    LISTS_SHEET,
    SMALL_CELLS,
    SMALL_COUNTS,
    USER_ROW,
    cell_unit,
    checks_row,
    heatmap_area,
    is_number,
    placements,
    small_cells,
    table_name,
)
from workbook.macros import extras_for
from workbook.suppression import is_mark
from workbook.xlsm import XlsmWriter, number_format_code


def build_workbook(
    engine: QueryEngine,
    out: str | Path,
    *,
    data_dir: str | Path | None = None,
    layout: dict[str, Any] | None = None,
) -> Path:
    """Compute every sheet with the default inputs and write the workbook (and the Python module
    the workbook's buttons import, beside it)."""
    path = Path(out)
    if path.suffix.lower() != ".xlsm":
        raise ProfilerError(f"{out}: the profiler is a macro workbook; give a .xlsm file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    layout = layout or load_layout()
    inputs = default_inputs(engine, layout)
    extras = extras_for(engine, data_dir)
    contents = [sheet_content(engine, sheet, inputs, extras) for sheet in layout["sheets"]]
    settings = {
        "PROFILER_CAR": conf_path(engine.car_dir, path),
        "PROFILER_DATA": conf_path(extras.get("data_dir"), path),
    }
    with replacing(path) as tmp:
        write_workbook(tmp, engine, layout, inputs, contents, settings=settings)
    return path


def conf_path(folder: str | Path | None, workbook: Path) -> str:
    """A folder as the workbook's settings hold it: relative to the workbook's folder (the
    settings then name no machine's absolute paths, and the workbook and its data can move
    together), absolute only where no relative path exists (another drive); blank if none."""
    if not folder:
        return ""
    try:
        return Path(os.path.relpath(Path(folder).resolve(), workbook.resolve().parent)).as_posix()
    except ValueError:  # Windows: another drive
        return str(Path(folder).resolve())


@dataclass
class SnapshotForm:
    """How write_workbook writes a snapshot: its stamp line and its cover sheet."""

    stamp: str
    cover: Callable[[XlsmWriter, Any, Any], None]
    cover_name: str = "Snapshot"


def _write_chosen(
    w: XlsmWriter, ws: Any, spec: dict[str, Any], inputs: dict[str, Any], styles: _Styles
) -> None:
    """A snapshot's inputs: what was chosen, as plain text (nothing to edit, no dropdown)."""
    for i, item in enumerate(spec.get("inputs") or []):
        value = str(inputs.get(item["name"], ""))
        if value:
            ws.write_string(INPUT_ROW + i, 0, str(item.get("label", item["name"])), styles.label)
            w.write_value(ws, INPUT_ROW + i, 1, value, styles.text)


class _Styles:
    """The workbook's few consistent styles, and number formats by unit."""

    def __init__(self, writer: XlsmWriter) -> None:
        self.w = writer
        base = {"font_name": "Calibri", "font_size": 10}
        self.base = base
        self.title = writer.fmt(font_name="Calibri", bold=True, font_size=16, font_color="#1F3864")
        self.stamp = writer.fmt(**base, italic=True, font_color="#595959")
        self.block = writer.fmt(font_name="Calibri", bold=True, font_size=11, font_color="#1F3864")
        self.label = writer.fmt(**base, bold=True)
        # Text: Excel keeps "2025" and "2026-06" as typed instead of a number and a date.
        self.input = writer.fmt(
            **base,
            bg_color="#FFF2CC",
            border=1,
            border_color="#BF9000",
            locked=False,
            num_format="@",
        )
        self.text = writer.fmt(**base)
        self.wrap = writer.fmt(**base, text_wrap=True, valign="top")
        self.passed = writer.fmt(**base, bold=True, font_color="#006100", bg_color="#C6EFCE")
        self.broken = writer.fmt(**base, bold=True, font_color="#9C0006", bg_color="#FFC7CE")
        # suppression marks sit in number columns: right-aligned like the numbers
        self.mark = writer.fmt(**base, align="right", font_color="#7F7F7F")
        self.number_head = writer.fmt(**base, bold=True, align="right")
        self.mark_small = writer.fmt(
            **base, align="right", italic=True, font_color="#7F7F7F", bg_color="#D9D9D9"
        )

    def number(self, unit: str, small: bool = False) -> Any:
        """The unit's number format; shaded grey and italic for a cell on too few customers."""
        extra = {"bg_color": "#D9D9D9", "italic": True, "font_color": "#7F7F7F"} if small else {}
        return self.w.number_format(unit, **self.base, **extra)


def write_workbook(
    path: str | Path,
    engine: QueryEngine,
    layout: dict[str, Any],
    inputs: dict[str, Any],
    contents: list[SheetContent],
    *,
    settings: dict[str, str] | None = None,
    user_cells: dict[tuple[int, int], Any] | None = None,
    snapshot: SnapshotForm | None = None,
) -> Path:
    """Write the whole workbook from computed contents (one per layout sheet, in order);
    ``user_cells`` are the user's own cells of the formulas sheet, kept across a rebuild.

    With ``snapshot``, the same views as a plain .xlsx of values to send: a cover first, no
    VBA, buttons, dropdowns, names, formulas, settings or lists, no About or formulas sheet;
    the contents given are already suppressed (workbook/suppression.py)."""
    by_name = {c.name: c for c in contents}
    lists = input_lists(engine)
    small: list[tuple[str, int]] = []
    stamp = snapshot.stamp if snapshot else build_stamp(engine)
    kept = [
        spec
        for spec in layout["sheets"]
        if snapshot is None or spec.get("view") not in ("about", "formulas")
    ]
    with XlsmWriter(Path(path), vba=snapshot is None) as w:
        styles = _Styles(w)
        if snapshot is not None:
            snapshot.cover(w, w.add_sheet(snapshot.cover_name), styles)
        sheets = {}
        for spec in kept:
            sheets[spec["name"]] = w.add_sheet(spec["name"])
        lists_ws = list_refs = None
        if snapshot is None:
            lists_ws = w.add_sheet(LISTS_SHEET, hidden=True)
            list_refs = _write_lists(w, lists_ws, lists, styles)
        shown_metrics: list[str] = []
        for spec in kept:
            name, ws = spec["name"], sheets[spec["name"]]
            content = by_name.get(name) or SheetContent(name, [])
            shown_metrics.extend(content.metrics)
            if spec.get("view") in ("about", "formulas"):
                continue
            if spec.get("view") == "definitions" and not content.blocks:
                content = definitions_content(engine, shown_metrics)
            if spec.get("view") == "cohort_definitions" and not content.blocks:
                content = cohort_definitions_content(engine, name)
            ws.write_string(0, 0, name, styles.title)
            ws.write_string(1, 0, stamp, styles.stamp)
            if snapshot is None:
                _buttons(ws, SHEET_BUTTONS)
                if spec.get("view") == "reconciliation":
                    _buttons(ws, RECONCILIATION_BUTTONS, first=len(SHEET_BUTTONS))
                _write_inputs(w, ws, spec, inputs, list_refs or {}, styles)
            else:
                _write_chosen(w, ws, spec, inputs, styles)
            _write_checks(w, ws, spec, content, styles, formulas=snapshot is None)
            widths: dict[int, float] = {0: 28.0}
            placed = placements(spec, content)
            small.extend(small_cells(spec, content))
            for block, top in placed:
                _write_block(w, ws, block, top, styles, widths, engine.cohorts.min_size)
                if block.tiles:
                    _write_tiles(w, ws, block, top, styles, formulas=snapshot is None)
            hidden = {
                list(block.frame.columns).index(name)
                for block, _ in placed
                for name in block.hidden
                if name in block.frame.columns
            }
            for col, width in widths.items():
                options = {"hidden": True} if col in hidden else {}
                ws.set_column(col, col, min(max(width, 9.0), 60.0), None, options)
            if placed and placed[0][1] + 2 <= 14:
                ws.freeze_panes(placed[0][1] + 2, 1)
            else:
                ws.freeze_panes(2, 0)
            _page_setup(ws, snapshot.stamp if snapshot else None)
            _print_pages(ws, spec, placed, widths)
            if snapshot is None:
                w.protect(ws)
        if snapshot is not None:
            return Path(path)
        _page_setup(sheets["About"])
        _write_about(w, sheets["About"], engine, layout, styles, settings or {})
        _buttons(sheets["About"], ABOUT_BUTTONS)
        w.protect(sheets["About"])
        data = _data_folder(settings or {}, Path(path))
        for spec in layout["sheets"]:
            if spec.get("view") == "formulas":  # not protected: the user's own formulas go here
                _write_formulas(
                    w, sheets[spec["name"]], engine, inputs, styles, user_cells or {}, data
                )
        _write_small_list(lists_ws, small, len(lists), styles)
        w.add_xlwings_conf(
            {
                "UDF Modules": UDF_MODULE,
                "PROFILER_CAR": (settings or {}).get("PROFILER_CAR", ""),
                "PROFILER_DATA": (settings or {}).get("PROFILER_DATA", ""),
                # The Customer sheet shows name, e-mail and phone only when this says yes.
                PERSONAL_SETTING: (settings or {}).get(PERSONAL_SETTING, "no"),
            }
        )
    return Path(path)


def _data_folder(settings: dict[str, str], book: Path) -> str | None:
    """The workbook's data folder (its PROFILER_DATA setting), for CP_CAMPAIGN's example; None
    when unset or not there (the example then reads $PROFILER_DATA, as the function would)."""
    from profiler.cells import setting_folder

    try:
        folder = setting_folder(settings, book, "PROFILER_DATA")
    except ProfilerError:
        return None
    return str(folder.resolve()) if folder is not None else None


def _buttons(ws: Any, buttons: list[tuple[str, str]], first: int = 0) -> None:
    """Buttons in the sheet's top row from column D, each bound to a macro of our VBA module
    (templates/vba/Profiler.bas)."""
    for i, (macro, caption) in enumerate(buttons, start=first):
        ws.insert_button(
            0, 3 + 2 * i, {"macro": macro, "caption": caption, "width": 130, "height": 24}
        )


def _write_formulas(
    w: XlsmWriter,
    ws: Any,
    engine: QueryEngine,
    inputs: dict[str, Any],
    styles: _Styles,
    user_cells: dict[tuple[int, int], Any],
    data: str | None = None,
) -> None:
    """The unprotected formulas sheet: each function's example and result, then room for the
    user's own formulas (kept across refreshes: FileBook reads them back)."""
    ws.write_string(0, 0, MY_FORMULAS_TITLE, styles.title)
    ws.write_string(1, 0, formulas_intro(engine), styles.stamp)
    row = 3
    for col, head in enumerate(["Function", "Formula", "Result for this workbook's data"]):
        ws.write_string(row, col, head, styles.label)
    row += 1
    for name, formula, result in formula_examples(engine, inputs, data):
        ws.write_string(row, 0, name, styles.label)
        ws.write_string(row, 1, formula, styles.text)  # text: it shows the formula to type
        if isinstance(result, list):
            for r, values in enumerate(result[: FORMULA_ROWS + 1]):
                for c, value in enumerate(values[:10]):
                    w.write_value(ws, row + r, 2 + c, value, styles.text if r == 0 else None)
            shown = min(len(result), FORMULA_ROWS + 1)
            if len(result) > shown:
                ws.write_string(
                    row + shown, 2, f"... {len(result) - shown} more rows", styles.stamp
                )
                shown += 1
            row += shown + 1
        else:
            w.write_value(ws, row, 2, result)
            row += 2
    if row >= USER_ROW:
        raise ProfilerError("The function examples overrun the user's area of 'My formulas'.")
    ws.write_string(USER_ROW - 1, 0, USER_AREA, styles.block)
    for (r, c), value in sorted(user_cells.items()):
        if isinstance(value, str) and value.startswith("="):
            ws.write_formula(r, c, value)  # the user's formula, recalculated by Excel
        else:
            w.write_value(ws, r, c, value)
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 60)
    ws.set_column(2, 12, 14)
    _page_setup(ws)


def _write_lists(
    w: XlsmWriter, ws: Any, lists: dict[str, list[str]], styles: _Styles
) -> dict[str, str]:
    refs = {}
    for col, (key, values) in enumerate(lists.items()):
        ws.write_string(0, col, key, styles.label)
        for row, value in enumerate(values, start=1):
            w.write_value(ws, row, col, str(value))
        letter = xl_col_to_name(col)
        refs[key] = f"='{LISTS_SHEET}'!${letter}$2:${letter}${len(values) + 1}"
        w.add_name(f"List_{key}", refs[key])
    return refs


def _write_small_list(ws: Any, cells: list[tuple[str, int]], col: int, styles: _Styles) -> None:
    """Where the cells on few customers are, with their counts, so a snapshot can suppress
    exactly those under its minimum."""
    ws.write_string(0, col, SMALL_CELLS, styles.label)
    ws.write_string(0, col + 1, SMALL_COUNTS, styles.label)
    for row, (ref, count) in enumerate(cells, start=1):
        ws.write_string(row, col, ref)
        ws.write_number(row, col + 1, count)


def _write_inputs(
    w: XlsmWriter,
    ws: Any,
    spec: dict[str, Any],
    inputs: dict[str, Any],
    refs: dict[str, str],
    styles: _Styles,
) -> None:
    for i, item in enumerate(spec.get("inputs") or []):
        row = INPUT_ROW + i
        ws.write_string(row, 0, str(item.get("label", item["name"])), styles.label)
        w.write_value(ws, row, 1, str(inputs.get(item["name"], "")), styles.input)
        sheet = spec["name"].replace("'", "''")
        w.add_name(item["name"], f"='{sheet}'!$B${row + 1}")
        if item.get("list") in refs:
            w.add_list_validation(
                ws,
                f"B{row + 1}",
                refs[item["list"]],
                title=str(item.get("label", item["name"])),
                accepts=ACCEPTS.get(item["list"], ""),
            )
    if spec.get("inputs"):
        ws.write_string(
            INPUT_ROW - 1,
            0,
            "Inputs (yellow cells; choose from the dropdowns, then Refresh)",
            styles.stamp,
        )


def _write_checks(
    w: XlsmWriter,
    ws: Any,
    spec: dict[str, Any],
    content: SheetContent,
    styles: _Styles,
    formulas: bool = True,
) -> None:
    if not content.checks:
        return
    row = checks_row(spec)
    ws.write_string(row, 0, "Checks", styles.block)
    blocks = {b.key: (b, top) for b, top in placements(spec, content)}
    for i, check in enumerate(content.checks, start=1):
        block, top = blocks[check.block]
        col = list(block.frame.columns).index(check.column)
        letter = xl_col_to_name(col)
        first_data = top + 2 + 1  # 1-based row of the block's first data row
        parts = ",".join(f"{letter}{first_data + p}" for p in check.parts)
        if check.parts == list(range(check.parts[0], check.parts[-1] + 1)):
            parts = f"{letter}{first_data + check.parts[0]}:{letter}{first_data + check.parts[-1]}"
        total = f"{letter}{first_data + check.total}"
        ok = check.passed(block)
        formula = f'=IF(ABS(SUM({parts})-{total})<={check.tolerance},"PASS","BREAK")'
        ws.write_string(row + i, 0, check.title, styles.text)
        if not formulas:  # a snapshot: the result as it was, no formula
            ws.write_string(
                row + i, 1, "PASS" if ok else "BREAK", styles.passed if ok else styles.broken
            )
            continue
        w.write_formula(
            ws,
            row + i,
            1,
            formula,
            "PASS" if ok else "BREAK",
            styles.passed if ok else styles.broken,
        )


def _write_block(
    w: XlsmWriter,
    ws: Any,
    block: Block,
    top: int,
    styles: _Styles,
    widths: dict[int, float],
    min_size: int,
) -> None:
    """The block's title, then an Excel table (cells on too few customers shaded)."""
    frame = block.frame.reset_index(drop=True)
    ws.write_string(top, 0, block.title, styles.block)
    columns = [str(c) for c in frame.columns]
    header, first, last = top + 1, top + 2, top + 1 + len(frame)
    if len(frame):
        ws.add_table(
            header,
            0,
            last,
            len(columns) - 1,
            {
                "name": table_name(ws.get_name(), block.key),
                "columns": [
                    {"header": c, "header_format": styles.number_head}
                    if _numeric(frame.iloc[:, i])
                    else {"header": c}
                    for i, c in enumerate(_unique(columns))
                ],
                "style": "Table Style Light 9",
                "autofilter": False,
            },
        )
    else:
        for col, name in enumerate(columns):
            ws.write_string(header, col, name, styles.label)
    for col, name in enumerate(columns):
        widths[col] = max(widths.get(col, 0), len(name) * 1.1)
    for r, record in enumerate(frame.itertuples(index=False)):
        for col, value in enumerate(record):
            name = columns[col]
            count = block.customers.iloc[r][name] if block.customers is not None else np.nan
            is_small = bool(count < min_size)  # NaN (no count) is never small
            fmt = None
            if is_number(value):
                fmt = styles.number(cell_unit(block, r, name), is_small)
                widths[col] = max(widths.get(col, 0), 12.0)
            elif is_mark(value):  # a suppressed number: right-aligned like the numbers
                fmt = styles.mark_small if is_small else styles.mark
                widths[col] = max(widths.get(col, 0), 12.0)
            elif name in WRAPPED:  # long texts wrap in a fixed width, top-aligned
                fmt = styles.wrap
                widths[col] = 60.0
                lines = -(-len(str(value)) // WRAP_CHARS)
                # all of it shown where the block asks (LibreOffice does not grow the row)
                if lines > 1 and block.tall_rows:
                    ws.set_row(first + r, ROW_POINTS * lines)
            else:
                fmt = styles.number("", True) if is_small else styles.text
                widths[col] = max(widths.get(col, 0), min(len(str(value)) * 1.05, 60))
            w.write_value(ws, first + r, col, value, fmt)
    area = heatmap_area(block)
    if area is not None:
        left, right, rows = area
        w.add_color_scale(
            ws, f"{xl_col_to_name(left)}{first + 1}:{xl_col_to_name(right)}{first + rows}"
        )
    for name, verdict in block.verdicts.items():
        if name in columns and verdict in columns and len(frame):
            col, word = xl_col_to_name(columns.index(name)), xl_col_to_name(columns.index(verdict))
            w.add_verdict_colours(
                ws, f"{col}{first + 1}:{col}{last + 1}", f"${word}{first + 1}", (BETTER, WORSE)
            )
    if block.note:
        ws.write_string(last + 1, 0, block.note, styles.stamp)
    for i, spec in enumerate(block.charts if len(frame) else []):
        _chart(w, ws, spec, block, columns, first, last, len(columns) + 1, i)


# A tile's KPI label says which way is good (content.POLARITY_WORDS are the table's words).
POLARITY_MARKS = {"higher is better": " ↑", "lower is better": " ↓"}


def _write_tiles(
    w: XlsmWriter, ws: Any, block: Block, top: int, styles: _Styles, formulas: bool = True
) -> None:
    """KPI tiles beside a table: each tile's number and change are formulas pointing at the
    table (cached results written), so they follow the table whichever way it is refreshed;
    in a snapshot, the values themselves (already suppressed where they must be)."""
    spec = block.tiles or {}
    columns = [str(c) for c in block.frame.columns]
    value_col, change_col = columns.index(spec["value"]), columns.index(spec["change"])
    left = len(columns) + 1
    label_fmt = w.fmt(
        font_name="Calibri", font_size=9, font_color="#595959", bg_color="#F2F2F2", valign="top"
    )
    change_units = block.column_row_units.get(spec["change"], [])
    for i, record in enumerate(block.frame.itertuples(index=False)):
        # A relative change signed in %, points for shares (pp) and scores, as the table says.
        change_unit = change_units[i] if i < len(change_units) else "%"
        change_fmt = w.fmt(
            font_name="Calibri",
            font_size=9,
            num_format="+0.0%;-0.0%;0.0%"
            if change_unit == "%"
            else number_format_code(change_unit),
            bg_color="#F2F2F2",
        )
        row = top + 1 + (i // spec.get("across", 4)) * 3
        col = left + (i % spec.get("across", 4)) * 2
        data_row = top + 2 + i
        unit = block.row_units[i] if block.row_units else ""
        value_fmt = w.fmt(
            font_name="Calibri",
            font_size=16,
            bold=True,
            font_color="#1F3864",
            bg_color="#F2F2F2",
            num_format=number_format_code(unit),
            valign="bottom",
        )
        label = str(record[0])
        if "polarity" in spec:  # which way is good: an arrow after the KPI (the note says so)
            label += POLARITY_MARKS.get(str(record[columns.index(spec["polarity"])]), "")
        ws.write_string(row, col, label, label_fmt)
        if "period" in spec:  # the period the number covers ("as of D" for a state)
            ws.write_string(row, col + 1, str(record[columns.index(spec["period"])]), label_fmt)
        else:
            ws.write_blank(row, col + 1, None, label_fmt)
        value, change = record[value_col], record[change_col]
        if formulas:
            _tile_formula(
                w, ws, row + 1, col, f"{xl_col_to_name(value_col)}{data_row + 1}", value, value_fmt
            )
            _tile_formula(
                w,
                ws,
                row + 2,
                col,
                f"{xl_col_to_name(change_col)}{data_row + 1}",
                change,
                change_fmt,
            )
        else:
            for at, shown, fmt in ((row + 1, value, value_fmt), (row + 2, change, change_fmt)):
                w.write_value(ws, at, col, shown, styles.mark if is_mark(shown) else fmt)
        ws.write_blank(row + 1, col + 1, None, value_fmt)
        if "verdict" in spec:  # the change is green or red by the KPI's polarity
            verdict = f"${xl_col_to_name(columns.index(spec['verdict']))}${data_row + 1}"
            cell = f"{xl_col_to_name(col)}{row + 3}"
            w.add_verdict_colours(ws, cell, verdict, (BETTER, WORSE))
        if is_number(change) and change == change:
            ws.write_string(row + 2, col + 1, "vs prior", label_fmt)
        else:
            ws.write_blank(row + 2, col + 1, None, label_fmt)
        ws.set_column(col, col, 16)
        if "period" in spec:  # room for "as of YYYY-MM-DD" beside the KPI
            ws.set_column(col + 1, col + 1, 14)


def _tile_formula(
    w: XlsmWriter, ws: Any, row: int, col: int, ref: str, value: Any, fmt: Any
) -> None:
    missing = value is None or (isinstance(value, float) and np.isnan(value))
    w.write_formula(
        ws, row, col, f'=IF(ISNUMBER({ref}),{ref},"")', "" if missing else float(value), fmt
    )


def _chart(
    w: XlsmWriter,
    ws: Any,
    spec: dict[str, Any],
    block: Block,
    columns: list[str],
    first: int,
    last: int,
    at_col: int,
    index: int,
) -> None:
    sheet = ws.get_name()
    x = columns.index(spec["x"])
    start = first + (1 if spec.get("skip_first") else 0)  # e.g. the base row above segments
    last = last - (1 if spec.get("skip_last") else 0)  # e.g. a total row below the bands
    unit = block.units.get(spec["series"][0], "")
    w.add_chart(
        spec["type"],
        ws,
        xl_rowcol_to_cell(first - 1 + index * CHART_ROWS, at_col),
        value_format=number_format_code(unit) if unit else None,
        title=spec.get("title", block.title),
        categories=[sheet, start, x, last, x],
        series={
            name: [sheet, start, columns.index(name), last, columns.index(name)]
            for name in spec["series"]
        },
        size=(620, 320 if spec["type"] != "bar" else 520),
    )


def _write_about(
    w: XlsmWriter,
    ws: Any,
    engine: QueryEngine,
    layout: dict[str, Any],
    styles: _Styles,
    settings: dict[str, str],
) -> None:
    """The About sheet: its facts (workbook/about.py), a topic and its wrapped text per row."""
    ws.set_column(0, 0, 30)
    ws.set_column(1, 1, 100)
    ws.write_string(0, 0, TITLE, styles.title)
    for i, (key, value) in enumerate(about_facts(engine, layout, settings), start=2):
        ws.write_string(i, 0, key, styles.label)
        w.write_value(ws, i, 1, value, styles.wrap)


def _page_setup(ws: Any, stamp: str | None = None) -> None:
    """Print (and PDF) each sheet landscape, one page wide, with the sheet name in the header
    (a snapshot's also says when and from what it was taken)."""
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.5)
    right = stamp.replace("&", "&&")[:200] if stamp else "&D"
    ws.set_header(f"&L&8Customer Profiler — &A&R&8{right}")


WRAPPED = {"Description", "Definition"}  # text columns that wrap instead of spreading
WRAP_CHARS, ROW_POINTS = 72, 13.5  # characters per line of a wrapped cell 60 wide; a line's height


def _numeric(column: pd.Series) -> bool:
    """A column of numbers (marks and blanks aside): its header is right-aligned."""
    values = [v for v in column if v is not None and not is_mark(v) and v == v]
    return bool(values) and all(is_number(v) for v in values)


# A4 landscape inside the margins and header of _page_setup, in pixels at 96 per inch.
PRINT_WIDTH_PX, PRINT_HEIGHT_PX = (11.69 - 0.8) * 96, (8.27 - 1.1 - 0.35) * 96
ROW_PX = 20  # Excel's default row: 15 points
ONE_PAGE_VIEWS = {"summary", "dashboard"}


def _print_pages(
    ws: Any, spec: dict[str, Any], placed: list[tuple[Block, int]], widths: dict[int, float]
) -> None:
    """Pages a reader can follow: Summary and Dashboard on one page; elsewhere the header of
    the longest table repeated on every page, and a page break before any block (with its
    chart) that would otherwise be cut, estimated from the fit-to-width scale."""
    if spec.get("view") in ONE_PAGE_VIEWS:
        ws.fit_to_pages(1, 1)
        return
    tables = [(block, top) for block, top in placed if len(block.frame)]
    if not tables:
        return
    longest, top = max(tables, key=lambda item: len(item[0].frame))
    columns_px = {c: w * 7 + 5 for c, w in widths.items()}
    used = max(widths) + 1 if widths else 1
    total = sum(columns_px.get(c, 64) for c in range(used))
    for block, _ in placed:  # a chart sits beside its table
        if block.charts:
            left = sum(columns_px.get(c, 64) for c in range(len(block.frame.columns) + 1))
            total = max(total, left + 620)
    scale = min(1.0, PRINT_WIDTH_PX / total)
    per_page = int(PRINT_HEIGHT_PX / (ROW_PX * scale))
    if 2 + len(longest.frame) > per_page:  # it spans pages: its header on each of them
        ws.repeat_rows(top + 1)
    breaks, page = [], 0
    for block, start in placed:
        height = 2 + len(block.frame)
        if block.charts:
            height = max(height, CHART_ROWS * len(block.charts) + 1)
        end = start + height
        if end > page + per_page and height <= per_page and start > page:
            breaks.append(start)  # the block starts a page rather than being cut
            page = start
        while end > page + per_page:
            page += per_page
    if breaks:
        ws.set_h_pagebreaks(breaks)


def _unique(columns: list[str]) -> list[str]:
    """Excel table headers must be unique (and are text)."""
    seen: dict[str, int] = {}
    out = []
    for name in columns:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name} ({n + 1})")
    return out
