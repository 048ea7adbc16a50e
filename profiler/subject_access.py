"""Subject access (GDPR art. 15): everything the profiler holds or derived about one customer.

``subject_access(customer_id, car, data)`` gathers, for the retailer to send to the customer:

- ``source_rows``: the customer's rows of every source table of the data folder that has a
  ``customer_id`` (read by the loader, so the folder's mapping applies; personal data included:
  this export is for the customer).  Rows the loader rejected are not read back (the quarantine
  keeps only the row number and the failing value); they are in the retailer's source files;
- ``profile``: the single-customer view (profiler/customer.py, with the consented contacts);
- ``car_columns``: every CAR column with its value in words and the data dictionary's definition;
- ``cohorts``: every cohort (templates/cohorts.yaml) the customer is in at the CAR's date;
- ``audiences``: the audience files registered in the CAR folder (profiler/managed.py) that list
  the customer, and the registered files gone since (which can no longer be checked);
- ``campaigns``: the customer's rows of DATA/campaigns.csv;
- ``consent``: their consent flags and whether they objected to profiling.

An id in neither the CAR nor the data is one line.  The JSON file is written complete or not at
all (``write_json``); the workbook writes the .xlsx (workbook/subject_access.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import managed, store
from .contract import TABLES
from .customer import (
    _car_row,
    _definitions,
    _dictionary,
    _id_text,
    _value,
    _words,
    customer_profile,
)
from .data_rights import ERASURES, customer_hash, read_erasures
from .errors import ProfilerError, clip
from .loading import load_sources
from .outputs import replacing
from .query import QueryEngine

SECTIONS = (
    "about",
    "consent",
    "source_rows",
    "profile",
    "car_columns",
    "cohorts",
    "audiences",
    "campaigns",
)
TITLES = {
    "about": "About this file",
    "consent": "Consent and objection",
    "source_rows": "Source data",
    "profile": "Profile",
    "car_columns": "Customer record",
    "cohorts": "Cohorts",
    "audiences": "Audiences",
    "campaigns": "Campaigns",
}
SOURCE_COLUMNS = ["table", "record", "column", "value"]
CONSENT_COLUMNS = ("contactable", "profiling_opt_out", "consent_updated_at")


@dataclass
class SubjectAccess:
    """One customer's sections (``SECTIONS``), each a table, and the source rows by table."""

    customer_id: str
    sections: dict[str, pd.DataFrame]
    source: dict[str, pd.DataFrame] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"customer_id": self.customer_id}
        for name in SECTIONS:
            if name == "source_rows":
                out[name] = {t: _records(rows) for t, rows in self.source.items()}
            else:
                out[name] = _records(self.sections[name])
        return out


def subject_access(
    customer_id: Any, car: str | Path | None = None, data: str | Path | None = None
) -> SubjectAccess:
    """Everything held about ``customer_id`` in the CAR folder ``car`` (default $PROFILER_CAR)
    and the data folder ``data`` (default $PROFILER_DATA); module docstring."""
    text = _id_text(customer_id)
    folder = store.car_folder(car)
    data_dir = _data_folder(data)
    erased_on = read_erasures(data_dir).get(customer_hash(text))
    if erased_on:
        raise ProfilerError(
            f"customer {clip(text)} was erased on {erased_on} ('profiler forget'): the profiler "
            f"holds nothing about them beyond a one-way hash in {data_dir / ERASURES} that keeps "
            "them out of every build"
        )
    engine = QueryEngine.open(folder)
    source = load_sources(data_dir)
    rows = _source_rows(source, text)
    position = _position(engine, text)
    if position is None and not rows:
        raise ProfilerError(f"no customer {clip(text)} in CAR {folder} or data {data_dir}")
    sections: dict[str, pd.DataFrame] = {}
    sections["about"] = _about(text, engine, folder, data_dir, position)
    car_row = _car_values(engine, position) if position is not None else {}
    sections["consent"] = _consent(rows.get("preferences"), car_row)
    sections["source_rows"] = _long(rows)
    sections["profile"] = (
        customer_profile(engine, text, personal=True).rows
        if position is not None
        else pd.DataFrame(columns=["section", "item", "text"])
    )
    sections["car_columns"] = _car_columns(engine, car_row)
    sections["cohorts"] = _cohorts(engine, position)
    sections["audiences"] = _audiences(folder, text)
    campaigns = rows.get("campaigns")
    sections["campaigns"] = campaigns if campaigns is not None else pd.DataFrame()
    return SubjectAccess(text, sections, rows)


def write_json(report: SubjectAccess, out: str | Path) -> Path:
    """The report as one JSON object with a key per section, written complete or not at all."""
    target = Path(out)
    with replacing(target) as tmp:
        tmp.write_text(
            json.dumps(report.as_json(), indent=2, ensure_ascii=False, default=str),
            encoding="utf-8",
        )
    return target


# -- gathering -----------------------------------------------------------------------------------


def _data_folder(data: str | Path | None) -> Path:
    import os

    folder = data or os.environ.get("PROFILER_DATA")
    if not folder:
        raise ProfilerError(
            "No data folder given: pass --data DIR (the source tables the CAR was built from) "
            "or set PROFILER_DATA."
        )
    if not Path(folder).is_dir():
        raise ProfilerError(f"{folder}: no such data folder.")
    return Path(folder)


