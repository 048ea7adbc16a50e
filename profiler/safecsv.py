"""CSV for people: no cell from data is ever a formula when the file is opened in Excel.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or a
carriage return) as a formula: ``=HYPERLINK(...)`` copied from a source row would run on the CRM
team's machine.  Following the OWASP rule, every such text cell is written with a single quote
in front, which spreadsheets show as text and hide.  Numbers are left alone, also when they are
held as text ("-12.50" in a quarantined row).  ``raw=True`` (the commands' ``--raw``) writes the
cells exactly, for machines.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NUMBER_RE = re.compile(_NUMBER)


def neutralise(value: object) -> object:
    """One cell: text that a spreadsheet would run gets a leading single quote."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _NUMBER_RE.fullmatch(value)
    ):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) cannot run as formulas."""
    out = frame.rename(columns=lambda c: neutralise(c) if isinstance(c, str) else c)
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            if (
                column.cat.categories.dtype.kind in "OU"
                or str(column.cat.categories.dtype) == "str"
            ):
                out[name] = column.cat.rename_categories(
                    [neutralise(c) for c in column.cat.categories]
                )
        elif column.dtype.kind in "OSU" or pd.api.types.is_string_dtype(column.dtype):
            out[name] = _neutralise_text(column)
    return out


def _neutralise_text(column: pd.Series) -> pd.Series:
    text = column.astype("string")
    risky = text.str[:1].isin(FORMULA_STARTS) & ~text.str.fullmatch(_NUMBER)
    risky = risky.fillna(False).to_numpy(dtype=bool)
    if not risky.any():
        return column
    column = column.astype(object).copy()
    column[risky] = "'" + text[risky].astype(object)
    return column


def write_csv(frame: pd.DataFrame, target: str | Path | IO[str], *, raw: bool = False) -> None:
    """Write ``frame`` as CSV (no index) to a path or an open text stream; safe unless ``raw``."""
    (frame if raw else safe_frame(frame)).to_csv(target, index=False)
