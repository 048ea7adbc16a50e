"""Segment migration: how customers moved between segments from one date to another.

A segment at a past date P is what a CAR built as of P would hold: the same family code
(``profiler/families/``) runs on the sources cut at P (``car_context.build_context``), with only
the families the axis needs.  So the membership at P of every customer equals the segment
column of ``build_car(source, P)``:

- ``lifecycle``: the lifecycle family's ``stage_at`` (the one stage rule);
- ``value_tier``: the value family's tiers, ranked on trailing-12-month spend as of P;
- ``strategy``: current value x potential value (BG/NBD + Gamma-Gamma fitted on the buyers as
  of P) x engagement (the engagement score as of P): the strategy family's cells, 27 with the
  interactions table, 9 without it.

At the CAR's own date D the membership is read from the CAR itself (the same values).  The
matrix is a cross-tabulation of two label vectors over the customers known at either date:
rows are the segment at the earlier date, columns at the later one, the stayers on the
diagonal; customers acquired after the earlier date form a "not a customer yet" row.  Each
cell also carries its customers' net spend in the 12 months to the later date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .car_context import build_context
from .errors import ProfilerError
from .families import engagement, lifecycle, potential, privacy, strategy, value
from .features import load_feature_spec
from .loading import SourceData, load_sources
from .partition import ensure

# The axes a migration is taken on, and the CAR column each one is.
AXES = {
    "strategy": "strategy_segment",
    "lifecycle": "lifecycle_stage",
    "value_tier": "value_tier",
}
NOT_YET = "not a customer yet"  # not in the CAR at that date (acquired later)
NO_SEGMENT = "no segment"  # in the CAR without a segment (strategy: prospects, or no CLV fit)
SPEND_COLUMN = "spend_l12m"


@dataclass
class Membership:
    """Each customer's segment on one axis at one date, and net spend in the 12 months to it."""

    axis: str
    as_of: pd.Timestamp
    customer_ids: np.ndarray  # sorted, the CAR's rows at that date
    segment: pd.Categorical
    spend_l12m: np.ndarray  # GBP
    notes: list[str] = field(default_factory=list)
    definition_hash: str = ""  # the segment column's definition (car_dictionary.csv)


@dataclass
class Migration:
    """The migration matrix: ``customers`` and ``spend`` (rows: segment at ``start``,
    columns: segment at ``end``), ``small`` (cells with fewer than ``min_size`` customers)."""

    axis: str
    start: pd.Timestamp
    end: pd.Timestamp
    customers: pd.DataFrame
    spend: pd.DataFrame
    small: pd.DataFrame
    min_size: int
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return (
            f"Migration by {axis_label(self.axis)}: rows at {self.start:%Y-%m-%d}, columns at "
            f"{self.end:%Y-%m-%d}; stayers on the diagonal"
        )

    @property
    def spend_label(self) -> str:
        return f"Net spend (GBP) in the 12 months to {self.end:%Y-%m-%d}"

    def sizes(self) -> tuple[pd.Series, pd.Series]:
        """Segment sizes at the earlier and at the later date (the row and column sums)."""
        return self.customers.sum(axis=1), self.customers.sum(axis=0)

    def tidy(self) -> pd.DataFrame:
        """One row per cell: from, to, customers, spend, small."""
        stacked = self.customers.stack()
        out = pd.DataFrame(
            {
                "from": stacked.index.get_level_values(0),
                "to": stacked.index.get_level_values(1),
                "customers": stacked.to_numpy(),
                "spend_l12m_to_end": self.spend.stack().to_numpy(),
                "small": self.small.stack().to_numpy(),
            }
        )
        return out


def axis_label(axis: str) -> str:
    return {"strategy": "strategy segment", "lifecycle": "lifecycle stage"}.get(axis, "value tier")


def check_axis(axis: str) -> str:
    name = str(axis or "").strip().lower().replace("-", "_")
    if name not in AXES:
        raise ProfilerError(f"Unknown migration axis '{axis}'; expected one of {', '.join(AXES)}.")
    return name


