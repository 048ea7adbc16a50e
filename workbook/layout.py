"""Where things go on a view sheet, shared by the file builder and the live book.

Rows (0-based): the sheet title, a stamp line (data as of, catalog, refreshed), the input cells
from row 3 (label in A, value in B), the built-in checks, then the view's blocks stacked: a
title row, a header row, the data rows, and a gap.  A block with a chart gets room for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbook.content import Block, SheetContent

LISTS_SHEET = "Lists"
INPUT_ROW = 3
CHART_ROWS = 18
GAP = 2
FORMULA_START = ("=", "+", "-", "@")
# Cells computed on fewer customers than this are listed (with their counts) on the hidden
# Lists sheet: a record, kept current by either refresh, of where the small cells are.
RECORDED_BELOW = 100
SMALL_CELLS, SMALL_COUNTS = "small_cells", "small_counts"
# The formulas sheet's own area starts here (0-based row): the writer puts the user's cells back
# there and a file refresh reads them from there.
USER_ROW = 140


def checks_row(sheet: dict[str, Any]) -> int:
    """First row of the checks: below the inputs."""
    return INPUT_ROW + len(sheet.get("inputs") or []) + 1


def placements(sheet: dict[str, Any], content: SheetContent) -> list[tuple[Block, int]]:
    """Each block of the sheet with its title row."""
    top = checks_row(sheet) + (len(content.checks) + 2 if content.checks else 0)
    out = []
    for block in content.blocks:
        out.append((block, top))
        height = 2 + len(block.frame)
        if block.charts:
            height = max(height, CHART_ROWS * len(block.charts))
        top += height + GAP
    return out


def small_cells(sheet: dict[str, Any], content: SheetContent) -> list[tuple[str, int]]:
    """Each cell of the sheet computed on fewer than RECORDED_BELOW customers, as a reference
    (``'Sheet'!B12``) with its count: what the Lists sheet records for snapshots, whichever way
    the sheet was written."""
    from xlsxwriter.utility import xl_col_to_name

    name = content.name.replace("'", "''")
    out = []
    for block, top in placements(sheet, content):
        if block.customers is None:
            continue
        first = top + 3  # 1-based row of the first data row: title and header above it
        counts = block.customers.reset_index(drop=True)
        for col, column in enumerate(block.frame.columns):
            if column not in counts.columns:
                continue
            for r, count in enumerate(counts[column]):
                if count < RECORDED_BELOW:  # NaN (no count) is never small
                    out.append((f"'{name}'!{xl_col_to_name(col)}{first + r}", int(count)))
    return out


def cell_unit(block: Block, row: int, column: str) -> str:
    """The unit of one numeric cell: a column's own per-row units, else the row's unit for a
    table of mixed metrics, else the column's."""
    if column in block.column_row_units:
        return block.column_row_units[column][row]
    if block.row_units and column in block.row_unit_columns:
        return block.row_units[row]
    return block.units.get(column, "")


def is_number(value: Any) -> bool:
    """A cell value written as a number (a bool is not one, though Python says so)."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def heatmap_area(block: Block) -> tuple[int, int, int] | None:
    """The block's colour-scale area as (first column, last column, rows), 0-based columns
    from the block's first: one scale over every heatmap column, so colours compare across
    periods and a last period of one cohort is coloured too.  A retention triangle leaves
    period 0 (everyone, 100%) and its mean row out of it."""
    columns = list(block.frame.columns)
    heat = [columns.index(name) for name in block.heatmap if name in columns]
    if block.key == "retention" and len(heat) > 1:
        heat = heat[1:]
    rows = len(block.frame) - (1 if block.key == "retention" else 0)
    if not heat or rows <= 0:
        return None
    return min(heat), max(heat), rows


def table_name(sheet: str, key: str) -> str:
    """The Excel table's name for a block (letters, digits and underscores only)."""
    clean = "".join(ch for ch in f"{sheet}_{key}" if ch.isalnum() or ch == "_")
    return f"T_{clean}"[:250]


def safe_text(value: Any) -> Any:
    """Text a live Excel would take for a formula gets a leading apostrophe (shown as typed)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
