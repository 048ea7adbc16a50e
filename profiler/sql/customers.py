"""One row per CAR customer: joining per-customer aggregates to the population, and reading them
back in the CAR's customer order.

Every SQL family ends the same way: its aggregates (keyed by customer_id, customers without rows
absent) are joined to the population as of D, ordered by customer_id, and read into arrays
aligned with ``ctx.customer_ids``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from .engines import SqlEngine
from .facts import col, population


def per_customer(
    aggregates: exp.Select,
    columns: list[exp.Expression],
    has_customers: bool,
    as_of: Any,
    alias: str = "g",
) -> exp.Select:
    """SELECT customer_id, <columns> FROM population LEFT JOIN (aggregates) AS <alias>, ordered by
    customer_id.  ``columns`` refer to the aggregates through ``alias`` (NULL for customers
    without rows)."""
    people = population(has_customers, as_of).subquery("who")
    return (
        exp.select(col("customer_id", "who").as_("customer_id"), *columns)
        .from_(people)
        .join(
            aggregates.subquery(alias),
            on=exp.EQ(this=col("customer_id", "who"), expression=col("customer_id", alias)),
            join_type="LEFT",
        )
        .order_by(col("customer_id", "who"))
    )


def run_per_customer(engine: SqlEngine, query: exp.Select, ctx: Any, what: str) -> pa.Table:
    """Run a ``per_customer`` query and check it returned the CAR's customers, in order."""
    table = engine.run(query)
    ids = table.column("customer_id").to_numpy()
    if len(ids) != ctx.n or not np.array_equal(ids, ctx.customer_ids):
        raise AssertionError(
            f"{engine.name}: {what} returned {len(ids)} customers; the CAR has {ctx.n}"
        )
    return table


def as_arrays(
    table: pa.Table, names: list[str], convert: Callable[[pa.ChunkedArray], Any] | None = None
) -> dict[str, Any]:
    """Columns of a result as numpy arrays (NULL -> NaN/NaT), or through ``convert``."""
    out = {}
    for name in names:
        column = table.column(name)
        out[name] = convert(column) if convert else column.to_numpy(zero_copy_only=False)
    return out
