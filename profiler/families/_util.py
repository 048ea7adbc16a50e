"""Small vectorised helpers the families share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class RankCuts:
    """Where each band of a ranking starts: the (key, row) of its first member, for every band
    after the first (an empty band starts where the next does; bands after the last member at
    +inf).  Found once over every customer, then applied to any part of them (``apply_cuts``)."""

    keys: np.ndarray  # float64
    rows: np.ndarray  # int64, the CAR row (ties are broken by row, i.e. by customer_id)


def rank_cuts(
    keys: np.ndarray,
    eligible: np.ndarray,
    rows: np.ndarray,
    n_bands: int,
    band_at: Callable[[np.ndarray, int], np.ndarray],
) -> RankCuts:
    """Rank the eligible rows by (key, row) ascending; ``band_at(positions, count)`` gives the
    band of each ranked position (non-decreasing)."""
    idx = np.flatnonzero(eligible)
    order = idx[np.lexsort((rows[idx], keys[idx]))]
    band = band_at(np.arange(len(order)), len(order))
    cut_keys = np.full(n_bands - 1, np.inf)
    cut_rows = np.full(n_bands - 1, np.iinfo(np.int64).max, dtype=np.int64)
    for b in range(1, n_bands):
        first = int(np.searchsorted(band, b, side="left"))
        if first < len(order):
            cut_keys[b - 1], cut_rows[b - 1] = keys[order[first]], rows[order[first]]
    return RankCuts(cut_keys, cut_rows)


def apply_cuts(
    keys: np.ndarray, eligible: np.ndarray, rows: np.ndarray, cuts: RankCuts
) -> np.ndarray:
    """Each eligible row's band: the number of band starts at or before its (key, row); -1 where
    not eligible.  Equal to ranking every customer at once, whatever part these rows are."""
    band = np.zeros(len(keys), dtype=np.int64)
    for key, row in zip(cuts.keys, cuts.rows, strict=True):
        band += (keys > key) | ((keys == key) & (rows >= row))
    return np.where(eligible, band, -1)


def quintile_at(positions: np.ndarray, count: int) -> np.ndarray:
    """Quintile band (0-4) of ranked positions, lowest first."""
    return np.floor(positions * 5 / max(count, 1)).astype(np.int64)


def share_band_at(top_shares: list[float]) -> Callable[[np.ndarray, int], np.ndarray]:
    """Bands of ranked positions (highest value first): the first band whose top share exceeds
    the share of rows ranked above.  Top shares ascend and the last is 1."""

    def band_at(positions: np.ndarray, count: int) -> np.ndarray:
        above = positions / max(count, 1)
        band = np.full(len(positions), len(top_shares) - 1)
        for j in reversed(range(len(top_shares))):
            band[above < top_shares[j]] = j
        return band

    return band_at
