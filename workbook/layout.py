"""Where things go on a view sheet, shared by the file builder and the live book.

Rows (0-based): the sheet title, a stamp line (data as of, catalog, refreshed), the input cells
from row 3 (label in A, value in B), the built-in checks, then the view's blocks stacked: a
title row, a header row, the data rows, and a gap.  A block with a chart gets room for it.
"""

from __future__ import annotations

from typing import Any

from workbook.content import Block, SheetContent

LISTS_SHEET = "Lists"
INPUT_ROW = 3
CHART_ROWS = 18
GAP = 2
FORMULA_START = ("=", "+", "-", "@")


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


def safe_text(value: Any) -> Any:
    """Text a live Excel would take for a formula gets a leading apostrophe (shown as typed)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
