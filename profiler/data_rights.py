"""The data folder's privacy settings: the erasure list and the retention period.

``DATA/erasures.csv`` lists erased customers as ``customer_hash,erased_on``: the sha256 (hex)
of ``HASH_PREFIX`` + the id, so the list does not spell the ids out.  Short ids can be guessed
by hashing every candidate, so the list must still be kept as carefully as the data.
``DATA/privacy.yaml`` (optional) holds ``retention_years: N``: order lines ordered before the
build's day minus N years are left out.  Every engine withholds both kinds of row in
``loading.check_table`` before any row rule, so withheld rows never reach the quarantine.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ContractError

ERASURES = "erasures.csv"
SETTINGS = "privacy.yaml"
HASH_PREFIX = "customer-profiler-erasure:"
REASON_ERASED = "erased customer"
REASON_RETENTION = "older than the retention period"


def customer_hash(customer_id: object) -> str:
    """The one-way hash an erased id is stored as."""
    return hashlib.sha256((HASH_PREFIX + _text(customer_id)).encode("utf-8")).hexdigest()


def _text(value: object) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True)
class Rights:
    erased: frozenset[str]  # hashes
    retention_years: int | None


_CACHE: dict[tuple[str, float, float], Rights] = {}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return -1


def rights(data_dir: str | Path) -> Rights:
    """The folder's settings (cached until either file changes)."""
    data_dir = Path(data_dir)
    key = (str(data_dir), _mtime(data_dir / ERASURES), _mtime(data_dir / SETTINGS))
    if key not in _CACHE:
        _CACHE[key] = Rights(frozenset(read_erasures(data_dir)), retention_years(data_dir))
    return _CACHE[key]


def retention_years(data_dir: str | Path) -> int | None:
    """``retention_years`` from DATA/privacy.yaml; None without the file or the key."""
    path = Path(data_dir) / SETTINGS
    if not path.exists():
        return None
    import yaml

    try:
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not readable as YAML ({exc.__class__.__name__}).") from None
    if not isinstance(settings, dict):
        raise ContractError(f"{path}: expected 'retention_years: N' (a mapping).")
    value = settings.get("retention_years")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ContractError(
            f"{path}: retention_years must be a whole number of years above 0, not {value!r}."
        )
    return value


def read_erasures(data_dir: str | Path) -> dict[str, str]:
    """hash -> erased_on from DATA/erasures.csv (none without the file)."""
    path = Path(data_dir) / ERASURES
    if not path.exists():
        return {}
    out: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            h = (row.get("customer_hash") or "").strip().lower()
            if len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
                raise ContractError(
                    f"{path}: row {n}, column customer_hash: expected a sha256 hex digest."
                )
            out[h] = (row.get("erased_on") or "").strip()
    return out


def add_erasures(data_dir: str | Path, ids: Iterable[object], on: str) -> int:
    """Add ``ids`` (hashed) to the list, rewritten atomically; return how many were new."""
    from .outputs import replacing

    data_dir = Path(data_dir)
    known = read_erasures(data_dir)
    new = 0
    for i in ids:
        h = customer_hash(i)
        if h not in known:
            known[h] = on
            new += 1
    with replacing(data_dir / ERASURES) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["customer_hash", "erased_on"])
            for h, d in sorted(known.items(), key=lambda kv: (kv[1], kv[0])):
                w.writerow([h, d])
    return new


def retention_cutoff(today: pd.Timestamp, years: int | None) -> pd.Timestamp | None:
    """The first day kept: order lines ordered before it are withheld.  ``today`` is the
    loader's future guard (by default tomorrow, so today's lines count); the period runs from
    the calendar day, so a guard later than today counts from today."""
    if years is None:
        return None
    day = min(pd.Timestamp(today).normalize(), pd.Timestamp.now().normalize())
    return (day - pd.DateOffset(years=years)).normalize()


