"""A CAR larger than memory: built by a SQL engine one customer range at a time, written as it goes.

At 5M customers the CAR alone (1,294 columns) is ~26 GB of floats, so it is never held whole.
The engine holds the source tables as ``<table>__all``; for each range of the sorted customer
ids, every table keyed by customer becomes a view of that range's rows under its own name, and
the families' queries run unchanged over it.  Each range's columns go to a temporary part on
disk with its activity rows (customer x month, ``profiler/activity.py``), in the new
generation's scratch folder (``profiler/store.py``).

What needs every customer is done on all of them, once:

- the levels of every slice and the column definitions (from all the data as of D);
- the interests' base sums (the affinity index's denominator), registered ahead;
- potential value: BG/NBD + Gamma-Gamma are fitted on all buyers;
- value scores and strategy segments, which rank customers: the few columns they read
  (``value.READS``, ``strategy.READS``) are kept whole while the ranges are built.

The result equals ``build_car`` with the same engine, column for column (tests/test_sql_ranges.py).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc  # noqa: F401  (pa.ipc)
from sqlglot import exp

from ..activity import activity_table, build_activity, orders_table
from ..car import (
    CarResult,
    _check_no_personal_data,
    columns_to_arrow,
    default_as_of,
    family_values,
    left_out_reason,
)
from ..catalog import Catalog
from ..contract import TABLES
from ..families import FAMILIES, strategy, value
from ..features import load_feature_spec
from ..loading import ROW, SourceData
from ..store import ACTIVITY, ORDERS, GenerationWriter
from .car_families import PANDAS_FAMILIES
from .context import SqlCarContext, build_sql_context
from .engines import SqlEngine
from .facts import col, number, text
from .interests import register_base

ALL = "__all"  # suffix of the whole source tables in the engine
RANGE_CUSTOMERS = 500_000  # customers per range: ~3 GB of CAR columns
WHOLE_FAMILIES = ("potential",)  # fitted on every customer at once
KEPT_WHOLE = tuple(dict.fromkeys(value.READS + strategy.READS))


def build_car_in_ranges(
    source: SourceData,
    writer: GenerationWriter,
    catalog: Catalog,
    *,
    engine: SqlEngine,
    as_of: str | pd.Timestamp | None = None,
    spec: dict[str, Any] | None = None,
    range_customers: int = RANGE_CUSTOMERS,
    progress: Callable[[str], None] | None = None,
) -> CarResult:
    """Write the CAR (one part per range), its dictionary and the activity table into the new
    generation ``writer``.  The result's ``columns`` are empty: read the CAR back from the folder
    once the generation is current."""
    started = time.perf_counter()
    say = progress or (lambda message: None)
    spec = spec or load_feature_spec()
    as_of_ts = pd.Timestamp(as_of).normalize() if as_of is not None else default_as_of(source)
    engine.register_source(source, suffix=ALL)
    _scope(engine, source, None)
    ctx = build_sql_context(engine, source, as_of_ts, spec)
    ids = ctx.customer_ids
    definitions = {family.FAMILY: family.columns(ctx) for family in FAMILIES}  # fixes levels
    left_out = {f: left_out_reason(f) for f, defs in definitions.items() if not defs}
    whole: dict[str, Any] = {}
    for family in FAMILIES:
        if family.FAMILY in WHOLE_FAMILIES:
            say(f"{family.FAMILY}: all {len(ids):,} customers")
            whole.update(family_values(family, ctx, engine)[1])
    if definitions["interests"]:
        register_base(engine, ctx)
    tmp = writer.scratch("ranges")
    starts = list(range(0, len(ids), range_customers)) or [0]
    kept: dict[str, list[Any]] = {name: [] for name in KEPT_WHOLE if name not in whole}
    for k, start in enumerate(starts):
        stop = min(start + range_customers, len(ids))
        say(
            f"customers {start + 1:,} to {stop:,} ({k + 1}/{len(starts)}; "
            f"{time.perf_counter() - started:,.0f} s so far)"
        )
        _scope(engine, source, (ids[start], ids[stop - 1]) if stop > start else None)
        seconds: dict[str, float] = {}
        columns = _range_columns(engine, ctx, ids[start:stop], definitions, seconds)
        for name in kept:
            if name in columns:
                kept[name].append(columns[name])
        _write_ipc(columns_to_arrow(ids[start:stop], columns), tmp / f"car-{k:05d}.arrow")
        clock = time.perf_counter()
        rows = _range_source(engine, source, ids[start:stop])
        activity = build_activity(rows, catalog, ids[start:stop], as_of_ts)
        _write_ipc(activity_table(activity, start), tmp / f"activity-{k:05d}.arrow")
        _write_ipc(orders_table(activity.orders, start), tmp / f"orders-{k:05d}.arrow")
        seconds["activity"] = time.perf_counter() - clock
        say("  " + ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items()))
        del columns, activity, rows
    ctx.built = {name: _concat(parts) for name, parts in kept.items() if parts} | whole
    for family in FAMILIES:
        if family.FAMILY in PANDAS_FAMILIES and definitions[family.FAMILY]:
            values = family_values(family, ctx, engine)[1]
            whole.update(values)
            ctx.built.update(values)
    order = [d.name for defs in definitions.values() for d in defs]
    _check_no_personal_data(dict.fromkeys(order))
    result = CarResult(
        as_of_ts,
        ids,
        {},
        [d for defs in definitions.values() for d in defs],
        left_out,
        0.0,
        ctx.cache.get("meta", {}),
        engine.name,
    )
    say(f"writing the CAR and the activity table ({time.perf_counter() - started:,.0f} s so far)")
    for k, start in enumerate(starts):
        stop = min(start + range_customers, len(ids))
        extra = {name: values[start:stop] for name, values in whole.items()}
        more = columns_to_arrow(ids[start:stop], extra)
        table = _with_columns(_read_ipc(tmp / f"car-{k:05d}.arrow"), more)
        writer.write_car_part(k, table.select(["customer_id", *order]))
    writer.finish_car(result, len(ids))
    _write_activity(tmp, len(starts), writer)
    _write_orders(tmp, len(starts), writer)
    shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result


def build_out_of_core(
    data: str | Path,
    writer: GenerationWriter,
    catalog: Catalog,
    *,
    as_of: str | pd.Timestamp | None = None,
    spec: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    loaded: Callable[[SourceData], None] | None = None,
) -> CarResult:
    """What ``profiler build --engine duckdb`` runs: the order lines validated in batches into
    the new generation's scratch folder (removed afterwards), then ``build_car_in_ranges`` on
    DuckDB.  ``loaded`` is called with the sources once they are validated (to report the
    counts and write the quarantine)."""
    from ..staging import stage_sources
    from .engines import DuckDBEngine

    stage = writer.scratch("staging")
    try:
        source = stage_sources(data, stage, progress=progress)
        if loaded:
            loaded(source)
        with DuckDBEngine() as engine:
            return build_car_in_ranges(
                source, writer, catalog, engine=engine, as_of=as_of, spec=spec, progress=progress
            )
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _range_columns(
    engine: SqlEngine,
    ctx: SqlCarContext,
    ids: np.ndarray,
    definitions: dict[str, list],
    seconds: dict[str, float],
) -> dict[str, Any]:
    """The columns the engine computes for one range (the engine's views show that range),
    with the levels and the base sums fixed on every customer (``ctx.cache``); each family's
    time goes to ``seconds``."""
    part = SqlCarContext(
        as_of=ctx.as_of,
        spec=ctx.spec,
        source=ctx.source,
        customer_ids=ids,
        engine=engine,
        cache=dict(ctx.cache),
    )
    for family in FAMILIES:
        name = family.FAMILY
        if name in PANDAS_FAMILIES or name in WHOLE_FAMILIES or not definitions[name]:
            continue
        clock = time.perf_counter()
        part.built.update(family_values(family, part, engine)[1])
        seconds[name] = time.perf_counter() - clock
    return part.built


def _with_columns(table: pa.Table, more: pa.Table) -> pa.Table:
    """``table`` with the columns of ``more`` but its first (customer_id) appended."""
    for name in more.column_names[1:]:
        table = table.append_column(name, more.column(name))
    return table


def _scope(engine: SqlEngine, source: SourceData, bounds: tuple[Any, Any] | None) -> None:
    """Views under the tables' own names: a customer range's rows, or all rows."""
    for table in [*source.tables, *source.staged]:
        query = exp.select(exp.Star()).from_(exp.to_table(table + ALL))
        if bounds is not None and "customer_id" in TABLES[table].column_names:
            low, high = (_literal(b) for b in bounds)
            query = query.where(exp.Between(this=col("customer_id"), low=low, high=high))
        engine.create_view(table, query)


def _literal(value: Any) -> exp.Expression:
    return number(int(value)) if isinstance(value, (int, np.integer)) else text(str(value))


def _range_source(engine: SqlEngine, source: SourceData, ids: np.ndarray) -> SourceData:
    """The range's rows of every table, in memory as ``load_sources`` gives them, for its
    activity rows; staged tables are read from the engine's view of the range."""
    tables = {}
    for name, frame in source.tables.items():
        if "customer_id" in TABLES[name].column_names:
            frame = frame[frame["customer_id"].isin(ids).to_numpy()]
        tables[name] = frame
    for name in source.staged:
        frame = engine.run(exp.select(exp.Star()).from_(exp.to_table(name))).to_pandas()
        for column in TABLES[name].columns:
            if frame[column.name].dtype.kind == "M":
                frame[column.name] = frame[column.name].astype("datetime64[ns]")
            elif column.kind == "text" and not column.pii:
                frame[column.name] = frame[column.name].astype("category")
        tables[name] = frame.sort_values(ROW, kind="stable").reset_index(drop=True)
    return SourceData(tables, source.quarantine.iloc[:0], source.reports, source.data_dir)


def _concat(parts: list[Any]) -> Any:
    if parts and isinstance(parts[0], pd.Categorical):
        return pd.Categorical(pd.concat([pd.Series(p) for p in parts], ignore_index=True))
    return np.concatenate([np.asarray(p) for p in parts]) if parts else np.zeros(0)


def _write_ipc(table: pa.Table, path: Path) -> None:
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with (
        pa.OSFile(str(path), "wb") as sink,
        pa.ipc.new_file(sink, table.schema, options=options) as w,
    ):
        w.write_table(table)


def _read_ipc(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()


def _write_orders(tmp: Path, ranges: int, writer: GenerationWriter) -> None:
    """The ranges' order days, laid end to end: each range holds later CAR rows than the one
    before and is sorted by row and day, so the whole is too."""
    tables = [_read_ipc(tmp / f"orders-{k:05d}.arrow") for k in range(ranges)]
    writer.write_table(ORDERS, pa.concat_tables(tables).combine_chunks())


def _write_activity(tmp: Path, ranges: int, writer: GenerationWriter) -> None:
    """The ranges' activity as one table in (month, CAR row) order, one column at a time.

    Each range is so ordered and holds later rows than the range before, so a stable sort of
    the months of the ranges laid end to end gives the order.  Each column is gathered into a
    memory-mapped file and the table is written as one record batch of those files (readers
    memory-map it without copies), so memory holds the order and one column, not the table
    (13 GB at 5M customers)."""
    paths = [tmp / f"activity-{k:05d}.arrow" for k in range(ranges)]
    schema = pa.ipc.open_file(pa.memory_map(str(paths[0]), "r")).schema

    def whole_column(i: int) -> np.ndarray:
        options = pa.ipc.IpcReadOptions(included_fields=[i])
        parts = []
        for path in paths:
            reader = pa.ipc.open_file(pa.memory_map(str(path), "r"), options=options)
            parts += [
                reader.get_batch(b).column(0).to_numpy() for b in range(reader.num_record_batches)
            ]
        return np.concatenate(parts)

    order = np.argsort(whole_column(schema.get_field_index("month")), kind="stable")
    arrays = []
    for i, field in enumerate(schema):
        gathered = np.lib.format.open_memmap(
            tmp / f"column-{i:04d}.npy",
            mode="w+",
            dtype=field.type.to_pandas_dtype(),
            shape=order.shape,
        )
        gathered[:] = whole_column(i)[order]
        gathered.flush()
        arrays.append(pa.array(np.load(tmp / f"column-{i:04d}.npy", mmap_mode="r")))
        del gathered
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    writer.write_arrow(ACTIVITY, schema, [batch])
