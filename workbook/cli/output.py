"""How commands talk to the terminal: progress on stderr (tqdm), aligned tables and CSV on
stdout.

Human tables show each number the way its catalog metric says (``display_format``): counts as
whole numbers with thousands separators, money with two decimals, rates and shares as
percentages, indices as whole numbers.  CSV is never formatted: it carries the values exactly as
computed.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm import tqdm

from profiler.safecsv import write_csv

if TYPE_CHECKING:
    from profiler.catalog import Metric

RAW_CSV = False  # set from --raw by the command line: CSV exactly as computed, for machines
SMALL_FLAG = "*"
_CURRENCY = re.compile(r"^[A-Z]{3}$")  # an ISO 4217 code such as GBP: the unit of money


@dataclass(frozen=True)
class Display:
    """How one number is shown: ``kind`` and the decimals after the point.

    Kinds: ``count`` and ``number`` (thousands separators), ``money`` (two decimals),
    ``percent`` (a fraction shown x 100 with ``%``), ``change`` (a signed percentage: the
    fraction ``(now - before) / before``), ``pp`` (signed percentage points), ``points``
    (a signed difference of scores), ``index`` (a whole number, 100 = the benchmark).
    Missing and infinite values are empty cells."""

    kind: str
    decimals: int = 0

    def __call__(self, value: Any) -> str:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return "" if value is None else str(value)
        if not math.isfinite(number):
            return ""
        if self.kind in ("percent", "change"):
            number *= 100
        sign = "+" if self.kind in SIGNED else ""
        text = f"{number:{sign},.{self.decimals}f}"
        if float(text.replace(",", "")) == 0:  # -0.0 rounds to "-0": no sign
            text = f"{0:.{self.decimals}f}"
        return text + SUFFIXES.get(self.kind, "")


SIGNED = ("change", "pp", "points")
SUFFIXES = {"percent": "%", "change": "%", "pp": " pp", "points": " pts"}
COUNT = Display("count")
MONEY = Display("money", 2)
INDEX = Display("index")
CHANGE = Display("change", 1)
PERCENT = Display("percent", 1)


def display_format(metric: Metric) -> Display:
    """How a catalog metric's values are shown on the terminal, from its ``unit`` and its Excel
    number ``format`` (templates/metrics): unit ``%`` (or a format ending in %) is a
    percentage with the format's decimals; a currency unit (GBP) is money; unit ``index`` a
    whole number; otherwise the format's decimals (``#,##0`` a count, ``0.00`` two decimals),
    two when the metric has no format."""
    unit, number_format = (metric.unit or "").strip(), (metric.format or "").strip()
    if unit == "%" or number_format.endswith("%"):
        return Display("percent", _decimals(number_format) if number_format else 1)
    if _CURRENCY.match(unit):
        return MONEY
    if unit == "index":
        return INDEX
    if not number_format:
        return Display("number", 2)
    decimals = _decimals(number_format)
    return Display("count" if decimals == 0 else "number", decimals)


def change_format(metric: Metric) -> Display:
    """How a change over time of a metric is shown, in the unit ``profiler.indices.change``
    counts it in: percentage points for shares, points for scores, else a signed percentage."""
    from profiler.indices import change_unit

    return {"pp": Display("pp", 1), "points": Display("points", 1)}.get(change_unit(metric), CHANGE)


def _decimals(number_format: str) -> int:
    """Decimals of an Excel number format: the 0s and #s after its point ('0.0%' -> 1)."""
    _, point, after = number_format.partition(".")
    return len(re.match(r"[0#]*", after).group()) if point else 0  # type: ignore[union-attr]


def progress(message: str) -> None:
    """One progress line on stderr, so stdout stays clean for tables and CSV (through tqdm, so
    it never breaks a progress bar on the terminal)."""
    tqdm.write(f"  … {message}", file=sys.stderr)


SHOW_BAR: bool | None = None  # None: a progress bar only when stderr is a terminal
_bar: tqdm | None = None


