"""SQL engines: where a compiled query runs.

An engine holds named tables (the accepted source tables, or anything registered), renders a
sqlglot tree in its dialect and returns the result as an Arrow table.  Every engine gets the same
trees; only the rendering and the runtime differ (their common interface: ``base.py``).
``open_engine`` picks one by name.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pyarrow as pa
from sqlglot import exp

from .base import SqlEngine, SqlEngineError, frame_to_arrow
from .spark import SparkEngine

__all__ = [
    "ENGINES",
    "DuckDBEngine",
    "SqlEngine",
    "SqlEngineError",
    "frame_to_arrow",
    "open_engine",
]

ENGINES = ("pandas", "duckdb", "spark")


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
        return SparkEngine(master=spark_master)
    raise SqlEngineError(
        f"Unknown SQL engine '{name}'; expected one of: {', '.join(e for e in ENGINES if e != 'pandas')}."
    )
