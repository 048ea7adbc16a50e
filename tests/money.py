"""An oracle for money in tests, independent of profiler/facts.py: Python's decimal arithmetic.

A float read from a source file stands for the shortest decimal that prints as it (``repr``):
10.005 is the decimal 10.005, although its double is 10.00499999...  The amount times the rate is
computed exactly in decimal and rounded to whole pence half away from zero (``ROUND_HALF_UP`` in
the decimal module rounds ties away from zero).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

import numpy as np


def exact_pence(amounts: Iterable[float], rates: Iterable[float] | float = 1.0) -> list[int]:
    """Each ``amount x rate`` in whole pence, exactly (see the module docstring)."""
    amounts = list(amounts)
    rates = [rates] * len(amounts) if isinstance(rates, (int, float)) else list(rates)
    return [
        int(
            (Decimal(repr(float(a))) * Decimal(repr(float(r))) * 100).to_integral_value(
                ROUND_HALF_UP
            )
        )
        for a, r in zip(amounts, rates, strict=True)
    ]


def as_pence(pounds: Iterable[float] | np.ndarray) -> np.ndarray:
    """Money shown in pounds back to whole pence (the nearest: a penny-exact value is within a
    rounding error of its pence / 100)."""
    return np.rint(np.asarray(pounds, dtype=np.float64) * 100).astype(np.int64)
