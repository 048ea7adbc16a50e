"""Adapters over the engine: the Excel profiler workbook (its content, writing and macros), the
snapshot, and the command line.

The workbook's public entry point is ``workbook.write`` (docs/api.md); the engine's are
``profiler.build`` and ``profiler.open``.  It lives here, not in ``profiler``, because the
engine never imports the workbook layer (tests/test_layers.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from profiler.query import QueryEngine

__all__ = ["write"]


def write(
    car_or_engine: str | Path | QueryEngine | None, out: str | Path, data: str | Path | None = None
) -> Path:
    """Write the Excel profiler (``.xlsm``) of a CAR folder, every sheet computed with its
    default inputs; returns its path.

    Parameters
    ----------
    car_or_engine : a CAR folder written by ``profiler.build`` (None: $PROFILER_CAR), or a
        query engine already open (``profiler.open``).
    out : the workbook file to write (``.xlsm``), replaced in one step.
    data : the source data folder, kept in the workbook's settings (PROFILER_DATA) for the
        snapshot's check for customers' names.
    """
    import profiler
    from profiler.query import QueryEngine

    # Imported when used: the command line and the UDFs import this package, and need neither
    # the workbook writer nor its Excel libraries.
    from workbook.builder import build_workbook

    engine = (
        car_or_engine if isinstance(car_or_engine, QueryEngine) else profiler.open(car_or_engine)
    )
    return build_workbook(engine, out, data_dir=data)
