"""What needs every customer, found once, so each family runs on any part of the customers.

A CAR family computes a customer's columns from that customer's rows alone, except for a few
statistics of every customer: the levels present (categories, channels, topics, ...), the
interests' base shares, the BG/NBD and Gamma-Gamma fits, and where the rank bands start (RFM,
value tier, current value band, potential value tier).  A family that needs such a statistic
defines ``summarize(part)`` (what one part contributes: small, picklable) and
``reduce(summaries, spec)`` (the statistic, from every part's summary in CAR row order); its
``columns`` and ``compute`` read the result from ``part.globals[FAMILY]``.

So the same code builds the CAR at every scale: in memory the whole population is one part;
out of core (profiler/outofcore.py) and on Spark the parts are customer buckets, summarized in a
first pass and computed in a second, with equal results.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .car_context import Population
from .families import FAMILIES

GLOBAL_FAMILIES = tuple(f for f in FAMILIES if hasattr(f, "summarize"))
# Families that rank customers by other families' columns (``READS``): in one part they take
# the columns already built; in many, each part computes them in the first pass.
RANKING = tuple(f for f in GLOBAL_FAMILIES if hasattr(f, "READS"))
# The global statistics a family reads besides its own (the interests' slices are the sales'
# levels).
_ALSO_READS = {"interests": ("sales",)}


def statistics_read(family_name: str) -> tuple[str, ...]:
    """The families whose global statistics ``family_name`` reads, its own included."""
    own = (family_name,) if any(f.FAMILY == family_name for f in GLOBAL_FAMILIES) else ()
    return _ALSO_READS.get(family_name, ()) + own


def ensure(part: Population, family_name: str) -> None:
    """In a build of one part, the statistics ``family_name`` reads, found on the part itself
    just before the family runs (so each is computed where the family's own work was, and a
    rank among the columns already built)."""
    missing = [n for n in statistics_read(family_name) if n not in part.globals]
    if missing:
        families = tuple(f for f in GLOBAL_FAMILIES if f.FAMILY in missing)
        part.globals.update(global_pass([part], part.spec, families))


def summarize(part: Population, families: tuple = GLOBAL_FAMILIES) -> dict[str, Any]:
    """One part's contribution to every global statistic."""
    return {f.FAMILY: f.summarize(part) for f in families}


def reduce(
    summaries: list[dict[str, Any]], spec: dict[str, Any], families: tuple = GLOBAL_FAMILIES
) -> dict[str, Any]:
    """The global statistics from every part's summary, the parts in CAR row order."""
    return {f.FAMILY: f.reduce([s[f.FAMILY] for s in summaries], spec) for f in families}


def global_pass(
    parts: Iterable[Population], spec: dict[str, Any], families: tuple = GLOBAL_FAMILIES
) -> dict[str, Any]:
    """Summarize each part (in CAR row order), then reduce."""
    return reduce([summarize(part, families) for part in parts], spec, families)


def models(globals_: dict[str, Any]) -> dict[str, Any]:
    """The fitted model figures the CAR's metadata records (or why a fit failed)."""
    meta = globals_.get("potential", {}).get("meta")
    return {"potential_value": meta} if meta is not None else {}
