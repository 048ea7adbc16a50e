"""Targets: the plan figures the views compare actuals with (issue 24, item 3).

The optional source table ``targets`` (``contract.TABLES["targets"]``: metric, period, cohort,
target, owner) is loaded like every other table: a row without a metric, period or target, a
target that is not a number, a period outside the period grammar (``profiler/periods.py``) or a
row repeating another's metric, period and cohort is quarantined with its reason
(``rules.target_rules``).  ``profiler build`` stores the accepted
rows in the new generation (``store.TARGETS``, ``write_targets``), so the views, which read the
CAR folder without the sources, have them.

A target is matched to a view's value by metric, cohort and period:

- the metric in any letter case; the cohort in any letter case, empty or "All customers" for
  the base;
- the period as written in the grammar (a target for ``2025`` matches the period 2025,
  ``2025-q2`` matches 2025-Q2); a metric known only at the CAR's date (balances, consent) has
  one value whatever the period, labelled "as of D": its target's period is ``asof`` (or
  ``asof:D`` for that date alone).

Against its target a value gets (``against``): the variance, value - target, in the metric's
unit of difference (``indices``: percentage points for shares, points for scores); the % of
target, value / target (none for scores, whose ratio means nothing, nor where the target is
not positive); and a verdict, good or bad by the metric's polarity (``better``): a complaint
rate above its target is bad.

``check_targets`` is what ``profiler metrics check --targets FILE`` prints: one line per
problem naming the file, row and column (unknown metric with the closest name, unknown cohort,
bad period, a period the metric does not support, duplicates).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import indices, store
from .catalog import Catalog
from .errors import clip
from .names import UnknownName, did_you_mean, resolve
from .periods import parse_period
from .rules import ROW
from .target_keys import ASOF, cohort_key, period_key, text_of

TABLE = "targets"
# The columns a view gains when the CAR has targets.
COLUMNS = [
    "target",
    "target_owner",
    "variance",
    "variance_unit",
    "pct_of_target",
    "verdict_vs_target",
]


# ---------------------------------------------------------------------------------------------
# the build stores them; the views read them


def stored_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The accepted rows as the generation keeps them: plain text, the period as written and
    as matched, the row of the source file."""
    return pd.DataFrame(
        {
            "row": frame[ROW].to_numpy(dtype=np.int64),
            "metric": frame["metric"].astype(object).map(text_of).to_numpy(dtype=object),
            "period": frame["period"].astype(object).map(text_of).to_numpy(dtype=object),
            "period_key": frame["period"].astype(object).map(period_key).to_numpy(dtype=object),
            "cohort": frame["cohort"].astype(object).map(text_of).to_numpy(dtype=object),
            "target": frame["target"].to_numpy(dtype=float),
            "owner": frame["owner"].astype(object).map(text_of).to_numpy(dtype=object),
        }
    )


def write_targets(writer: store.GenerationWriter, source: Any) -> int:
    """The accepted targets into the new generation (none when the sources have no targets
    table); the number of rows written."""
    frame = source.tables.get(TABLE) if hasattr(source, "tables") else None
    if frame is None:
        return 0
    writer.write_frame(store.TARGETS, stored_frame(frame))
    return len(frame)


def unknown_metrics(source: Any, catalog: Catalog) -> list[str]:
    """The metric names of the sources' targets the catalog does not know (they match
    nothing: ``profiler build`` says so, ``metrics check`` names each row)."""
    frame = source.tables.get(TABLE) if hasattr(source, "tables") else None
    if frame is None:
        return []
    known = {name.casefold() for name in catalog.metrics}
    names = frame["metric"].astype(object).map(text_of)
    return sorted({n for n in names if n and n.casefold() not in known})


_MISSING = object()


def targets_of(engine: Any) -> pd.DataFrame | None:
    """The targets stored with the engine's CAR (None when it has none), read once."""
    found = getattr(engine, "_targets", _MISSING)
    if found is _MISSING:
        found = None
        generation = getattr(engine, "generation", None)
        members = (getattr(engine, "meta", None) or {}).get("members", {})
        if generation is not None and store.TARGETS.name in members:
            found = generation.read_frame(store.TARGETS)
        engine._targets = found
    return found


def set_targets(engine: Any, frame: pd.DataFrame | None) -> None:
    """Give an engine built in memory (no CAR folder) its targets: rows of the contract's
    columns (metric, period, cohort, target, owner), as ``stored_frame`` keeps them."""
    if frame is not None:
        frame = frame.copy()
        for column, default in (("cohort", ""), ("owner", ""), (ROW, 0)):
            if column not in frame:
                frame[column] = default
        frame = stored_frame(frame)
    engine._targets = frame


def lookup(engine: Any) -> dict[tuple[str, str, str], tuple[float, str]] | None:
    """(metric, cohort, period key) -> (target, owner), for the names this CAR knows (a
    target for an unknown metric or cohort matches nothing: ``metrics check`` names it)."""
    frame = targets_of(engine)
    if frame is None or not len(frame):
        return None
    out: dict[tuple[str, str, str], tuple[float, str]] = {}
    for row in frame.itertuples(index=False):
        try:
            metric = engine.catalog.get(row.metric).name
            cohort = (
                engine.cohorts.base
                if cohort_key(row.cohort) == ""
                else engine.cohorts.canonical(row.cohort)
            )
        except UnknownName:
            continue
        if row.period_key:
            out[(metric, cohort, str(row.period_key))] = (float(row.target), str(row.owner))
    return out


