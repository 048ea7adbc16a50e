"""Customer Profiler's engine: source tables in, one CAR folder out, every view read from it.

The public entry points (docs/api.md)::

    import profiler
    profiler.build("data", "car")      # load, validate, build and write the CAR folder
    engine = profiler.open("car")      # the query engine every view and cell reads

The workbook is written by the workbook layer (``workbook.write``): the engine never imports it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ContractError, MissingColumns, NotFittedError, ProfilerError, UsageError

if TYPE_CHECKING:
    from .api import build, open
    from .loading import SourceData, load_sources
    from .query import QueryEngine
    from .store import car_folder

# Imported on first use: every ``import profiler.<module>`` (the command line's ``--help``, a
# UDF, the ``profiler`` launcher before it re-executes) runs this file, and need not pay for the
# loading, build and query machinery (pandas among it).
_LAZY = {
    "build": "api",
    "open": "api",
    "QueryEngine": "query",
    "car_folder": "store",
    "SourceData": "loading",
    "load_sources": "loading",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'profiler' has no attribute '{name}'")


__all__ = [
    "ContractError",
    "MissingColumns",
    "NotFittedError",
    "ProfilerError",
    "QueryEngine",
    "SourceData",
    "UsageError",
    "build",
    "car_folder",
    "load_sources",
    "open",
]