def withheld_mask(
    table: str, raw: pd.DataFrame, data_dir: Path, today: pd.Timestamp
) -> tuple[np.ndarray | None, dict[str, int]]:
    """Rows of ``raw`` (before coercion) to withhold, and the count per reason."""
    settings = rights(data_dir)
    mask = np.zeros(len(raw), dtype=bool)
    counts: dict[str, int] = {}
    if settings.erased and "customer_id" in raw.columns:
        ids = raw["customer_id"]
        erased = np.fromiter(
            (pd.notna(v) and customer_hash(v) in settings.erased for v in ids),
            dtype=bool,
            count=len(raw),
        )
        if erased.any():
            counts[REASON_ERASED] = int(erased.sum())
            mask |= erased
    cutoff = retention_cutoff(today, settings.retention_years)
    if cutoff is not None and table == "order_lines" and "ordered_at" in raw.columns:
        when = pd.to_datetime(raw["ordered_at"], errors="coerce", utc=True, format="mixed")
        old = (when.dt.tz_localize(None) < cutoff).fillna(False).to_numpy(dtype=bool) & ~mask
        if old.any():
            counts[REASON_RETENTION] = int(old.sum())
            mask |= old
    return (mask if mask.any() else None), counts


def build_note(source: object, today: pd.Timestamp) -> dict:
    """What car_meta.json records of the folder's settings at this build (``today`` as the
    loader used it): the retention period, its cutoff and the rows withheld for erased
    customers."""
    settings = rights(source.data_dir)
    cutoff = retention_cutoff(today, settings.retention_years)
    withheld = {
        name: dict(report.withheld) for name, report in source.reports.items() if report.withheld
    }
    customers = source.reports.get("customers")
    note = {
        "retention_years": settings.retention_years,
        "retention_cutoff": None if cutoff is None else f"{cutoff:%Y-%m-%d}",
        "erasure_list": len(settings.erased),
        "erased_customers_withheld": (
            customers.withheld.get(REASON_ERASED, 0) if customers is not None else 0
        ),
        "withheld_rows": withheld,
    }
    if cutoff is not None:
        note["retention_note"] = retention_sentence(cutoff, settings.retention_years)
    return note


def retention_sentence(cutoff: pd.Timestamp, years: int) -> str:
    return (
        f"Order lines before {cutoff:%Y-%m-%d} are left out: the data's retention period is "
        f"{years} years (lifetime 'ltd' figures start there)"
    )


# -- profiler forget ---------------------------------------------------------------------------


def read_ids(path: str | Path) -> list[str]:
    """Customer ids from a CSV with a customer_id column, or one id per line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path}: cannot read the customer ids ({exc}).") from None
    rows = list(csv.reader(lines))
    if rows and "customer_id" in [c.strip() for c in rows[0]]:
        at = [c.strip() for c in rows[0]].index("customer_id")
        body, first = rows[1:], 2
    else:
        at, body, first = 0, rows, 1
    ids = []
    for n, row in enumerate(body, start=first):
        value = row[at].strip() if len(row) > at else ""
        if not value:
            raise ContractError(f"{path}: row {n}, column customer_id: expected a customer id.")
        ids.append(value)
    if not ids:
        raise ContractError(f"{path}: no customer ids found (expected a customer_id column).")
    return ids


def purge_file(path: Path, erased: set[str]) -> int | None:
    """Remove the rows of erased customers (hashes) from a CSV or Parquet file with a
    customer_id column, rewritten atomically; the rows removed, or None if the file is gone."""
    from .outputs import replacing
    from .safecsv import write_csv

    if not path.exists():
        return None
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "customer_id" not in frame.columns:
        return 0
    hit = np.fromiter((customer_hash(v) in erased for v in frame["customer_id"]), dtype=bool)
    if not hit.any():
        return 0
    kept = frame.loc[~hit]
    with replacing(path) as tmp:
        if path.suffix.lower() == ".parquet":
            kept.to_parquet(tmp, index=False)
        else:
            write_csv(kept, tmp, raw=True)
    return int(hit.sum())