def _source_rows(source: Any, text: str) -> dict[str, pd.DataFrame]:
    """The customer's accepted rows of each table with a customer_id, in file order, without the
    loader's own columns."""
    found: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        if name not in source.tables or "customer_id" not in source.tables[name].columns:
            continue
        table = source.tables[name]
        hit = table[table["customer_id"].astype(str).to_numpy() == text]
        if "_row" in hit.columns:
            hit = hit.sort_values("_row", kind="stable")
        hit = hit[[c for c in hit.columns if not str(c).startswith("_")]]
        if len(hit):
            found[name] = hit.reset_index(drop=True)
    return found


def _position(engine: QueryEngine, text: str) -> int | None:
    ids = engine.car["customer_id"].astype(str).to_numpy()
    where = np.flatnonzero(ids == text)
    return int(where[0]) if len(where) else None


def _car_values(engine: QueryEngine, position: int) -> dict[str, Any]:
    """Every CAR column of one row, read from the one Parquet row group that holds it (the
    engine keeps only the columns cohorts and metrics read; a large CAR is never loaded)."""
    columns = [c for c in engine.known_columns if c != "customer_id"]
    return {
        "customer_id": str(engine.car["customer_id"].iloc[position]),
        **_car_row(engine, position, columns),
    }


def _about(
    text: str, engine: QueryEngine, folder: Path, data_dir: Path, position: int | None
) -> pd.DataFrame:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        ("customer_id", text),
        ("written", made),
        ("customer record (CAR) folder", str(folder)),
        ("customer record as of", f"{engine.as_of:%Y-%m-%d}"),
        ("source data folder", str(data_dir)),
        (
            "what this is",
            "Everything the Customer Profiler holds or derived about this customer: the rows of "
            "the source tables, the customer record with each column's definition, the cohorts, "
            "audiences and campaigns they were in, and their consent.",
        ),
    ]
    if position is None:
        lines.append(
            ("note", "Not in the customer record: it was built before the customer's first data.")
        )
    return pd.DataFrame(lines, columns=["item", "value"])


def _consent(prefs: pd.DataFrame | None, car_row: dict[str, Any]) -> pd.DataFrame:
    """Consent by channel, contactability and the objection to profiling, from the preferences
    row (as held now) or, without one, the CAR."""
    rows = []
    if prefs is not None and len(prefs):
        record = prefs.iloc[-1]
        for column in prefs.columns:
            if column.startswith("opt_in_") or column in CONSENT_COLUMNS:
                rows.append((column, _plain(record[column]), _describe("preferences", column)))
    else:
        for column, value in car_row.items():
            if column.startswith("opt_in_") or column in CONSENT_COLUMNS:
                rows.append((column, _plain(value), _describe("preferences", column)))
    if not any(r[0] == "profiling_opt_out" for r in rows):
        rows.append(("profiling_opt_out", False, "No objection to profiling is recorded."))
    return pd.DataFrame(rows, columns=["item", "value", "meaning"])


def _describe(table: str, column: str) -> str:
    try:
        return TABLES[table].column(column).description
    except (KeyError, StopIteration):
        return ""


def _long(rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The source rows as (table, record, column, value): one sheet for tables of any shape."""
    out = [
        (name, i + 1, str(column), _plain(value))
        for name, frame in rows.items()
        for i, (_, record) in enumerate(frame.iterrows())
        for column, value in record.items()
    ]
    return pd.DataFrame(out, columns=SOURCE_COLUMNS)


def _car_columns(engine: QueryEngine, car_row: dict[str, Any]) -> pd.DataFrame:
    """Each CAR column: its value, the value in words and the dictionary's definition."""
    definitions = _definitions(engine)
    table = _dictionary(engine)
    families = {} if table is None else dict(zip(table["column"], table["family"], strict=True))
    rows = []
    for column, raw in car_row.items():
        description, unit = definitions.get(column, ("", ""))
        value = _value(raw)
        rows.append(
            (column, families.get(column, ""), value, _words(value, unit, "empty"), description)
        )
    return pd.DataFrame(rows, columns=["column", "family", "value", "in words", "definition"])


def _cohorts(engine: QueryEngine, position: int | None) -> pd.DataFrame:
    """The cohorts the customer is in at the CAR's date, with their group and definition."""
    rows = []
    if position is not None:
        cohorts = engine.cohorts
        for name in cohorts.names:
            if cohorts.mask(name)[position]:
                d = cohorts.definitions[name]
                rows.append((name, d.group, d.definition))
    return pd.DataFrame(rows, columns=["cohort", "group", "definition"])


def _audiences(folder: Path, text: str) -> pd.DataFrame:
    """The registered audience files that list the customer, and those gone since."""
    rows = []
    for entry in managed.registered(folder, "audience"):
        path = Path(entry["path"])
        about = {k: v for k, v in entry.items() if k not in ("path", "kind")}
        described = "; ".join(f"{k}: {v}" for k, v in about.items())
        if not path.is_file():
            rows.append((path.name, str(path), "file gone: cannot be checked", described))
            continue
        try:
            ids = pd.read_csv(path, dtype=str, usecols=["customer_id"], keep_default_na=False)
        except (ValueError, OSError, pd.errors.ParserError) as err:
            rows.append((path.name, str(path), f"unreadable ({err})", described))
            continue
        if (ids["customer_id"].str.strip() == text).any():
            rows.append((path.name, str(path), "in it", described))
    return pd.DataFrame(rows, columns=["audience", "path", "status", "about"])


# -- values ----------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value for JSON or a cell: None, bool, int, float or text (a time as ISO text)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | np.datetime64):
        stamp = pd.Timestamp(value)
        if pd.isna(stamp):
            return None
        return f"{stamp:%Y-%m-%d}" if stamp == stamp.normalize() else stamp.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): _plain(v) for k, v in record.items()} for record in frame.to_dict("records")]
