"""The contract's row rules and the quarantine: why a row of a source table is refused.

Each rule (a required value empty, a value outside its list or range, a date too early or in
the future, a return without its date, an unknown reference, a repeated key) records the rows
it refuses with a reason in ``Problems``; a row keeps the first reason found.  No row is
dropped silently: for every table, rows read = accepted + quarantined.  The rules are apart
from reading and coercion so that the whole-file load, the streamed build (which applies the
duplicate-key rule across batches) and the Spark intake apply the same ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .contract import EARLIEST_DATE, TABLES, Column, Table
from .periods import FORMATS
from .target_keys import cohort_key, period_key, text_of

ROW = "_row"  # 1-based data row number in the source file (the header is not counted)
QUARANTINE_COLUMNS = ["table", "file", "row", "column", "value", "rule", "reason"]


class Problems:
    """Collects (row, column, value, rule, reason) findings; keeps the first per row."""

    day_first: bool | None = None  # the file's order of day and month, once a column proves it
    excel: bool = False  # an .xlsx sheet: dates may be serial numbers

    def __init__(self, table: str, file: str) -> None:
        self.table, self.file = table, file
        self._parts: list[pd.DataFrame] = []

    def add(
        self,
        rows: pd.Series,
        column: str,
        values: pd.Series,
        rule: str,
        message: str,
        detail: pd.Series | None = None,
    ) -> None:
        """Record problems; ``detail`` (one entry per row) is appended to ``message``."""
        if len(rows) == 0:
            return
        reason = (
            message if detail is None else message + detail.astype(str).to_numpy().astype(object)
        )
        part = pd.DataFrame(
            {
                "row": rows.to_numpy(),
                "column": column,
                "value": values.astype(str).to_numpy(),
                "rule": rule,
                "reason": reason,
            }
        )
        self._parts.append(part)

    def rows(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame(columns=QUARANTINE_COLUMNS)
        found = pd.concat(self._parts, ignore_index=True)
        found = found.drop_duplicates("row", keep="first").sort_values("row", kind="stable")
        found.insert(0, "file", self.file)
        found.insert(0, "table", self.table)
        return found[QUARANTINE_COLUMNS].reset_index(drop=True)


def check_values(col: Column, frame: pd.DataFrame, problems: Problems, today: pd.Timestamp) -> None:
    """The rules of one coerced column: required, allowed values, range, dates not too early and
    not after ``today``."""
    values = frame[col.name]
    rows = frame[ROW]
    if not col.nullable:
        empty = values.isna()
        problems.add(
            rows[empty], col.name, values[empty], "empty", f"{col.name}: required value is empty"
        )
    if col.allowed is not None:
        if isinstance(values.dtype, pd.CategoricalDtype):
            bad_cats = [c for c in values.cat.categories if c not in col.allowed]
            bad = values.isin(bad_cats) if bad_cats else pd.Series(False, index=values.index)
        else:
            bad = values.notna() & ~values.isin(col.allowed)
        if bad.any():
            what = (
                "unknown currency"
                if col.name == "currency"
                else f"{col.name}: expected one of {', '.join(col.allowed)}"
            )
            problems.add(
                rows[bad],
                col.name,
                values[bad],
                "allowed",
                f"{what}, got ",
                values[bad].astype(str).map(repr),
            )
    if col.kind in ("int", "float") and (col.minimum is not None or col.maximum is not None):
        numeric = values.astype("float64")
        if col.minimum is not None:
            low = numeric < col.minimum
            label = (
                f"negative {col.name}"
                if col.name in ("quantity", "cost", "unit_cost") and col.minimum == 0
                else f"{col.name} below {col.minimum:g}"
            )
            problems.add(
                rows[low],
                col.name,
                values[low],
                "range",
                f"{label}: expected ≥ {col.minimum:g}, got ",
                numeric[low].map("{:g}".format),
            )
        if col.maximum is not None:
            high = numeric > col.maximum
            problems.add(
                rows[high],
                col.name,
                values[high],
                "range",
                f"{col.name}: expected ≤ {col.maximum:g}, got ",
                numeric[high].map("{:g}".format),
            )
    if col.kind in ("timestamp", "date"):
        early = values < pd.Timestamp(EARLIEST_DATE)
        problems.add(
            rows[early], col.name, values[early], "date", f"{col.name}: date before {EARLIEST_DATE}"
        )
        future = values > today
        problems.add(
            rows[future],
            col.name,
            values[future],
            "date",
            f"{col.name}: date in the future (after {today.date()})",
        )


def table_rules(spec: Table, frame: pd.DataFrame, problems: Problems) -> None:
    """Rules across columns of a row: a returned order line has its return date, after the order;
    a target's period is a period and its metric, period and cohort are not repeated."""
    if spec.name == "targets":
        target_rules(frame, problems)
        return
    if spec.name != "order_lines":
        return
    rows = frame[ROW]
    status, returned_at = frame["status"], frame["returned_at"]
    is_returned = (status == "returned").to_numpy()
    no_date = is_returned & returned_at.isna().to_numpy()
    problems.add(
        rows[no_date],
        "returned_at",
        returned_at[no_date],
        "status",
        "status is 'returned' but returned_at is empty",
    )
    stray = ~is_returned & returned_at.notna().to_numpy()
    problems.add(
        rows[stray],
        "returned_at",
        returned_at[stray],
        "status",
        "returned_at is set but status is ",
        status[stray].astype(str).map(repr),
    )
    before = (returned_at < frame["ordered_at"]).to_numpy()
    problems.add(
        rows[before],
        "returned_at",
        returned_at[before],
        "status",
        "returned_at is before ordered_at",
    )


