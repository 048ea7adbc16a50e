"""Segment migration benchmark: the 27 x 27 strategy-segment matrix from --from to --to.

Usage: python bench/bench_migration.py --data /work/bench/data1m --car /work/bench/mig_car
       [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--axis strategy] [--repeat 5]

Target at 1M customers: the matrix within 2 s (issue 24).  Reported in parts, honestly:

- membership at the CAR's date: its own column, read from the CAR folder;
- membership at an earlier date: the CAR's families (sales totals, lifecycle, potential-value
  fit, engagement score, strategy cells) run on the sources cut at that date
  (``migration.membership_at``), after loading the sources once;
- the matrix given both memberships (``migration.migration_matrix``: customers and spend per
  cell, small cells flagged), beside ``pandas.crosstab`` on the same two label vectors (the
  customer counts only), in the same run, the counts checked equal.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from profiler import migration as mig
from profiler.loading import load_sources
from profiler.query import QueryEngine


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def labels(m: mig.Membership, ids: np.ndarray) -> pd.Categorical:
    """The membership's label of each of ``ids``, "no segment" / "not a customer yet" filled."""
    pos = pd.Index(m.customer_ids).get_indexer(ids)
    names = [*map(str, m.segment.categories), mig.NO_SEGMENT, mig.NOT_YET]
    codes = np.full(len(ids), len(names) - 1)
    there = pos >= 0
    own = m.segment.codes[pos[there]]
    codes[there] = np.where(own >= 0, own, len(names) - 2)
    return pd.Categorical.from_codes(codes, categories=names)


def best(fn, repeat: int) -> tuple[float, object]:  # noqa: ANN001
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--car", required=True)
    parser.add_argument("--axis", default="strategy")
    parser.add_argument("--from", dest="start", help="default: a year before the CAR's date")
    parser.add_argument("--to", dest="end", help="default: the CAR's date")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    t = time.perf_counter()
    engine = QueryEngine.open(args.car)
    d = engine.as_of
    start = pd.Timestamp(args.start) if args.start else d - pd.DateOffset(years=1)
    end = pd.Timestamp(args.end) if args.end else d
    column = mig.AXES[args.axis]
    car = engine.ensure_columns(["customer_id", column, mig.SPEND_COLUMN])
    open_s = time.perf_counter() - t
    print(f"CAR as of {d:%Y-%m-%d}: {len(car):,} customers; opened in {open_s:.1f} s")

    t = time.perf_counter()
    source = load_sources(args.data)
    load_s = time.perf_counter() - t
    print(f"sources loaded (once per process): {load_s:.1f} s; peak {peak_gb():.1f} GB")

    def at(day: pd.Timestamp) -> tuple[mig.Membership, float]:
        t = time.perf_counter()
        if day == d:
            m = mig.membership_of_car(car, d, args.axis)
        else:
            m = mig.membership_at(source, day, args.axis)
        return m, time.perf_counter() - t

    before, before_s = at(start)
    after, after_s = at(end)
    for m, s in ((before, before_s), (after, after_s)):
        how = "the CAR's column" if m.as_of == d else "families on the sources as of it"
        print(
            f"membership at {m.as_of:%Y-%m-%d} ({how}): {s:.2f} s, {len(m.customer_ids):,} "
            f"customers, {len(m.segment.categories)} segments"
        )
        for note in m.notes:
            print(f"  note: {note}")

    k = engine.cohorts.min_size
    matrix_s, result = best(lambda: mig.migration_matrix(before, after, min_size=k), args.repeat)
    ids = np.union1d(before.customer_ids, after.customer_ids)

    align_s, (a, b) = best(lambda: (labels(before, ids), labels(after, ids)), 1)
    ref_s, ref = best(lambda: pd.crosstab(a, b, dropna=False), args.repeat)
    ours = result.customers
    same = ref.loc[ours.index, ours.columns].to_numpy()
    assert (same == ours.to_numpy()).all(), "the matrix differs from pandas.crosstab"
    rows, cols = result.sizes()
    print(
        f"matrix {ours.shape[0]} x {ours.shape[1]} ({args.axis}, {start:%Y-%m-%d} -> "
        f"{end:%Y-%m-%d}), customers and spend, small cells flagged: {matrix_s:.3f} s "
        f"(best of {args.repeat}); pandas.crosstab on the same two label vectors (counts only, "
        f"labels aligned beforehand, {align_s:.3f} s more): {ref_s:.3f} s; ratio "
        f"{matrix_s / ref_s:.2f}x; counts equal"
    )
    print(
        f"rows sum to the {start:%Y-%m-%d} sizes ({int(rows.sum()):,}), columns to the "
        f"{end:%Y-%m-%d} sizes ({int(cols.sum()):,})"
    )
    total = before_s + after_s + matrix_s
    print(
        f"matrix from memberships: {matrix_s:.2f} s (target 2 s); with membership at both dates "
        f"(sources loaded): {total:.1f} s; with loading: {total + load_s:.1f} s; "
        f"peak {peak_gb():.1f} GB"
    )


if __name__ == "__main__":
    main()
