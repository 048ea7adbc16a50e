"""A source column's cells turned into the contract's type (``contract.Column.kind``): ids,
text, numbers written for people, true/false words, dates in ISO 8601, day-first or Excel
serials, months.

Exports write values in many ways; this module alone knows them, so the whole-file load, the
streamed build and the Spark intake read a value the same way.  A cell that cannot be read is a
``type`` problem for the quarantine (``rules.Problems``); a column none of whose values can be
read, or whose dates read both day-first and month-first, is one ``ContractError`` line naming
the file and column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import readers
from .contract import Column, Table
from .errors import ContractError, clip
from .rules import Problems

_EXPECTED = {
    "key": "an identifier",
    "text": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true/false",
    "timestamp": "a date-time (ISO 8601)",
    "date": "a date (YYYY-MM-DD)",
    "month": "a month (YYYY-MM)",
}
_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def default_column(spec: Table, col: Column, frame: pd.DataFrame, raw: pd.DataFrame) -> pd.Series:
    """A column the file does not have: its contract default, else missing values of its type."""
    n = len(frame)
    if spec.name == "order_lines" and col.name == "line_id":
        # Lines are numbered within their order in file order (lines without an order id, which
        # are quarantined, as one order).
        return (
            raw.groupby("order_id", sort=False, dropna=False).cumcount().astype(np.int64).to_numpy()
            + 1
        )
    if col.default is None:
        dtype = {
            "timestamp": "datetime64[ns]",
            "date": "datetime64[ns]",
            "float": "float64",
            "int": "Int64",
        }.get(col.kind, "object")
        return pd.Series(
            pd.array([None] * n, dtype=dtype) if dtype == "Int64" else np.full(n, None),
            dtype=dtype,
            index=frame.index,
        )
    if col.kind == "text":
        return pd.Categorical(np.repeat(np.array([col.default], dtype=object), n))
    return pd.Series(np.repeat(col.default, n), index=frame.index)


def coerce_column(
    col: Column,
    values: pd.Series,
    path: Path,
    problems: Problems,
    rows: pd.Series,
    decimal: str = ".",
) -> pd.Series:
    """Convert a column to its contract type; unreadable cells go to the quarantine."""
    kind = col.kind
    present = values.notna()
    if kind == "key":
        converted = _coerce_key(values)
    elif kind == "text":
        converted = _coerce_text(col, values)
    elif kind in ("int", "float"):
        converted = (
            values
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            else _coerce_number(values, decimal)
        )
        converted = converted.astype("float64")
        converted = converted.where(np.isfinite(converted))  # NaN, inf: not amounts
        if kind == "int":
            fractional = converted.notna() & (converted != np.floor(converted.fillna(0)))
            converted = converted.mask(fractional)
    elif kind == "bool":
        converted = _coerce_bool(values)
    elif kind in ("timestamp", "date"):
        if problems.excel:
            values = _excel_serials(values)
        converted = _coerce_datetime(values, col.name, path, problems)
        if kind == "date":
            converted = converted.dt.normalize()
    elif kind == "month":
        text = values.astype("object").map(_strip)
        parsed = pd.to_datetime(text, format="%Y-%m", errors="coerce")
        converted = parsed.dt.strftime("%Y-%m").where(parsed.notna(), None)
    else:  # pragma: no cover - the contract only uses the kinds above
        raise AssertionError(kind)
    unreadable = present & converted.isna()
    if unreadable.any():
        if unreadable.sum() == present.sum():
            first = int(np.flatnonzero(unreadable.to_numpy())[0])
            raise ContractError(
                f"{path}: column '{col.name}' must hold {_EXPECTED[kind]}, but none of its values can be "
                f"read as one (row {rows.iloc[first]}: {values.iloc[first]!r})."
            )
        bad = values[unreadable]
        problems.add(
            rows[unreadable],
            col.name,
            bad,
            "type",
            f"{col.name}: expected {_EXPECTED[kind]}, got ",
            bad.astype(str).map(repr),
        )
    if col.default is not None and kind != "key":
        converted = _fill_default(converted, col)
    if kind == "int":
        converted = (
            converted.astype("int64") if converted.notna().all() else converted.astype("Int64")
        )
    return converted


_MONEY_TEXT = r"^[-+(]?\s*[£$€¥]?\s*[-+]?[\d.,' ]+\s*(?:[£$€¥]|[A-Z]{3})?\)?$"


def _coerce_number(values: pd.Series, decimal: str = ".") -> pd.Series:
    """Numbers as text: plain, or written for people (a currency symbol or code, thousands
    separators, a decimal comma in a file that says so) when that reads one way only."""
    text = values.astype("object").map(_strip)
    if decimal == ",":
        text = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text, errors="coerce")
    unread = text.notna() & numbers.isna()
    if unread.any():
        shaped = text[unread].astype(str)
        shaped = shaped[shaped.str.match(_MONEY_TEXT)]
        cleaned = shaped.str.replace(r"[£$€¥' ]|[A-Z]{3}$", "", regex=True)
        cleaned = cleaned.str.replace(r"^\((.*)\)$", r"-\1", regex=True)
        # A comma that only groups thousands (1,234 or 1,234.50); anything else stays unread.
        grouped = cleaned.str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")
        cleaned = cleaned.where(~grouped, cleaned.str.replace(",", "", regex=False))
        numbers.loc[cleaned.index] = pd.to_numeric(cleaned, errors="coerce")
    return numbers


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


# What exports write for "no value" in an id column: read as missing (the row is quarantined).
NULL_WORDS = frozenset({"null", "none", "nan", "n/a", "na", "-", "--", "?", "#n/a", "nil"})


def _coerce_key(values: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(values):
        return values.astype("int64")
    text = values.astype("object").map(_strip)
    text = text.mask(text.map(lambda v: isinstance(v, str) and (not v or v.lower() in NULL_WORDS)))
    numbers = pd.to_numeric(text, errors="coerce")
    present = text.notna()
    # Integer-looking ids become int64 (compact and fast to join) when none is lost by it.
    if present.any() and numbers[present].notna().all():
        whole = numbers[present] == np.floor(numbers[present])
        canonical = numbers[present].astype("int64").astype(str) == text[present].astype(str)
        if whole.all() and canonical.all() and present.all():
            return numbers.astype("int64")
    return text.astype("object").where(present, None)


def _coerce_text(col: Column, values: pd.Series) -> pd.Series:
    """Text as a categorical; values of a closed list are matched case-insensitively."""
    canonical = {v.lower(): v for v in col.allowed} if col.allowed else {}

    def clean(value: object) -> object:
        value = _strip(value)
        if canonical and isinstance(value, str):
            return canonical.get(value.lower(), value)
        return value

    if col.pii:
        # Personal data: free text kept as it is (trimmed), never a category.
        if pd.api.types.is_string_dtype(values) and not isinstance(
            values.dtype, pd.CategoricalDtype
        ):
            return values.str.strip().astype("object").where(values.notna(), None)
        return values.astype("object").where(values.notna(), None).map(_strip)
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("object").astype("category")
    # Clean each distinct value once, then merge categories that became equal.
    cleaned = [clean(c) for c in values.cat.categories]
    merged = list(dict.fromkeys(cleaned))
    if len(merged) == len(cleaned):
        return values.cat.rename_categories(cleaned)
    position = {c: i for i, c in enumerate(merged)}
    lookup = np.array([position[c] for c in cleaned] + [-1], dtype=np.int64)
    return pd.Series(
        pd.Categorical.from_codes(lookup[values.cat.codes.to_numpy()], categories=merged),
        index=values.index,
    )


def _coerce_bool(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    text = values.astype("object").map(
        lambda v: str(v).strip().lower() if v is not None and v == v else None
    )
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(_TRUE)] = True
    out[text.isin(_FALSE)] = False
    return out


_SLASHED = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}"  # 05/01/2024, 5.1.2024, 05-01-2024 (+ a time)


def _coerce_datetime(
    values: pd.Series, column: str = "", path: Path | None = None, problems: Problems | None = None
) -> pd.Series:
    """ISO 8601 date-times; offsets are normalised to UTC and a time without one is taken as
    UTC (docs/data-contract.md).  Day-first or month-first dates (05/01/2024) are read only
    when the column proves which (a first number above 12 is a day; a second one, a day);
    a column that cannot tell is refused in one line."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values
    else:
        text = values.astype("object").map(_strip)
        chosen = readers.CHOSEN.date_format
        if chosen:  # --date-format: every date column of the run, as the user says
            return _coerce_datetime(pd.to_datetime(text, errors="coerce", format=chosen, utc=True))
        out = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        present = text.notna()
        slashed = text[present].astype(str).str.match(_SLASHED)
        if present.any() and slashed.mean() > 0.5:
            out = _day_month_dates(text, slashed, column, path, problems)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    # Years outside 1678-2261 do not fit nanoseconds; they are unreadable as dates here.
    times = out.to_numpy()
    if times.dtype != "datetime64[ns]":
        outside = (times < np.datetime64(pd.Timestamp.min)) | (
            times > np.datetime64(pd.Timestamp.max)
        )
        times = np.where(outside, np.datetime64("NaT"), times).astype("datetime64[ns]")
    return pd.Series(times, index=out.index, name=out.name, copy=False)


