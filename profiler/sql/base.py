"""The SQL engine interface: what every runtime (``engines.DuckDBEngine``, ``spark.SparkEngine``)
implements, and the one conversion of an accepted source table to Arrow they all register.

It sits below both runtimes, so ``engines.open_engine`` can import the Spark engine and the
Spark engine this interface without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
from sqlglot import exp

from ..errors import ProfilerError
from ..loading import ROW

if TYPE_CHECKING:
    from ..loading import SourceData


class SqlEngineError(ProfilerError):
    """A SQL engine could not start or a query failed."""


def frame_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """An accepted source table as Arrow.  Of the loader's bookkeeping columns only the source
    row number (``loading.ROW``) is kept: "latest" rows tied on time are told apart by it, as the
    pandas engine's stable sorts do."""
    keep = [c for c in frame.columns if c == ROW or not str(c).startswith("_")]
    return pa.Table.from_pandas(frame[keep], preserve_index=False)


class SqlEngine:
    """One SQL runtime.  Subclasses set ``name`` and ``dialect`` and implement the three hooks."""

    name = "sql"
    dialect = ""

    def register(self, name: str, table: pa.Table) -> None:
        """Make ``table`` queryable as ``name`` (replacing a table of that name)."""
        raise NotImplementedError

    def register_parquet(self, name: str, paths: list[str]) -> None:
        """Make the Parquet files (one table in parts) queryable as ``name``, read from disk."""
        raise NotImplementedError

    def create_view(self, name: str, query: exp.Expression) -> None:
        """Make a query over registered tables queryable as ``name`` (replacing one)."""
        raise NotImplementedError

    def _execute(self, sql: str) -> pa.Table:
        raise NotImplementedError

    def close(self) -> None:
        """Free the engine's resources; the engine cannot be used afterwards."""

    def register_source(self, source: SourceData, suffix: str = "") -> None:
        """Register every accepted source table under its own name (+ ``suffix``); staged tables
        are read from their Parquet parts on disk."""
        for table, frame in source.tables.items():
            self.register(table + suffix, frame_to_arrow(frame))
        for table, staged in source.staged.items():
            self.register_parquet(table + suffix, [str(p) for p in staged.parts])

    def render(self, query: exp.Expression) -> str:
        """The query as this engine's SQL text."""
        return query.sql(dialect=self.dialect)

    def run(self, query: exp.Expression) -> pa.Table:
        """Run a compiled query and return its result."""
        sql = self.render(query)
        try:
            return self._execute(sql)
        except SqlEngineError:
            raise
        except Exception as exc:  # the engines' own errors, reported in one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SqlEngineError(f"{self.name}: query failed: {first}") from exc

    def __enter__(self) -> SqlEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