def against(metric: Any, value: Any, target: Any) -> dict[str, Any]:
    """Variance (in the metric's unit of difference), % of target (a fraction) and verdict of
    values against their targets, element-wise; NaN where there is no target."""
    kind = indices.comparison(metric)
    value_, target_ = np.asarray(value, dtype=float), np.asarray(target, dtype=float)
    variance = value_ - target_
    if kind == "share":
        variance = variance * 100
    pct = (
        np.full(np.shape(value_), np.nan)
        if kind == "score"
        else indices.ratio_index(value_, target_) / 100
    )
    verdict = indices.verdict(metric, np.where(np.isnan(target_), np.nan, value_ - target_))
    unit = {"share": "pp", "score": "points"}.get(kind, metric.unit)
    return {"variance": variance, "pct_of_target": pct, "verdict": verdict, "unit": unit}


def attach(
    engine: Any,
    frame: pd.DataFrame,
    *,
    period_column: str = "period",
    cohort: str | None = None,
) -> pd.DataFrame:
    """``frame`` (rows of metric, value, period, and cohort unless ``cohort`` names the one
    cohort of every row) with ``COLUMNS`` added when the CAR has targets: each row's target
    where one exists for its metric, cohort and period, NaN elsewhere.  A CAR without targets
    gets no column."""
    table = lookup(engine)
    if table is None or not len(frame):
        return frame
    as_of_label = f"as of {engine.as_of:%Y-%m-%d}"
    targets, owners = [], []
    cohorts = frame["cohort"] if cohort is None else pd.Series(cohort, index=frame.index)
    for metric, who, period in zip(frame["metric"], cohorts, frame[period_column], strict=True):
        period = str(period)
        keys = [period, ASOF] if period == as_of_label else [period]
        found = next((table[k] for k in ((metric, who, p) for p in keys) if k in table), None)
        targets.append(np.nan if found is None else found[0])
        owners.append("" if found is None else found[1])
    out = frame.copy()
    out["target"] = np.array(targets, dtype=float)
    out["target_owner"] = owners
    parts = [
        against(engine.metric(m), v, t)
        for m, v, t in zip(out["metric"], out["value"], out["target"], strict=True)
    ]
    out["variance"] = [float(p["variance"]) for p in parts]
    out["variance_unit"] = [p["unit"] for p in parts]
    out["pct_of_target"] = [float(p["pct_of_target"]) for p in parts]
    out["verdict_vs_target"] = [
        str(p["verdict"]) if t == t else "" for p, t in zip(parts, targets, strict=True)
    ]
    return out


def has_targets(frame: pd.DataFrame) -> bool:
    """Whether any row of a view has a target (what the CLI and the sheets show only then)."""
    return "target" in frame.columns and bool(frame["target"].notna().any())


# ---------------------------------------------------------------------------------------------
# profiler metrics check --targets


def check_targets(
    path: str | Path,
    catalog: Catalog,
    *,
    cohorts: Any = None,
    today: pd.Timestamp | str | None = None,
) -> list[str]:
    """Every problem of a targets file, one line each naming the file, row and column: the
    rows its load would quarantine (with the same reasons), then, of the rows it accepts,
    unknown metrics (with the closest name), periods the metric does not support, and, with
    ``cohorts`` (a ``CohortSet``: the cohorts of a CAR), unknown cohorts."""
    from . import mapping
    from .contract import TABLES
    from .loading import read_table_file, today_or_default, validate_table
    from .query import metric_timing

    path = Path(path)
    spec = TABLES[TABLE]
    raw = mapping.apply(mapping.load_mapping(path.parent), TABLE, read_table_file(path), path)
    frame, _, bad = validate_table(spec, raw, path, today_or_default(today), {})
    lines = [f"{path.name}: row {r.row}, column {r.column}: {r.reason}" for r in bad.itertuples()]
    timings: dict[str, str] = {}
    for row in stored_frame(frame).itertuples(index=False):
        where = f"{path.name}: row {row.row}, column"
        try:
            metric = catalog.get(row.metric)
        except UnknownName:
            lines.append(
                f"{where} metric: unknown metric '{clip(row.metric)}'."
                f"{did_you_mean(row.metric, catalog.metrics)}"
            )
            continue
        timing = metric_timing(catalog, metric.name, timings)
        kind = ASOF if row.period_key == ASOF else parse_period(row.period).kind
        if timing == "as_of_d" and kind != ASOF:
            lines.append(
                f"{where} period: {metric.name} is known only at the CAR's date (a customer "
                f"state), so its target's period is asof, not '{clip(row.period)}'."
            )
        elif timing == "flow" and kind not in metric.periods:
            lines.append(
                f"{where} period: {metric.name} is not defined for {kind} periods "
                f"('{clip(row.period)}'); it takes {', '.join(metric.periods)}."
            )
        if cohorts is not None and cohort_key(row.cohort) != "":
            try:
                resolve(row.cohort, [*cohorts.definitions, *cohorts.left_out], "cohort")
            except UnknownName as err:
                lines.append(f"{where} cohort: {err}")
    lines.sort(key=_row_number)
    return lines


def _row_number(line: str) -> int:
    try:
        return int(line.split(": row ", 1)[1].split(",", 1)[0])
    except (IndexError, ValueError):
        return 0
