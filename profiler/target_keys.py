"""How a target's period and cohort are compared (profiler/targets.py): the period as the views
label it, the cohort folded, empty or "All customers" for the base.  Apart from targets.py so
that the load's row rules (``rules.target_rules``) use them without importing the views' side.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ProfilerError
from .periods import parse_period

BASE_WORDS = ("", "all customers")  # a cohort cell naming the base
ASOF = "asof"


def text_of(value: Any) -> str:
    """A cell as text: '' for an empty one, 2025 for a year read as the number 2025.0."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def period_key(value: Any) -> str | None:
    """A target's period as the views label it (``2025-Q2``, ``as of 2026-06-30``), ``asof``
    for "as of the CAR's date, whichever it is"; None when it is not a period."""
    text = text_of(value)
    if text.casefold() == ASOF:
        return ASOF
    try:
        return parse_period(text).label
    except ProfilerError:
        return None


def cohort_key(value: Any) -> str:
    """A target's cohort, folded for matching ('' for the base)."""
    text = text_of(value).casefold()
    return "" if text in BASE_WORDS else text
