"""The Customer Analytic Record: one row per customer, as of a date, every column documented.

``build_car`` runs the families of ``profiler.families`` over the sources cut at the as-of date
and returns the columns with their data dictionary; ``profiler/store.py`` writes them into the CAR
folder.  Personal data never enters: the only key is ``customer_id``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .car_context import CarContext, build_context
from .contract import PII_COLUMNS
from .declarations import declarations, declarations_of
from .families import COMPUTE_ORDER, FAMILIES, SIDE_FAMILIES, privacy
from .features import ColumnDef, load_feature_spec
from .loading import SourceData
from .partition import ensure, models

DICTIONARY_COLUMNS = [
    "column",
    "family",
    "description",
    "unit",
    "source_tables",
    "definition_hash",
    "status",
]


@dataclass
class CarResult:
    """The built CAR: columns in customer order, their dictionary, and what was left out."""

    as_of: pd.Timestamp
    customer_ids: np.ndarray
    columns: dict[str, Any]
    definitions: list[ColumnDef]
    left_out: dict[str, str]  # family -> reason
    seconds: float
    models: dict[str, Any] = field(default_factory=dict)  # fitted model figures, or why not
    engine: str = "in-memory"  # in-memory, out-of-core or spark
    timings: dict[str, float] = field(default_factory=dict)  # seconds to each build step

    @property
    def n_columns(self) -> int:
        return len(self.definitions) + 1  # + customer_id (the columns may be written already)

    def dictionary(self) -> pd.DataFrame:
        """One row per column (customer_id first); left-out families are listed with their reason."""
        key = declarations().key
        rows = [
            {
                "column": key.name,
                "family": "key",
                "description": key.description,
                "unit": key.unit,
                "source_tables": "; ".join(key.sources),
                "definition_hash": "",
                "status": "built",
            }
        ]
        rows += [
            {
                "column": d.name,
                "family": d.family,
                "description": d.description,
                "unit": d.unit,
                "source_tables": "; ".join(d.sources),
                "definition_hash": d.definition_hash,
                "status": "built",
            }
            for d in self.definitions
        ]
        rows += [
            {
                "column": "",
                "family": family,
                "description": reason,
                "unit": "",
                "source_tables": "",
                "definition_hash": "",
                "status": "left out",
            }
            for family, reason in self.left_out.items()
        ]
        return pd.DataFrame(rows, columns=DICTIONARY_COLUMNS)

    def to_arrow(self) -> pa.Table:
        return columns_to_arrow(self.customer_ids, self.columns)

    def to_frame(self) -> pd.DataFrame:
        return self.to_arrow().to_pandas()


def columns_to_arrow(customer_ids: np.ndarray, columns: dict[str, Any]) -> pa.Table:
    """CAR columns (numpy arrays, categoricals, nullable booleans) as an Arrow table, keyed by
    customer_id first."""
    arrays = {"customer_id": customer_id_array(customer_ids)}
    for name, values in columns.items():
        arrays[name] = _to_arrow(values)
    return pa.table(arrays)


def customer_id_array(customer_ids: np.ndarray) -> pa.Array:
    """Customer ids as Arrow: int64, or text when they are Python objects (the loader keeps
    ids as int64 or text, ``coercion._coerce_key``).  The type comes from the ids' dtype, not
    from their values, so a customer bucket without customers (out-of-core and Spark builds)
    writes the type of a full one, not Arrow's null type (which no reader can cast to text)."""
    if customer_ids.dtype == object:
        return pa.array(customer_ids, type=pa.string())
    return pa.array(customer_ids)


def _to_arrow(values: Any) -> pa.Array:
    if isinstance(values, pd.Categorical):
        return pa.DictionaryArray.from_arrays(
            pa.array(values.codes, mask=values.codes < 0, type=pa.int32()),
            pa.array([str(c) for c in values.categories], type=pa.string()),
        )
    if isinstance(values, pd.arrays.BooleanArray):
        return pa.array(values)
    values = np.asarray(values)
    if values.dtype.kind == "M":
        return pa.array(values.astype("datetime64[ns]"), mask=np.isnat(values))
    return pa.array(values)


def default_as_of(source: SourceData) -> pd.Timestamp:
    """The day after the last order line."""
    return (source.latest("order_lines", "ordered_at") + pd.Timedelta(days=1)).normalize()


