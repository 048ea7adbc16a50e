"""Cohorts ranked by a metric: "the most profitable segments" is the summary ranked by gross
margin (``views.summary(..., rank_by="gross_margin")``, ``profiler summary --rank-by
gross_margin``).

The ranking only orders the summary's rows: highest first (whatever the metric's polarity: the
question is "which cohorts have the most"), cohorts without a value last, ties in the summary's
order.  A metric this CAR cannot compute (margin without a cost of goods) leaves the order as it
was, and the summary's notes say why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def ranked(out: pd.DataFrame, metric: str, reason: str | None) -> pd.DataFrame:
    """A summary's long frame (cohort, metric, value, ...) with its cohorts ordered by
    ``metric``'s value, highest first; ``reason``: why the metric is left out (then unranked,
    with a note)."""
    if reason or metric not in set(out["metric"]):
        out.attrs["notes"] = [
            *out.attrs.get("notes", []),
            f"Not ranked by {metric}: {reason or 'not in this summary'}.",
        ]
        return out
    rows = out[out["metric"] == metric]
    values = pd.to_numeric(rows["value"], errors="coerce").to_numpy(dtype=np.float64)
    first = dict.fromkeys(out["cohort"])
    position = {c: i for i, c in enumerate(first)}
    keyed = sorted(
        zip(rows["cohort"], values, strict=True),
        key=lambda cv: (np.isnan(cv[1]), -np.nan_to_num(cv[1]), position[cv[0]]),
    )
    rank = {cohort: i for i, (cohort, _) in enumerate(keyed)}
    order = out["cohort"].map(lambda c: rank.get(c, len(rank)))
    result = out.assign(_rank=order).sort_values("_rank", kind="stable").drop(columns="_rank")
    result = result.reset_index(drop=True)
    result.attrs = {
        **out.attrs,
        "ranked_by": metric,
        "notes": [*out.attrs.get("notes", []), f"Cohorts ranked by {metric}, highest first."],
    }
    return result