def membership_at(
    source: SourceData,
    as_of: str | pd.Timestamp,
    axis: str,
    *,
    spec: dict[str, Any] | None = None,
) -> Membership:
    """Each customer's segment on ``axis`` as a CAR built from ``source`` as of ``as_of``
    would hold it, computed by the families that make the column (only those)."""
    axis = check_axis(axis)
    spec = spec or load_feature_spec()
    day = pd.Timestamp(as_of).normalize()
    ctx = build_context(source, day, spec)
    notes: list[str] = []
    # Ranked inputs (orders and spend to date, spend in the last 12 months, recency): the sales
    # and lifecycle kernels the CAR's columns come from.
    ctx.built.update(value.rank_inputs(ctx))
    if axis == "lifecycle":
        segment = lifecycle.compute(ctx)["lifecycle_stage"]
    elif axis == "value_tier":
        ensure(ctx, value.FAMILY)
        segment = value.compute(ctx)["value_tier"]
    else:
        for family in (potential, engagement):
            if family is engagement and not source.has("interactions"):
                notes.append(
                    "No interactions table: strategy segments are current value x potential "
                    "value (9 cells), without engagement."
                )
                continue
            ensure(ctx, family.FAMILY)
            ctx.built.update(family.compute(ctx))
        fit = ctx.globals.get("potential", {}).get("meta") or {}
        if "error" in fit:
            notes.append(
                f"As of {day:%Y-%m-%d} the potential-value models could not be fitted "
                f"({fit['error']}): no customer has a strategy segment then."
            )
        ensure(ctx, strategy.FAMILY)
        segment = strategy.compute(ctx)["strategy_segment"]
        # As in the CAR: no segment, at any date, for a customer who objected to profiling.
        segment = privacy.blank(segment, privacy.opted_out(ctx))
    family = {"lifecycle": lifecycle, "value_tier": value, "strategy": strategy}[axis]
    hashes = {d.name: d.definition_hash for d in family.columns(ctx)}
    return Membership(
        axis,
        day,
        ctx.customer_ids,
        segment,
        np.asarray(ctx.built[SPEND_COLUMN], dtype=np.float64),
        notes,
        hashes.get(AXES[axis], ""),
    )


def check_definitions(car_hash: str, member: Membership) -> None:
    """The segments at a past day are defined as the CAR's: the same definition hash
    (car_dictionary.csv) for the axis column, else one line saying what differs."""
    if car_hash and member.definition_hash and car_hash != member.definition_hash:
        raise ProfilerError(
            f"The CAR's {AXES[member.axis]} was built with other definitions (hash {car_hash}) "
            f"than templates/features.yaml gives now ({member.definition_hash}): segments at "
            f"{member.as_of:%Y-%m-%d} would not be comparable. Rebuild the CAR with the current "
            "definitions."
        )


def membership_of_car(car: pd.DataFrame, as_of: pd.Timestamp, axis: str) -> Membership:
    """The membership a CAR holds (its ``customer_id``, the axis column and ``spend_l12m``)."""
    axis = check_axis(axis)
    column = AXES[axis]
    if column not in car.columns:
        raise ProfilerError(
            f"The CAR has no column '{column}' (its family was left out: see car_dictionary.csv)."
        )
    segment = car[column]
    segment = segment.array if isinstance(segment.dtype, pd.CategoricalDtype) else segment
    return Membership(
        axis,
        pd.Timestamp(as_of).normalize(),
        car["customer_id"].to_numpy(),
        pd.Categorical(segment),
        car[SPEND_COLUMN].to_numpy(dtype=np.float64, na_value=np.nan),
    )


def migration_matrix(before: Membership, after: Membership, *, min_size: int = 10) -> Migration:
    """Customers (and their net spend in the 12 months to the later date) by segment at
    ``before.as_of`` (rows) and at ``after.as_of`` (columns).

    Every customer known at either date is counted once, so each row sums to a segment's size
    at the earlier date and each column to its size at the later one.  Customers not in the
    CAR at a date are "not a customer yet" there; customers without a segment "no segment"."""
    if before.axis != after.axis:
        raise ProfilerError(f"Memberships on different axes: {before.axis}, {after.axis}.")
    if after.as_of <= before.as_of:
        raise ProfilerError(
            f"--from ({before.as_of:%Y-%m-%d}) must be before --to ({after.as_of:%Y-%m-%d})."
        )
    ids, b_pos, a_pos = _union(before.customer_ids, after.customer_ids)
    # One order of the segments for rows and columns (the stayers on the diagonal): the
    # earlier date's, then any only the later one has.
    labels = list(
        dict.fromkeys([*map(str, before.segment.categories), *map(str, after.segment.categories)])
    )
    rows, row_labels = _codes(_ordered(before.segment, labels), b_pos, len(ids))
    cols, col_labels = _codes(_ordered(after.segment, labels), a_pos, len(ids))
    spend = np.zeros(len(ids))
    known = a_pos >= 0
    spend[known] = np.nan_to_num(after.spend_l12m[a_pos[known]])
    nr, nc = len(row_labels), len(col_labels)
    cell = rows.astype(np.int64) * nc + cols
    counts = np.bincount(cell, minlength=nr * nc).reshape(nr, nc)
    money = np.bincount(cell, weights=spend, minlength=nr * nc).reshape(nr, nc)
    keep_r = _shown(row_labels, counts.sum(axis=1))
    keep_c = _shown(col_labels, counts.sum(axis=0))
    counts, money = counts[keep_r][:, keep_c], money[keep_r][:, keep_c]
    index = pd.Index(
        [row_labels[i] for i in np.flatnonzero(keep_r)], name=f"at {before.as_of:%Y-%m-%d}"
    )
    columns = pd.Index(
        [col_labels[i] for i in np.flatnonzero(keep_c)], name=f"at {after.as_of:%Y-%m-%d}"
    )
    customers = pd.DataFrame(counts, index=index, columns=columns)
    small = pd.DataFrame((counts > 0) & (counts < min_size), index=index, columns=columns)
    return Migration(
        before.axis,
        before.as_of,
        after.as_of,
        customers,
        pd.DataFrame(np.round(money, 2), index=index, columns=columns),
        small,
        min_size,
        list(dict.fromkeys([*before.notes, *after.notes])),
    )