def build_car(
    source: SourceData,
    as_of: str | pd.Timestamp | None = None,
    *,
    spec: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> CarResult:
    """Build the CAR from loaded sources as of a date (default: the day after the last order line).

    Only data on or before the as-of date is used.  The whole population is one part
    (profiler/partition.py): each family's global statistics are found on it just before the
    family runs.  ``progress(family, done, total)`` is called as each family finishes."""
    started = time.perf_counter()
    spec = spec or load_feature_spec()
    as_of_ts = pd.Timestamp(as_of).normalize() if as_of is not None else default_as_of(source)
    ctx = build_context(source, as_of_ts, spec)
    # One part: each family's global statistics are found just before it runs (``ensure``).
    columns, definitions, left_out = compute_part(ctx, progress)
    return CarResult(
        as_of_ts,
        ctx.customer_ids,
        columns,
        definitions,
        left_out,
        time.perf_counter() - started,
        models(ctx.globals),
    )


def compute_part(
    ctx: CarContext, progress: Callable[[str, int, int], None] | None = None
) -> tuple[dict[str, Any], list[ColumnDef], dict[str, str]]:
    """Every family's columns for one part of the customers (``ctx.globals`` set), in the CAR's
    column order, with their definitions and the families left out (and why)."""
    computed = _compute_families(ctx, progress)
    columns: dict[str, Any] = {}
    definitions: list[ColumnDef] = []
    left_out: dict[str, str] = {}
    for family in FAMILIES:  # the CAR's column order
        defs, values = computed.pop(family.FAMILY)
        if not defs:
            left_out[family.FAMILY] = getattr(family, "LEFT_OUT", None) or left_out_reason(
                family.FAMILY, ctx.spec
            )
        for d in defs:
            columns[d.name] = values[d.name]
        definitions += defs
    # The one point every engine goes through: the scores of who objected to profiling.
    privacy.withhold(columns, definitions)
    _check_no_personal_data(columns)
    return columns, definitions, left_out


def _compute_families(
    ctx: CarContext, progress: Callable[[str, int, int], None] | None
) -> dict[str, tuple[list[ColumnDef], dict[str, Any]]]:
    """Each family's definitions and values, in ``COMPUTE_ORDER``.

    The sales grids (``SIDE_FAMILIES``) run on a side thread while the families after them run
    here: most of the grids' time is the system zeroing the CAR's fresh memory, which leaves a
    core free.  A family that reads others' columns (``READS``) waits for them."""
    computed: dict[str, tuple[list[ColumnDef], dict[str, Any]]] = {}
    pending: dict[str, Future] = {}

    def record(name: str, result: tuple[list[ColumnDef], dict[str, Any]]) -> None:
        ctx.built.update(result[1])
        computed[name] = result
        if progress:
            progress(name, len(computed), len(COMPUTE_ORDER))

    with ThreadPoolExecutor(max_workers=1) as side:
        for family in COMPUTE_ORDER:
            if hasattr(family, "READS"):
                for name in list(pending):
                    record(name, pending.pop(name).result())
            ensure(ctx, family.FAMILY)
            if family.FAMILY in SIDE_FAMILIES:
                pending[family.FAMILY] = side.submit(family_values, family, ctx)
                continue
            record(family.FAMILY, family_values(family, ctx))
        for name in list(pending):
            record(name, pending.pop(name).result())
    return computed


def family_values(family: Any, ctx: CarContext) -> tuple[list[ColumnDef], dict[str, Any]]:
    """A family's column definitions and values."""
    defs = family.columns(ctx)
    values = family.compute(ctx) if defs else {}
    names = [d.name for d in defs]
    if set(names) != set(values):
        # A programming error: every column needs its dictionary entry and vice versa.
        raise AssertionError(
            f"family {family.FAMILY}: columns {sorted(set(values) ^ set(names))[:5]} lack a definition or a value"
        )
    return defs, values


def left_out_reason(family: str, spec: dict[str, Any] | None = None) -> str:
    needs = declarations_of(spec or {}).needs(family)
    return f"left out: needs {', '.join(needs)}, not provided"


def _check_no_personal_data(columns: dict[str, Any]) -> None:
    personal = {c for cols in PII_COLUMNS.values() for c in cols}
    leaked = personal & set(columns)
    if leaked:
        raise AssertionError(f"personal data in the CAR: {sorted(leaked)}")
