"""SQL engines: where a compiled query runs.

An engine holds named tables (the accepted source tables, or anything registered), renders a
sqlglot tree in its dialect and returns the result as an Arrow table.  Every engine gets the same
trees; only the rendering and the runtime differ.  ``open_engine`` picks one by name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
from sqlglot import exp

from ..errors import ProfilerError
from ..loading import ROW

if TYPE_CHECKING:
    from ..loading import SourceData

ENGINES = ("pandas", "duckdb", "spark")


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


MEMORY_ENV = "PROFILER_DUCKDB_MEMORY"


def default_memory_limit() -> str:
    """DuckDB's share of this machine's memory: 40% (DuckDB's own default, 80%, leaves too little
    for the pandas families beside it); ``$PROFILER_DUCKDB_MEMORY`` overrides it (e.g. 16GB)."""
    if os.environ.get(MEMORY_ENV):
        return os.environ[MEMORY_ENV]
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(1, int(total * 0.4 / 1024**3))}GB"


class DuckDBEngine(SqlEngine):
    """Embedded DuckDB: multi-threaded, and spills to ``temp_dir`` when data outgrows its memory
    limit (default: ``default_memory_limit``)."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(
        self,
        *,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_dir: str | None = None,
    ) -> None:
        import duckdb

        config = {
            "threads": threads or os.cpu_count() or 1,
            "memory_limit": memory_limit or default_memory_limit(),
            "preserve_insertion_order": False,  # results are ordered explicitly
        }
        self._con = duckdb.connect(config=config)
        self._tmp = temp_dir or tempfile.mkdtemp(prefix="profiler-duckdb-")
        self._con.execute(f"SET temp_directory = '{self._tmp}'")
        self._con.execute("SET TimeZone = 'UTC'")
        self._own_tmp = temp_dir is None
        self._tables: dict[str, pa.Table] = {}  # keeps registered Arrow data alive

    def register(self, name: str, table: pa.Table) -> None:
        self._tables[name] = table
        self._con.register(name, table)

    def register_parquet(self, name: str, paths: list[str]) -> None:
        files = exp.Array(expressions=[exp.Literal.string(p) for p in paths])
        self.create_view(name, exp.select(exp.Star()).from_(exp.func("read_parquet", files)))

    def create_view(self, name: str, query: exp.Expression) -> None:
        if self._tables.pop(name, None) is not None:
            self._con.unregister(name)
        view = exp.Create(this=exp.to_table(name), kind="VIEW", expression=query, replace=True)
        self._con.execute(self.render(view))

    def _execute(self, sql: str) -> pa.Table:
        relation = self._con.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})

    def close(self) -> None:
        self._con.close()
        self._tables.clear()
        if self._own_tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def open_engine(name: str, *, spark_master: str | None = None) -> SqlEngine:
    """An engine by name: ``duckdb`` or ``spark`` (``pandas`` is the in-process engine, no SQL)."""
    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        from .spark import SparkEngine

        return SparkEngine(master=spark_master)
    raise SqlEngineError(
        f"Unknown SQL engine '{name}'; expected one of: {', '.join(e for e in ENGINES if e != 'pandas')}."
    )