def _union(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The customers of either date, and each one's row at each date (-1: not there)."""
    if len(first) <= len(second) and _contained(first, second):
        ids = second
        return ids, _positions(first, ids), np.arange(len(ids))
    ids = np.union1d(first, second)
    return ids, _positions(first, ids), _positions(second, ids)


def _contained(small: np.ndarray, big: np.ndarray) -> bool:
    if not len(small):
        return True
    at = np.searchsorted(big, small)
    return bool((at < len(big)).all() and (big[np.minimum(at, len(big) - 1)] == small).all())


def _positions(ids: np.ndarray, every: np.ndarray) -> np.ndarray:
    """Row of each of ``every`` in ``ids`` (both sorted), -1 where absent."""
    out = np.full(len(every), -1, dtype=np.int64)
    if len(ids):
        at = np.searchsorted(every, ids)
        out[at] = np.arange(len(ids))
    return out


def _ordered(segment: pd.Categorical, labels: list[str]) -> pd.Categorical:
    """The segments with ``labels`` as categories, in that order."""
    if [str(c) for c in segment.categories] == labels:
        return segment
    segment = segment.rename_categories([str(c) for c in segment.categories])
    return segment.set_categories(labels)


def _codes(segment: pd.Categorical, pos: np.ndarray, n: int) -> tuple[np.ndarray, list[str]]:
    """Each customer's label code at one date: the segments in their own order, then "no
    segment", then "not a customer yet"."""
    labels = [str(c) for c in segment.categories]
    codes = np.full(n, len(labels) + 1, dtype=np.int64)  # not a customer yet
    there = pos >= 0
    own = segment.codes[pos[there]].astype(np.int64)
    codes[there] = np.where(own >= 0, own, len(labels))
    return codes, [*labels, NO_SEGMENT, NOT_YET]


def _shown(labels: list[str], totals: np.ndarray) -> np.ndarray:
    """Every segment, and the extra rows or columns only where someone is in them."""
    keep = np.ones(len(labels), dtype=bool)
    keep[-2:] = totals[-2:] > 0
    return keep


# -- sources at past dates, loaded once per process ------------------------------------------


_sources: dict[str, tuple[tuple[Any, ...], SourceData]] = {}
_memberships: dict[tuple[Any, ...], Membership] = {}


def load_source(data: str | Path) -> SourceData:
    """The source tables of ``data``, loaded once per process and again when a file changes."""
    folder = Path(data).resolve()
    if not folder.is_dir():
        raise ProfilerError(f"Data folder '{data}' not found.")
    stamp = tuple(
        sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir())
    )
    cached = _sources.get(str(folder))
    if cached is None or cached[0] != stamp:
        _sources.clear()
        _memberships.clear()
        _sources[str(folder)] = (stamp, load_sources(folder))
    return _sources[str(folder)][1]


def membership_from(
    data: str | Path, as_of: pd.Timestamp, axis: str, spec: dict[str, Any] | None = None
) -> Membership:
    """``membership_at`` on the sources of ``data`` (memberships kept while the files stay)."""
    source = load_source(data)
    key = (str(Path(data).resolve()), pd.Timestamp(as_of).normalize(), check_axis(axis))
    if key not in _memberships:
        if len(_memberships) > 16:
            _memberships.clear()
        _memberships[key] = membership_at(source, as_of, axis, spec=spec)
    return _memberships[key]
