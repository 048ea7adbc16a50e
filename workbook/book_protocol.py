"""The small book interface the macros are written against (``Book``).

Apart from its implementations (workbook/book.py), which write through the builder: the macros
depend on this interface only, so the builder can call them and the book can call the builder
without a cycle.  Tests pass a fake book (tests/excel_standin.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from profiler.query import QueryEngine
from workbook.content import SheetContent


class Book(Protocol):
    def read_inputs(self) -> dict[str, Any]: ...

    def settings(self) -> dict[str, str]: ...

    def path(self) -> Path: ...

    def write(
        self,
        contents: list[SheetContent],
        inputs: dict[str, Any],
        engine: QueryEngine,
        layout: dict[str, Any],
        extras: dict[str, Any],
    ) -> None: ...