def family_progress(family: str, done: int, total: int) -> None:
    """The CAR build's progress (``build_car(progress=...)``): one tqdm bar on stderr over the
    feature families, naming the one done last; none when stderr is not a terminal."""
    global _bar
    if _bar is None:
        hide = None if SHOW_BAR is None else not SHOW_BAR
        _bar = tqdm(total=total, unit="family", file=sys.stderr, disable=hide, leave=False)
    _bar.set_postfix_str(family, refresh=False)
    _bar.update(done - _bar.n)
    if done >= total:
        _bar.refresh()  # drawn complete, whatever the rate limit skipped
        _bar.close()
        _bar = None


Formats = Mapping[str, "Display | Sequence[Display]"]


def print_table(
    frame: pd.DataFrame,
    *,
    floatfmt: str = "{:,.2f}",
    formats: Formats | None = None,
    flags: Mapping[str, Sequence[bool]] | None = None,
    min_size: int | None = None,
    groups: Sequence[tuple[str, int]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Print a DataFrame as an aligned plain-text table: text columns left, numbers right.

    ``formats`` gives a column's ``Display``, or one per row (a long table whose rows are
    different metrics); other float columns use ``floatfmt``, integers thousands separators.
    ``flags`` marks cells (True) with a trailing ``*``; when any is marked, a footnote says
    ``* fewer than {min_size} customers``.  ``groups`` puts a header over runs of columns:
    ``(label, number of columns)`` in order; ``headers`` renames columns on the way out."""
    formats, flags, names = formats or {}, flags or {}, headers or {}
    titles, columns, right = [], [], []
    flagged = False
    for col in frame.columns:
        cells, is_number = _cells(frame[col], formats.get(col), floatfmt)
        marks = flags.get(col)
        if marks is not None:
            marks = [bool(m) and cell != "" for m, cell in zip(marks, cells, strict=True)]
            if any(marks):
                flagged = True
                cells = [
                    cell + (SMALL_FLAG if m else " ") for cell, m in zip(cells, marks, strict=True)
                ]
        titles.append(names.get(col, str(col)))
        columns.append(cells)
        right.append(is_number)
    widths = [max([len(t), *map(len, cells)]) for t, cells in zip(titles, columns, strict=True)]
    lines = []
    if groups:
        lines.append(_group_line(groups, widths))
    lines.append(_line(titles, widths, right))
    for row in zip(*columns, strict=True):
        lines.append(_line(list(row), widths, right))
    print("\n".join(lines))
    if flagged and min_size is not None:
        print(small_footnote(min_size))


def small_footnote(min_size: int) -> str:
    """The line under a table with flagged cells."""
    return f"{SMALL_FLAG} fewer than {min_size:,} customers"


def _cells(
    series: pd.Series, display: Display | Sequence[Display] | None, floatfmt: str
) -> tuple[list[str], bool]:
    """A column's cells as text, and whether it is a number column (aligned right)."""
    values = series.tolist()
    if display is not None:
        shown = [display] * len(values) if isinstance(display, Display) else list(display)
        return [d(v) for d, v in zip(shown, values, strict=True)], True
    kind = series.dtype.kind
    if kind == "f":
        return ["" if pd.isna(v) else floatfmt.format(v) for v in values], True
    if kind in "iu":
        return [f"{v:,}" for v in values], True
    return [
        "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in values
    ], False


def _line(cells: list[str], widths: list[int], right: list[bool]) -> str:
    return "  ".join(
        c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
    ).rstrip()


def _group_line(groups: Sequence[tuple[str, int]], widths: list[int]) -> str:
    """Labels centred over their runs of columns; a column is widened when a label is longer
    than its run."""
    parts, at = [], 0
    for label, span in groups:
        run = widths[at : at + span]
        room = sum(run) + 2 * (span - 1)
        if len(label) > room:
            widths[at] += len(label) - room
            room = len(label)
        parts.append(label.center(room))
        at += span
    return "  ".join(parts).rstrip()


def print_csv(frame: pd.DataFrame) -> None:
    """Write a DataFrame as CSV to stdout: no cell runs as a formula when the output is opened
    in a spreadsheet, unless the command was given ``--raw``."""
    write_csv(frame, sys.stdout, raw=RAW_CSV)
