"""Stable sorts by dense integer keys in linear time (a counting sort, compiled).

Grouping 20M order lines by customer with ``np.argsort(kind="stable")`` is a comparison sort
(~2.3 s at 1M customers); the keys are customer codes 0..n-1, so counting them and placing each
line after its key's predecessors does the same in one pass (~0.2 s).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _counting_order(keys, n_keys, within):  # noqa: ANN001, ANN202
    start = np.zeros(n_keys + 1, dtype=np.int64)
    for i in range(len(keys)):
        start[keys[i] + 1] += 1
    for k in range(n_keys):
        start[k + 1] += start[k]
    out = np.empty(len(keys), dtype=np.int64)
    for j in range(len(within)):
        i = within[j]
        k = keys[i]
        out[start[k]] = i
        start[k] += 1
    return out


def stable_order(keys: np.ndarray, n_keys: int, within: np.ndarray | None = None) -> np.ndarray:
    """The permutation that sorts ``keys`` (integers in 0..n_keys-1) stably: equal keys keep
    their order in ``within`` (a permutation of the rows; default: row order).  Two calls make
    a two-key sort: ``stable_order(a, na, stable_order(b, nb))`` orders by a, then b, as
    ``np.lexsort((b, a))`` does."""
    if within is None:
        within = np.arange(len(keys), dtype=np.int64)
    if len(keys) and (keys.min() < 0 or keys.max() >= n_keys):
        raise ValueError(f"keys must lie in 0..{n_keys - 1}")
    return _counting_order(keys, n_keys, within)
