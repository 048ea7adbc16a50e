"""Customer state at the end of any day up to D, from the order days of a build as of D.

Metrics of customer state (lifecycle stage counts and shares, buyers, retention) describe a day,
not a span.  Asked for a period, they are taken at the period's last day (or at D, for a period
still running), from the build's order days (``activity.OrderDays``): the orders that were
purchases on that day are exactly the ones a CAR built as of that day counts, and the stages
come from the same function as the CAR's own stage columns (``families.lifecycle.stage_at``).
So "retention rate 2024 vs 2025" compares the end of 2024 with the end of 2025 (or D).

Only the columns below can be taken at another day.  Every other CAR column (balances, P(alive),
consent, enrichment, value tiers...) exists as of D only; metrics reading them say so
(``QueryEngine.timing``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .activity import OrderDays
from .families.lifecycle import STAGES, group_starts, stage_codes

# CAR columns that state_at gives for any day (the names a state metric may read).
STATE_COLUMNS = ("lifecycle_stage", "lifecycle_stage_1y_ago", "reactivated_flag", "orders_ltd")
YEAR = 365  # lifecycle_stage_1y_ago: the stage this many days before


def day_number(day: pd.Timestamp) -> int:
    """Days since 1970-01-01 (the numbering of ``OrderDays``)."""
    return int(np.datetime64(pd.Timestamp(day).normalize(), "D").astype(np.int64))


def state_at(orders: OrderDays, n: int, thresholds: dict[str, Any], day: int) -> pd.DataFrame:
    """The ``STATE_COLUMNS`` of ``n`` customers (CAR rows) at the end of ``day``, as a CAR
    built as of that day would hold them."""
    return states_at(orders, n, thresholds, [day])[0]


def states_at(
    orders: OrderDays, n: int, thresholds: dict[str, Any], days: list[int]
) -> list[pd.DataFrame]:
    """``state_at`` for many days in one pass over the orders (a trend of month ends)."""
    starts = group_starts(orders.row, n)
    kept_on = np.array([*days, *days], dtype=np.int64)
    ref_days = np.array([*days, *(d - YEAR for d in days)], dtype=np.int64)
    codes, counts = stage_codes(thresholds, starts, orders.day, orders.gone, kept_on, ref_days)
    out = []
    for k in range(len(days)):
        now = pd.Categorical.from_codes(codes[k], categories=STAGES)
        out.append(
            pd.DataFrame(
                {
                    "lifecycle_stage": now,
                    "lifecycle_stage_1y_ago": pd.Categorical.from_codes(
                        codes[len(days) + k], categories=STAGES
                    ),
                    "reactivated_flag": codes[k] == STAGES.index("reactivated"),
                    "orders_ltd": counts[k],
                },
                copy=False,
            )
        )
    return out
