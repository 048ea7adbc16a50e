"""Customer Profiler's engine: source tables in, one CAR folder out, every view read from it.

The public entry points (docs/api.md)::

    import profiler
    profiler.build("data", "car")      # load, validate, build and write the CAR folder
    engine = profiler.open("car")      # the query engine every view and cell reads

The workbook is written by the workbook layer (``workbook.write``): the engine never imports it.
"""

from .api import build, open
from .errors import ContractError, MissingColumns, NotFittedError, ProfilerError, UsageError
from .loading import SourceData, load_sources
from .query import QueryEngine
from .store import car_folder

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