def reference_rules(
    spec: Table,
    frame: pd.DataFrame,
    problems: Problems,
    parents: dict[str, pd.DataFrame],
    defaulted: list[str],
) -> None:
    """A reference to a parent table (``Table.references``) must name one of its accepted keys;
    a column filled with its default (``defaulted``) refers to nothing."""
    for column, parent in spec.references.items():
        if parent not in parents or column in defaulted:
            continue
        known = parents[parent][TABLES[parent].key[0]]
        values = frame[column]
        if values.dtype != known.dtype:
            values, known = values.astype(str), known.astype(str)
        unknown = ~values.isin(known) & values.notna()
        if unknown.any():
            problems.add(
                frame[ROW][unknown],
                column,
                frame[column][unknown],
                "reference",
                f"{column} not found in {parent}: ",
                frame[column][unknown].astype(str).map(repr),
            )


def _duplicated(frame: pd.DataFrame, key: list[str]) -> pd.Series:
    """Later occurrences of a key; integer key pairs are packed into one int64 (much faster)."""
    if len(key) == 2 and all(pd.api.types.is_integer_dtype(frame[k]) for k in key):
        first, second = (frame[k].to_numpy() for k in key)
        low, high = second.min(initial=0), second.max(initial=0)
        span = int(high) - int(low) + 1
        if low >= 0 and first.min(initial=0) >= 0 and int(first.max(initial=0)) < (2**62) // span:
            packed = first.astype(np.int64) * span + (second - low)
            if len(packed) < 2 or bool((packed[1:] > packed[:-1]).all()):
                # Lines exported in key order (the usual case): no key can repeat.
                return pd.Series(np.zeros(len(packed), dtype=bool), index=frame.index)
            return pd.Series(
                pd.Series(packed).duplicated(keep="first").to_numpy(), index=frame.index
            )
    return frame.duplicated(key, keep="first")


def duplicate_rule(spec: Table, frame: pd.DataFrame, problems: Problems) -> None:
    """A key seen again: the later rows are quarantined, naming the row first seen."""
    if not spec.key:
        return
    key = list(spec.key)
    # Rows with an empty key part are already quarantined as empty; they are not duplicates.
    complete = frame[key].notna().all(axis=1)
    dup = _duplicated(frame, key) & complete
    if not dup.any():
        return
    firsts = frame.loc[~dup & complete & frame.duplicated(key, keep=False), key + [ROW]].rename(
        columns={ROW: "_first"}
    )
    dups = frame.loc[dup, key + [ROW]].merge(firsts, on=key, how="left")
    label = ", ".join(key)
    shown = dups[key].astype(object).map(str).agg(", ".join, axis=1)
    detail = shown + "); first seen at row " + dups["_first"].astype(str)
    problems.add(dups[ROW], label, shown, "duplicate", f"duplicate key ({label}) = (", detail)


def target_rules(frame: pd.DataFrame, problems: Problems) -> None:
    """A period outside the grammar, and a (metric, period, cohort) seen again (compared as
    they will be matched: any letter case, ``2025-q2`` = ``2025-Q2``, empty cohort = "All
    customers"): the later rows are quarantined, naming the row first seen."""
    rows = frame[ROW]
    written = frame["period"].astype(object).map(text_of)
    keys = written.map(period_key)
    bad = frame["period"].notna().to_numpy() & keys.isna().to_numpy()
    problems.add(
        rows[bad],
        "period",
        written[bad],
        "period",
        f"period: expected {FORMATS}, got ",
        written[bad].map(repr),
    )
    metric = frame["metric"].astype(object).map(text_of).str.casefold()
    cohort = frame["cohort"].astype(object).map(cohort_key)
    first_seen: dict[tuple[str, str, str], int] = {}
    later, shown, firsts = [], [], []
    for i, (m, p, c, row) in enumerate(zip(metric, keys, cohort, rows, strict=True)):
        if not m or p is None:
            continue  # quarantined already: an empty metric or a bad period
        seen = first_seen.setdefault((m, p, c), int(row))
        if seen != int(row):
            later.append(i)
            shown.append(
                ", ".join(text_of(frame[col].iloc[i]) for col in ("metric", "period", "cohort"))
            )
            firsts.append(seen)
    if later:
        problems.add(
            rows.iloc[later],
            "metric, period, cohort",
            pd.Series(shown),
            "duplicate",
            "duplicate target (metric, period, cohort) = (",
            pd.Series([f"{s}); first seen at row {f}" for s, f in zip(shown, firsts, strict=True)]),
        )
