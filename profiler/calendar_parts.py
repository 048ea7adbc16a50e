"""Months of many timestamps, through their few distinct days.

numpy converts datetime64 to months with calendar arithmetic per element (~0.3 s for 18M order
lines, more than the aggregation that uses them).  Lines fall on a few thousand distinct days,
so the month of each day is computed once and looked up: the same values, ~10x faster.
"""

from __future__ import annotations

import numpy as np


def month_start(times: np.ndarray) -> np.ndarray:
    """The month (datetime64[M]) of each timestamp; NaT stays NaT."""
    days = times.astype("datetime64[D]")
    valid = ~np.isnat(days)
    if not valid.any():
        return days.astype("datetime64[M]")
    number = days.view(np.int64)
    first = number[valid].min()
    span = np.arange(first, number[valid].max() + 1).astype("datetime64[D]")
    table = span.astype("datetime64[M]")
    out = table[np.where(valid, number - first, 0)]
    if not valid.all():
        out[~valid] = np.datetime64("NaT")
    return out


def month_of_year(times: np.ndarray) -> np.ndarray:
    """1..12 for each timestamp (0 for NaT)."""
    return _of_year(month_start(times))


def month_and_day(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Month of the year 1..12 and day of the month 1..31 of each timestamp (0 for NaT)."""
    month = month_start(times)
    days = times.astype("datetime64[D]")
    offset = (days - month.astype("datetime64[D]")).view(np.int64) + 1
    return _of_year(month), np.where(np.isnat(days), 0, offset).astype(np.int8)


def _of_year(month: np.ndarray) -> np.ndarray:
    return np.where(np.isnat(month), 0, month.view(np.int64) % 12 + 1).astype(np.int8)
