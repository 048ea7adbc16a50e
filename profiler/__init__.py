"""Customer Profiler's engine: data contract, validated loading and demo data (pandas/numpy only)."""

from .errors import ContractError, MissingColumns, NotFittedError, ProfilerError, UsageError
from .loading import SourceData, load_sources

__all__ = [
    "ContractError",
    "MissingColumns",
    "NotFittedError",
    "ProfilerError",
    "SourceData",
    "UsageError",
    "load_sources",
]
