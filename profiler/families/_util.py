"""Small vectorised helpers the families share."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (an undefined share, not a zero one)."""
    num, den = np.asarray(num), np.asarray(den)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan, np.result_type(num, den, 1.0))
    np.divide(num, den, out=out, where=den > 0)  # one pass, no temporaries the size of the grid
    return out


def last_per_group(codes: np.ndarray, n: int) -> np.ndarray:
    """Index of the last row of each code in a code-sorted array (-1 where absent)."""
    out = np.full(n, -1, dtype=np.int64)
    out[codes] = np.arange(len(codes))  # later rows overwrite earlier ones
    return out


def first_per_group(codes: np.ndarray, n: int) -> np.ndarray:
    """Index of the first row of each code (-1 where absent)."""
    out = np.full(n, -1, dtype=np.int64)
    out[codes[::-1]] = np.arange(len(codes))[::-1]
    return out


def take(values: np.ndarray, index: np.ndarray, missing: object = np.nan) -> np.ndarray:
    """values[index], with ``missing`` where index is -1."""
    safe = np.maximum(index, 0)
    if not len(values):  # nothing to pick: all missing, in the values' own kind
        missing = np.datetime64("NaT") if values.dtype.kind == "M" else missing
        dtype = values.dtype if values.dtype.kind == "M" else None
        return np.full(len(index), missing, dtype=dtype)
    picked = values[safe]
    if picked.dtype.kind == "M":
        return np.where(index >= 0, picked, np.datetime64("NaT"))
    if picked.dtype.kind in "iub":
        picked = picked.astype(np.float64)
    return np.where(index >= 0, picked, missing)


def categorical(labels: np.ndarray, categories: list[str]) -> pd.Categorical:
    """A categorical from an object array of labels (None/NaN stay missing)."""
    return pd.Categorical(labels, categories=categories)


def argmax_label(matrix: np.ndarray, labels: list[str]) -> pd.Categorical:
    """The label of each row's largest positive value (first on ties); missing when all are 0."""
    if matrix.shape[1] == 0:
        return pd.Categorical([None] * matrix.shape[0], categories=labels)
    best = np.argmax(matrix, axis=1)
    has = matrix.max(axis=1) > 0
    codes = np.where(has, best, -1)
    return pd.Categorical.from_codes(codes, categories=labels)


def days_between(later: np.datetime64 | pd.Timestamp, earlier: np.ndarray) -> np.ndarray:
    """Whole days from each date in ``earlier`` to ``later`` (NaN for NaT)."""
    later_day = np.datetime64(pd.Timestamp(later).normalize(), "D")
    earlier_day = earlier.astype("datetime64[D]")
    out = (later_day - earlier_day).astype("timedelta64[D]").astype(np.float64)
    out[np.isnat(earlier)] = np.nan
    return out


def category_codes(values: pd.Series, labels: list[str]) -> np.ndarray:
    """Index of each value in labels (-1 when absent or missing)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        lookup = np.array(
            [labels.index(str(c)) if str(c) in labels else -1 for c in values.cat.categories]
            + [-1],
            dtype=np.int64,
        )
        return lookup[values.cat.codes.to_numpy().astype(np.int64)]
    return pd.Index(labels).get_indexer(values.astype(str).to_numpy())


def share_bands(values: np.ndarray, eligible: np.ndarray, top_shares: list[float]) -> np.ndarray:
    """Band of each eligible row ranked by value, highest first (ties by row order, i.e. by
    customer_id): the first band whose top share exceeds the share of eligible rows ranked above
    it.  -1 where not eligible.  Top shares ascend and the last is 1."""
    band = np.full(len(values), -1)
    idx = np.flatnonzero(eligible)
    ranked = idx[np.lexsort((idx, -values[idx]))]
    above = np.arange(len(ranked)) / max(len(ranked), 1)
    position = np.full(len(ranked), len(top_shares) - 1)
    for j in reversed(range(len(top_shares))):
        position[above < top_shares[j]] = j
    band[ranked] = position
    return band
