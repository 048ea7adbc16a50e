"""The CAR families a SQL engine computes, each from the same definitions as its pandas module.

``build_car`` looks a family up here when it is given an engine; a family not listed (value
scores and strategy segments, which rank and combine columns already built) runs in pandas on
the customer-level columns the engine returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..families import sales as pandas_sales
from . import (
    accounts,
    behaviour,
    demographics,
    engagement,
    interests,
    lifecycle,
    potential,
    preferences,
    sales,
    voice,
)
from .engines import SqlEngine

# Families that run in pandas whichever engine builds the CAR: they rank and combine the
# customer-level columns already built (ctx.built), and read no source table.
PANDAS_FAMILIES = ("value", "strategy")

SQL_FAMILIES: dict[str, Callable[[SqlEngine, Any], dict[str, Any]]] = {
    "sales": lambda engine, ctx: sales.compute(engine, ctx, pandas_sales.levels),
    "lifecycle": lifecycle.compute,
    "behaviour": behaviour.compute,
    "interests": interests.compute,
    "voice": voice.compute,
    "engagement": engagement.compute,
    "preferences": preferences.compute,
    "demographics": demographics.compute,
    "accounts": accounts.compute,
    "potential": potential.compute,
}