def _excel_serials(values: pd.Series) -> pd.Series:
    """Excel's serial day numbers (days since 1899-12-30, the fraction the time of day) as
    date-times; other cells as they are."""
    numbers = pd.to_numeric(values, errors="coerce")
    serial = numbers.between(1, 2958465)  # 1900-01-01 to 9999-12-31
    if not serial.any():
        return values
    days = pd.to_datetime("1899-12-30") + pd.to_timedelta(numbers.where(serial), unit="D")
    return values.astype(object).where(~serial, days.dt.round("s"))


def _day_month_dates(
    text: pd.Series,
    slashed: pd.Series,
    column: str,
    path: Path | None,
    problems: Problems | None = None,
) -> pd.Series:
    """The file's order of day and month: proven by this column, or by an earlier date column
    of the same file (a return date that copies an order date cannot prove it alone)."""
    parts = text[slashed.index[slashed]].astype(str).str.extract(r"^(\d{1,2})[/.-](\d{1,2})")
    first, second = parts[0].astype(int), parts[1].astype(int)
    if (first > 12).any() and not (second > 12).any():
        day_first = True
    elif (second > 12).any() and not (first > 12).any():
        day_first = False
    elif (
        problems is not None
        and problems.day_first is not None
        and not ((first > 12).any() and (second > 12).any())
    ):
        day_first = problems.day_first
    else:
        example = text[slashed.index[slashed]].iloc[0]
        raise ContractError(
            f"{path}: column '{column}' holds dates like '{clip(str(example))}' that read either "
            "day-first or month-first; give --date-format (e.g. %d/%m/%Y) or write YYYY-MM-DD."
        )
    if problems is not None:
        problems.day_first = day_first
    cleaned = text.astype(str).str.replace(r"[.-]", "/", n=2, regex=True)
    return pd.to_datetime(
        cleaned.where(text.notna()), errors="coerce", dayfirst=day_first, utc=True
    )


def _fill_default(values: pd.Series, col: Column) -> pd.Series:
    if not values.isna().any():
        return values
    if isinstance(values.dtype, pd.CategoricalDtype):
        if col.default not in values.cat.categories:
            values = values.cat.add_categories([col.default])
        return values.fillna(col.default)
    return values.fillna(col.default)
