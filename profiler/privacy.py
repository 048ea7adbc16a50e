"""What a snapshot may not show: small cells, cells that would reveal them, personal data.

Pure rules over cells (reference, value, customer count), so they can be tested on hand-made
tables; workbook/snapshot.py applies them to a workbook's parts.

- Primary suppression: a cell computed on fewer than K customers shows ``mark(k)`` instead.
- Complementary suppression: within one table column, a single suppressed cell could be backed
  out from a total (a base row, a weighted mean, a sum of segments).  So wherever a column has
  exactly one suppressed cell, the smallest other number in that column is suppressed too; two
  unknowns in a column cannot be solved from one total.
- Personal data and the sender's machine: workbook/suppression.py removes e-mail addresses,
  phone numbers and paths from every text, and workbook/leaks.py checks the written bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def mark(k: int) -> str:
    """What a suppressed cell shows."""
    return f"n<{k}"


@dataclass(frozen=True)
class Cell:
    ref: str  # e.g. "C12"
    column: str  # the table column it belongs to
    value: float | None  # None for text or blank
    customers: int | None  # customers it was computed on, where known


def primary(cells: Iterable[Cell], k: int) -> set[str]:
    """Cells computed on fewer than k customers."""
    return {c.ref for c in cells if c.customers is not None and c.customers < k}


def complementary(cells: Iterable[Cell], suppressed: set[str]) -> set[str]:
    """Extra cells to suppress so no column of a table has a single suppressed number."""
    by_column: dict[str, list[Cell]] = {}
    for cell in cells:
        by_column.setdefault(cell.column, []).append(cell)
    extra: set[str] = set()
    for column_cells in by_column.values():
        hidden = [c for c in column_cells if c.ref in suppressed]
        if len(hidden) != 1:
            continue
        shown = [c for c in column_cells if c.ref not in suppressed and c.value is not None]
        if shown:
            smallest = min(shown, key=lambda c: (abs(c.value or 0.0), c.ref))
            extra.add(smallest.ref)
    return extra
