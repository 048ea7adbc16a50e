"""CAR families, one module each.

A family module defines ``FAMILY`` (its name), ``columns(ctx) -> list[ColumnDef]`` (the data
dictionary entries of the columns it makes, given the levels present as of D) and
``compute(ctx) -> dict[str, array]`` (the columns themselves, one value per customer, in the
order of ``ctx.customer_ids``).  A family whose source table is missing returns no columns and
is listed as left out.
"""

from . import (
    accounts,
    behaviour,
    demographics,
    engagement,
    interests,
    lifecycle,
    margin,
    potential,
    preferences,
    privacy,
    sales,
    strategy,
    value,
    voice,
)

# Order matters: value scores read the sales and lifecycle columns computed before them, and
# strategy segments read value, potential and engagement columns.
FAMILIES = (
    sales,
    margin,  # only with a cost of goods (profiler/margin.py)
    lifecycle,
    behaviour,
    interests,
    voice,
    engagement,
    preferences,
    privacy,  # profiling_opt_out (car.compute_part withholds the scores of who objected)
    demographics,
    accounts,
    value,
    potential,
    strategy,
)

# The order the pandas engine computes them in: the families that need large temporaries but
# keep few columns first, while the memory the loading freed is there to reuse; then the sales
# grids (most of the CAR's memory), started on a side thread (SIDE_FAMILIES) as the potential
# fit and the side-table families go on; value and strategy last (in FAMILIES' order), as they
# read the others' columns.
_FIRST = (lifecycle, behaviour, interests, potential, sales)
COMPUTE_ORDER = _FIRST + tuple(f for f in FAMILIES if f not in _FIRST)
SIDE_FAMILIES = ("sales",)
