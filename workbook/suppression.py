"""A sheet's content made safe to send, before anything is written.

Applied to the blocks the engine computed (values with their customer counts), so that every
place a number could reach afterwards (the cell, a chart's cached points, a KPI tile, a total)
is drawn from data that no longer holds it:

- primary: a value computed on fewer than k customers becomes ``n<k``;
- complementary: where a table column would have a single hidden value, the smallest other
  value of that column becomes ``suppressed`` (two unknowns cannot be solved from one total);
- text: e-mail addresses, phone numbers and local paths inside any text (cells, column names,
  titles, notes) are replaced, wherever in the text they occur.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from profiler import privacy
from workbook.content import Block, SheetContent
from workbook.layout import is_number
from workbook.leaks import KINDS

COMPLEMENTARY = "suppressed"
REMOVED = "(removed)"


@dataclass
class Counts:
    """How many cells were hidden for each reason, and texts scrubbed."""

    primary: int = 0
    complementary: int = 0
    texts: int = 0

    def add(self, other: Counts) -> None:
        self.primary += other.primary
        self.complementary += other.complementary
        self.texts += other.texts


def is_mark(value: object) -> bool:
    """Whether a cell holds a suppression mark (right-aligned in numeric columns)."""
    return isinstance(value, str) and (value == COMPLEMENTARY or value.startswith("n<"))


def scrub(text: str) -> tuple[str, int]:
    """``text`` with every personal or local substring replaced."""
    found = 0
    for _, pattern in KINDS:
        text, n = pattern.subn(REMOVED, text)
        found += n
    return text, found


def suppress_block(block: Block, k: int) -> tuple[Block, Counts]:
    """The block with its small values hidden and its texts scrubbed."""
    counts = Counts()
    frame = block.frame.reset_index(drop=True).copy()
    if block.customers is not None and len(frame):
        customers = block.customers.reset_index(drop=True)
        cells, values = [], {}
        for c, column in enumerate(frame.columns):
            if column not in customers.columns:
                continue
            for r in range(len(frame)):
                value = frame.iat[r, c]
                number = _number(value)
                count = customers.iat[r, customers.columns.get_loc(column)]
                ref = f"{r}:{c}"
                values[ref] = (r, c)
                cells.append(
                    privacy.Cell(ref, str(column), number, None if pd.isna(count) else int(count))
                )
        hidden = privacy.primary(cells, k)
        extra = privacy.complementary(cells, hidden)
        touched = {values[ref][1] for ref in hidden | extra}
        frame = frame.astype({frame.columns[c]: object for c in touched})
        for ref in hidden:
            frame.iat[values[ref]] = privacy.mark(k)
        for ref in extra:
            frame.iat[values[ref]] = COMPLEMENTARY
        counts.primary, counts.complementary = len(hidden), len(extra)
    renamed = {}
    for column in frame.columns:
        clean, n = scrub(str(column))
        counts.texts += n
        if clean != str(column):
            renamed[column] = clean
    for c, column in enumerate(frame.columns):
        if pd.api.types.is_numeric_dtype(frame[column]):
            continue
        for r in range(len(frame)):
            value = frame.iat[r, c]
            if isinstance(value, str) and not is_mark(value):
                clean, n = scrub(value)
                if n:
                    frame.iat[r, c] = clean
                    counts.texts += n
    title, n_title = scrub(block.title)
    note, n_note = scrub(block.note)
    counts.texts += n_title + n_note
    frame = frame.rename(columns=renamed)
    charts = []
    for chart in block.charts:
        chart_title, n = scrub(chart.get("title", block.title))
        counts.texts += n if "title" in chart else 0  # the block's title is counted above
        charts.append(
            {
                **chart,
                "title": chart_title,
                "x": renamed.get(chart["x"], chart["x"]),
                "series": [renamed.get(s, s) for s in chart["series"]],
            }
        )
    safe = dataclasses.replace(
        block,
        title=title,
        note=note,
        frame=frame,
        customers=None
        if block.customers is None
        else block.customers.reset_index(drop=True).rename(columns=renamed),
        units={renamed.get(k_, k_): v for k_, v in block.units.items()},
        row_unit_columns=[renamed.get(c, c) for c in block.row_unit_columns],
        column_row_units={renamed.get(k_, k_): v for k_, v in block.column_row_units.items()},
        heatmap=[renamed.get(c, c) for c in block.heatmap],
        verdicts={renamed.get(k_, k_): renamed.get(v, v) for k_, v in block.verdicts.items()},
        hidden=[renamed.get(c, c) for c in block.hidden],
        charts=charts,
    )
    return safe, counts


def suppress(content: SheetContent, k: int) -> tuple[SheetContent, Counts]:
    """Every block of a sheet made safe; each check keeps the outcome it has on the computed
    numbers (a snapshot shows PASS or BREAK as text, never the hidden cells it summed)."""
    total = Counts()
    blocks = []
    by_key = {b.key: b for b in content.blocks}
    checks = [dataclasses.replace(c, outcome=c.passed(by_key[c.block])) for c in content.checks]
    for block in content.blocks:
        safe, counts = suppress_block(block, k)
        blocks.append(safe)
        total.add(counts)
    return dataclasses.replace(content, blocks=blocks, checks=checks), total


def _number(value: object) -> float | None:
    if not is_number(value):
        return None
    number = float(value)
    return None if np.isnan(number) else number
